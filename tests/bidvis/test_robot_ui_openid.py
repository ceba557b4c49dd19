"""Staff log in to the robot's pages through the municipality's OpenID Provider (node's oidc-provider,
started on 127.0.0.1), with httpx through the provider's own pages and once in Chromium: a staff role
of the robot's unit gets a session; another role, another unit, a replayed answer, a provider that is
down are refused with a page (no 500). Local passwords work only for the break-glass account.
Logging out ends the robot's session and the provider's (RP-initiated logout)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from urllib.parse import urljoin

import httpx
import pytest

from bidvis.robot_ui.app import create_app
from bidvis.robot_ui.audit import AuditAction
from bidvis.robot_ui.deps import SESSION_COOKIE
from bidvis.robot_ui.staff_openid import StaffIdentitySettings, StaffOpenId
from careplan_api.local_postgres import free_port
from careplan_api.models import Role
from careplan_api.openid import OpenIdClients, OpenIdProvider
from tests.bidvis.conftest import frozen_sim_robot, start_server
from tests.openid_provider import CLIENT_SECRET, OpenIdProviderProcess, client, log_in_at_provider

ACCOUNTS = {
    "anna": {"name": "Anna Hansen", "roles": ["sosu"], "units": ["ou-solhaven"]},
    "cook": {"name": "Kok Karl", "roles": ["kantine"], "units": ["ou-solhaven"]},
    "elsewhere": {"name": "Eva Egely", "roles": ["sosu"], "units": ["ou-egely"]},
}


def staff_provider(issuer: str, name: str = "kommune", title: str = "Kommunens login") -> OpenIdProvider:
    return OpenIdProvider(
        name=name,
        title=title,
        issuer=issuer,
        client_id="robot-12",
        client_secret=CLIENT_SECRET,
        scopes=("openid", "profile", "bidvis"),
        roles_claim="roles",
        role_map={"sosu": Role.STAFF},
        units_claim="units",
        unit_map={"ou-solhaven": "Solhaven", "ou-egely": "Egely"},
    )


@pytest.fixture(scope="module")
def robot(tmp_path_factory):
    with frozen_sim_robot(tmp_path_factory.mktemp("robot")) as robot:
        yield robot


@pytest.fixture(scope="module")
def staff_login(robot, make_staff_login):
    login = make_staff_login(robot.session.documents.calibration_path.parent)  # Anna and Bo, local passwords
    login.password_accounts = frozenset({"Bo"})  # Bo is the break-glass account
    return login


@pytest.fixture(scope="module")
def server(robot, staff_login) -> Iterator[str]:
    url, stop = start_server(create_app(robot.session, staff_login))
    yield url
    stop()


@pytest.fixture(scope="module")
def provider(server, staff_login) -> Iterator[OpenIdProviderProcess]:
    process = OpenIdProviderProcess(
        [client("robot-12", [f"{server}/login/oidc/kommune/callback"], (f"{server}/login",))], ACCOUNTS
    )
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    staff_login.openid = StaffOpenId(
        OpenIdClients([staff_provider(process.issuer), staff_provider(down, "down", "Reservelogin")]), unit="Solhaven"
    )
    yield process
    process.stop()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10, headers={"Accept-Language": "da"}) as c:
        yield c


def _audit(robot, action: AuditAction) -> list:
    from bidvis.robot_ui.audit import AUDIT_FILE, AuditLog

    log = AuditLog(robot.session.documents.calibration_path.parent / AUDIT_FILE)
    try:
        return [e for e in log.entries() if e.action == action.value]
    finally:
        log.close()


def _log_in(http: httpx.Client, server: str, account: str, query: str = "") -> httpx.Response:
    done = log_in_at_provider(http, f"{server}/login/oidc/kommune?next=/staff{query}", account)
    refresh = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', done.text)
    return http.get(urljoin(server, refresh.group(1))) if refresh else done


def test_a_staff_member_of_the_robots_unit_logs_in_with_the_municipal_provider(robot, server, provider, http):
    staff_page = _log_in(http, server, "anna")
    assert staff_page.status_code == 200 and str(staff_page.url) == f"{server}/staff"
    assert '<strong id="staff-name">Anna Hansen</strong>' in staff_page.text
    assert http.get(f"{server}/api/status").status_code == 200
    login = next(e for e in reversed(_audit(robot, AuditAction.LOGIN)) if e.actor == "staff:kommune:anna")
    assert login.detail == {"provider": "kommune"}
    changed = http.post(
        f"{server}/account/password",
        data={"current_password": "x", "new_password": "y" * 12, "new_password_again": "y" * 12},
        headers={"Origin": server},
    )
    assert changed.status_code == 409 and "hører til login-tjenesten" in changed.text


@pytest.mark.parametrize("account", ["cook", "elsewhere"], ids=["another-role", "another-unit"])
def test_claims_without_a_staff_role_of_this_unit_are_refused(robot, server, provider, http, account):
    refused = _log_in(http, server, account)
    assert refused.status_code == 403 and "giver dig ikke adgang til denne robot" in refused.text
    assert SESSION_COOKIE not in http.cookies
    assert _audit(robot, AuditAction.LOGIN_FAILED)[-1].detail == {"provider": "kommune", "reason": "claims"}


def test_a_replayed_answer_is_refused(server, provider, http):
    callback = log_in_at_provider(
        http, f"{server}/login/oidc/kommune", "anna", stop_at=f"{server}/login/oidc/kommune/callback"
    )
    url = urljoin(str(callback.url), callback.headers["location"])
    copied = httpx.Cookies(http.cookies)
    assert http.get(url).status_code == 200
    again = httpx.get(url, cookies=copied)
    assert again.status_code == 400 and "allerede brugt" in again.text


def test_a_provider_that_is_down_gets_a_clear_page(server, provider, http):
    page = http.get(f"{server}/login/oidc/down?lang=en")
    assert page.status_code == 503 and "Reservelogin does not answer right now" in page.text
    assert page.headers["retry-after"]


def test_only_the_break_glass_account_logs_in_with_a_password(server, provider, http, password):
    page = http.get(f"{server}/login")
    assert "Log ind med Kommunens login" in page.text and "Nødadgang" in page.text
    anna = http.post(f"{server}/login", data={"username": "Anna", "password": password}, headers={"Origin": server})
    assert anna.status_code == 401 and "Brugernavn eller adgangskode passer ikke" in anna.text
    bo = http.post(f"{server}/login", data={"username": "Bo", "password": password}, headers={"Origin": server})
    assert bo.status_code == 303 and SESSION_COOKIE in http.cookies


_FORM = re.compile(r'<form id="op.logoutForm" method="post" action="([^"]+)">(.*?)</form>', re.S)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"/?>')


def _log_out_here_and_at_the_provider(http: httpx.Client, server: str, issuer: str) -> tuple[httpx.Response, str]:
    """Log out of the robot and confirm at the provider: the robot's page on the way, and where the
    provider sends the browser back to."""
    out = http.post(f"{server}/logout", headers={"Origin": server})
    assert out.status_code == 200 and SESSION_COOKIE not in http.cookies
    end_session = re.search(r'content="0;url=([^"]+)"', out.text).group(1).replace("&amp;", "&")
    assert end_session.startswith(f"{issuer}/session/end?") and "client_id=robot-12" in end_session
    assert "id_token_hint" not in end_session  # an ID token may hold a CPR number: never in a URL
    confirm = http.get(end_session)
    action, inputs = _FORM.search(confirm.text).groups()
    back = http.post(action, data={**dict(_HIDDEN.findall(inputs)), "logout": "yes"})
    assert back.status_code in (302, 303)
    return out, back.headers["location"]


def test_logout_ends_the_session_here_and_at_the_provider(server, provider, http):
    _log_in(http, server, "anna")
    _out, back = _log_out_here_and_at_the_provider(http, server, provider.issuer)
    assert back == f"{server}/login?state=da"  # the session's language comes back as the logout's state
    again = http.get(f"{server}/login/oidc/kommune", follow_redirects=True)
    assert 'id="login"' in again.text  # the provider asks who you are again: its session ended too


@pytest.mark.parametrize(("chosen", "accept_language"), [("da", "en-GB,en;q=0.9"), ("en", "da")])
def test_the_language_chosen_at_login_wins_over_the_browsers_through_login_and_the_providers_logout(
    server, provider, chosen, accept_language
):
    with httpx.Client(timeout=10, headers={"Accept-Language": accept_language}) as http:
        staff = _log_in(http, server, "anna", f"&lang={chosen}")
        assert staff.url.path == "/staff" and f'<html lang="{chosen}">' in staff.text
        out, back = _log_out_here_and_at_the_provider(http, server, provider.issuer)
        assert f'<html lang="{chosen}">' in out.text and back == f"{server}/login?state={chosen}"
        assert f'<html lang="{chosen}">' in http.get(back).text


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv(
        "BIDVIS_UI_OPENID_PROVIDERS",
        '[{"name": "kommune", "title": "Kommunens login", "issuer": "https://login.kommune.test", '
        '"client_id": "robot-12", "client_secret": "s", "roles_claim": "roles", "role_map": {"sosu": "staff"}}]',
    )
    monkeypatch.setenv("BIDVIS_UI_BREAK_GLASS_ACCOUNTS", '["nød-1"]')
    settings = StaffIdentitySettings()
    assert settings.openid_providers[0].role_map == {"sosu": Role.STAFF}
    assert settings.password_accounts == frozenset({"nød-1"})
    monkeypatch.setenv("BIDVIS_UI_PASSWORD_LOGIN", "everyone")
    assert StaffIdentitySettings().password_accounts is None


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_a_staff_member_logs_in_to_the_robot_in_chromium(server, provider):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(locale="da-DK")
        context.route("**/*", lambda route: route.continue_() if "127.0.0.1" in route.request.url else route.abort())
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{server}/staff")
        page.get_by_role("link", name="Log ind med Kommunens login").click()
        page.locator("#login").fill("anna")
        page.locator("#sign-in").click()
        page.wait_for_url(f"{server}/staff")
        assert page.locator("#staff-name").inner_text() == "Anna Hansen"
        page.locator("#logout").click()
        page.locator("#logout-yes").click()
        page.wait_for_url(f"{server}/login?state=da")  # the session's language, sent back by the provider
        browser.close()


@pytest.mark.parametrize(
    "query",
    ["", "state=forged&code=x", "state=" + "%00%ED%A0%80%FF" * 1500, "error=%3Cscript%3E", "state=a&state=b"],
    ids=["nothing", "forged-state", "huge-garbage", "script-in-error", "repeated"],
)
def test_a_hostile_callback_is_refused_with_a_page(server, provider, http, query):
    response = http.get(f"{server}/login/oidc/kommune/callback?{query}")
    assert response.status_code == 400 and SESSION_COOKIE not in http.cookies and "<script>" not in response.text


def test_the_robot_says_at_start_up_when_nobody_can_log_in_and_refuses_bad_settings(
    tmp_path, monkeypatch, capsys, make_staff_login
):
    import typer

    from bidvis import ui_commands

    make_staff_login(tmp_path)  # local accounts Anna and Bo
    ui_commands._say_if_no_accounts(ui_commands._staff_login(tmp_path), tmp_path)
    assert "no staff member can log in" in capsys.readouterr().out  # break-glass by default, none named
    monkeypatch.setenv("BIDVIS_UI_BREAK_GLASS_ACCOUNTS", '["Bo"]')
    ui_commands._say_if_no_accounts(ui_commands._staff_login(tmp_path), tmp_path)
    assert capsys.readouterr().out == ""
    monkeypatch.setenv("BIDVIS_UI_OPENID_PROVIDERS", '[{"name": "Kommune!", "issuer": "http://login.example"}]')
    with pytest.raises(typer.Exit) as refused:
        ui_commands._staff_login(tmp_path)
    assert refused.value.exit_code == 2 and "BIDVIS_UI_" in capsys.readouterr().err
