"""The fast ingest path: the one-statement event insert (`services.event_insert`) stores exactly
what was sent, once; text the databases cannot hold is refused per event, not with a 500; the
device check inside the route's one thread-pool call keeps every refusal and stores nothing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import select

from careplan_api.models import UsageEventRecord, utcnow
from careplan_api.services.event_insert import insert_usage_events

URL = "/api/v1/usage-events"


def _post(client, world, events):
    return client.post(URL, json={"events": events}, headers=world.headers("device_alice", purpose=None))


def _stored(app, ids) -> dict[uuid.UUID, UsageEventRecord]:
    with app.state.session_factory() as session:
        rows = session.scalars(select(UsageEventRecord).where(UsageEventRecord.id.in_(ids))).all()
        return {row.id: row for row in rows}


def test_timestamps_offsets_and_data_arrive_exactly_as_sent(client, world, app):
    meal_id = uuid.uuid4()
    copenhagen = timezone(timedelta(hours=1))
    at = datetime.now(copenhagen).replace(microsecond=123456) - timedelta(hours=2)
    data = {
        "bowl": 2,
        "duration_s": 4.25,
        "note": "rødgrød med fløde ✓",
        "nested": {"list": [1, "to", None, True]},
        "quote": 'it\'s "quoted" and \\u0000 is only text here',
    }
    events = [
        {
            "id": str(uuid.uuid4()),
            "meal_id": str(meal_id),
            "type": "bite_taken",
            "at": (at + timedelta(seconds=i)).isoformat(),
            "data": data,
        }
        for i in range(3)
    ]
    assert _post(client, world, events).json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    stored = _stored(app, [uuid.UUID(e["id"]) for e in events])
    for i, event in enumerate(events):
        row = stored[uuid.UUID(event["id"])]
        assert row.at == (at + timedelta(seconds=i)).astimezone(UTC)
        assert row.data == data
        assert (row.meal_id, row.device_id, row.citizen_id, row.type) == (
            meal_id,
            world.device_ids["device_alice"],
            world.alice,
            "bite_taken",
        )


def test_insert_returns_only_the_rows_new_now(app, world, client):
    meal_id = uuid.uuid4()
    assert _post(client, world, world.meal_events(meal_id, bites=0)[:1]).status_code == 200  # creates the meal
    now = utcnow()
    rows = [
        {
            "id": uuid.uuid4(),
            "meal_id": meal_id,
            "device_id": world.device_ids["device_alice"],
            "citizen_id": world.alice,
            "type": "trigger",
            "at": now - timedelta(minutes=i),
            "data": {"i": i},
            "received_at": now,
        }
        for i in range(5)
    ]
    with app.state.engine.begin() as connection:
        assert insert_usage_events(connection, rows[:2]) == {rows[0]["id"], rows[1]["id"]}
    with app.state.engine.begin() as connection:
        assert insert_usage_events(connection, rows) == {r["id"] for r in rows[2:]}
        assert insert_usage_events(connection, []) == set()


def test_nul_characters_in_data_are_refused_per_event(client, world, app):
    events = world.meal_events(bites=1)
    events[1]["data"] = {"note": "before\u0000after"}
    events[2]["data"] = {"key\u0000": 1}
    events[3]["data"] = {"list": ["ok", ["\u0000"]]}
    result = _post(client, world, events).json()
    assert {r["id"] for r in result["rejected"]} == {events[1]["id"], events[2]["id"], events[3]["id"]}
    assert all("NUL" in r["reason"] for r in result["rejected"])
    assert result["accepted"] == len(events) - 3
    assert len(_stored(app, [uuid.UUID(e["id"]) for e in events])) == len(events) - 3


def test_a_revoked_or_unknown_token_stores_nothing_whatever_the_body(client, world, app):
    from careplan_api.services import people

    with app.state.session_factory() as session:
        people.revoke_device(session, world.device_ids["device_alice"])
        session.commit()
    revoked = world.headers("device_alice", purpose=None)
    events = world.meal_events(bites=1)
    assert client.post(URL, json={"events": events}, headers=revoked).status_code == 401
    assert client.post(URL, json={"events": events}, headers={"Authorization": "Bearer bvd_unknown"}).status_code == 401
    assert (
        client.post(URL, json={"events": "no list"}, headers=revoked).status_code == 422
    )  # shape first, then the token
    assert client.post(URL, json={"events": events}).status_code == 401  # no token at all: before the body
    assert (
        client.post(URL, content=b"{broken", headers={"Content-Type": "application/json"}).status_code == 422
    )  # not JSON
    assert client.post(URL, json={"events": events}, headers=world.headers("staff_a", purpose=None)).status_code == 403
    assert _stored(app, [uuid.UUID(e["id"]) for e in events]) == {}


def test_lone_surrogates_in_data_are_refused_per_event_not_a_crash(client, world, app):
    events = world.meal_events(bites=1)
    events[1]["data"] = {"note": "\ud800"}
    events[2]["data"] = {"\udfff": 1}
    body = json.dumps({"events": events})  # ensure_ascii: the surrogates travel as \ud800 escapes
    response = client.post(
        URL, content=body, headers={**world.headers("device_alice", purpose=None), "Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert {r["id"] for r in result["rejected"]} == {events[1]["id"], events[2]["id"]}
    assert all("Unicode" in r["reason"] for r in result["rejected"])
    assert len(_stored(app, [uuid.UUID(e["id"]) for e in events])) == len(events) - 2
