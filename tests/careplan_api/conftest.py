"""Fixtures for the care-plan service: a fresh database per test on SQLite and on PostgreSQL.

- `database_url`: parametrized `sqlite` / `postgresql`; PostgreSQL is a real server started once per
  session from Debian's binaries (skipped with the reason when they are absent). Use
  `sqlite_url` for tests that need only one backend.
- `settings`, `app` (from `create_app`), `client` (a TestClient), `world` (units, citizens, users of
  every role, devices and their tokens: see `World`), `live_server` (uvicorn on 127.0.0.1 in a thread).
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from careplan_api.app import create_app
from careplan_api.db import make_engine, upgrade_database
from careplan_api.local_postgres import LocalPostgres, PostgresUnavailable, free_port
from careplan_api.models import FuldmagtScope, Role, utcnow
from careplan_api.services import people
from careplan_api.services.security import create_access_token, password_hasher
from careplan_api.settings import Settings

TEST_JWT_SECRET = "test-jwt-secret-9fQm2xLr7TzKp4WcVb8NhJd3Ys6Ga1Eu"
TEST_CPR_KEY = "test-cpr-key-Zr5Lq8Wx2Mv7Tn4Bk9Hc3Pf6Dj1Sg0Ay"
PG_TEMPLATE = "careplan_template"
PASSWORD = "correct horse battery"


def make_settings(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    """Test settings: every role logs in with a password (as in the embedded demo) unless overridden."""
    values: dict[str, object] = {"password_login": "everyone", **overrides}
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        jwt_secret=TEST_JWT_SECRET,
        cpr_hmac_key=TEST_CPR_KEY,
        argon2_profile="CHEAPEST",
        **values,
    )


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    try:
        server = LocalPostgres()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    server.start()
    try:
        server.create_database(PG_TEMPLATE)
        engine = make_engine(make_settings(server.url_for(PG_TEMPLATE), tmp_path_factory.mktemp("pgdata")))
        upgrade_database(engine)
        engine.dispose()
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
    engine = make_engine(make_settings(f"sqlite:///{path}", path.parent))
    upgrade_database(engine)
    engine.dispose()
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "careplan.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    server: LocalPostgres = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield server.create_database(name, template=PG_TEMPLATE)
    server.drop_database(name)  # each copy takes ~8 MB; hundreds of tests would fill the disk


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@dataclass
class World:
    """Two units, two citizens and a login of every kind, with tokens ready to use.

    Unit A holds citizen `alice`, unit B citizen `bob`. Users (username = key): `staff_a`,
    `staff_b`, `relative` (valid fuldmagt for alice, scope full), `relative_expired` (fuldmagt for
    alice ended yesterday), `relative_audit_only` (alice, scope audit_log), `citizen` (is alice),
    `analyst`, `admin`. Devices: `device_alice`, `device_bob` (ids and tokens). All passwords
    are `World.password`. `meal_events(...)` builds a valid batch body for a device.
    """

    app: FastAPI
    password: str = PASSWORD
    alice: uuid.UUID = field(default=uuid.UUID(int=0))
    bob: uuid.UUID = field(default=uuid.UUID(int=0))
    user_ids: dict[str, uuid.UUID] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    device_ids: dict[str, uuid.UUID] = field(default_factory=dict)
    device_tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str, purpose: str | None = "care") -> dict[str, str]:
        """Authorization (a user's JWT or a device's token) and X-Purpose headers for `who`."""
        token = self.tokens.get(who) or self.device_tokens[who]
        result = {"Authorization": f"Bearer {token}"}
        if purpose is not None:
            result["X-Purpose"] = purpose
        return result

    @staticmethod
    def meal_events(meal_id: uuid.UUID | None = None, bites: int = 3, start: datetime | None = None) -> list[dict]:
        """A whole meal as event dicts: started, bowl, `bites` offered+taken, one safety stop, ended."""
        meal_id = meal_id or uuid.uuid4()
        t = start or (utcnow() - timedelta(hours=1))
        kinds: list[tuple[str, dict]] = [("meal_started", {}), ("bowl_selected", {"bowl": 1})]
        for _ in range(bites):
            kinds += [
                ("trigger", {"kind": "button"}),
                ("bite_offered", {"bowl": 1}),
                ("bite_taken", {"bowl": 1, "duration_s": 4.5}),
            ]
        kinds += [("safety_stop", {"reason": "face force above limit"}), ("meal_ended", {})]
        return [
            {
                "id": str(uuid.uuid4()),
                "meal_id": str(meal_id),
                "type": kind,
                "at": (t + timedelta(seconds=10 * i)).isoformat(),
                "data": data,
            }
            for i, (kind, data) in enumerate(kinds)
        ]


ROLES_IN_WORLD = (
    "staff_a",
    "staff_b",
    "relative",
    "relative_expired",
    "relative_audit_only",
    "citizen",
    "analyst",
    "admin",
)


@pytest.fixture
def world(app: FastAPI) -> World:
    w = World(app)
    hasher = password_hasher(app.state.settings.argon2_profile)
    with app.state.session_factory() as session:
        unit_a = people.get_or_create_unit(session, "Unit A")
        unit_b = people.get_or_create_unit(session, "Unit B")
        alice = people.create_citizen(session, "Alice Testesen", app.state.cpr_key, "010150-1234", unit_a)
        bob = people.create_citizen(session, "Bob Prøvesen", app.state.cpr_key, None, unit_b)
        w.alice, w.bob = alice.id, bob.id
        specs = {
            "staff_a": (Role.STAFF, unit_a, None),
            "staff_b": (Role.STAFF, unit_b, None),
            "relative": (Role.RELATIVE, None, alice.id),
            "relative_expired": (Role.RELATIVE, None, alice.id),
            "relative_audit_only": (Role.RELATIVE, None, alice.id),
            "citizen": (Role.CITIZEN, None, alice.id),
            "analyst": (Role.ANALYST, None, None),
            "admin": (Role.ADMIN, None, None),
        }
        users = {}
        for name, (role, unit, citizen_id) in specs.items():
            users[name] = people.create_user(
                session, name, PASSWORD, role, hasher=hasher, unit=unit, citizen_id=citizen_id
            )
            w.user_ids[name] = users[name].id
        now = utcnow()
        people.grant_fuldmagt(session, users["relative"], alice.id, FuldmagtScope.FULL, now + timedelta(days=365))
        people.grant_fuldmagt(
            session,
            users["relative_expired"],
            alice.id,
            FuldmagtScope.FULL,
            valid_until=now - timedelta(days=1),
            valid_from=now - timedelta(days=30),
        )
        people.grant_fuldmagt(session, users["relative_audit_only"], alice.id, FuldmagtScope.AUDIT_LOG)
        for name, citizen_id in (("device_alice", alice.id), ("device_bob", bob.id)):
            device, token = people.enroll_device(session, citizen_id, name)
            w.device_ids[name], w.device_tokens[name] = device.id, token
        session.commit()
        for name, user in users.items():
            w.tokens[name], _ = create_access_token(user, app.state.jwt_key, app.state.settings.access_token_ttl_s)
    return w


def serve(app: FastAPI, port: int | None = None) -> Iterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 (`port`, else a free one) in a thread; yields its base URL."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[str]:
    """The app served by uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    yield from serve(app)
