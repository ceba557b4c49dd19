"""Staff login of the robot's web app: every staff route refuses without a session and works with
one, the panel needs none, wrong passwords are throttled, hostile input is refused, and the staff
page is Danish by default."""

from __future__ import annotations

import json
import stat

import pytest
from fastapi.testclient import TestClient

from bidvis.robot_ui.app import create_app
from bidvis.robot_ui.deps import SESSION_COOKIE
from bidvis.robot_ui.staff_login import (
    InvalidStaffName,
    LoginThrottle,
    StaffAccounts,
    StaffAccountsError,
    StaffLogin,
    WeakPassword,
    session_secret,
)
from bidvis.run import sim_robot

# Every staff route: (method, path, JSON body). A body that would be valid, so that a refusal is the login's.
STAFF_ROUTES = [
    ("GET", "/api/status", None),
    ("POST", "/api/scan", None),
    ("POST", "/api/connect", None),
    ("POST", "/api/disconnect", None),
    ("POST", "/api/meal/clear-stop", None),
    ("POST", "/api/jog/hold", {"owner": "owner-anna-1", "joint": 1, "direction": 1}),
    ("POST", "/api/move/ready", {"owner": "owner-anna-1"}),
    ("POST", "/api/test-bite", {"owner": "owner-anna-1", "bowl": 0}),
    ("POST", "/api/calibration/ready", None),
    ("POST", "/api/calibration/bowls/0/waypoints", None),
    ("POST", "/api/calibration/bowls/0/clear", None),
    ("PUT", "/api/calibration/spoon", {"x_m": 0.06, "z_m": 0.0, "pitch_rad": 0.0}),
    ("POST", "/api/camera/start", {"columns": 7, "rows": 5, "square_mm": 15}),
    ("POST", "/api/camera/capture", None),
    ("POST", "/api/camera/solve", None),
    ("POST", "/api/hand-eye/start", {"columns": 7, "rows": 5, "square_mm": 15}),
    ("POST", "/api/hand-eye/capture", None),
    ("POST", "/api/hand-eye/solve", None),
    ("PUT", "/api/profile", {"values": {"speed_m_s": 0.1}}),
    ("POST", "/api/profile/face-size", {"distance_m": 0.45}),
]


@pytest.fixture
def robot(tmp_path):
    robot = sim_robot(tmp_path)
    yield robot
    robot.close()


@pytest.fixture
def clock():
    return {"now": 1000.0}


@pytest.fixture
def staff_login(tmp_path, make_staff_login, clock):
    return make_staff_login(
        tmp_path, throttle=LoginThrottle(max_failures=3, window_s=60, lockout_s=30, clock=lambda: clock["now"])
    )


@pytest.fixture
def anonymous(robot, staff_login):
    with TestClient(create_app(robot.session, staff_login)) as client:
        yield client


def calibration_events(robot):
    return [e.data for e, _ in robot.journal.events() if e.type.value == "calibration_changed"]


@pytest.mark.parametrize(("method", "path", "body"), STAFF_ROUTES)
def test_every_staff_route_is_refused_without_a_login_and_changes_nothing(anonymous, robot, method, path, body):
    answer = anonymous.request(method, path, json=body)
    assert answer.status_code == 403 and "log in" in answer.json()["detail"]
    assert robot.session.arm.driver is None and calibration_events(robot) == []


@pytest.mark.parametrize(("method", "path", "body"), STAFF_ROUTES)
def test_every_staff_route_answers_past_the_login_with_a_session(anonymous, log_in, method, path, body):
    assert log_in(anonymous).status_code == 303
    answer = anonymous.request(method, path, json=body)
    assert answer.status_code not in (401, 403), answer.text  # 200, or 409/422 for the arm's own reasons


