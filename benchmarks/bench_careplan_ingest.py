"""Care-plan ingest over real HTTP: throughput of batched ingest and latency with 100 devices.

The service runs as `bidvis careplan serve` (uvicorn, one process, JSON access logs on) on
127.0.0.1 in its own process, on a SQLite file and on PostgreSQL (a server started from Debian's
binaries; skipped when they are absent). Clients are bounded loops in this process:

- `throughput_sequential`: one device posts 20 batches of 1,000 events back to back;
- `throughput_4_devices`: 4 devices post 5 batches of 1,000 events each at the same time;
- `latency_100_devices`: 100 devices, each posting a batch of 20 events every 5 s (random phase)
  for 20 s: ~400 requests, 20 a second, 400 events/s offered; per-request latency percentiles
  and the number of failed requests (transport errors, non-200) in extra_info.

Every test also reports the server's CPU time per request (utime+stime of the server process from
/proc/<pid>/stat, over the whole test) and the load average before and after, since the machine is
shared. With `BIDVIS_BENCH_COMPARE=name=<folder>[,name=<folder>...]` (checkouts of older commits,
e.g. `git archive <commit> | tar -x -C /tmp/before`) every test also runs against servers started
from those folders' code, on databases migrated by this tree (`run_migrations` off for them); all
servers start first and the variants of each test run back to back, so that before and after see
the same load:

    .venv/bin/python -m pytest benchmarks/bench_careplan_ingest.py --benchmark-columns=min,median,mean,rounds -s
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from careplan_api.db import make_engine, make_session_factory, upgrade_database
from careplan_api.local_postgres import LocalPostgres, PostgresUnavailable, free_port
from careplan_api.services import people
from careplan_api.settings import Settings

DEVICES = 100
EVENT_KINDS = ("trigger", "bite_offered", "bite_taken")


@dataclass
class Service:
    base_url: str
    tokens: list[str]
    backend: str
    code: str  # "current", or a name from BIDVIS_BENCH_COMPARE
    pid: int

    def cpu_s(self) -> float:
        """CPU time (user + system) the server process has used so far."""
        with open(f"/proc/{self.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load() -> float:
    return round(os.getloadavg()[0], 1)


def _report(benchmark, service: Service, cpu_s: float, requests: int, load_before: float, **info: object) -> None:
    benchmark.extra_info.update(
        backend=service.backend,
        code=service.code,
        requests=requests,
        server_cpu_ms_per_request=round(1000 * cpu_s / requests, 2),
        load_before=load_before,
        load_after=_load(),
        **info,
    )
    print(f"\n{benchmark.name} [{service.code}]: " + ", ".join(f"{k} {v}" for k, v in benchmark.extra_info.items()))


def _seed(settings: Settings) -> list[str]:
    engine = make_engine(settings)
    upgrade_database(engine)
    tokens = []
    with make_session_factory(engine)() as session:
        unit = people.get_or_create_unit(session, "Bench")
        for i in range(DEVICES):
            citizen = people.create_citizen(session, f"Bench citizen {i}", settings.require_secrets()[1], None, unit)
            tokens.append(people.enroll_device(session, citizen.id, f"bench {i}")[1])
        session.commit()
    engine.dispose()
    return tokens


COMPARE = dict(item.split("=", 1) for item in os.environ.get("BIDVIS_BENCH_COMPARE", "").split(",") if "=" in item)
PLAIN_HTTP = set(os.environ.get("BIDVIS_BENCH_PLAIN_HTTP", "").split(",")) - {""}
CODES = [*COMPARE, "current"]
BACKENDS = ("sqlite", "postgresql")
VARIANTS = [(backend, code) for backend in BACKENDS for code in CODES]


def _start_server(url: str, data_dir: Path, code: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "BIDVIS_CAREPLAN_DATA_DIR": str(data_dir), "BIDVIS_CAREPLAN_DATABASE_URL": url}
    # The throughput runs post one device's batches back to back, far over a device's ingest quota
    # (429 after the first batch); the quota is still checked on every batch, it just never refuses.
    env["BIDVIS_CAREPLAN_INGEST_EVENTS_PER_S"] = "1e9"
    cwd = None
    if code in COMPARE:  # an older tree: its own code, on the database this tree migrated
        env.update(PYTHONPATH=COMPARE[code], BIDVIS_CAREPLAN_RUN_MIGRATIONS="false")
        cwd = COMPARE[code]
    command = [sys.executable, "-m", "bidvis.cli", "careplan", "serve", "--port", str(port)]
    if code in PLAIN_HTTP:  # what `serve` runs in each worker, with uvicorn's pure-Python HTTP parser and loop
        command = [sys.executable, "-m", "uvicorn", "--factory", "careplan_api.app:app_from_environment"]
        command += ["--port", str(port), "--no-access-log", "--http", "h11", "--loop", "asyncio"]
    server = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return server, base_url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise RuntimeError(f"the care-plan service ({code}) did not start")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[tuple[str, str], Service | str]]:
    """Every variant's server, all started first (an idle server costs nothing), so that the
    variants of one test run back to back under the same load; a str says why a variant is missing."""
    found: dict[tuple[str, str], Service | str] = {}
    with ExitStack() as stack:
        try:
            pg = LocalPostgres().start()
            stack.callback(pg.destroy)
        except PostgresUnavailable as exc:
            pg, reason = None, str(exc)
        for backend, code in VARIANTS:
            data_dir = tmp_path_factory.mktemp(f"careplan-{backend}-{code}")
            if backend == "postgresql":
                if pg is None:
                    found[backend, code] = reason
                    continue
                url = pg.create_database(f"bench_{code}")
            else:
                url = f"sqlite:///{data_dir / 'careplan.sqlite3'}"
            tokens = _seed(Settings(data_dir=data_dir, database_url=url).with_secrets())
            server, base_url = _start_server(url, data_dir, code)
            stack.callback(server.wait, timeout=30)
            stack.callback(server.terminate)
            found[backend, code] = Service(base_url, tokens, backend, code, server.pid)
        yield found


@pytest.fixture(params=VARIANTS, ids=[f"{b}-{c}" for b, c in VARIANTS])
def service(request: pytest.FixtureRequest, services: dict[tuple[str, str], Service | str]) -> Service:
    found = services[request.param]
    if isinstance(found, str):
        pytest.skip(found)
    return found


def _batch(n: int, meal_id: uuid.UUID | None = None) -> bytes:
    meal_id = meal_id or uuid.uuid4()
    start = datetime.now(UTC) - timedelta(hours=1)
    events = [
        f'{{"id":"{uuid.uuid4()}","meal_id":"{meal_id}","type":"{EVENT_KINDS[i % 3]}",'
        f'"at":"{(start + timedelta(milliseconds=100 * i)).isoformat()}","data":{{"bowl":{i % 3}}}}}'
        for i in range(n)
    ]
    return ('{"events":[' + ",".join(events) + "]}").encode()


def _post_all(base_url: str, token: str, bodies: list[bytes]) -> int:
    accepted = 0
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, timeout=60
    ) as client:
        for body in bodies:
            response = client.post("/api/v1/usage-events", content=body)
            response.raise_for_status()
            accepted += response.json()["accepted"]
    return accepted


def test_throughput_sequential(benchmark, service: Service) -> None:
    batches, size = 20, 1000

    def setup():
        return ([_batch(size) for _ in range(batches)],), {}

    def run(bodies):
        assert _post_all(service.base_url, service.tokens[0], bodies) == batches * size

    load, cpu = _load(), service.cpu_s()
    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    if benchmark.disabled:  # --benchmark-disable: one plain run, no timings
        return
    _report(
        benchmark,
        service,
        service.cpu_s() - cpu,
        3 * batches,
        load,
        events_per_s_median=round(batches * size / benchmark.stats.stats.median),
        events_per_s_best=round(batches * size / benchmark.stats.stats.min),
    )


def test_throughput_4_devices(benchmark, service: Service) -> None:
    devices, batches, size = 4, 5, 1000

    def setup():
        return ([[_batch(size) for _ in range(batches)] for _ in range(devices)],), {}

    def run(per_device):
        with ThreadPoolExecutor(devices) as pool:
            accepted = sum(
                pool.map(_post_all, [service.base_url] * devices, service.tokens[1 : 1 + devices], per_device)
            )
        assert accepted == devices * batches * size

    load, cpu = _load(), service.cpu_s()
    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    if benchmark.disabled:  # --benchmark-disable: one plain run, no timings
        return
    total = devices * batches * size
    _report(
        benchmark,
        service,
        service.cpu_s() - cpu,
        3 * devices * batches,
        load,
        events_per_s_median=round(total / benchmark.stats.stats.median),
        events_per_s_best=round(total / benchmark.stats.stats.min),
    )


async def _device_loop(
    client: httpx.AsyncClient,
    token: str,
    seconds: float,
    period_s: float,
    size: int,
    latencies: list[float],
    errors: list[str],
    rng: random.Random,
) -> None:
    await asyncio.sleep(rng.uniform(0, period_s))
    meal_id = uuid.uuid4()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        body = _batch(size, meal_id)
        sent = time.perf_counter()
        try:
            response = await client.post(
                "/api/v1/usage-events",
                content=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
        except httpx.TransportError as exc:
            errors.append(type(exc).__name__)
        else:
            latencies.append(time.perf_counter() - sent)
            if response.status_code != 200 or response.json()["accepted"] != size:
                errors.append(f"HTTP {response.status_code}")
        await asyncio.sleep(max(0.0, period_s - (time.perf_counter() - sent)))


def test_latency_100_devices(benchmark, service: Service) -> None:
    seconds, period_s, size = 20.0, 5.0, 20
    latencies: list[float] = []
    errors: list[str] = []

    async def main() -> None:
        limits = httpx.Limits(max_connections=DEVICES, max_keepalive_connections=DEVICES)
        async with httpx.AsyncClient(base_url=service.base_url, limits=limits, timeout=30) as client:
            rng = random.Random(1)
            await asyncio.gather(
                *(
                    _device_loop(client, t, seconds, period_s, size, latencies, errors, rng)
                    for t in service.tokens[:DEVICES]
                )
            )

    load, cpu = _load(), service.cpu_s()
    benchmark.pedantic(lambda: asyncio.run(main()), rounds=1, iterations=1)
    cpu_s = service.cpu_s() - cpu
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 1)

    _report(
        benchmark,
        service,
        cpu_s,
        max(1, len(ordered)),
        load,
        errors=len(errors),
        p50_ms=pct(50),
        p95_ms=pct(95),
        p99_ms=pct(99),
        max_ms=round(1000 * ordered[-1], 1),
    )


CPU_ROUNDS = 6
CPU_REQUESTS_PER_ROUND = 50


@pytest.mark.parametrize("size", [1, 20])
@pytest.mark.parametrize("backend", BACKENDS)
def test_cpu_per_request_side_by_side(
    benchmark, services: dict[tuple[str, str], Service | str], backend: str, size: int
) -> None:
    """Server CPU per request of every code variant, measured in alternating rounds (so that each
    sees the same load): each round posts 50 sequential requests of `size` events to each variant,
    one device after the other, each device's batches making 60-event meals as a robot does.
    extra_info: per variant the median over rounds of server CPU ms per request, and its ratio to
    the first variant (the first of BIDVIS_BENCH_COMPARE, i.e. the code before)."""
    found = [services[backend, code] for code in CODES]
    variants = [v for v in found if isinstance(v, Service)]
    if not variants:
        pytest.skip(str(found[0]))
    per_round: dict[str, list[float]] = {v.code: [] for v in variants}
    clients = {
        v.code: httpx.Client(base_url=v.base_url, headers={"Content-Type": "application/json"}, timeout=60)
        for v in variants
    }
    meals = {v.code: [(uuid.uuid4(), 0) for _ in v.tokens] for v in variants}
    posted = dict.fromkeys(per_round, 0)

    def post_round(service: Service) -> float:
        client, code = clients[service.code], service.code
        before = service.cpu_s()
        for _ in range(CPU_REQUESTS_PER_ROUND):
            device = posted[code] % len(service.tokens)
            meal_id, batches = meals[code][device]
            meals[code][device] = (meal_id, batches + 1) if batches < 2 else (uuid.uuid4(), 0)
            response = client.post(
                "/api/v1/usage-events",
                content=_batch(size, meal_id),
                headers={"Authorization": f"Bearer {service.tokens[device]}"},
            )
            assert response.status_code == 200 and response.json()["accepted"] == size, response.text
            posted[code] += 1
        return 1000 * (service.cpu_s() - before) / CPU_REQUESTS_PER_ROUND

    def run() -> None:
        for v in variants:  # warm-up: every device's token seen once, connections open
            for _ in range(len(v.tokens) // CPU_REQUESTS_PER_ROUND):
                post_round(v)
        for index in range(CPU_ROUNDS):
            order = variants if index % 2 == 0 else variants[::-1]
            for v in order:
                per_round[v.code].append(post_round(v))

    load = _load()
    try:
        benchmark.pedantic(run, rounds=1, iterations=1)
    finally:
        for client in clients.values():
            client.close()
    medians = {code: statistics.median(values) for code, values in per_round.items()}
    first = medians[variants[0].code]
    benchmark.extra_info.update(
        backend=backend,
        events_per_request=size,
        requests_per_variant=CPU_ROUNDS * CPU_REQUESTS_PER_ROUND,
        server_cpu_ms_per_request={code: round(m, 2) for code, m in medians.items()},
        server_cpu_ms_per_round={code: [round(x, 2) for x in values] for code, values in per_round.items()},
        ratio_to_first={code: round(m / first, 2) for code, m in medians.items()},
        load_before=load,
        load_after=_load(),
    )
    print(f"\n{benchmark.name}: " + json.dumps(benchmark.extra_info))
