"""The audit log: every access with who/when/what/why, visible to the citizen, append-only."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from careplan_api.db import make_engine
from careplan_api.models import AuditAction, AuditEntry
from careplan_api.settings import Settings


def _entries(app, **where):
    with app.state.session_factory() as session:
        query = select(AuditEntry).order_by(AuditEntry.id)
        for key, value in where.items():
            query = query.where(getattr(AuditEntry, key) == value)
        return session.scalars(query).all()


@pytest.mark.parametrize("path", ["", "/meals", "/goal", "/notes", "/audit"])
def test_person_data_reads_need_a_purpose(client, world, path):
    response = client.get(f"/api/v1/citizens/{world.alice}{path}", headers=world.headers("staff_a", purpose=None))
    assert response.status_code == 400
    assert "purpose" in response.json()["detail"]


@pytest.mark.parametrize("purpose", ["", "  ", "ab", "x" * 201, "bad\x07bell"])
def test_an_empty_or_unreadable_purpose_is_refused(client, world, purpose):
    response = client.get(
        f"/api/v1/citizens/{world.alice}", params={"purpose": purpose}, headers=world.headers("staff_a", purpose=None)
    )
    assert response.status_code == 400


def test_a_read_is_logged_with_who_when_what_and_why(client, world, app):
    response = client.get(
        f"/api/v1/citizens/{world.alice}/meals",
        params={"purpose": "planning lunch"},
        headers=world.headers("staff_a", purpose=None),
    )
    assert response.status_code == 200
    (entry,) = _entries(app, action=AuditAction.READ, citizen_id=world.alice)
    assert entry.actor_name == "staff_a" and entry.actor_role == "staff"
    assert entry.resource == f"GET /api/v1/citizens/{world.alice}/meals"
    assert entry.purpose == "planning lunch" and entry.outcome == "ok"
    assert entry.at.tzinfo is not None


def test_searches_changes_and_refusals_are_logged(client, world, app):
    client.get("/api/v1/citizens", headers=world.headers("staff_a", "rounds"))
    client.post(f"/api/v1/citizens/{world.alice}/notes", json={"text": "ok"}, headers=world.headers("staff_a", "note"))
    client.get(f"/api/v1/citizens/{world.alice}/meals", headers=world.headers("staff_b", "curious"))
    actions = [(e.action, e.actor_name, e.outcome) for e in _entries(app) if e.action is not AuditAction.LOGIN]
    assert (AuditAction.SEARCH, "staff_a", "ok") in actions
    assert (AuditAction.UPDATE, "staff_a", "ok") in actions
    assert (AuditAction.DENIED, "staff_b", "denied") in actions


def test_device_ingest_is_logged_as_a_change_by_the_device(client, world, app):
    client.post(
        "/api/v1/usage-events", json={"events": world.meal_events(bites=1)}, headers=world.headers("device_alice", None)
    )
    (entry,) = _entries(app, actor_role="device")
    assert entry.action is AuditAction.CREATE and entry.citizen_id == world.alice


@pytest.mark.parametrize("reader", ["citizen", "relative", "relative_audit_only", "staff_a", "admin"])
def test_the_citizen_and_their_relatives_see_who_looked(client, world, reader):
    client.get(f"/api/v1/citizens/{world.alice}/meals", headers=world.headers("staff_a", "lunch review"))
    response = client.get(f"/api/v1/citizens/{world.alice}/audit", headers=world.headers(reader, "my log"))
    assert response.status_code == 200
    seen = [(e["actor_name"], e["purpose"], e["action"]) for e in response.json()]
    assert ("staff_a", "lunch review", "read") in seen
    assert all(
        set(e) == {"at", "actor_kind", "actor_name", "actor_role", "action", "resource", "purpose", "outcome"}
        for e in response.json()
    )


def test_the_audit_log_shows_only_the_citizens_own_entries(client, world):
    client.get(f"/api/v1/citizens/{world.bob}/meals", headers=world.headers("staff_b", "bob only"))
    log = client.get(f"/api/v1/citizens/{world.alice}/audit", headers=world.headers("citizen", "mine")).json()
    assert all(e["purpose"] != "bob only" for e in log)


def test_the_audit_log_cannot_be_changed_through_the_api(client, world):
    for method in ("PUT", "PATCH", "DELETE"):
        response = client.request(method, f"/api/v1/citizens/{world.alice}/audit", headers=world.headers("admin"))
        assert response.status_code == 405


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET purpose = 'covered up'",
        "DELETE FROM audit_log",
    ],
)
def test_the_database_refuses_to_change_the_audit_log(client, world, app, statement):
    client.get(f"/api/v1/citizens/{world.alice}", headers=world.headers("staff_a", "check"))
    before = [(e.id, e.purpose) for e in _entries(app)]
    assert before
    with pytest.raises(DBAPIError, match="append-only"):
        with app.state.engine.begin() as connection:
            connection.execute(text(statement))
    assert [(e.id, e.purpose) for e in _entries(app)] == before


@pytest.mark.postgres
def test_truncating_the_audit_log_is_refused_on_postgresql(postgres_url, tmp_path):
    engine = make_engine(Settings(database_url=postgres_url, data_dir=tmp_path))
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO audit_log (at, actor_kind, actor_name, actor_role, action, resource, purpose, outcome) "
                    "VALUES (now(), 'system', 'system', '', 'read', 'test', 'test', 'ok')"
                )
            )
        with pytest.raises(DBAPIError, match="append-only"):
            with engine.begin() as connection:
                connection.execute(text("TRUNCATE audit_log"))
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM audit_log")) == 1
    finally:
        engine.dispose()


def test_a_list_of_citizens_is_in_each_listed_citizens_own_log(client, world):
    client.get("/api/v1/citizens", headers=world.headers("admin", "yearly review"))
    client.get("/api/v1/devices", headers=world.headers("admin", "device inventory"))
    for citizen, reader in ((world.alice, "citizen"), (world.bob, "staff_b")):
        log = client.get(f"/api/v1/citizens/{citizen}/audit", headers=world.headers(reader, "own log")).json()
        searches = {(e["actor_name"], e["purpose"]) for e in log if e["action"] == "search"}
        assert ("admin", "yearly review") in searches and ("admin", "device inventory") in searches
        assert all(e["actor_role"] and e["at"] for e in log)
