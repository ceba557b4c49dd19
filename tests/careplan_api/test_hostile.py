"""Hostile input: SQL injection strings, oversized payloads, odd encodings, header abuse."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import func, select

from careplan_api.models import AuditEntry, Citizen, UsageEventRecord

INJECTIONS = [
    "' OR '1'='1",
    "'; DROP TABLE citizens; --",
    "1; DELETE FROM audit_log",
    '" OR ""="',
    "admin'--",
    "%' UNION SELECT password_hash FROM users --",
    "\\'; SELECT pg_sleep(5); --",
]


def _tables_intact(app) -> tuple[int, int]:
    with app.state.session_factory() as session:
        return session.scalar(select(func.count()).select_from(Citizen)), session.scalar(
            select(func.count()).select_from(AuditEntry)
        )


def test_sql_injection_in_login_purpose_and_paths_does_nothing(client, world, app):
    for attack in INJECTIONS:
        _injection_in_login_purpose_and_paths(client, world, app, attack)


def _injection_in_login_purpose_and_paths(client, world, app, attack):
    citizens_before, _ = _tables_intact(app)
    assert client.post("/api/v1/auth/token", data={"username": attack, "password": attack}).status_code == 401
    response = client.get(
        f"/api/v1/citizens/{world.alice}", params={"purpose": attack}, headers=world.headers("staff_a", None)
    )
    assert response.status_code == 200  # the purpose is just text: stored, not executed
    assert client.get(f"/api/v1/citizens/{attack}", headers=world.headers("staff_a")).status_code == 422
    assert client.get("/api/v1/citizens", params={"limit": attack}, headers=world.headers("staff_a")).status_code == 422
    citizens_after, audit_after = _tables_intact(app)
    assert citizens_after == citizens_before and audit_after > 0
    log = client.get(f"/api/v1/citizens/{world.alice}/audit", headers=world.headers("citizen")).json()
    assert any(entry["purpose"] == attack for entry in log)


def test_sql_injection_in_stored_text_is_kept_verbatim(client, world):
    for attack in INJECTIONS:
        _injection_in_stored_text(client, world, attack)


def _injection_in_stored_text(client, world, attack):
    note = client.post(f"/api/v1/citizens/{world.alice}/notes", json={"text": attack}, headers=world.headers("staff_a"))
    assert note.status_code == 201
    created = client.post("/api/v1/citizens", json={"name": attack}, headers=world.headers("admin"))
    assert created.status_code == 201 and created.json()["name"] == attack
    events = world.meal_events(bites=1)
    events[-1]["data"] = {"reason": attack, attack: attack}
    assert client.post(
        "/api/v1/usage-events", json={"events": events}, headers=world.headers("device_alice", None)
    ).json()["accepted"] == len(events)
    notes = client.get(f"/api/v1/citizens/{world.alice}/notes", headers=world.headers("staff_a")).json()
    assert notes[0]["text"] == attack


def test_a_body_over_the_limit_is_refused_with_413(client, world, app):
    limit = app.state.settings.max_request_body_bytes
    padding = "x" * (limit + 10)
    body = json.dumps({"events": [{"id": str(uuid.uuid4()), "data": {"pad": padding}}]})
    response = client.post(
        "/api/v1/usage-events",
        content=body,
        headers={**world.headers("device_alice", None), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    with app.state.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(UsageEventRecord)) == 0


def test_a_streamed_body_without_content_length_is_cut_at_the_limit(client, world, app):
    limit = app.state.settings.max_request_body_bytes

    def chunks():
        yield b'{"events": ['
        for _ in range(limit // 1000 + 10):
            yield b'{"pad": "' + b"y" * 1000 + b'"},'
        yield b"{}]}"

    response = client.post(
        "/api/v1/usage-events",
        content=chunks(),
        headers={**world.headers("device_alice", None), "Content-Type": "application/json"},
    )
    assert response.status_code == 413


def test_oversized_notes_and_names_are_refused(client, world):
    assert (
        client.post(
            f"/api/v1/citizens/{world.alice}/notes", json={"text": "n" * 10_001}, headers=world.headers("staff_a")
        ).status_code
        == 422
    )
    assert client.post("/api/v1/citizens", json={"name": "n" * 201}, headers=world.headers("admin")).status_code == 422


@pytest.mark.parametrize(
    ("path", "who", "body"),
    [
        ("/api/v1/citizens/{alice}/notes", "staff_a", {"text": "spiste \ud800"}),
        ("/api/v1/citizens", "admin", {"name": "\udfff"}),
    ],
)
def test_a_lone_surrogate_in_text_is_a_422_not_a_crash(client, world, path, who, body):
    # Valid JSON ("\ud800" escapes) but no Unicode text; the 422 echoes the input, which must not break it.
    response = client.post(
        path.format(alice=world.alice),
        content=json.dumps(body),
        headers={**world.headers(who), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert "unicode" in response.json()["detail"][0]["msg"]


def test_a_lying_content_length_is_refused(client, world):
    response = client.post(
        "/api/v1/usage-events",
        content=b'{"events": []}',
        headers={
            **world.headers("device_alice", None),
            "Content-Type": "application/json",
            "Content-Length": str(10**12),
        },
    )
    assert response.status_code in (400, 413)


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe\x00garbage",
        b'{"events": [' + b"[" * 5000 + b"]" * 5000 + b"]}",
        b'{"events": [{"id": "' + "\u0000".encode() + b'"}]}',
        json.dumps({"events": [{"data": {"x": float("nan")}}]}, allow_nan=True).encode(),
        b'{"events": [1e999999]}',
    ],
)
def test_garbled_or_nested_json_is_a_4xx_not_a_crash(client, world, body):
    response = client.post(
        "/api/v1/usage-events",
        content=body,
        headers={**world.headers("device_alice", None), "Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500 or (response.status_code == 200 and response.json()["accepted"] == 0)


def test_nan_in_event_data_is_rejected_per_event(client, world):
    events = world.meal_events(bites=0)
    body = json.dumps({"events": [{**events[0], "data": {"force": float("nan")}}]}, allow_nan=True)
    response = client.post(
        "/api/v1/usage-events",
        content=body,
        headers={**world.headers("device_alice", None), "Content-Type": "application/json"},
    )
    assert response.status_code in (200, 422)
    if response.status_code == 200:
        assert response.json()["accepted"] == 0 and response.json()["rejected"]


def test_a_cpr_number_is_never_stored_or_returned_in_clear(client, world, app):
    response = client.post(
        "/api/v1/citizens", json={"name": "Dorte", "cpr": "311299-4321"}, headers=world.headers("admin")
    )
    assert response.status_code == 201 and "311299" not in response.text
    with app.state.engine.connect() as connection:
        dump = "\n".join(str(row) for row in connection.exec_driver_sql("SELECT * FROM citizens"))
    assert "3112994321" not in dump and "311299-4321" not in dump
    duplicate = client.post(
        "/api/v1/citizens", json={"name": "Dorte 2", "cpr": "3112994321"}, headers=world.headers("admin")
    )
    assert duplicate.status_code == 409
    bad = client.post("/api/v1/citizens", json={"name": "X", "cpr": "999999-1234"}, headers=world.headers("admin"))
    assert bad.status_code == 422


def test_an_oversized_body_gets_413_from_the_real_server_too(live_server, world, app):
    import httpx

    limit = app.state.settings.max_request_body_bytes
    body = b'{"events": [{"pad": "' + b"z" * (limit + 1000) + b'"}]}'
    response = httpx.post(
        f"{live_server}/api/v1/usage-events",
        content=body,
        timeout=30,
        headers={**world.headers("device_alice", None), "Content-Type": "application/json"},
    )
    assert response.status_code == 413

    def chunked():  # no Content-Length: the limit is counted while reading
        yield body[: limit // 2]
        yield body[limit // 2 :]

    try:
        streamed = httpx.post(
            f"{live_server}/api/v1/usage-events",
            content=chunked(),
            timeout=30,
            headers={**world.headers("device_alice", None), "Content-Type": "application/json"},
        )
        assert streamed.status_code == 413
    except httpx.WriteError:
        pass  # the server may close the connection before the client has finished sending
    assert httpx.get(f"{live_server}/healthz").status_code == 200  # and the server carries on
