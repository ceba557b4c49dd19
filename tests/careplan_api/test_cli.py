"""`bidvis careplan` administration commands: one JSON object out, clear errors, data usable by the API."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from bidvis.cli import app as bidvis_app
from careplan_api.app import create_app
from careplan_api.settings import Settings


@pytest.fixture
def run(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("BIDVIS_CAREPLAN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BIDVIS_CAREPLAN_ARGON2_PROFILE", "CHEAPEST")
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None):
        return runner.invoke(bidvis_app, ["careplan", *args, "--database-url", database_url], input=stdin)

    return invoke


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    (line,) = [x for x in result.stdout.splitlines() if x.strip()]
    return json.loads(line)


def test_the_admin_commands_set_up_a_citizen_a_device_and_people_who_can_log_in(run, database_url, tmp_path):
    citizen_id = _json(run("add-citizen", "--name", "Ellen", "--cpr", "020202-2222"))["citizen_id"]
    device = _json(run("enroll-device", "--citizen", citizen_id))
    assert set(device) == {"device_id", "token"}
    staff = _json(run("add-user", "--username", "sofie", "--role", "staff", stdin="staffpass1\n"))
    relative = _json(
        run(
            "add-user",
            "--username",
            "ib",
            "--role",
            "relative",
            "--citizen",
            citizen_id,
            "--valid-until",
            "2099-12-31",
            stdin="relpass12\n",
        )
    )
    assert staff["user_id"] != relative["user_id"]

    app = create_app(
        Settings(database_url=database_url, data_dir=tmp_path, password_login="everyone")
    )  # same secrets file as the CLI
    with TestClient(app) as client:
        events = {
            "events": [
                {
                    "id": "0b7c3a55-6c0d-4d0e-9a43-1d9e8c7a0001",
                    "meal_id": "0b7c3a55-6c0d-4d0e-9a43-1d9e8c7a0002",
                    "type": "meal_started",
                    "at": "2026-01-05T12:00:00+01:00",
                    "data": {},
                }
            ]
        }
        ingest = client.post(
            "/api/v1/usage-events", json=events, headers={"Authorization": f"Bearer {device['token']}"}
        )
        assert ingest.json()["accepted"] == 1
        for username, password in (("sofie", "staffpass1"), ("ib", "relpass12")):
            token = client.post("/api/v1/auth/token", data={"username": username, "password": password}).json()[
                "access_token"
            ]
            meals = client.get(
                f"/api/v1/citizens/{citizen_id}/meals",
                headers={"Authorization": f"Bearer {token}", "X-Purpose": "cli check"},
            )
            assert meals.status_code == 200 and len(meals.json()) == 1, username
        log = client.get(
            f"/api/v1/citizens/{citizen_id}/audit",
            headers={"Authorization": f"Bearer {token}", "X-Purpose": "cli check"},
        ).json()
        assert any(e["resource"] == "cli add-citizen" and e["actor_kind"] == "system" for e in log)
    app.state.engine.dispose()


def test_a_fuldmagt_that_has_already_ended_is_refused(run):
    citizen_id = _json(run("add-citizen", "--name", "Frida"))["citizen_id"]
    result = run(
        "add-user",
        "--username",
        "old",
        "--role",
        "relative",
        "--citizen",
        citizen_id,
        "--valid-until",
        "2020-01-01",
        stdin="relpass12\n",
    )
    assert result.exit_code == 1 and "must end after it starts" in result.output


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("enroll-device", "--citizen", "not-a-uuid"), None, "not a UUID"),
        (("enroll-device", "--citizen", "00000000-0000-0000-0000-000000000000"), None, "no citizen"),
        (("add-user", "--username", "u", "--role", "boss"), "password1\n", "one of staff"),
        (("add-user", "--username", "u", "--role", "staff"), "", "password on standard input"),
        (("add-user", "--username", "u", "--role", "staff"), "short\n", "at least 8"),
        (("add-user", "--username", "u", "--role", "citizen"), "password1\n", "needs --citizen"),
        (
            (
                "add-user",
                "--username",
                "u",
                "--role",
                "relative",
                "--citizen",
                "00000000-0000-0000-0000-000000000000",
                "--valid-until",
                "tomorrow",
            ),
            "password1\n",
            "YYYY-MM-DD",
        ),
        (
            ("add-user", "--username", "u", "--role", "staff", "--valid-until", "2030-01-01"),
            "password1\n",
            "only a relative",
        ),
        (("add-citizen", "--name", "  "), None, "needs a name"),
        (("add-citizen", "--name", "X", "--cpr", "12"), None, "ten digits"),
    ],
)
def test_bad_input_gives_a_clear_error_and_a_nonzero_exit(run, args, stdin, message):
    result = run(*args, stdin=stdin)
    assert result.exit_code != 0
    assert message in result.output


def test_a_taken_username_is_refused(run):
    _json(run("add-user", "--username", "dup", "--role", "analyst", stdin="password1\n"))
    result = run("add-user", "--username", "dup", "--role", "admin", stdin="password2\n")
    assert result.exit_code == 1 and "taken" in result.output


def test_an_unreachable_database_is_reported_not_raised(tmp_path, monkeypatch):
    monkeypatch.setenv("BIDVIS_CAREPLAN_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(
        bidvis_app,
        ["careplan", "add-citizen", "--name", "X", "--database-url", "postgresql+psycopg://nobody@127.0.0.1:1/none"],
    )
    assert result.exit_code == 1 and "cannot migrate" in result.output
    result = CliRunner().invoke(bidvis_app, ["careplan", "add-citizen", "--name", "X", "--database-url", "nonsense://"])
    assert result.exit_code == 1 and "error:" in result.output


def test_the_default_database_is_a_sqlite_file_in_the_per_user_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("BIDVIS_CAREPLAN_DATA_DIR", raising=False)
    monkeypatch.delenv("BIDVIS_CAREPLAN_DATABASE_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    result = CliRunner().invoke(bidvis_app, ["careplan", "add-citizen", "--name", "Gerda"])
    assert "citizen_id" in _json(result)
    assert (tmp_path / "bidvis" / "careplan.sqlite3").exists()
    secrets = tmp_path / "bidvis" / "secrets.json"
    assert secrets.exists() and (secrets.stat().st_mode & 0o077) == 0


def test_a_lost_password_is_reset_old_tokens_stop_and_the_operator_is_in_the_citizens_log(
    run, database_url, tmp_path, monkeypatch
):
    monkeypatch.setenv("BIDVIS_OPERATOR", "kbh-it-jens")
    citizen_id = _json(run("add-citizen", "--name", "Grete"))["citizen_id"]
    _json(run("add-user", "--username", "grete", "--role", "citizen", "--citizen", citizen_id, stdin="firstpass1\n"))
    app = create_app(Settings(database_url=database_url, data_dir=tmp_path, password_login="everyone"))
    with TestClient(app) as client:
        old = client.post("/api/v1/auth/token", data={"username": "grete", "password": "firstpass1"}).json()
        assert _json(run("reset-password", "--username", "grete", stdin="second-pass-2\n"))["is_active"] is True
        headers = {"Authorization": f"Bearer {old['access_token']}", "X-Purpose": "own check"}
        assert client.get("/api/v1/auth/me", headers=headers).status_code == 401  # cut off by the reset
        assert (
            client.post("/api/v1/auth/token", data={"username": "grete", "password": "firstpass1"}).status_code == 401
        )
        assert _json(run("deactivate-user", "--username", "grete"))["is_active"] is False
        assert (
            client.post("/api/v1/auth/token", data={"username": "grete", "password": "second-pass-2"}).status_code
            == 401
        )
        assert _json(run("reactivate-user", "--username", "grete"))["is_active"] is True
        fresh = client.post("/api/v1/auth/token", data={"username": "grete", "password": "second-pass-2"}).json()
        log = client.get(
            f"/api/v1/citizens/{citizen_id}/audit",
            headers={"Authorization": f"Bearer {fresh['access_token']}", "X-Purpose": "own check"},
        ).json()
    app.state.engine.dispose()
    by_cli = [(e["resource"], e["actor_name"], e["actor_role"]) for e in log if e["resource"].startswith("cli ")]
    assert ("cli reset-password", "kbh-it-jens (command line)", "operator") in by_cli
    assert {r for r, _name, _role in by_cli} >= {"cli add-citizen", "cli add-user", "cli deactivate-user"}
    read = _json(run("access-log", "--citizen", citizen_id, "--purpose", "citizen asked for her log"))
    assert read["entries"][0]["resource"] == "cli access-log"  # the read itself is logged first
    assert read["entries"][0]["purpose"] == "citizen asked for her log"


def test_migrate_names_the_newest_revision(run):
    assert _json(run("migrate")) == {"revision": "0007"}


def test_a_password_is_never_an_argument_and_an_unknown_user_is_a_clear_error(run):
    result = run("reset-password", "--username", "nobody", stdin="whatever-pass\n")
    assert result.exit_code == 1 and "no user 'nobody'" in result.output
    assert "whatever-pass" not in result.output


def test_an_administrator_links_logins_to_a_cpr_number_and_to_an_openid_subject(run, database_url, tmp_path):
    from careplan_api.models import IdentityLink, User
    from careplan_api.services.security import cpr_hmac

    citizen_id = _json(run("add-citizen", "--name", "Grete"))["citizen_id"]
    args = ("--role", "relative", "--citizen", citizen_id)
    _json(run("add-user", "--username", "ib", *args, stdin="relpass12\n"))
    _json(run("add-user", "--username", "ulla", *args, stdin="relpass12\n"))
    result = run("set-national-id", "--username", "ib", stdin="050505-5555\n")
    assert _json(result)["username"] == "ib" and "050505" not in result.output
    taken = run("set-national-id", "--username", "ulla", stdin="0505055555\n")
    assert taken.exit_code == 1 and "another user" in taken.output and "0505055555" not in taken.output
    bad = run("set-national-id", "--username", "ulla", stdin="not-a-cpr-9\n")
    assert bad.exit_code == 1 and "CPR number" in bad.output and "not-a-cpr-9" not in bad.output
    assert run("set-national-id", "--username", "ulla", stdin="\n").exit_code == 2
    issuer = "https://login.kommune.test"
    _json(run("link-identity", "--username", "ulla", "--issuer", issuer, "--subject", "pseudonym-7"))
    again = run("link-identity", "--username", "ib", "--issuer", issuer, "--subject", "pseudonym-7")
    assert again.exit_code == 1 and "belongs to another user" in again.output

    app = create_app(Settings(database_url=database_url, data_dir=tmp_path))
    with app.state.session_factory() as session:
        ib = session.scalar(select(User).where(User.username == "ib"))
        assert ib.national_id_hmac == cpr_hmac("050505-5555", app.state.cpr_key)
        link = session.scalar(select(IdentityLink).where(IdentityLink.subject == "pseudonym-7"))
        assert link.issuer == issuer and session.get(User, link.user_id).username == "ulla"
    app.state.engine.dispose()
