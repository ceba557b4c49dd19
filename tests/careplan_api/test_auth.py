"""Logging in, token expiry, revocation, deactivated users, forged tokens."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from sqlalchemy import select

from careplan_api.models import AuditAction, AuditEntry, User, utcnow
from careplan_api.services.security import create_access_token

TOKEN_URL = "/api/v1/auth/token"


def _login(client, username, password):
    return client.post(TOKEN_URL, data={"username": username, "password": password})


def test_the_password_flow_gives_a_bearer_token_that_works(client, world):
    response = _login(client, "staff_a", world.password)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["access_token"]
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["username"] == "staff_a" and me.json()["role"] == "staff"


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("staff_a", "wrong password"),
        ("nobody", "correct horse battery"),
        ("staff_a' OR '1'='1", "x' OR '1'='1"),
        ("", ""),
    ],
)
def test_a_wrong_login_is_refused_with_401(client, world, username, password):
    response = _login(client, username, password)
    assert response.status_code in (401, 422)
    assert "access_token" not in response.text


def test_login_form_fields_are_required(client, world):
    assert client.post(TOKEN_URL, data={"username": "staff_a"}).status_code == 422
    assert client.post(TOKEN_URL, json={"username": "staff_a", "password": world.password}).status_code == 422


def test_stored_passwords_are_argon2_hashes(app, world):
    with app.state.session_factory() as session:
        hashes = session.scalars(select(User.password_hash)).all()
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    assert all(world.password not in h for h in hashes)


def test_a_login_is_audited(client, app, world):
    _login(client, "citizen", world.password)
    with app.state.session_factory() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == AuditAction.LOGIN))
    assert entry.actor_name == "citizen" and entry.citizen_id == world.alice


def test_a_token_replayed_after_logout_is_refused(client, world):
    token = _login(client, "relative", world.password).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "care"}
    assert client.get(f"/api/v1/citizens/{world.alice}", headers=headers).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    replay = client.get(f"/api/v1/citizens/{world.alice}", headers=headers)
    assert replay.status_code == 401
    assert "revoked" in replay.json()["detail"]
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 401


def test_an_expired_token_is_refused(client, app, world):
    with app.state.session_factory() as session:
        user = session.get(User, world.user_ids["staff_a"])
        token, _ = create_access_token(user, app.state.jwt_key, 60, now=utcnow() - timedelta(hours=2))
    response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_forged_and_tampered_tokens_are_refused(client, world):
    claims = jwt.decode(world.tokens["staff_a"], options={"verify_signature": False})
    forged = jwt.encode({**claims, "role": "admin"}, "not-the-secret", algorithm="HS256")
    unsigned = jwt.encode({**claims, "role": "admin"}, None, algorithm="none")
    tampered = world.tokens["staff_a"][:-4] + "AAAA"
    for token in (forged, unsigned, tampered, "garbage", "a.b.c"):
        assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401, token


def test_a_token_whose_role_changed_is_refused(client, world, app):
    claims = jwt.decode(world.tokens["analyst"], options={"verify_signature": False})
    escalated = jwt.encode({**claims, "role": "admin"}, app.state.jwt_key, algorithm="HS256")
    assert client.get("/api/v1/devices", headers={"Authorization": f"Bearer {escalated}"}).status_code == 401


def test_a_deactivated_users_tokens_stop_working(client, world):
    headers = world.headers("admin")
    target = world.user_ids["staff_a"]
    assert client.post(f"/api/v1/users/{target}/deactivate", headers=headers).status_code == 200
    assert client.get("/api/v1/auth/me", headers=world.headers("staff_a")).status_code == 401
    assert _login(client, "staff_a", world.password).status_code == 401
