"""`GET /fhir/Patient/{id}/$everything` for a citizen with one year of meals (target < 300 ms).

One synthetic citizen (`careplan_api.synthetic_meals`): 365 days x 3 meals = 1,095 meals of about
60 journal events each (64,545 events), ingested through the real ingest service into a fresh
database (SQLite file; PostgreSQL too when Debian's server binaries are installed), then exported
over HTTP with a staff token through the whole app (auth, purpose, audit entry, load, mapping,
JSON). Cases per database:

- `cold`: as after a restart: a new app (new engine and connection pool, empty in-process caches)
  for every round, and the process-wide resource-id cache emptied;
- `warm`: one app, caches filled by the round before;
- `no_meals_cold`: `cold` for a citizen without meals, the part of a cold export that is not meals;
- `mapping`: the pure mapping + JSON encoding of the same year, without database, HTTP or cache.

Next to wall time, `extra_info` has the median CPU time per export of this process (app and
client, `cpu_ms_median`) and, on PostgreSQL, of the database server's processes
(`server_cpu_ms_median`), and the wall and CPU time the year took to ingest (`load_s`,
`load_cpu_s`).

    .venv/bin/python -m pytest benchmarks/bench_careplan_fhir.py --benchmark-columns=min,median,mean,stddev,rounds
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from careplan_api.app import create_app
from careplan_api.fhir.encoding import everything_json
from careplan_api.fhir.ids import resource_id
from careplan_api.models import Device, Role
from careplan_api.services import people
from careplan_api.services.ingest import IngestLimits, ingest_batch
from careplan_api.services.security import create_access_token, password_hasher
from careplan_api.settings import Settings
from careplan_api.synthetic_meals import synthetic_citizen_record, synthetic_meals

FIRST_DAY = datetime(2025, 1, 1, 7, 0, tzinfo=UTC)
DAYS = 365
BATCH = 1000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _server_cpu_s(postmaster_pid: int | None) -> Callable[[], dict[int, float]]:
    """A snapshot of the CPU seconds of the PostgreSQL server's processes (postmaster and backends)."""

    def snapshot() -> dict[int, float]:
        if postmaster_pid is None:
            return {}
        seconds = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # the process ended meanwhile
                continue
            pid = int(stat.parent.name)
            if pid == postmaster_pid or int(fields[1]) == postmaster_pid:
                seconds[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        return seconds

    return snapshot


@dataclass
class Year:
    settings: Settings
    url: str
    headers: dict[str, str]
    events: int
    load_s: float
    load_cpu_s: float
    server_cpu: Callable[[], dict[int, float]]
    cpu_s: list[float] = field(default_factory=list)
    server_cpu_s: list[float] = field(default_factory=list)


def _load_year(settings: Settings, postmaster_pid: int | None) -> Year:
    wall, cpu = time.perf_counter(), time.process_time()
    app = create_app(settings)
    with app.state.session_factory() as session:
        unit = people.get_or_create_unit(session, "Bench")
        citizen = people.create_citizen(session, "Synthetic", app.state.cpr_key, None, unit)
        staff = people.create_user(
            session,
            "bench_staff",
            "bench password 1",
            Role.STAFF,
            unit=unit,
            hasher=password_hasher(settings.argon2_profile),
        )
        device, _token = people.enroll_device(session, citizen.id)
        session.commit()
        device = session.get(Device, device.id)
        pending: list[dict] = []
        total = 0
        now = FIRST_DAY + timedelta(days=DAYS + 1)
        for _meal_id, events in synthetic_meals(FIRST_DAY, DAYS, random.Random(2026)):
            pending += [event.model_dump(mode="json") for event in events]
            if len(pending) >= BATCH:
                total += ingest_batch(session, device, pending, IngestLimits(), now=now).accepted
                pending = []
        total += ingest_batch(session, device, pending, IngestLimits(), now=now).accepted
        token, _claims = create_access_token(staff, app.state.jwt_key, 3600)
        citizen_id = citizen.id
    app.state.engine.dispose()
    return Year(
        settings,
        f"/fhir/Patient/{citizen_id}/$everything",
        {"Authorization": f"Bearer {token}", "X-Purpose": "benchmark"},
        total,
        time.perf_counter() - wall,
        time.process_time() - cpu,
        _server_cpu_s(postmaster_pid),
    )


@pytest.fixture(scope="module")
def year(careplan_backend) -> Iterator[Year]:
    yield _load_year(careplan_backend.settings, careplan_backend.postmaster_pid)


def _export(year: Year, client: TestClient, url: str) -> int:
    server_before, cpu = year.server_cpu(), time.process_time()
    response = client.get(url, headers=year.headers)
    year.cpu_s.append(time.process_time() - cpu)
    server_after = year.server_cpu()
    year.server_cpu_s.append(sum(s - server_before.get(pid, 0.0) for pid, s in server_after.items()))
    assert response.status_code == 200, response.text
    return len(response.content)


def _report(benchmark, year: Year, size: int, meals: int = DAYS * 3) -> None:
    if benchmark.enabled:  # --benchmark-disable runs once, and that run is the one dropped as the warm-up
        benchmark.extra_info.update(
            meals=meals,
            bytes=size,
            year_events=year.events,
            load_s=round(year.load_s, 1),
            load_cpu_s=round(year.load_cpu_s, 1),
            cpu_ms_median=round(1000 * statistics.median(year.cpu_s), 1),
            server_cpu_ms_median=round(1000 * statistics.median(year.server_cpu_s), 1),
        )
    year.cpu_s.clear()
    year.server_cpu_s.clear()


def _cold(benchmark, year: Year, url: str) -> int:
    apps = ExitStack()

    def restart() -> tuple[tuple[Year, TestClient, str], dict]:
        apps.close()
        resource_id.cache_clear()
        app = create_app(year.settings)
        apps.callback(app.state.engine.dispose)
        return (year, apps.enter_context(TestClient(app)), url), {}

    with apps:
        size = benchmark.pedantic(_export, setup=restart, rounds=8, warmup_rounds=1)
    year.cpu_s.pop(0)  # the warm-up round
    year.server_cpu_s.pop(0)
    return size


def test_everything_one_year_cold(benchmark, year: Year) -> None:
    _report(benchmark, year, _cold(benchmark, year, year.url))


def test_everything_no_meals_cold(benchmark, year: Year) -> None:
    """The part of a cold export that is not meals: a citizen of the same unit without meals."""
    app = create_app(year.settings)
    with app.state.session_factory() as session:
        unit = people.get_or_create_unit(session, "Bench")
        citizen = people.create_citizen(session, "No meals", app.state.cpr_key, None, unit)
        session.commit()
    app.state.engine.dispose()
    _report(benchmark, year, _cold(benchmark, year, f"/fhir/Patient/{citizen.id}/$everything"), meals=0)


def test_everything_one_year_warm(benchmark, year: Year) -> None:
    app = create_app(year.settings)
    with TestClient(app) as client:
        _export(year, client, year.url)
        size = benchmark.pedantic(_export, args=(year, client, year.url), rounds=15, warmup_rounds=1)
    app.state.engine.dispose()
    del year.cpu_s[:2], year.server_cpu_s[:2]  # the filling and warm-up rounds
    _report(benchmark, year, size)


def test_mapping_one_year(benchmark) -> None:
    record = synthetic_citizen_record(FIRST_DAY, DAYS, seed=2026)
    as_of = FIRST_DAY + timedelta(days=DAYS + 1)
    body = benchmark.pedantic(lambda: everything_json(record, as_of=as_of), rounds=15, warmup_rounds=1)
    benchmark.extra_info.update(meals=len(record.meals), bytes=len(body))
