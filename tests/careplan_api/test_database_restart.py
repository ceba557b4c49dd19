"""PostgreSQL restarted in the middle of ingest: the service answers 503, the client retries,
and in the end nothing is lost and nothing is doubled."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from sqlalchemy import func, select

from careplan_api.client import CareplanClient
from careplan_api.local_postgres import LocalPostgres, PostgresUnavailable
from careplan_api.models import Meal, UsageEventRecord
from careplan_api.schemas import UsageBatch

pytestmark = pytest.mark.postgres
BATCHES = 30
BITES_PER_BATCH = 10


@pytest.fixture
def own_postgres():
    """A server of this test's own, so that stopping it disturbs no other test."""
    try:
        server = LocalPostgres()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    server.start()
    yield server
    server.destroy()


@pytest.fixture
def database_url(own_postgres):
    return own_postgres.url


def test_a_database_restart_mid_ingest_loses_and_doubles_nothing(own_postgres, live_server, world, app):
    meal_ids = [uuid.uuid4() for _ in range(BATCHES)]
    batches = [UsageBatch.model_validate({"events": world.meal_events(m, bites=BITES_PER_BATCH)}) for m in meal_ids]
    results = []
    failures: list[BaseException] = []
    half_sent = threading.Event()

    def device_loop():
        try:
            with CareplanClient(
                live_server,
                world.device_tokens["device_alice"],
                max_attempts=40,
                backoff_base_s=0.05,
                backoff_max_s=0.5,
                timeout_s=5,
            ) as client:
                for i, batch in enumerate(batches):
                    results.append(client.post_events(batch))
                    if i == BATCHES // 3:
                        half_sent.set()
                    time.sleep(0.02)
        except BaseException as exc:  # reported below
            failures.append(exc)
            half_sent.set()

    sender = threading.Thread(target=device_loop)
    sender.start()
    assert half_sent.wait(60)
    own_postgres.stop("fast")  # disconnects the service's connections mid-stream
    time.sleep(1.0)
    own_postgres.start()
    sender.join(120)
    assert not sender.is_alive()
    assert not failures, failures

    total = sum(len(b.events) for b in batches)
    assert len(results) == BATCHES
    assert all(
        not r.rejected and r.accepted + r.duplicates == len(b.events) for b, r in zip(batches, results, strict=True)
    )
    with app.state.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(UsageEventRecord)) == total
        assert session.scalar(select(func.count(func.distinct(UsageEventRecord.id)))) == total
        meals = session.scalars(select(Meal).where(Meal.id.in_(meal_ids))).all()
    assert len(meals) == BATCHES
    assert all(m.bites_taken == BITES_PER_BATCH and m.status.value == "ended" for m in meals)
    unavailable = app.state.metrics.registry.get_sample_value(
        "careplan_http_requests_total", {"method": "POST", "route": "/api/v1/usage-events", "status": "503"}
    )
    assert unavailable and unavailable >= 1, "the restart should have been seen as 503s (else the test proved nothing)"
