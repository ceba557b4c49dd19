"""The browser login in a real browser (Playwright driving Debian's Chromium against uvicorn on
127.0.0.1, default settings, so the cookie is `Secure`): a report link without a login leads to the
login form, back to the report, to the purpose question, to the report; scripts cannot read the
cookie; logout ends it; axe-core finds no WCAG 2.1 A/AA violation on the login and purpose pages."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from careplan_api.deps import SESSION_COOKIE

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def page(live_server: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(locale="da-DK", viewport={"width": 1280, "height": 900}, bypass_csp=True)
        yield context.new_page()
        browser.close()


def axe_violations(page) -> list[str]:
    axe_module = pytest.importorskip(
        "axe_playwright_python.sync_playwright", reason="pip install axe-playwright-python"
    )
    results = axe_module.Axe().run(page, options=AXE_OPTIONS)
    return [f"{v['id']} ({v['impact']}): {v['help']} x{len(v['nodes'])}" for v in results.response["violations"]]


def test_a_relative_logs_in_says_why_reads_the_report_and_logs_out(page, live_server, world):
    report = f"{live_server}/reports/citizens/{world.alice}?weeks=4"
    page.goto(report)
    assert page.url.startswith(f"{live_server}/login?next=")
    assert page.locator("h1").inner_text() == "Log ind"
    assert axe_violations(page) == []

    page.get_by_label("Brugernavn").fill("relative")
    page.get_by_label("Adgangskode").fill("wrong password")
    page.get_by_role("button", name="Log ind").click()
    assert page.get_by_role("alert").inner_text().startswith("Brugernavn eller adgangskode passer ikke")
    assert axe_violations(page) == []

    page.get_by_label("Brugernavn").fill("relative")
    page.get_by_label("Adgangskode").fill(world.password)
    page.get_by_role("button", name="Log ind").click()
    assert page.url == report + "&lang=da"  # back where the link pointed, in the login page's language, asking why
    assert page.locator("h1").inner_text() == "Hvorfor åbner du borgerens oplysninger?"
    assert axe_violations(page) == []
    cookie = next(c for c in page.context.cookies() if c["name"] == SESSION_COOKIE)
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert SESSION_COOKIE not in page.evaluate("document.cookie")  # scripts cannot read it

    page.get_by_label("omsorg").check()
    page.get_by_role("button", name="Fortsæt").click()
    assert page.locator("h1").inner_text() == "Måltidsrapport"
    assert "omsorg" in page.locator("p.note").inner_text()

    page.get_by_role("button", name="Log ud").click()
    assert page.url == f"{live_server}/login?lang=da"
    assert not any(c["name"] == SESSION_COOKIE for c in page.context.cookies())
    page.goto(report + "&purpose=omsorg")
    assert page.url.startswith(f"{live_server}/login?next=")
