"""Each device's ingest quota (events per second, batch size) is answered with 429 and
Retry-After, stores nothing of a refused batch, and is shared by every worker on the database."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from careplan_api.app import create_app
from careplan_api.models import Device, UsageEventRecord
from careplan_api.services.ingest_quota import IngestQuota, take

from .conftest import World

URL = "/api/v1/usage-events"


@pytest.fixture
def settings(database_url, tmp_path):
    from .conftest import make_settings

    return make_settings(database_url, tmp_path, ingest_events_per_s=10.0, ingest_max_batch_events=20)


def _stored(app) -> int:
    with app.state.session_factory() as session:
        return session.scalar(select(func.count()).select_from(UsageEventRecord))


def _batch(n: int) -> dict:
    events = World.meal_events(bites=n)  # 3n + 4 events
    return {"events": events}


def test_a_device_over_its_rate_gets_429_with_retry_after_and_nothing_is_stored(client, world, app):
    first = client.post(URL, json={"events": _batch(6)["events"][:20]}, headers=world.headers("device_alice"))
    assert first.status_code == 200 and first.json()["accepted"] == 20
    second = client.post(URL, json={"events": _batch(6)["events"][:20]}, headers=world.headers("device_alice"))
    assert second.status_code == 429
    # 20 events at 10 a second: 2 s right after the first batch, 1 s once the refill since the first
    # request covers a few events (a slow machine); the exact arithmetic is tested on `take` below.
    assert second.headers["Retry-After"] in {"1", "2"}
    assert second.json()["events_per_s"] == 10.0 and second.json()["max_batch_events"] == 20
    assert _stored(app) == 20
    other = client.post(URL, json={"events": _batch(6)["events"][:20]}, headers=world.headers("device_bob"))
    assert other.status_code == 200  # each device has its own quota


def test_a_batch_larger_than_the_limit_is_refused_whole_with_the_limit_named(client, world, app):
    response = client.post(URL, json=_batch(10), headers=world.headers("device_alice"))
    assert response.status_code == 429
    assert "larger than this device's limit of 20" in response.json()["detail"]
    assert response.json()["max_batch_events"] == 20 and response.headers["Retry-After"] == "1"
    assert _stored(app) == 0


def test_two_workers_on_one_database_share_the_quota(client, world, app, settings):
    other_worker = create_app(settings.model_copy(update={"run_migrations": False}))
    try:
        with TestClient(other_worker) as second:
            batch = _batch(6)["events"]
            assert (
                client.post(URL, json={"events": batch[:20]}, headers=world.headers("device_alice")).status_code == 200
            )
            refused = second.post(URL, json={"events": batch[:20]}, headers=world.headers("device_alice"))
            assert refused.status_code == 429
    finally:
        other_worker.state.engine.dispose()


def test_the_bucket_refills_at_the_rate_and_never_beyond_its_size(app, world):
    quota = IngestQuota(events_per_s=10.0, max_batch_events=20)
    with app.state.session_factory() as session:
        device = session.get(Device, world.device_ids["device_alice"])
        assert take(session, device.id, 20, quota, now_s=1000.0) is None
        refused = take(session, device.id, 5, quota, now_s=1000.2)  # 2 events back after 0.2 s
        assert refused is not None and refused.retry_after_s == 1
        assert take(session, device.id, 5, quota, now_s=1000.5) is None  # 5 back after 0.5 s
        assert take(session, device.id, 20, quota, now_s=5000.0) is None  # a long pause: full, not more
        assert take(session, device.id, 1, quota, now_s=5000.0) is not None
        session.commit()


@pytest.mark.parametrize("bad", [{"events_per_s": 0}, {"max_batch_events": 0}])
def test_a_meaningless_quota_is_refused(bad):
    with pytest.raises(ValueError, match="ingest quota"):
        IngestQuota(**bad)
