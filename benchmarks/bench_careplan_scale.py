"""The care plan scaled out: `bidvis careplan serve --workers N` on PostgreSQL, with 100 and 1,000
simulated robots, each posting a 20-event batch about once a second (jittered), from a load
generator in its own process (`benchmarks/careplan_load.py`).

Reports per-request latency percentiles (measured by the generator), errors, the achieved rate, the
CPU seconds used by the service's workers and by PostgreSQL per request (from /proc, so that a
figure on a shared machine can be read against the load average, reported before and after).

    .venv/bin/python -m pytest benchmarks/bench_careplan_scale.py -s --benchmark-columns=min,rounds

`BIDVIS_BENCH_WORKERS` (default 2) sets the number of worker processes, `BIDVIS_BENCH_SECONDS`
(default 30, of which 5 warm-up) the length of each run. The workers log every garbage-collector
pause of at least `BIDVIS_BENCH_GC_PAUSE_LOG_MS` (default 5); the run reports them (`gc_pauses`)
and how many of the generator's slowest requests were in flight during one
(`slowest_during_gc_pause`), and the checkpoints, autovacuums and autoanalyzes PostgreSQL ran
meanwhile (with their times, to set against the slowest requests'). The service's own settings
pass through the environment (`BIDVIS_CAREPLAN_GC_FREEZE_AFTER_STARTUP=false` serves without
freezing the start-up heap).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from careplan_api.db import make_engine, make_session_factory, upgrade_database
from careplan_api.local_postgres import LocalPostgres, PostgresUnavailable, free_port
from careplan_api.services import people
from careplan_api.settings import Settings

WORKERS = int(os.environ.get("BIDVIS_BENCH_WORKERS", "2"))
SECONDS = float(os.environ.get("BIDVIS_BENCH_SECONDS", "30"))
MAX_DEVICES = 1000
GC_PAUSE_LOG_MS = os.environ.get("BIDVIS_BENCH_GC_PAUSE_LOG_MS", "5")
LOAD_GENERATOR = Path(__file__).with_name("careplan_load.py")


@dataclass
class Deployment:
    url: str
    tokens_file: Path
    server: subprocess.Popen
    postgres_pid: int
    log: Path
    postgres_conninfo: str

    def cpu_s(self) -> dict[str, float]:
        """CPU seconds so far of the service (parent and workers) and of PostgreSQL (all its processes)."""
        return {"service": _tree_cpu_s(self.server.pid), "postgres": _tree_cpu_s(self.postgres_pid)}


def _tree_cpu_s(root: int) -> float:
    """CPU seconds of `root` and its live descendants, plus those of its children that have exited
    (the root's cutime and cstime: PostgreSQL's backends of the pool's overflow connections end
    when the connection is returned, and would otherwise drop out of the sum)."""
    total = 0.0
    for pid in _descendants(root) | {root}:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if pid == root else 0)
        except (OSError, IndexError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    try:
        pg = LocalPostgres()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    pg.start()
    data_dir = tmp_path_factory.mktemp("careplan-scale")
    try:
        url = pg.create_database("scale")
        settings = Settings(data_dir=data_dir, database_url=url).with_secrets()
        engine = make_engine(settings)
        upgrade_database(engine)
        with make_session_factory(engine)() as session:
            unit = people.get_or_create_unit(session, "Bench")
            tokens = []
            for i in range(MAX_DEVICES):
                citizen = people.create_citizen(session, f"Bench {i}", settings.require_secrets()[1], None, unit)
                tokens.append(people.enroll_device(session, citizen.id, f"robot {i}")[1])
            session.commit()
        engine.dispose()
        tokens_file = data_dir / "tokens.txt"
        tokens_file.write_text("\n".join(tokens))
        port = free_port()
        log = (data_dir / "server.log").open("wb")
        server = subprocess.Popen(
            [sys.executable, "-m", "bidvis.cli", "careplan", "serve", "--port", str(port), "--workers", str(WORKERS)],
            env={
                "BIDVIS_CAREPLAN_GC_PAUSE_LOG_MS": GC_PAUSE_LOG_MS,
                **os.environ,
                "BIDVIS_CAREPLAN_DATA_DIR": str(data_dir),
                "BIDVIS_CAREPLAN_DATABASE_URL": url,
            },
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300  # migrations and two workers importing the app, on a crowded machine
        while True:
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                tail = (data_dir / "server.log").read_text()[-2000:]
                raise RuntimeError(f"the care-plan service did not start: {tail}")
            time.sleep(0.2)
        time.sleep(2)  # every worker up
        postmaster = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
        conninfo = f"host=127.0.0.1 port={pg.port} user=postgres dbname=scale"
        yield Deployment(base_url, tokens_file, server, postmaster, data_dir / "server.log", conninfo)
        server.terminate()
        server.wait(timeout=30)
    finally:
        pg.destroy()


@dataclass(frozen=True)
class Pause:
    ended: datetime
    ms: float
    generation: int

    def overlaps(self, start: datetime, ms: float) -> bool:
        return self.ended - timedelta(milliseconds=self.ms) < start + timedelta(milliseconds=ms) and self.ended > start


def _gc_pauses(log: Path, offset: int) -> list[Pause]:
    """The workers' garbage-collector pauses logged after byte `offset` of the service's log."""
    pauses = []
    with log.open("rb") as fh:
        fh.seek(offset)
        for line in fh:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("message") == "garbage collector pause":
                ended = datetime.fromisoformat(entry["time"])
                pauses.append(Pause(ended, float(entry["pause_ms"]), int(entry["generation"])))
    return pauses


@dataclass(frozen=True)
class PostgresBackground:
    """PostgreSQL's checkpoints so far and, per table, its last autovacuum and autoanalyze."""

    checkpoints: int
    tables: list[tuple[str, datetime | None, datetime | None]]

    @classmethod
    def read(cls, conninfo: str) -> PostgresBackground:
        import psycopg

        with psycopg.connect(conninfo, autocommit=True) as conn:
            row = conn.execute("SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter").fetchone()
            tables = conn.execute("SELECT relname, last_autovacuum, last_autoanalyze FROM pg_stat_user_tables")
            return cls(int(row[0]) if row else 0, list(tables.fetchall()))

    def since(self, before: PostgresBackground, started: datetime) -> dict[str, object]:
        """The checkpoints, autovacuums and autoanalyzes PostgreSQL ran between `before` (read at `started`) and now."""
        runs = sorted(
            f"{kind} {name} {when.astimezone(UTC).strftime('%H:%M:%S.%f')[:12]}"
            for name, vacuumed, analyzed in self.tables
            for kind, when in (("autovacuum", vacuumed), ("autoanalyze", analyzed))
            if when is not None and when >= started
        )
        return {"postgres_checkpoints": self.checkpoints - before.checkpoints, "postgres_autovacuum": runs}


