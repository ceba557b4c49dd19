"""What keeping the stored meal summaries costs ingest: `refresh_meal_summaries` after a batch.

A batch makes ingest summarise each meal it touched again from all the meal's stored events, map
it to FHIR and upsert its row (`careplan_api.meal_summary_store`). Two cases per database (SQLite
file; PostgreSQL when Debian's server binaries are installed), on synthetic meals of ~60 events:

- `one_meal`: the meal of a typical 20-event batch from a device during a meal;
- `seventeen_meals`: the ~17 meals of a 1,000-event batch (a device catching up).

Each round runs in the ingest's place (inside a transaction) and is rolled back.

    .venv/bin/python -m pytest benchmarks/bench_careplan_meal_summaries.py --benchmark-columns=min,median,mean,rounds
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from careplan_api.app import create_app
from careplan_api.meal_summary_store import refresh_meal_summaries
from careplan_api.models import Device
from careplan_api.services import people
from careplan_api.services.ingest import IngestLimits, ingest_batch
from careplan_api.settings import Settings
from careplan_api.synthetic_meals import synthetic_meals

FIRST_DAY = datetime(2025, 1, 1, 7, 0, tzinfo=UTC)
MEALS = 17


def _stored_meals(settings: Settings) -> Iterator[tuple[Session, list[uuid.UUID]]]:
    app = create_app(settings)
    with app.state.session_factory() as session:
        unit = people.get_or_create_unit(session, "Bench")
        citizen = people.create_citizen(session, "Synthetic", app.state.cpr_key, None, unit)
        device, _token = people.enroll_device(session, citizen.id)
        session.commit()
        device = session.get(Device, device.id)
        meals = list(synthetic_meals(FIRST_DAY, 6, random.Random(2026)))[:MEALS]
        events = [event.model_dump(mode="json") for _meal_id, meal in meals for event in meal]
        ingest_batch(session, device, events, IngestLimits(), now=FIRST_DAY + timedelta(days=7))
        yield session, [meal_id for meal_id, _events in meals]
    app.state.engine.dispose()


@pytest.fixture(scope="module")
def stored(careplan_backend) -> Iterator[tuple[Session, list[uuid.UUID]]]:
    yield from _stored_meals(careplan_backend.settings)


def _refresh(session: Session, meal_ids: list[uuid.UUID]) -> None:
    refresh_meal_summaries(session, meal_ids)
    session.rollback()


def test_refresh_one_meal(benchmark, stored) -> None:
    session, meal_ids = stored
    benchmark.pedantic(_refresh, args=(session, meal_ids[:1]), rounds=200, warmup_rounds=5)


def test_refresh_seventeen_meals(benchmark, stored) -> None:
    session, meal_ids = stored
    benchmark.pedantic(_refresh, args=(session, meal_ids), rounds=50, warmup_rounds=2)
