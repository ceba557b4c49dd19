"""Device ingest: each event stored once, per-event rejection, meals from events, device isolation."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select

from careplan_api.models import Meal, MealStatus, UsageEventRecord, utcnow
from careplan_api.schemas import MAX_EVENTS_PER_BATCH

URL = "/api/v1/usage-events"


def _post(client, world, events, who="device_alice"):
    return client.post(URL, json={"events": events}, headers=world.headers(who, purpose=None))


def _count_events(app) -> int:
    with app.state.session_factory() as session:
        return session.scalar(select(func.count()).select_from(UsageEventRecord))


def _meal(app, meal_id) -> Meal:
    with app.state.session_factory() as session:
        return session.get(Meal, meal_id)


def test_a_meal_is_stored_and_summarised_from_its_events(client, world, app):
    meal_id = uuid.uuid4()
    events = world.meal_events(meal_id, bites=3)
    response = _post(client, world, events)
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": len(events), "duplicates": 0, "rejected": []}
    meal = _meal(app, meal_id)
    assert (meal.bites_offered, meal.bites_taken, meal.triggers, meal.safety_stops) == (3, 3, 3, 1)
    assert meal.status is MealStatus.ENDED
    assert meal.citizen_id == world.alice
    assert meal.duration_s == 10 * (len(events) - 1)


def test_resending_a_batch_stores_nothing_twice(client, world, app):
    events = world.meal_events(bites=2)
    first = _post(client, world, events).json()
    second = _post(client, world, events).json()
    assert first["accepted"] == len(events)
    assert second == {"accepted": 0, "duplicates": len(events), "rejected": []}
    assert _count_events(app) == len(events)


def test_an_event_repeated_within_one_batch_counts_as_a_duplicate(client, world, app):
    events = world.meal_events(bites=1)
    body = [*events, events[0], events[1]]
    result = _post(client, world, body).json()
    assert result == {"accepted": len(events), "duplicates": 2, "rejected": []}
    assert _count_events(app) == len(events)


def test_out_of_order_batches_give_the_same_meal_as_in_order(client, world, app):
    meal_id = uuid.uuid4()
    events = world.meal_events(meal_id, bites=4)
    for chunk in (events[10:], events[3:10], events[:3]):  # the end arrives first
        assert _post(client, world, chunk).status_code == 200
    meal = _meal(app, meal_id)
    assert (meal.bites_offered, meal.bites_taken, meal.event_count) == (4, 4, len(events))
    assert meal.started_at.isoformat() == events[0]["at"].replace("+00:00", "+00:00")
    assert meal.status is MealStatus.ENDED


def test_a_meal_without_its_end_is_open_and_starts_at_its_first_event(client, world, app):
    meal_id = uuid.uuid4()
    events = world.meal_events(meal_id, bites=1)[2:-1]  # no meal_started, no meal_ended
    _post(client, world, events)
    meal = _meal(app, meal_id)
    assert meal.status is MealStatus.OPEN
    assert meal.ended_at is None and meal.duration_s is None
    assert meal.started_at == min(_parse(e["at"]) for e in events)


def test_invalid_events_are_rejected_one_by_one_and_the_rest_is_stored(client, world, app):
    good = world.meal_events(bites=1)
    bad_type = {**good[0], "id": str(uuid.uuid4()), "type": "exploded"}
    naive_time = {**good[0], "id": str(uuid.uuid4()), "at": "2026-01-01T12:00:00"}
    future = {**good[0], "id": str(uuid.uuid4()), "at": (utcnow() + timedelta(days=2)).isoformat()}
    ancient = {**good[0], "id": str(uuid.uuid4()), "at": "1970-01-01T00:00:00+00:00"}
    stop_without_reason = {**good[0], "id": str(uuid.uuid4()), "type": "safety_stop", "data": {}}
    negative_duration = {**good[0], "id": str(uuid.uuid4()), "type": "bite_taken", "data": {"duration_s": -1}}
    huge_data = {**good[0], "id": str(uuid.uuid4()), "data": {"blob": "x" * 10_000}}
    extra_field = {**good[0], "id": str(uuid.uuid4()), "cpr": "0101501234"}
    not_an_object = ["meal_started"]
    no_id = {k: v for k, v in good[0].items() if k != "id"}
    bad = [
        bad_type,
        naive_time,
        future,
        ancient,
        stop_without_reason,
        negative_duration,
        huge_data,
        extra_field,
        not_an_object,
        no_id,
    ]
    result = _post(client, world, good + bad).json()
    assert result["accepted"] == len(good)
    assert len(result["rejected"]) == len(bad)
    reasons = {r["id"]: r["reason"] for r in result["rejected"] if r["id"]}
    assert "type" in reasons[bad_type["id"]]
    assert "timezone" in reasons[naive_time["id"]].lower()
    assert "future" in reasons[future["id"]]
    assert "before 2000" in reasons[ancient["id"]]
    assert "reason" in reasons[stop_without_reason["id"]]
    assert "duration_s" in reasons[negative_duration["id"]]
    assert "bytes" in reasons[huge_data["id"]]
    assert "cpr" in reasons[extra_field["id"]]
    assert sum(1 for r in result["rejected"] if r["id"] is None) == 2  # the list and the id-less one
    assert _count_events(app) == len(good)


def test_a_malformed_batch_is_refused_whole_with_422(client, world, app):
    for body in ({}, {"events": "nope"}, {"events": [], "extra": 1}, [], {"events": None}):
        response = client.post(URL, json=body, headers=world.headers("device_alice", None))
        assert response.status_code == 422, body
    response = client.post(
        URL, content=b"{not json", headers={**world.headers("device_alice", None), "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert _count_events(app) == 0


def test_more_than_the_batch_limit_is_refused_whole(client, world, app):
    events = [world.meal_events(bites=0)[0] | {"id": str(uuid.uuid4())} for _ in range(MAX_EVENTS_PER_BATCH + 1)]
    response = _post(client, world, events)
    assert response.status_code == 422
    assert "1000" in response.text
    assert _count_events(app) == 0


def test_a_full_batch_at_the_limit_is_stored(client, world, app):
    meal_id = uuid.uuid4()
    start = utcnow() - timedelta(hours=2)
    events = [
        {
            "id": str(uuid.uuid4()),
            "meal_id": str(meal_id),
            "type": "bite_offered",
            "at": (start + timedelta(seconds=i)).isoformat(),
            "data": {"bowl": i % 3},
        }
        for i in range(MAX_EVENTS_PER_BATCH)
    ]
    assert _post(client, world, events).json()["accepted"] == MAX_EVENTS_PER_BATCH
    assert _meal(app, meal_id).bites_offered == MAX_EVENTS_PER_BATCH


def test_a_device_cannot_add_events_to_another_devices_meal(client, world, app):
    meal_id = uuid.uuid4()
    events = world.meal_events(meal_id, bites=1)
    assert _post(client, world, events[:3], who="device_bob").json()["accepted"] == 3
    result = _post(client, world, events[3:], who="device_alice").json()
    assert result["accepted"] == 0
    assert {r["reason"] for r in result["rejected"]} == {"meal_id belongs to another device"}
    meal = _meal(app, meal_id)
    assert meal.citizen_id == world.bob and meal.event_count == 3


def test_an_event_id_taken_by_another_device_is_rejected_not_counted_as_duplicate(client, world):
    events = world.meal_events(bites=0)
    _post(client, world, events, who="device_bob")
    stolen = [{**e, "meal_id": str(uuid.uuid4())} for e in events]  # same ids, alice's own new meal
    result = _post(client, world, stolen, who="device_alice").json()
    assert result["accepted"] == 0 and result["duplicates"] == 0
    assert {r["reason"] for r in result["rejected"]} == {"event id already used by another device"}


def test_ingest_needs_a_valid_device_token(client, world, app):
    body = {"events": world.meal_events(bites=0)}
    assert client.post(URL, json=body).status_code == 401
    assert client.post(URL, json=body, headers={"Authorization": "Bearer bvd_forged"}).status_code == 401
    assert client.post(URL, json=body, headers={"Authorization": "Basic YTpi"}).status_code == 401
    staff = client.post(URL, json=body, headers=world.headers("staff_a"))
    assert staff.status_code == 403, "a person's token must not post device events"
    assert _count_events(app) == 0


def test_a_revoked_device_token_is_refused(client, world, app):
    from careplan_api.services import people

    with app.state.session_factory() as session:
        people.revoke_device(session, world.device_ids["device_alice"])
        session.commit()
    response = _post(client, world, world.meal_events(bites=1))
    assert response.status_code == 401
    assert _count_events(app) == 0


def test_a_device_token_gets_403_on_every_person_route(client, world):
    headers = world.headers("device_alice")
    for path in (
        f"/api/v1/citizens/{world.alice}",
        f"/api/v1/citizens/{world.alice}/meals",
        "/api/v1/citizens",
        f"/api/v1/citizens/{world.bob}/meals",
        "/api/v1/auth/me",
        "/api/v1/devices",
    ):
        assert client.get(path, headers=headers).status_code == 403, path


def _parse(text):
    from datetime import datetime

    return datetime.fromisoformat(text)
