"""Every route of this service against every kind of caller: the access table, as a test.

Each row is one route; each column one caller of the `world` fixture (plus `anonymous` and a
device). A cell is the status the caller must get. Routes of the FHIR/report/dashboard modules
have their own tables in their tests.
"""

from __future__ import annotations

import importlib
import uuid
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from careplan_api.models import Fuldmagt, FuldmagtScope, Role, User
from careplan_api.services import people

CALLERS = (
    "anonymous",
    "device_alice",
    "staff_a",
    "staff_b",
    "relative",
    "relative_expired",
    "relative_audit_only",
    "citizen",
    "analyst",
    "admin",
)
EVERY_USER = {c: None for c in CALLERS if c not in ("anonymous", "device_alice")}


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    allowed: dict[str, int]  # caller -> success status; every other user gets `refused`
    body: dict | None = None
    form: dict | None = None
    refused: int = 403
    anonymous: int = 401
    device: int = 403
    special: dict[str, int] = field(default_factory=dict)

    def expected(self, caller: str) -> int:
        if caller in self.special:
            return self.special[caller]
        if caller == "anonymous":
            return self.anonymous
        if caller == "device_alice":
            return self.device
        return self.allowed.get(caller, self.refused)


ALICE_READERS = {"staff_a": 200, "relative": 200, "citizen": 200}
ROWS = {
    "list citizens": Row("GET", "/api/v1/citizens", {**{c: 200 for c in EVERY_USER}, "analyst": 403}),
    "read citizen": Row("GET", "/api/v1/citizens/{alice}", {**ALICE_READERS, "relative_audit_only": 200, "admin": 200}),
    "list meals": Row("GET", "/api/v1/citizens/{alice}/meals", ALICE_READERS),
    "read meal": Row("GET", "/api/v1/citizens/{alice}/meals/{meal}", ALICE_READERS),
    "read goal": Row("GET", "/api/v1/citizens/{alice}/goal", ALICE_READERS),
    "assess goal": Row(
        "PUT", "/api/v1/citizens/{alice}/goal", {"staff_a": 200}, body={"level": 2, "goal_text": "Spiser selv"}
    ),
    "list notes": Row("GET", "/api/v1/citizens/{alice}/notes", ALICE_READERS),
    "read effect": Row("GET", "/api/v1/citizens/{alice}/effect", ALICE_READERS),
    "add note": Row("POST", "/api/v1/citizens/{alice}/notes", {"staff_a": 201}, body={"text": "Spiste godt"}),
    "read audit log": Row(
        "GET", "/api/v1/citizens/{alice}/audit", {**ALICE_READERS, "relative_audit_only": 200, "admin": 200}
    ),
    "create citizen": Row("POST", "/api/v1/citizens", {"admin": 201}, body={"name": "Carl", "unit": "Unit A"}),
    "create user": Row(
        "POST",
        "/api/v1/users",
        {"admin": 201},
        body={"username": "newstaff", "password": "longenough", "role": "staff", "unit": "Unit A"},
    ),
    "deactivate user": Row("POST", "/api/v1/users/{spare_user}/deactivate", {"admin": 200}),
    "reactivate user": Row("POST", "/api/v1/users/{spare_user}/reactivate", {"admin": 200}),
    "reset password": Row(
        "POST", "/api/v1/users/{spare_user}/password", {"admin": 200}, body={"new_password": "a new long password"}
    ),
    "change own password": Row(
        "POST",
        "/api/v1/auth/password",
        {c: 204 for c in EVERY_USER},
        body={"current_password": "correct horse battery", "new_password": "another long password"},
    ),
    "grant fuldmagt": Row(
        "POST",
        "/api/v1/fuldmagter",
        {"admin": 201},
        body={"relative_user_id": "{relative_user}", "citizen_id": "{bob}", "scope": "care_plan"},
    ),
    "revoke fuldmagt": Row("POST", "/api/v1/fuldmagter/{spare_fuldmagt}/revoke", {"admin": 200}),
    "enroll device": Row("POST", "/api/v1/devices", {"admin": 201}, body={"citizen_id": "{bob}", "label": "arm 2"}),
    "list devices": Row("GET", "/api/v1/devices", {"admin": 200}),
    "revoke device": Row("POST", "/api/v1/devices/{spare_device}/revoke", {"admin": 200}),
    "me": Row("GET", "/api/v1/auth/me", {c: 200 for c in EVERY_USER}),
    "logout": Row("POST", "/api/v1/auth/logout", {c: 204 for c in EVERY_USER}),
    "post usage events": Row("POST", "/api/v1/usage-events", {}, body={"events": []}, device=200),
    "health": Row("GET", "/healthz", {c: 200 for c in EVERY_USER}, anonymous=200, device=200),
    "metrics": Row("GET", "/metrics", {c: 200 for c in EVERY_USER}, anonymous=200, device=200),
    "openapi": Row("GET", "/openapi.json", {c: 200 for c in EVERY_USER}, anonymous=200, device=200),
}


