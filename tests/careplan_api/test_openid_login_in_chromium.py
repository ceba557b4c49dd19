"""OpenID Connect login of the care plan in a real browser (Playwright driving Debian's Chromium, default
settings: the login cookie is Secure) through real OpenID Providers (node's oidc-provider on 127.0.0.1):
a citizen and a relative with the national provider, a staff member with the municipality's. Logging out
ends the session here and at the provider (RP-initiated logout): the next login asks at the provider
again. A citizen grants a fuldmagt to a person who logged in once, and ends it: the holder's access
follows at the next request. axe-core finds no WCAG 2.1 A/AA violation on the login page or on a
refusal. The browser may reach 127.0.0.1 only."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from careplan_api.deps import SESSION_COOKIE
from careplan_api.services.login import get_user
from careplan_api.services.openid_login import set_national_id
from tests.careplan_api.conftest import make_settings, serve
from tests.careplan_api.test_openid_login import RELATIVE_CPR, municipal, national, providers  # noqa: F401

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


@pytest.fixture(scope="module")
def careplan_port() -> int:
    from careplan_api.local_postgres import free_port

    return free_port()


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def settings(database_url, tmp_path, national, municipal):  # noqa: F811
    return make_settings(
        database_url,
        tmp_path,
        openid_providers=providers(national.issuer, municipal.issuer, unknown_people="relative"),
        password_login="break_glass",
    )


@pytest.fixture
def base(app, careplan_port) -> Iterator[str]:
    yield from serve(app, careplan_port)


def _loopback_only(route) -> None:
    host = urlsplit(route.request.url).hostname
    if host in ("127.0.0.1", "localhost"):
        route.continue_()
    else:
        route.abort()


@pytest.fixture
def page(base) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(locale="da-DK", viewport={"width": 1280, "height": 900}, bypass_csp=True)
        context.route("**/*", _loopback_only)
        page = context.new_page()
        page.set_default_timeout(10_000)
        yield page
        browser.close()


def axe_violations(page) -> list[str]:
    axe_module = pytest.importorskip(
        "axe_playwright_python.sync_playwright", reason="pip install axe-playwright-python"
    )
    results = axe_module.Axe().run(page, options=AXE_OPTIONS)
    return [f"{v['id']} ({v['impact']}): {v['help']} x{len(v['nodes'])}" for v in results.response["violations"]]


def log_in(page, base: str, provider_title: str, account: str, *, refused: bool = False) -> None:
    page.goto(f"{base}/login")
    page.get_by_role("link", name=f"Log ind med {provider_title}").click()
    page.locator("#login").fill(account)  # the provider's own login page
    page.locator("#sign-in").click()
    page.wait_for_url(lambda url: url.startswith(base) and (refused or "/callback" not in url))


def log_out_here_and_at_the_provider(page, base: str) -> None:
    page.get_by_role("button", name="Log ud").click()
    page.locator("#logout-yes").click()  # the provider asks before it ends its session
    page.wait_for_url(f"{base}/login?state=da")  # the provider sends the chosen language back as state
    assert not any(c["name"] == SESSION_COOKIE for c in page.context.cookies())


def test_a_citizen_logs_in_with_the_national_provider_and_out_of_both(page, base, world):
    page.goto(f"{base}/login")
    assert page.locator("h1").inner_text() == "Log ind"
    assert axe_violations(page) == []
    log_in(page, base, "MitID", "alice")
    assert page.url.startswith(f"{base}/reports/citizens/{world.alice}")
    cookie = next(c for c in page.context.cookies() if c["name"] == SESSION_COOKIE)
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"

    log_out_here_and_at_the_provider(page, base)
    page.get_by_role("link", name="Log ind med MitID").click()
    page.locator("#login").wait_for()  # the provider's session ended too: it asks again


def test_a_relative_logs_in_and_lands_on_the_report_of_the_citizen_she_represents(app, page, base, world):
    with app.state.session_factory() as session:
        set_national_id(session, get_user(session, world.user_ids["relative"]), RELATIVE_CPR, app.state.cpr_key)
        session.commit()
    log_in(page, base, "MitID", "karen")
    assert page.url.startswith(f"{base}/reports/citizens/{world.alice}")
    log_out_here_and_at_the_provider(page, base)


def test_a_staff_member_logs_in_with_the_municipal_provider(page, base):
    log_in(page, base, "Kommunens login", "anna")
    assert page.url == f"{base}/login?lang=da"  # the login page's language is carried on
    assert "Du er logget ind som Anna Hansen" in page.locator("main").inner_text()
    log_out_here_and_at_the_provider(page, base)


def test_a_citizen_grants_a_fuldmagt_to_a_person_who_logged_in_once_and_ends_it(page, base, world):
    holder = page.context.browser.new_context(locale="da-DK", bypass_csp=True).new_page()
    holder.context.route("**/*", _loopback_only)
    holder.set_default_timeout(10_000)
    log_in(holder, base, "MitID", "stranger")  # unknown to the care plan: a login that sees nothing yet
    holder.goto(f"{base}/fuldmagter")
    assert "Du har ingen fuldmagter" in holder.locator("main").inner_text()
    report = f"{base}/reports/citizens/{world.alice}?purpose=omsorg"
    assert holder.goto(report).status == 403

    log_in(page, base, "MitID", "alice")
    page.goto(f"{base}/fuldmagter")
    page.locator("#holder_name").fill("Ukendt Person")
    page.locator("#holder_username").fill("Ukendt Person")  # her user name, as her own fuldmagt page shows it
    page.locator("#valid_until").fill("2030-12-31")
    page.get_by_role("button", name="Giv fuldmagt").click()
    assert "Fuldmagten er givet" in page.locator("main").inner_text()
    assert holder.goto(report).status == 200  # at her next request

    page.get_by_role("button", name="Ophæv fuldmagten til Ukendt Person").click()
    assert "Fuldmagten er ophævet" in page.locator("main").inner_text()
    assert holder.goto(report).status == 403  # at her next request
    holder.context.close()


def test_a_refused_login_says_what_to_do_in_danish(page, base):
    log_in(page, base, "Kommunens login", "nobody", refused=True)
    assert page.locator("h1").inner_text() == "Du blev ikke logget ind"
    assert "kontakt kommunen" in page.get_by_role("alert").inner_text()
    assert axe_violations(page) == []
