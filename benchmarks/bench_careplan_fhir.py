"""`GET /fhir/Patient/{id}/$everything` for a citizen with one year of meals (target < 300 ms).

One synthetic citizen (`careplan_api.synthetic_meals`): 365 days x 3 meals = 1,095 meals of about
60 journal events each (~66,000 events), ingested through the real ingest service into a fresh
database (SQLite file; PostgreSQL too when Debian's server binaries are installed), then exported
over HTTP with a staff token through the whole app (auth, purpose, audit entry, load, mapping,
JSON). Three cases per database:

- `cold`: the app's caches (meal summaries, encoded meal entries) are emptied before every round,
  so every event is read, summarised, mapped and encoded;
- `warm`: caches filled by the round before (the normal case: a meal changes only while it is
  eaten; summaries are keyed by the meal's event count and last update, encoded entries by the
  summary itself);
- `mapping`: the pure mapping + JSON encoding of the same year, without database, HTTP or cache.

    .venv/bin/python -m pytest benchmarks/bench_careplan_fhir.py --benchmark-columns=min,median,mean,stddev,rounds
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from careplan_api.app import create_app
from careplan_api.local_postgres import LocalPostgres, PostgresUnavailable
from careplan_api.models import Device, Role
from careplan_api.services import people
from careplan_api.services.ingest import IngestLimits, ingest_batch
from careplan_api.services.security import create_access_token, password_hasher
from careplan_api.settings import Settings
from careplan_api.fhir.encoding import everything_json
from careplan_api.synthetic_meals import synthetic_citizen_record, synthetic_meals

FIRST_DAY = datetime(2025, 1, 1, 7, 0, tzinfo=UTC)
DAYS = 365
BATCH = 1000


@dataclass
class Loaded:
    client: TestClient
    url: str
    headers: dict[str, str]
    events: int


def _load_year(settings: Settings) -> Iterator[Loaded]:
    app = create_app(settings)
    with app.state.session_factory() as session:
        unit = people.get_or_create_unit(session, "Bench")
        citizen = people.create_citizen(session, "Synthetic", app.state.cpr_key, None, unit)
        staff = people.create_user(session, "bench_staff", "bench password 1", Role.STAFF, unit=unit,
                                   hasher=password_hasher(settings.argon2_profile))
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
    with TestClient(app) as client:
        yield Loaded(client, f"/fhir/Patient/{citizen_id}/$everything",
                     {"Authorization": f"Bearer {token}", "X-Purpose": "benchmark"}, total)
    app.state.engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def year(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    data_dir = tmp_path_factory.mktemp(request.param)
    common = {"data_dir": data_dir, "jwt_secret": "b" * 40, "cpr_hmac_key": "c" * 40, "argon2_profile": "CHEAPEST"}
    if request.param == "sqlite":
        yield from _load_year(Settings(database_url=f"sqlite:///{data_dir / 'bench.sqlite3'}", **common))
        return
    try:
        server = LocalPostgres()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    server.start()
    try:
        yield from _load_year(Settings(database_url=server.create_database("bench"), **common))
    finally:
        server.destroy()


def _export(loaded: Loaded) -> int:
    response = loaded.client.get(loaded.url, headers=loaded.headers)
    assert response.status_code == 200, response.text
    return len(response.content)


def test_everything_one_year_cold(benchmark, year: Loaded) -> None:
    state = year.client.app.state

    def empty_cache() -> None:
        state.meal_summary_cache = None
        state.fhir_entry_cache = None

    size = benchmark.pedantic(_export, args=(year,), setup=empty_cache, rounds=8, warmup_rounds=1)
    benchmark.extra_info.update(events=year.events, meals=DAYS * 3, bytes=size)


def test_everything_one_year_warm(benchmark, year: Loaded) -> None:
    _export(year)
    size = benchmark.pedantic(_export, args=(year,), rounds=15, warmup_rounds=1)
    benchmark.extra_info.update(events=year.events, meals=DAYS * 3, bytes=size)


def test_mapping_one_year(benchmark) -> None:
    record = synthetic_citizen_record(FIRST_DAY, DAYS, seed=2026)
    as_of = FIRST_DAY + timedelta(days=DAYS + 1)
    body = benchmark.pedantic(lambda: everything_json(record, as_of=as_of), rounds=15, warmup_rounds=1)
    benchmark.extra_info.update(meals=len(record.meals), bytes=len(body))