def _fill(value, ids):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


@pytest.fixture
def ids(client, world, app):
    meal_id = uuid.uuid4()
    response = client.post(
        "/api/v1/usage-events", json={"events": world.meal_events(meal_id)}, headers=world.headers("device_alice", None)
    )
    assert response.json()["accepted"] > 0
    with app.state.session_factory() as session:
        staff = session.get(User, world.user_ids["staff_a"])
        people.assess_goal(session, world.alice, 3, "Spiser med robot", staff)
        people.add_note(session, world.alice, staff, "Første måltid med robotten")
        spare = people.create_user(session, "spare", "longenough", Role.ANALYST, hasher=app.state.password_hasher)
        relative = session.get(User, world.user_ids["relative"])
        fuldmagt = people.grant_fuldmagt(session, relative, world.bob, FuldmagtScope.CARE_PLAN)
        device, _token = people.enroll_device(session, world.bob, "spare")
        session.commit()
        return {
            "alice": world.alice,
            "bob": world.bob,
            "meal": meal_id,
            "spare_user": spare.id,
            "relative_user": world.user_ids["relative"],
            "spare_fuldmagt": fuldmagt.id,
            "spare_device": device.id,
        }


@pytest.mark.parametrize("route", list(ROWS))
def test_every_caller_gets_the_status_of_the_access_table(client, world, ids, route):
    row = ROWS[route]
    path = _fill(row.path, ids)
    wrong = []
    for caller in CALLERS:
        headers = {} if caller == "anonymous" else world.headers(caller)
        kwargs = {"json": _fill(row.body, ids)} if row.body is not None else {}
        if row.body and "username" in row.body:
            kwargs["json"] = {**kwargs["json"], "username": f"new_{caller}"}
        response = client.request(row.method, path, headers=headers, **kwargs)
        if response.status_code != row.expected(caller):
            wrong.append(f"{caller}: {response.status_code} (want {row.expected(caller)}) {response.text[:120]}")
    assert not wrong, f"{row.method} {row.path}:\n" + "\n".join(wrong)


def test_every_route_of_the_app_is_in_the_access_table():
    # Read each routes module's own router: the app itself holds included routers, not routes.
    documented = {(r.method, r.path) for r in ROWS.values()}
    own_modules = (
        "careplan_api.routes.auth",
        "careplan_api.routes.ingest",
        "careplan_api.routes.citizens",
        "careplan_api.routes.admin",
        "careplan_api.routes.ops",
    )
    checked, missing = 0, []
    for module in own_modules:
        for route in importlib.import_module(module).router.routes:
            if route.path == "/api/v1/auth/token":
                continue
            for method in route.methods:
                checked += 1
                key = (
                    method,
                    route.path.replace("{citizen_id}", "{alice}")
                    .replace("{meal_id}", "{meal}")
                    .replace("{user_id}", "{spare_user}")
                    .replace("{fuldmagt_id}", "{spare_fuldmagt}")
                    .replace("{device_id}", "{spare_device}"),
                )
                if key not in documented:
                    missing.append(key)
    assert checked >= len(ROWS) // 2, f"only {checked} routes were found to check"
    assert not missing, f"routes without an authorization row: {missing}"


def test_staff_list_holds_only_their_units_citizens(client, world):
    listed = {c["id"] for c in client.get("/api/v1/citizens", headers=world.headers("staff_b")).json()}
    assert listed == {str(world.bob)}


def test_an_expired_fuldmagt_lists_no_one_and_opens_nothing(client, world):
    headers = world.headers("relative_expired")
    assert client.get("/api/v1/citizens", headers=headers).json() == []
    for path in ("", "/meals", "/goal", "/notes", "/audit"):
        assert client.get(f"/api/v1/citizens/{world.alice}{path}", headers=headers).status_code == 403


def test_a_revoked_fuldmagt_stops_access_at_once(client, world, app):
    headers = world.headers("relative")
    assert client.get(f"/api/v1/citizens/{world.alice}/meals", headers=headers).status_code == 200
    with app.state.session_factory() as session:
        fuldmagt = session.scalar(select(Fuldmagt).where(Fuldmagt.relative_user_id == world.user_ids["relative"]))
        fuldmagt_id = fuldmagt.id
    assert client.post(f"/api/v1/fuldmagter/{fuldmagt_id}/revoke", headers=world.headers("admin")).status_code == 200
    assert client.get(f"/api/v1/citizens/{world.alice}/meals", headers=headers).status_code == 403


def test_an_unknown_citizen_is_403_for_users_and_404_for_admins(client, world):
    ghost = uuid.uuid4()
    assert client.get(f"/api/v1/citizens/{ghost}/meals", headers=world.headers("staff_a")).status_code == 403
    assert client.get(f"/api/v1/citizens/{ghost}", headers=world.headers("admin")).status_code == 404
