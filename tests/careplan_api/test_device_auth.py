"""The ingest route remembers which device a token belongs to (`services.device_auth`), yet a device
revoked after that, on any worker, is refused at its next request and nothing of it is stored;
unknown tokens are never remembered, and the cache stays within its bound."""

from __future__ import annotations

from sqlalchemy import func, select

from careplan_api.app import create_app
from careplan_api.models import UsageEventRecord
from careplan_api.services import people
from careplan_api.services.device_auth import DeviceCache, active_device
from careplan_api.services.security import device_token_sha256

URL = "/api/v1/usage-events"


def _post(client, world, who="device_alice"):
    return client.post(URL, json={"events": world.meal_events(bites=1)}, headers=world.headers(who, purpose=None))


def _stored(app) -> int:
    with app.state.session_factory() as session:
        return session.scalar(select(func.count()).select_from(UsageEventRecord))


def test_a_device_revoked_by_another_worker_after_its_token_was_cached_is_refused(client, world, app, settings):
    assert _post(client, world).status_code == 200
    digest = device_token_sha256(world.device_tokens["device_alice"])
    assert app.state.device_cache.get(digest) is not None
    stored = _stored(app)
    other_worker = create_app(settings.model_copy(update={"run_migrations": False}))
    try:
        with other_worker.state.session_factory() as session:
            people.revoke_device(session, world.device_ids["device_alice"])
            session.commit()
    finally:
        other_worker.state.engine.dispose()
    refused = _post(client, world)
    assert refused.status_code == 401 and refused.json()["detail"] == "unknown or revoked device token"
    assert _stored(app) == stored
    assert app.state.device_cache.get(digest) is None
    assert _post(client, world).status_code == 401  # and from the database from now on
    assert _post(client, world, who="device_bob").status_code == 200


def test_unknown_tokens_and_persons_are_never_cached(client, world, app):
    body = {"events": world.meal_events(bites=0)}
    for headers in ({"Authorization": "Bearer bvd_forged"}, world.headers("staff_a")):
        assert client.post(URL, json=body, headers=headers).status_code in (401, 403)
    assert len(app.state.device_cache) == 0


def test_the_cache_keeps_at_most_its_bound_and_a_device_it_dropped_still_gets_in(app, world):
    cache = DeviceCache(max_devices=1)
    with app.state.session_factory() as session:
        alice = active_device(session, world.device_tokens["device_alice"], cache)
        bob = active_device(session, world.device_tokens["device_bob"], cache)
        assert len(cache) == 1
        again = active_device(session, world.device_tokens["device_alice"], cache)
    assert alice is not None and bob is not None and again == alice
    assert (alice.id, alice.citizen_id) == (world.device_ids["device_alice"], world.alice)
