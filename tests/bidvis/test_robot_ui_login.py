"""Staff login of the robot's web app: every staff route refuses without a live session and works
with one; sessions are kept on the robot and end on logout, password change, a disabled account
and idling; wrong passwords are throttled without letting anyone lock staff out from another
address; common passwords are refused; logins are audited; the staff page is Danish by default."""

from __future__ import annotations

import html
import json
import re
import stat

import pytest
from fastapi.testclient import TestClient

from bidvis.robot_ui.app import create_app
from bidvis.robot_ui.audit import AuditAction
from bidvis.robot_ui.deps import SESSION_COOKIE
from bidvis.robot_ui.staff_login import (
    InvalidStaffName,
    LoginThrottle,
    StaffAccounts,
    StaffAccountsError,
    StaffLogin,
    StaffSessions,
    WeakPassword,
    check_password,
)
from bidvis.robot_ui.texts import Language, staff_words
from tests.bidvis.conftest import PASSWORD, ROBOT_URL

# Every staff route: (method, path, JSON body). A body that would be valid, so that a refusal is the login's.
STAFF_ROUTES = [
    ("GET", "/api/status", None),
    ("POST", "/api/scan", None),
    ("POST", "/api/connect", None),
    ("POST", "/api/disconnect", {"owner": "owner-anna-1"}),
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
def clock():
    return {"now": 1000.0}


@pytest.fixture
def staff_login(tmp_path, make_staff_login, clock):
    return make_staff_login(
        tmp_path,
        throttle=LoginThrottle(
            max_failures=3, max_failures_per_address=6, window_s=60, lockout_s=30, clock=lambda: clock["now"]
        ),
        sessions=StaffSessions(idle_timeout_s=600, max_age_s=3600, clock=lambda: clock["now"]),
    )


@pytest.fixture
def app(robot, staff_login):
    return create_app(robot.session, staff_login)


@pytest.fixture
def anonymous(app):
    with TestClient(app, base_url=ROBOT_URL) as client:
        yield client


@pytest.fixture
def browser_at(app):
    """`browser_at(address)`: another browser, from another client address."""
    clients = []

    def make(address: str) -> TestClient:
        client = TestClient(app, base_url=ROBOT_URL, client=(address, 40000))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def audited(app, action: AuditAction):
    return app.state.audit.entries(action)


def calibration_events(robot):
    return [e.data for e, _ in robot.journal.events() if e.type.value == "calibration_changed"]


@pytest.mark.parametrize(("method", "path", "body"), STAFF_ROUTES)
def test_every_staff_route_is_refused_without_a_login_and_changes_nothing(anonymous, robot, method, path, body):
    answer = anonymous.request(method, path, json=body)
    assert answer.status_code == 401 and "log in" in answer.json()["detail"]
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


@pytest.mark.parametrize(("chosen", "accept_language"), [("da", "en-GB,en;q=0.9"), ("en", "da")])
def test_the_language_chosen_at_login_wins_over_the_browsers_through_login_and_logout(app, chosen, accept_language):
    with TestClient(app, base_url=ROBOT_URL, headers={"Accept-Language": accept_language}) as browser:
        form = browser.get(f"/login?lang={chosen}&next=/staff").text
        assert f'<input type="hidden" name="lang" value="{chosen}">' in form
        staff = browser.post(
            "/login", data={"username": "Anna", "password": PASSWORD, "lang": chosen, "next": "/staff"}
        )
        assert staff.url.path == "/staff" and f'<html lang="{chosen}">' in staff.text
        out = browser.post("/logout")
        assert out.history[0].headers["location"] == f"/login?lang={chosen}" and f'<html lang="{chosen}">' in out.text


def test_stop_needs_staff_or_a_paired_panel_and_letting_go_a_jog_too(anonymous, log_in):
    assert anonymous.post("/api/stop").status_code == 401
    assert anonymous.post("/api/jog/release", json={"owner": "owner-anna-1"}).status_code == 401
    log_in(anonymous)
    assert anonymous.post("/api/stop").status_code == 200
    assert anonymous.post("/api/jog/release", json={"owner": "owner-anna-1"}).status_code == 409  # not connected


def test_login_sets_a_random_httponly_samesite_strict_cookie_and_the_journal_names_the_account(
    app, anonymous, robot, log_in
):
    answer = log_in(anonymous, "Bo")
    assert answer.status_code == 303 and answer.headers["location"] == "/staff"
    cookie = answer.headers["set-cookie"]
    assert (
        cookie.startswith(f"{SESSION_COOKIE}=") and "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    )
    # An opaque random token (the session lives on the server), not the name or anything signed
    # around it: only URL-safe base64 letters, and ("Bo" may occur in random letters) another one
    # at the next login of the same account.
    token = anonymous.cookies[SESSION_COOKIE]
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", token)
    assert anonymous.put("/api/calibration/spoon", json={"x_m": 0.06, "z_m": 0.0, "pitch_rad": 0.0}).status_code == 200
    (event,) = calibration_events(robot)
    assert event["changed_by"] == "Bo"
    again = TestClient(app, base_url=ROBOT_URL)  # another browser (the app is already running)
    log_in(again, "Bo")
    assert again.cookies[SESSION_COOKIE] != token


def test_a_forged_or_tampered_cookie_is_no_login(anonymous, log_in):
    log_in(anonymous)
    value = anonymous.cookies.get(SESSION_COOKIE)
    anonymous.cookies.clear()
    anonymous.cookies.set(SESSION_COOKIE, value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB"))
    assert anonymous.get("/api/status").status_code == 401
    anonymous.cookies.set(SESSION_COOKIE, "eyJzdGFmZiI6ICJBbm5hIn0=.forged.signature")
    assert anonymous.get("/api/status").status_code == 401


def test_logout_ends_the_session_on_the_robot_so_a_copied_cookie_is_no_login(anonymous, log_in, browser_at, app):
    log_in(anonymous)
    copy = browser_at("10.0.0.66")
    copy.cookies.set(SESSION_COOKIE, anonymous.cookies[SESSION_COOKIE])
    assert copy.get("/api/status").status_code == 200
    assert anonymous.post("/logout", follow_redirects=False).status_code == 303
    assert anonymous.get("/api/status").status_code == 401
    assert copy.get("/api/status").status_code == 401  # the copied cookie ended with the logout
    assert copy.post("/api/connect").status_code == 401
    assert [e.actor for e in audited(app, AuditAction.LOGOUT)] == ["staff:Anna"]


def test_a_password_change_ends_every_session_of_the_account_at_once(anonymous, log_in, browser_at, app, password):
    log_in(anonymous)
    tablet, bo = browser_at("10.0.0.5"), browser_at("10.0.0.6")
    log_in(tablet)
    log_in(bo, "Bo")
    answer = anonymous.post(
        "/account/password",
        data={
            "current_password": password,
            "new_password": "purple kettle harbour",
            "new_password_again": "purple kettle harbour",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303 and "password_changed" in answer.headers["location"]
    assert anonymous.get("/api/status").status_code == 401 and tablet.get("/api/status").status_code == 401
    assert bo.get("/api/status").status_code == 200  # another account's session goes on
    assert log_in(tablet, "Anna", password).status_code == 401
    assert log_in(tablet, "Anna", "purple kettle harbour").status_code == 303
    (entry,) = audited(app, AuditAction.PASSWORD_CHANGED)
    assert entry.actor == "staff:Anna" and entry.detail == {"sessions_ended": 2}


@pytest.mark.parametrize(
    ("current", "new", "again", "status"),
    [
        ("wrong password", "purple kettle harbour", "purple kettle harbour", 401),
        (None, "purple kettle harbour", "purple kettle harbor", 422),
        (None, "password123", "password123", 422),  # a common password
    ],
)
def test_a_password_change_is_refused_without_the_right_current_password_or_for_a_weak_one(
    anonymous, log_in, password, current, new, again, status
):
    log_in(anonymous)
    answer = anonymous.post(
        "/account/password",
        data={"current_password": current or password, "new_password": new, "new_password_again": again},
    )
    assert answer.status_code == status
    assert anonymous.get("/api/status").status_code == 200  # nothing changed: still logged in


@pytest.mark.parametrize("new", ["kort", "password123", "qwertyuiop"])  # too short, common, a keyboard row
def test_a_weak_new_password_is_refused_in_the_readers_words(anonymous, log_in, password, new):
    log_in(anonymous)
    for language in Language:
        answer = anonymous.post(
            "/account/password",
            data={"current_password": password, "new_password": new, "new_password_again": new, "lang": language.value},
        )
        assert answer.status_code == 422
        assert html.escape(staff_words(language)["password_weak"]) in answer.text
        assert not re.search(r"password has|most common|choose a stronger", answer.text)  # WeakPassword's English


@pytest.mark.parametrize("content", [b"{", b"\xff\xfe", b'{"accounts": 3}'])
def test_a_corrupt_accounts_file_is_a_clear_error_in_the_readers_words_not_a_crash(
    anonymous, staff_login, caplog, content
):
    staff_login.accounts.path.write_bytes(content)
    for language in Language:
        answer = anonymous.post("/login", data={"username": "Anna", "password": PASSWORD, "lang": language.value})
        assert answer.status_code == 500
        assert html.escape(staff_words(language)["accounts_broken"]) in answer.text
        assert "accounts file" not in answer.text
    assert "accounts file" in caplog.text


def test_a_disabled_account_ends_every_session_at_once_and_cannot_log_in(anonymous, log_in, staff_login, tmp_path):
    from typer.testing import CliRunner

    from bidvis.cli import app

    log_in(anonymous)
    result = CliRunner().invoke(app, ["ui", "disable-staff", "Anna", "--dir", str(tmp_path)])  # another process's view
    assert result.exit_code == 0, result.output
    assert anonymous.get("/api/status").status_code == 401
    assert log_in(anonymous).status_code == 401
    CliRunner().invoke(app, ["ui", "enable-staff", "Anna", "--dir", str(tmp_path)])
    assert log_in(anonymous).status_code == 303


def test_a_removed_account_is_logged_out_at_its_next_request(anonymous, log_in, staff_login):
    log_in(anonymous)
    assert staff_login.accounts.remove("Anna")
    assert anonymous.get("/api/status").status_code == 401


def test_an_idle_staff_page_times_out_but_staff_can_still_stop(anonymous, log_in, clock):
    log_in(anonymous)
    for _ in range(2):
        clock["now"] += 299
        assert anonymous.get("/api/status").status_code == 200  # the page polls: that is not use
    clock["now"] += 3  # 10 minutes since the last use
    assert anonymous.get("/api/status").status_code == 401
    assert anonymous.post("/api/connect").status_code == 401
    assert anonymous.get("/staff", follow_redirects=False).status_code == 303
    assert anonymous.post("/api/stop").status_code == 200  # STOP is never refused to staff for idling


@pytest.mark.parametrize(
    ("idle_s", "danish", "english"),
    [
        (60, "efter 1 minut uden brug", "after 1 minute without use"),
        (120, "efter 2 minutter uden brug", "after 2 minutes without use"),
        (30, "efter 30 sekunder uden brug", "after 30 seconds without use"),
        (90, "efter 90 sekunder uden brug", "after 90 seconds without use"),
        (1, "efter 1 sekund uden brug", "after 1 second without use"),
        (0.2, "efter 1 sekund uden brug", "after 1 second without use"),
    ],
)
def test_the_page_tells_the_idle_logout_in_minutes_or_seconds_never_zero_one_in_the_singular(
    robot, tmp_path, make_staff_login, log_in, idle_s, danish, english
):
    login = make_staff_login(tmp_path, sessions=StaffSessions(idle_timeout_s=idle_s))
    with TestClient(create_app(robot.session, login), base_url=ROBOT_URL) as client:
        log_in(client)
        assert danish in client.get("/staff").text
        assert english in client.get("/staff?lang=en").text


def test_using_the_page_keeps_the_session_alive_until_its_maximum_age(anonymous, log_in, clock):
    log_in(anonymous)
    for _ in range(6):
        clock["now"] += 500
        assert anonymous.post("/api/stop").status_code == 200
        assert anonymous.get("/staff").status_code == 200  # use
    clock["now"] += 700  # 1 hour after login
    assert anonymous.get("/api/status").status_code == 401
    assert anonymous.post("/api/stop").status_code == 401  # past its age the session is over


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
    assert anonymous.get("/api/status").status_code == 401


def test_wrong_passwords_are_throttled_per_account_and_address_and_the_lockout_ends(
    anonymous, log_in, password, clock, app
):
    for _ in range(3):
        assert log_in(anonymous, "Anna", "guess").status_code == 401
    locked = log_in(anonymous, "Anna", password)
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert "For mange" in locked.text
    clock["now"] += 31
    assert log_in(anonymous, "Anna", password).status_code == 303
    assert len(audited(app, AuditAction.LOGIN_FAILED)) == 3
    (lockout,) = audited(app, AuditAction.LOGIN_LOCKED)
    assert lockout.actor == "staff:Anna" and lockout.client == "testclient" and lockout.detail["scope"] == "pair"


def test_the_lockout_text_counts_the_seconds_left_in_the_singular_for_one(anonymous, log_in, password, clock):
    for _ in range(3):
        log_in(anonymous, "Anna", "guess")
    assert "Prøv igen om 31 sekunder." in log_in(anonymous, "Anna", password).text
    clock["now"] += 29.5  # half a second left: the page rounds up to one
    assert "Prøv igen om 1 sekund." in log_in(anonymous, "Anna", password).text
    english = anonymous.post(
        "/login", data={"username": "Anna", "password": password, "lang": "en"}, follow_redirects=False
    )
    assert english.status_code == 429 and "Try again in 1 second." in english.text


def test_wrong_passwords_from_another_address_never_lock_staff_out(browser_at, log_in, password, clock):
    attacker, anna = browser_at("10.0.0.99"), browser_at("10.0.0.7")
    for _ in range(20):  # keep trying, as often as the throttle lets it
        for _ in range(3):
            log_in(attacker, "Anna", "guess")
        assert log_in(attacker, "Anna", password).status_code == 429  # the attacker's address is held back
        assert log_in(anna, "Anna", password).status_code == 303  # Anna, from her own tablet, is not
        anna.post("/logout")
        clock["now"] += 61


def test_guessing_from_many_addresses_is_held_back_but_not_from_staffs_own_tablet(staff_login, password, clock):
    throttle = LoginThrottle(max_failures=3, max_failures_per_account=6, clock=lambda: clock["now"])
    throttle.succeeded("Anna", "10.0.0.7")  # Anna's tablet: she has logged in from it
    for host in range(1, 7):  # a guesser spread over six addresses, one wrong password each
        throttle.failed("Anna", f"10.0.1.{host}")
    assert throttle.retry_after_s("Anna", "10.0.1.99") > 0  # a new address: held back for this account
    assert throttle.retry_after_s("Anna", "10.0.0.7") == 0  # her own tablet: never
    assert throttle.retry_after_s("Bo", "10.0.1.99") == 0


def test_a_client_guessing_many_names_is_throttled_by_its_address(anonymous, log_in, password):
    for name in ("a1", "a2", "a3", "a4", "a5", "a6"):
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


def test_logins_are_audited_with_the_client_address(browser_at, log_in, password, app):
    tablet = browser_at("10.0.0.31")
    log_in(tablet, "Anna", "guess")
    log_in(tablet, "Anna", password)
    failed, ok = audited(app, AuditAction.LOGIN_FAILED), audited(app, AuditAction.LOGIN)
    assert [(e.actor, e.client) for e in failed] == [("staff:Anna", "10.0.0.31")]
    assert [(e.actor, e.client) for e in ok] == [("staff:Anna", "10.0.0.31")]


def test_a_robot_without_accounts_says_how_to_make_one(robot, tmp_path):
    empty = StaffLogin(StaffAccounts(tmp_path / "none.json"))
    with TestClient(create_app(robot.session, empty), base_url=ROBOT_URL) as client:
        answer = client.post("/login", data={"username": "Anna", "password": "whatever1"}, follow_redirects=False)
    assert answer.status_code == 401 and "add-staff" in answer.text


# -- the accounts file and passwords --------------------------------------------------------------


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


@pytest.mark.parametrize(
    "password",
    ["short", "password1", "Password123", "qwertyuiop", "sommer2024", "iloveyou1", "anna2024!", "abcdefgh"],
)
def test_short_common_or_easily_guessed_passwords_are_refused(tmp_path, password):
    with pytest.raises(WeakPassword):
        StaffAccounts(tmp_path / "staff.json").add("anna", password)
    assert not (tmp_path / "staff.json").exists()


def test_the_common_passwords_come_from_zxcvbns_maintained_lists():
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    long_enough = [p for p in FREQUENCY_LISTS["passwords"] if len(p) >= 8]
    for common in (long_enough[0], long_enough[len(long_enough) // 2], long_enough[-1]):  # of its 30,000
        with pytest.raises(WeakPassword, match="most common passwords"):
            check_password(common.upper())
    assert check_password("purple kettle harbour") == "purple kettle harbour"


def test_the_throttle_forgets_old_failures_and_is_bounded():
    now = {"t": 0.0}
    throttle = LoginThrottle(max_failures=2, window_s=10, lockout_s=5, clock=lambda: now["t"], max_keys=3)
    throttle.failed("a", "10.0.0.1")
    now["t"] = 20.0
    throttle.failed("a", "10.0.0.1")  # the first one is out of the window
    assert throttle.retry_after_s("a", "10.0.0.1") == 0
    for k in range(10):
        throttle.failed(f"key{k}", "10.0.0.1")
    assert len(throttle._failures) <= 3


def test_sessions_are_bounded_and_their_ids_kept_hashed():
    sessions = StaffSessions(max_sessions=3)
    tokens = [sessions.begin("Anna", "e", "10.0.0.1", "da") for _ in range(5)]
    assert sessions.get(tokens[0]) is None and sessions.get(tokens[-1]) is not None
    assert not any(token in sessions._sessions for token in tokens)


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

    def serve(web_app, host, port, certificate=None):  # instead of uvicorn: try the login on the app
        with TestClient(web_app, base_url=ROBOT_URL) as client:
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
    from controller.messages import robot_messages

    assert staff_words(Language.DANISH).keys() == staff_words(Language.ENGLISH).keys()
    for language in Language:  # the profile form's trigger choices, in words (controller/locale `[choice]`)
        choices = robot_messages().words(language, "choice")
        assert all(f"trigger_kind.{kind.value}" in choices for kind in TriggerKind), language
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
