"""The report page and the dashboard in a real browser (Playwright driving Debian's Chromium):
they render, the keyboard reaches everything in order, nothing needs horizontal scrolling of the
page, the language switch works, and axe-core finds no WCAG 2.1 A/AA violation. Screenshots go to $BIDVIS_SCREENSHOTS_DIR when it is set:

    BIDVIS_SCREENSHOTS_DIR=docs/screenshots .venv/bin/python -m pytest tests/careplan_api/test_pages_in_browser.py
"""

from __future__ import annotations

import os
import random
import shutil
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from careplan_api.models import Device, utcnow
from careplan_api.services import people
from careplan_api.services.ingest import IngestLimits, ingest_batch
from careplan_api.synthetic_meals import synthetic_meals

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


def _ingest(session, device_id: uuid.UUID, days: int, rng: random.Random, first_day=None) -> None:
    first_day = first_day or utcnow() - timedelta(days=days)
    events = [e.model_dump(mode="json") for _m, evs in synthetic_meals(first_day, days, rng) for e in evs]
    device = session.get(Device, device_id)
    for start in range(0, len(events), 1000):
        ingest_batch(session, device, events[start : start + 1000], IngestLimits())


LAST_MONTH_10TH = (utcnow().replace(day=1, hour=9) - timedelta(days=1)).replace(day=10)  # a released month


@pytest.fixture
def settings(database_url, tmp_path):
    from .conftest import make_settings

    return make_settings(database_url, tmp_path, dashboard_release_delay_days=0)


@pytest.fixture
def synthetic_municipality(world) -> None:
    """Alice: synthetic meals (12 weeks for screenshots, else 3) and an FSIII goal. Units of 6, 5, 3
    and 2 eating citizens."""
    rng = random.Random(7)
    days = 84 if os.environ.get("BIDVIS_SCREENSHOTS_DIR") else 21
    with world.app.state.session_factory() as session:
        people.assess_goal(session, world.alice, 3, "Spiser selv med robotten; mål: lette begrænsninger", None)
        session.commit()
        _ingest(session, world.device_ids["device_alice"], days, rng)
        for unit_name, count in (("Solhaven", 6), ("Egely", 5), ("Birkely", 3), ("Toften", 2)):
            unit = people.get_or_create_unit(session, unit_name)
            for i in range(count):
                citizen = people.create_citizen(
                    session, f"Syntetisk {unit_name} {i}", world.app.state.cpr_key, None, unit
                )
                people.assess_goal(session, citizen.id, rng.randint(1, 4), "", None)
                device, _token = people.enroll_device(session, citizen.id)
                session.commit()
                _ingest(session, device.id, 2, rng, first_day=LAST_MONTH_10TH)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield instance
        instance.close()


AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def _axe_violations(page) -> list[str]:
    """WCAG 2.1 A/AA violations that axe-core finds on the page (skips when axe is not installed)."""
    axe_module = pytest.importorskip(
        "axe_playwright_python.sync_playwright", reason="pip install axe-playwright-python"
    )
    results = axe_module.Axe().run(page, options=AXE_OPTIONS)
    return [f"{v['id']} ({v['impact']}): {v['help']} x{len(v['nodes'])}" for v in results.response["violations"]]


def _screenshot(page, name: str) -> None:
    target = os.environ.get("BIDVIS_SCREENSHOTS_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / name), full_page=True)


def _tab_order(page, presses: int) -> list[str]:
    order = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        order.append(
            page.evaluate("document.activeElement.textContent.trim().slice(0, 40) || document.activeElement.tagName")
        )
    return order


def test_report_page_in_chromium(browser, live_server, world, synthetic_municipality):
    context = browser.new_context(
        locale="da-DK",
        viewport={"width": 1280, "height": 900},
        bypass_csp=True,
        extra_http_headers=world.headers("staff_a", purpose=None),
    )
    page = context.new_page()
    response = page.goto(
        f"{live_server}/reports/citizens/{world.alice}?purpose=ugentlig%20opf%C3%B8lgning&weeks=12&meals=15"
    )
    assert response.status == 200
    assert page.evaluate("document.documentElement.lang") == "da"
    assert page.locator("h1").inner_text() == "Måltidsrapport"
    assert page.locator("figure svg").count() == 1
    assert page.locator("table").count() == 3  # effect, trend, meals
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways page scroll
    order = _tab_order(page, 3)
    assert order[0] == "Spring til indhold" and order[1] == "English"
    _screenshot(page, "careplan-report-da.png")
    assert _axe_violations(page) == []
    page.get_by_role("link", name="English").click()
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.locator("h1").inner_text() == "Meal report"
    assert _axe_violations(page) == []
    context.close()


def test_dashboard_in_chromium(browser, live_server, world, synthetic_municipality):
    context = browser.new_context(
        locale="da-DK",
        viewport={"width": 1280, "height": 900},
        bypass_csp=True,
        extra_http_headers=world.headers("analyst", purpose=None),
    )
    page = context.new_page()
    assert page.goto(f"{live_server}/dashboard?months=2").status == 200
    assert page.locator("h1").inner_text() == "Kommunens overblik"
    units = page.locator("[id^=units-caption-]").first.locator("xpath=..").inner_text()  # last month
    rows = {line.split("\t")[0]: line for line in units.splitlines()}
    assert "færre end 5" not in rows["Solhaven"] and "færre end 5" not in rows["Egely"]
    assert "færre end 5" in rows["Birkely"] and "færre end 5" in rows["Toften"]
    assert "Syntetisk" not in page.content()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    _screenshot(page, "careplan-dashboard-da.png")
    assert _axe_violations(page) == []
    context.close()


def test_axe_does_find_violations_when_there_are_some(browser):
    page = browser.new_page()
    page.set_content('<html><body><img src="data:,"><a href="#"></a><table><tr><th>x</th></tr></table></body></html>')
    assert any(v.startswith("image-alt") for v in _axe_violations(page))
    page.close()
