"""The citizen's and the relative's pages (meal report, access log, fuldmagter) in Chromium, in
Danish and English, as a citizen and as a relative with a fuldmagt: no serious or critical axe
violation (WCAG 2.1 A/AA), no sideways scrolling at 320 px or at 200 % zoom, every control reached by
the keyboard, radios and checkboxes at least 44 x 44 px, running text at LIX 35 or below, and no
system or English text on a Danish page (request paths, role keys, purpose and reason codes,
decimal points), FSIII explained where it appears, bowls numbered from 1, the citizen spoken to. The
same for the staff's forms: a fuldmagt given on paper and the end of one (on the same page), and the
FSIII assessment and a note on the meal report."""

from __future__ import annotations

import random
import re
import shutil
from collections.abc import Iterator
from datetime import timedelta

import pytest

from careplan_api.models import AuditAction, Device, utcnow
from careplan_api.services import audit, people
from careplan_api.services.ingest import IngestLimits, ingest_batch
from careplan_api.synthetic_meals import synthetic_meals
from tests.readability import MAX_LIX, SYSTEM_TEXT, lix

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
DECIMAL_POINT = re.compile(r"\d\.\d")


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def citizen_data(world) -> None:
    """Alice: three weeks of synthetic meals (with safety stops), an FSIII goal, and access-log
    lines of every kind: the robot, the command line, staff, a paper fuldmagt."""
    with world.app.state.session_factory() as session:
        people.assess_goal(session, world.alice, 3, "Spiser selv med robotten", None)
        device = session.get(Device, world.device_ids["device_alice"])
        events = [
            e.model_dump(mode="json")
            for _m, evs in synthetic_meals(utcnow() - timedelta(days=21), 21, random.Random(7))
            for e in evs
        ]
        ingest_batch(session, device, events, IngestLimits())
        operator = audit.Operator("kommunens it")
        audit.record(
            session, actor=operator, action=AuditAction.CREATE, resource="cli add-user", citizen_id=world.alice
        )
        staff = session.get(people.User, world.user_ids["staff_a"])
        for resource, purpose in (
            (f"GET /reports/citizens/{world.alice}/access-log", "omsorg"),
            (f"GET /api/v1/citizens/{world.alice}/meals", "care: weekly review"),
            ("fuldmagt 0", "fuldmagt on paper: underskrevet på plejecentret"),
        ):
            audit.record(
                session,
                actor=staff,
                action=AuditAction.READ,
                resource=resource,
                citizen_id=world.alice,
                purpose=purpose,
            )
        session.commit()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield instance
        instance.close()


def _log_in(browser, live_server, name, password, width=1280):
    context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def _pages(world, who: str) -> list[str]:
    if who == "staff_a":  # the staff's forms: fuldmagter on paper and their end, the goal and a note
        return ["/fuldmagter", f"/reports/citizens/{world.alice}?purpose=omsorg"]
    if who == "citizen":
        return [f"/reports/citizens/{world.alice}", f"/reports/citizens/{world.alice}/access-log", "/fuldmagter"]
    purpose = "purpose=p%C3%A5r%C3%B8rende+med+fuldmagt"
    return [
        f"/reports/citizens/{world.alice}?{purpose}",
        f"/reports/citizens/{world.alice}/access-log?{purpose}",
        "/fuldmagter",
    ]


def _serious_axe(page) -> list[str]:
    axe = pytest.importorskip("axe_playwright_python.sync_playwright", reason="pip install axe-playwright-python")
    violations = axe.Axe().run(page, options=AXE_OPTIONS).response["violations"]
    return [f"{v['id']} ({v['impact']}): {v['help']}" for v in violations if v["impact"] in ("serious", "critical")]


def _running_text(page) -> list[str]:
    return page.eval_on_selector_all(
        "main p, main li:not(:has(*)), main legend, main figcaption", "els => els.map(e => e.innerText)"
    )