def test_the_staff_page_sends_a_browser_without_a_login_to_the_login_page(anonymous):
    answer = anonymous.get("/staff", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/staff"
    login_page = anonymous.get("/login?next=/staff")
    assert login_page.status_code == 200 and '<html lang="da">' in login_page.text and "Log ind" in login_page.text
    assert '<html lang="en">' in anonymous.get("/login?lang=en").text


def test_the_panel_needs_no_login_and_only_has_the_citizens_commands(anonymous):
    assert anonymous.get("/panel").status_code == 200
    assert anonymous.get("/api/panel/status").status_code == 200
    assert anonymous.post("/api/panel", json={"command": "pause"}).status_code in (200, 409)
    for command in ("jog", "estop", "reset", "start_meal", "teach"):
        assert anonymous.post("/api/panel", json={"command": command}).status_code == 422


def test_stop_and_letting_go_work_without_a_login(anonymous):
    assert anonymous.post("/api/stop").status_code == 200
    assert anonymous.post("/api/jog/release", json={"owner": "owner-anna-1"}).status_code != 403  # 409: not connected


def test_login_sets_a_signed_httponly_samesite_strict_cookie_and_the_journal_names_the_account(
    anonymous, robot, log_in
):
    answer = log_in(anonymous, "Bo")
    assert answer.status_code == 303 and answer.headers["location"] == "/staff"
    cookie = answer.headers["set-cookie"]
    assert (
        cookie.startswith(f"{SESSION_COOKIE}=") and "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    )
    assert anonymous.put("/api/calibration/spoon", json={"x_m": 0.06, "z_m": 0.0, "pitch_rad": 0.0}).status_code == 200
    (event,) = calibration_events(robot)
    assert event["changed_by"] == "Bo"


def test_a_forged_or_tampered_cookie_is_no_login(anonymous, log_in):
    log_in(anonymous)
    value = anonymous.cookies.get(SESSION_COOKIE)
    anonymous.cookies.clear()
    anonymous.cookies.set(SESSION_COOKIE, value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB"))
    assert anonymous.get("/api/status").status_code == 403
    anonymous.cookies.set(SESSION_COOKIE, "eyJzdGFmZiI6ICJBbm5hIn0=.forged.signature")
    assert anonymous.get("/api/status").status_code == 403


def test_logout_ends_the_session(anonymous, log_in):
    log_in(anonymous)
    assert anonymous.get("/api/status").status_code == 200
    assert anonymous.post("/logout", follow_redirects=False).status_code == 303
    assert anonymous.get("/api/status").status_code == 403


def test_a_removed_account_is_logged_out_at_its_next_request(anonymous, log_in, staff_login):
    log_in(anonymous)
    assert staff_login.accounts.remove("Anna")
    assert anonymous.get("/api/status").status_code == 403


@pytest.mark.parametrize(
    ("name", "password"),
    [
        ("Anna", "wrong password"),
        ("Nobody", "correct horse battery"),
        ("", ""),
        ("Anna' OR '1'='1", "x"),
        ("Anna", "ø" * 1000),
    ],
)
def test_wrong_or_hostile_credentials_are_refused_without_a_session(anonymous, log_in, name, password):
    answer = log_in(anonymous, name, password)
    assert answer.status_code in (401, 422)
    assert SESSION_COOKIE not in anonymous.cookies
    assert anonymous.get("/api/status").status_code == 403


def test_wrong_passwords_are_throttled_per_name_and_the_lockout_ends(anonymous, log_in, password, clock):
    for _ in range(3):
        assert log_in(anonymous, "Anna", "guess").status_code == 401
    locked = log_in(anonymous, "Anna", password)
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert "For mange" in locked.text
    clock["now"] += 31
    assert log_in(anonymous, "Anna", password).status_code == 303


def test_a_client_guessing_many_names_is_throttled_by_its_address(anonymous, log_in, password):
    for name in ("a1", "a2", "a3"):
        log_in(anonymous, name, "guess")
    assert log_in(anonymous, "Bo", password).status_code == 429


def test_a_login_form_posted_from_another_site_is_refused(anonymous, password):
    answer = anonymous.post(
        "/login",
        data={"username": "Anna", "password": password},
        headers={"Origin": "http://evil.example"},
        follow_redirects=False,
    )
    assert answer.status_code == 403 and SESSION_COOKIE not in anonymous.cookies
    cross = anonymous.post(
        "/login",
        data={"username": "Anna", "password": password},
        headers={"Sec-Fetch-Site": "cross-site"},
        follow_redirects=False,
    )
    assert cross.status_code == 403


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example", "/\\evil.example", "javascript:alert(1)"]
)
def test_login_never_redirects_off_the_robot(anonymous, password, target):
    answer = anonymous.post(
        "/login", data={"username": "Anna", "password": password, "next": target}, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/staff"


def test_a_robot_without_accounts_says_how_to_make_one(robot, tmp_path):
    empty = StaffLogin(StaffAccounts(tmp_path / "none.json"), "k" * 40)
    with TestClient(create_app(robot.session, empty)) as client:
        answer = client.post("/login", data={"username": "Anna", "password": "whatever1"}, follow_redirects=False)
    assert answer.status_code == 401 and "add-staff" in answer.text


def test_a_corrupt_accounts_file_is_a_clear_error_not_a_crash(robot, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with TestClient(create_app(robot.session, StaffLogin(StaffAccounts(path), "k" * 40))) as client:
        answer = client.post("/login", data={"username": "Anna", "password": "whatever1"}, follow_redirects=False)
    assert answer.status_code == 500 and "unreadable" in answer.text and "add-staff" in answer.text


# -- the accounts file and the key ----------------------------------------------------------------


def test_accounts_file_holds_argon2_hashes_only_and_is_private(tmp_path):
    accounts = StaffAccounts(tmp_path / "staff.json")
    accounts.add("Søren", "long enough password")
    text = (tmp_path / "staff.json").read_text()
    assert "long enough password" not in text and json.loads(text)["accounts"]["Søren"]["hash"].startswith("$argon2id$")
    assert stat.S_IMODE((tmp_path / "staff.json").stat().st_mode) == 0o600
    assert accounts.verify("Søren", "long enough password") and not accounts.verify("Søren", "wrong")
    assert not accounts.verify("Nobody", "long enough password")


@pytest.mark.parametrize("name", ["", "with space", "x" * 65, "semi;colon", "<script>"])
def test_bad_account_names_are_refused(tmp_path, name):
    with pytest.raises(InvalidStaffName):
        StaffAccounts(tmp_path / "staff.json").add(name, "long enough password")


def test_short_passwords_are_refused(tmp_path):
    with pytest.raises(WeakPassword):
        StaffAccounts(tmp_path / "staff.json").add("Anna", "short")


def test_the_cookie_key_is_random_per_robot_and_kept(tmp_path):
    first, other = session_secret(tmp_path / "a"), session_secret(tmp_path / "b")
    assert first != other and len(first) >= 32 and session_secret(tmp_path / "a") == first
    assert stat.S_IMODE((tmp_path / "a" / "session_secret.key").stat().st_mode) == 0o600


def test_the_throttle_forgets_old_failures_and_is_bounded():
    now = {"t": 0.0}
    throttle = LoginThrottle(max_failures=2, window_s=10, lockout_s=5, clock=lambda: now["t"], max_keys=3)
    throttle.failed("a")
    now["t"] = 20.0
    throttle.failed("a")  # the first one is out of the window
    assert throttle.retry_after_s("a") == 0
    for k in range(10):
        throttle.failed(f"key{k}")
    assert len(throttle._failures) <= 3


def test_add_staff_command_prompts_for_the_password_and_saves_a_hash(tmp_path):
    from typer.testing import CliRunner

    from bidvis.cli import app

    result = CliRunner().invoke(
        app, ["ui", "add-staff", "Anna", "--dir", str(tmp_path)], input="a good password\na good password\n"
    )
    assert result.exit_code == 0, result.output
    assert StaffAccounts(tmp_path / "staff_accounts.json").verify("Anna", "a good password")
    refused = CliRunner().invoke(
        app, ["ui", "add-staff", "bad name", "--dir", str(tmp_path)], input="a good password\na good password\n"
    )
    assert refused.exit_code == 2 and "staff name" in refused.output


def test_accounts_error_tree():
    assert issubclass(InvalidStaffName, StaffAccountsError) and issubclass(WeakPassword, ValueError)


def test_ui_sim_prints_a_one_time_demo_login_that_works(tmp_path, monkeypatch):
    import re

    from typer.testing import CliRunner

    import bidvis.run
    from bidvis.cli import app

    served = {}

    def serve(web_app, host, port):  # instead of uvicorn: try the login on the app
        with TestClient(web_app) as client:
            served["wrong"] = client.post(
                "/login", data={"username": "demo", "password": "guess-guess"}, follow_redirects=False
            ).status_code
            served["right"] = client.post(
                "/login", data={"username": "demo", "password": served["password"]}, follow_redirects=False
            ).status_code

    def capture_password(line):
        match = re.search(r"user demo, password (\S+)", line)
        if match:
            served["password"] = match.group(1)

    monkeypatch.setattr(bidvis.run, "serve", serve)
    monkeypatch.setattr("typer.echo", lambda message="", **_: capture_password(str(message)))
    result = CliRunner().invoke(app, ["ui", "--sim", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert served == {"password": served["password"], "wrong": 401, "right": 303}
    assert "demo" not in StaffAccounts(tmp_path / "staff_accounts.json").names()  # never written to the file


def test_danish_and_english_staff_texts_have_the_same_keys_and_the_page_uses_only_known_ones(anonymous, log_in):
    import re

    from bidvis.robot_ui.texts import Language, staff_words
    from controller.config import TriggerKind

    assert staff_words(Language.DANISH).keys() == staff_words(Language.ENGLISH).keys()
    assert all(f"trigger_{kind.value}" in staff_words(Language.DANISH) for kind in TriggerKind)
    log_in(anonymous)
    for lang, words in (("da", "1. Forbind"), ("en", "1. Connect")):
        page = anonymous.get(f"/staff?lang={lang}")
        assert f'<html lang="{lang}">' in page.text and words in page.text
        assert re.search(r"\{\{|\}\}", page.text) is None
    assert 'lang="en"' in anonymous.get("/staff").text  # the choice stays for the session


def test_remove_staff_command_removes_an_account_and_says_when_there_is_none(tmp_path):
    from typer.testing import CliRunner

    from bidvis.cli import app

    StaffAccounts(tmp_path / "staff_accounts.json").add("Anna", "a good password")
    removed = CliRunner().invoke(app, ["ui", "remove-staff", "Anna", "--dir", str(tmp_path)])
    assert removed.exit_code == 0 and StaffAccounts(tmp_path / "staff_accounts.json").names() == []
    missing = CliRunner().invoke(app, ["ui", "remove-staff", "Anna", "--dir", str(tmp_path)])
    assert missing.exit_code == 1 and "no staff account" in missing.output
    (tmp_path / "staff_accounts.json").write_text("[]")
    broken = CliRunner().invoke(app, ["ui", "remove-staff", "Anna", "--dir", str(tmp_path)])
    assert broken.exit_code == 2 and "unreadable" in broken.output