def _pause_summary(pauses: list[Pause], slowest: list[dict[str, object]]) -> dict[str, object]:
    by_generation: dict[str, list[float]] = {}
    for pause in pauses:
        by_generation.setdefault(f"gen{pause.generation}", []).append(pause.ms)
    during = sum(
        any(p.overlaps(datetime.fromisoformat(str(r["sent_at"])), float(str(r["ms"]))) for p in pauses) for r in slowest
    )
    return {
        "gc_pauses": {
            gen: {"count": len(ms), "max_ms": max(ms), "total_ms": round(sum(ms), 1)}
            for gen, ms in sorted(by_generation.items())
        },
        "slowest_during_gc_pause": f"{during} of {len(slowest)}",
    }


@pytest.mark.parametrize("devices", [100, 1000])
def test_ingest_latency_with_many_devices(benchmark, deployment: Deployment, tmp_path: Path, devices: int) -> None:
    out = tmp_path / "load.json"
    load_before = os.getloadavg()[0]
    log_offset = deployment.log.stat().st_size
    background_before, started = PostgresBackground.read(deployment.postgres_conninfo), datetime.now(UTC)
    cpu_before = deployment.cpu_s()

    def run() -> None:
        subprocess.run(
            [
                sys.executable,
                str(LOAD_GENERATOR),
                "--url",
                deployment.url,
                "--tokens",
                str(deployment.tokens_file),
                "--devices",
                str(devices),
                "--seconds",
                str(SECONDS),
                "--warmup-s",
                "5",
                "--json",
                str(out),
            ],
            check=True,
            timeout=SECONDS + 120,
        )

    benchmark.pedantic(run, rounds=1, iterations=1)
    result = json.loads(out.read_text())
    cpu_after = deployment.cpu_s()
    requests = max(1, result["requests_with_warmup"])  # the CPU figures cover the warm-up too
    benchmark.extra_info.update(
        result,
        workers=WORKERS,
        service_cpu_ms_per_request=round(1000 * (cpu_after["service"] - cpu_before["service"]) / requests, 2),
        postgres_cpu_ms_per_request=round(1000 * (cpu_after["postgres"] - cpu_before["postgres"]) / requests, 2),
        load_before=round(load_before, 1),
        load_after=round(os.getloadavg()[0], 1),
        **_pause_summary(_gc_pauses(deployment.log, log_offset), result["slowest"]),
        **PostgresBackground.read(deployment.postgres_conninfo).since(background_before, started),
    )
    print(f"\n{devices} devices, {WORKERS} workers: " + json.dumps(benchmark.extra_info))
    assert result["errors"] == 0, result["error_kinds"]