def _too_wide(page) -> list[str]:
    """The page scrolls sideways: the elements that stick out (none when it does not)."""
    return page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          if (document.documentElement.scrollWidth <= width) return [];
          return [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > width + 0.5)
            .slice(0, 5).map(e => e.tagName + '.' + e.className + ': ' + (e.textContent || '').trim().slice(0, 30));
        }"""
    )


def _tab_misses(page) -> list[str]:
    """The controls that Tab never reaches (links, buttons, inputs, scrollable regions; a group of
    radios is one stop, as the arrow keys move within it)."""
    keys = page.evaluate(
        """() => {
          const keys = new Set();
          const controls = document.querySelectorAll('a[href], button, input:not([type=hidden]), [tabindex="0"]');
          controls.forEach((e, i) => {
            if (e.offsetParent === null) return;
            e.dataset.k = e.type === 'radio' ? 'radio:' + e.name : e.tagName + i;
            keys.add(e.dataset.k);
          });
          document.activeElement && document.activeElement.blur();
          return [...keys];
        }"""
    )
    reached = set()
    for _ in range(3 * len(keys) + 5):  # a date input is three stops
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.dataset.k || ''"))
    return [f"Tab never reaches {key}" for key in keys if key not in reached]


@pytest.mark.parametrize("lang", ["da", "en"])
@pytest.mark.parametrize("who", ["citizen", "relative", "staff_a"])
def test_the_citizens_and_relatives_pages_are_for_everyone(browser, live_server, world, citizen_data, who, lang):
    page = _log_in(browser, live_server, who, world.password)
    problems: dict[str, list[str]] = {}
    for path in _pages(world, who):
        url = f"{live_server}{path}{'&' if '?' in path else '?'}lang={lang}"
        page.set_viewport_size({"width": 1280, "height": 900})
        assert page.goto(url).status == 200, url
        assert page.evaluate("document.documentElement.lang") == lang
        found = problems.setdefault(path, [])
        found += _serious_axe(page)
        found += _tab_misses(page)
        text = page.inner_text("main")
        for name in sorted(world.user_ids, key=len, reverse=True):  # people's names are theirs to keep
            text = text.replace(name, "NAME")
        if lang == "da":
            found += [f"system or English text: {m.group(0)!r}" for m in SYSTEM_TEXT.finditer(text)]
            numbers = page.eval_on_selector_all("td.num, dd, svg text", "els => els.map(e => e.textContent)")
            found += [f"decimal point: {n!r}" for n in numbers if DECIMAL_POINT.search(n)]
        if "FSIII" in text:
            found += [] if ("Fælles Sprog III" in text) else ["FSIII is not explained"]
        found += [f"bowl numbered from 0: {m!r}" for m in re.findall(r"(?:Skål|Bowl) 0", text)]
        if who == "citizen":
            found += [f"speaks of the citizen: {m!r}" for m in re.findall(r"borgerens|the citizen's", text)]
        readability = lix(_running_text(page))
        if readability > MAX_LIX:
            found.append(f"LIX {readability:.1f}")
        small = page.eval_on_selector_all(
            "input[type=radio], input[type=checkbox]",
            "els => els.map(e => e.getBoundingClientRect()).filter(r => r.width < 44 || r.height < 44).length",
        )
        found += [f"{small} radios or checkboxes under 44 px"] if small else []
        for width in (320, 640):  # a phone; 200 % zoom of a 1280 px window
            page.set_viewport_size({"width": width, "height": 800})
            found += [f"sticks out at {width} px: {element}" for element in _too_wide(page)]
    bad = {path.split("?")[0].rsplit("/", 1)[-1]: found for path, found in problems.items() if found}
    assert not bad, "\n".join(f"{path}: {problem}" for path, found in bad.items() for problem in found)
    page.context.close()


def test_the_relatives_purpose_question_has_large_radios_and_plain_words(browser, live_server, world, citizen_data):
    page = _log_in(browser, live_server, "relative", world.password, width=320)
    page.goto(f"{live_server}/reports/citizens/{world.alice}")
    assert page.locator("input[type=radio]").count() >= 2
    boxes = page.eval_on_selector_all("input[type=radio]", "els => els.map(e => e.getBoundingClientRect().height)")
    assert min(boxes) >= 44
    assert _too_wide(page) == [] and _serious_axe(page) == []
    assert lix(_running_text(page)) <= MAX_LIX
    page.context.close()
