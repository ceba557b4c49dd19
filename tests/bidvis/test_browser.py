"""Both UIs in a real browser (Playwright + Debian's Chromium) against the virtual servos.

Staff: connect, hold-to-move, teach the ready pose, a test bite, STOP, two browsers jogging, the face size, an
invalid profile value. Citizen: keyboard, switch scanning and touch act on what is focused, start a meal, pause, the e-stop in
red. Accessibility: axe-core (from the npm registry, `npm pack axe-core@4`) finds no serious or
critical violation on either page. Screenshots go to a temporary folder, or to docs/screenshots/
when `BIDVIS_SCREENSHOTS=1`.

Playwright's waits evaluate JavaScript in the page, which the pages' Content-Security-Policy
forbids: the contexts bypass it, except in `test_the_browser_enforces_the_pages_policy`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bidvis.robot_ui.app import create_app
from bidvis.robot_ui.audit import AuditAction
from controller.config import CitizenProfile, demo_profile, load_calibration, load_profile, save_config
from tests.bidvis.conftest import frozen_sim_robot, start_server, wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"  # the accounts of the make_staff_login fixture (conftest.py)

if not CHROMIUM.exists():
    pytest.skip(
        "Debian's Chromium is not installed (apt-get install -y chromium; scripts/setup --test-deps)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="python playwright is not installed")


@pytest.fixture(scope="module")
def robot(tmp_path_factory):
    folder = tmp_path_factory.mktemp("robot")
    quick = demo_profile().model_dump() | {
        "speed_m_s": 0.25,
        "trigger_kind": "panel",
    }  # quick test bites; the panel asks
    save_config(CitizenProfile.model_validate(quick), folder / "citizen_profile.toml")
    with frozen_sim_robot(folder) as robot:
        yield robot


@pytest.fixture(scope="module")
def web_app(robot, make_staff_login):
    return create_app(robot.session, make_staff_login(robot.session.documents.calibration_path.parent))


@pytest.fixture(scope="module")
def server(web_app):
    url, stop = start_server(web_app)
    yield url
    stop()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture(scope="session")
def axe_source(tmp_path_factory) -> str:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: cannot fetch axe-core for the accessibility check")
    folder = tmp_path_factory.mktemp("axe")
    try:
        packed = subprocess.run(
            [npm, "pack", "axe-core@4", "--silent", "--pack-destination", str(folder)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"npm could not fetch axe-core from the registry: {exc}")
    with tarfile.open(folder / packed.stdout.strip().splitlines()[-1]) as archive:
        return archive.extractfile("package/axe.min.js").read().decode("utf-8")


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    if os.environ.get("BIDVIS_SCREENSHOTS") == "1":
        folder = REPO / "docs" / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("screenshots")


def staff(page, server, name="Anna", lang="en"):
    """Log in as `name` through the login page (English unless `lang`) and land on the staff page."""
    page.goto(server + "/staff")  # no login yet: the login page answers
    page.wait_for_url("**/login?next=/staff")
    if lang != "da":
        page.click(f"a[lang='{lang}']")
    page.fill("input[name='username']", name)
    page.fill("input[name='password']", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#staff-name")
    assert page.text_content("#staff-name") == name
    return page


def mode(page) -> str:
    return page.text_content("#st-mode")


def wait_mode(page, wanted: str, timeout_ms: int = 15_000) -> None:
    page.wait_for_function(f"document.querySelector('#st-mode').textContent === '{wanted}'", timeout=timeout_ms)


def hold(page, selector: str, seconds: float) -> None:
    button = page.locator(selector)
    button.hover()
    page.mouse.down()
    page.wait_for_timeout(int(seconds * 1000))
    page.mouse.up()


def test_staff_connect_jog_teach_test_bite_and_stop(page, server, robot, shots):
    staff(page, server)
    page.click("#connect")
    page.wait_for_selector("#message:has-text('arm connected')")
    wait_mode(page, "idle")
    before = page.text_content("#st-joints")
    hold(page, "button[aria-label='Joint 1 plus']", 0.6)
    page.wait_for_function(f"document.querySelector('#st-joints').textContent !== '{before}'")
    wait_mode(page, "idle", 2_000)  # let go: the arm stops
    page.click("#teach-ready")
    page.wait_for_selector("#message:has-text('ready pose taught')")
    assert load_calibration(robot.session.documents.calibration_path).changed_by == "Anna"

    page.click(".clear-bowl[data-bowl='1']")  # a short scoop keeps the test bite quick
    page.wait_for_selector("#message:has-text('cleared')")
    page.wait_for_selector("#bowl-1-label .count:text-is('1 waypoint')")  # the live status counts it
    page.click(".test-bite[data-bowl='1']")
    page.wait_for_selector("#message:has-text('test bite from bowl 2 running')")
    wait_mode(page, "moving", 5_000)
    page.screenshot(path=str(shots / "staff-setup.png"))
    wait_mode(page, "idle", 20_000)

    page.click(".test-bite[data-bowl='0']")
    wait_mode(page, "moving", 5_000)
    page.click("#stop")
    page.wait_for_selector("#message:has-text('arm stopped')")
    wait_mode(page, "idle", 2_000)
    assert not robot.session.arm.driver.busy


def test_the_staff_page_in_danish_shows_the_robots_own_messages_in_danish(page, server, robot):
    staff(page, server, lang="da")
    page.click("#stop")  # an earlier test's screen may still hold the arm
    page.click("#disconnect")  # the robot is shared by this file's tests: start disconnected
    page.wait_for_selector("#message:has-text('Armen er afbrudt')")
    page.click("#teach-ready")  # refused: not connected
    page.wait_for_function(
        "document.querySelector('#error').textContent === 'Afvist: armen er ikke forbundet; tryk først på Forbind'"
    )
    page.click("#connect")
    page.wait_for_selector("#message:has-text('Armen er forbundet')")
    wait_mode(page, "klar")
    page.click("#stop")
    page.wait_for_selector("#message:has-text('Armen er stoppet')")


def test_two_browsers_jogging_one_is_told(browser, page, server, robot):
    staff(page, server)
    page.click("#connect")
    wait_mode(page, "idle")
    other = browser.new_context(bypass_csp=True).new_page()
    staff(other, server, name="Bo")
    button = page.locator("button[aria-label='Joint 2 minus']")
    other_button = other.locator("button[aria-label='Joint 2 plus']")
    try:
        # A loaded machine can stop Anna's jog by itself (two heartbeats, 100 ms, late) or starve the
        # arm's bus into a fault (its replies 200 ms late): she presses again, after Connect to
        # clear a fault, up to three presses in all.
        for presses_left in reversed(range(3)):
            button.hover()
            page.mouse.down()
            try:
                page.wait_for_function("document.querySelector('#st-jog').textContent === 'Anna'", timeout=5_000)
                other_button.dispatch_event("pointerdown", {"pointerId": 1})
                other.wait_for_selector("#error:has-text('Refused: Anna holds the arm (jogging)')", timeout=5_000)
                break
            except sync_api.TimeoutError:
                if not presses_left:
                    raise
                other_button.dispatch_event("pointerup", {"pointerId": 1})  # in case Bo got the arm
            finally:
                page.mouse.up()
            if robot.session.arm.driver.status().mode.value == "fault":
                page.click("#connect")
            wait_mode(page, "idle")
    finally:
        other.context.close()
    wait_mode(page, "idle", 2_000)


def test_a_browser_that_goes_away_while_holding_stops_the_arm(browser, server, robot):
    context = browser.new_context(bypass_csp=True)
    page = staff(context.new_page(), server)
    page.click("#connect")
    page.click("#stop")  # ends an earlier screen's jog lease
    wait_mode(page, "idle")
    page.locator("button[aria-label='Joint 1 minus']").hover()
    page.mouse.down()
    page.wait_for_function("document.querySelector('#st-mode').textContent === 'jogging'")
    context.close()  # the tab is gone with the button still held: no release, no more heartbeats
    gone_s = time.monotonic()
    while robot.session.arm.driver.status().mode.value != "idle":
        assert time.monotonic() - gone_s < 1.0, "the arm kept moving after the browser went away"
        time.sleep(0.01)


def test_hold_to_move_works_from_the_keyboard(page, server, robot):
    staff(page, server)
    page.click("#connect")
    page.click("#stop")  # ends an earlier screen's jog lease
    wait_mode(page, "idle")
    before = robot.session.arm.driver.measured_q()[3]
    page.focus("button[aria-label='Joint 4 minus']")
    page.keyboard.down(" ")
    page.wait_for_function("document.querySelector('#st-mode').textContent === 'jogging'")
    page.wait_for_timeout(600)
    page.keyboard.up(" ")
    wait_mode(page, "idle", 2_000)
    after = robot.session.arm.driver.measured_q()[3]
    assert after < before - 0.02, (before, after, robot.session.arm.driver.status())


def test_an_invalid_profile_value_is_refused_in_the_page(page, server, robot):
    staff(page, server)
    before = robot.session.documents.profile_path.read_bytes()
    page.fill("input[name='speed_m_s']", "9")
    page.click("#profile-form button[type=submit]")
    page.wait_for_selector("#error:has-text('Spoon speed (m/s, max 0.25): must be at most 0.25')")  # its label
    assert robot.session.documents.profile_path.read_bytes() == before
    page.fill("input[name='speed_m_s']", "0.2")
    page.click("#profile-form button[type=submit]")
    page.wait_for_selector("#message:has-text('profile saved')")
    assert load_profile(robot.session.documents.profile_path).speed_m_s == 0.2


class _FaceCamera:
    """The simulated citizen's face, straight on (`sim.camera.FaceFrameSource`), as the robot's camera."""

    def __init__(self, source) -> None:
        self.source, self.count = source, 0

    def read(self, timeout_s: float = 0.0):
        from vision.capture import Frame

        self.count += 1
        return Frame(self.source.compose(), float(self.count), self.count)


def test_staff_measure_the_face_size_in_the_page(page, server, robot):
    faces = REPO / "../shared/data/faces"
    if not (faces / "labels.csv").is_file():
        pytest.skip(f"shared face photos not found at {faces.resolve()}")
    import numpy as np

    from bidvis.simulation import vision_face_measure
    from sim.camera import CameraMount, FaceFrameSource, PinholeCamera
    from sim.world import World
    from vision import CameraIntrinsics, FaceModels

    world = World()
    world.step(300)
    mouth = world.mouth_position()
    camera = PinholeCamera(mount=CameraMount(position_m=(0.0, 0.02, float(mouth[2]) + 0.03), look_at_m=tuple(mouth)))
    source = FaceFrameSource(
        world, camera, faces_dir=faces, measure_face=vision_face_measure(FaceModels.load(), camera.intrinsics.fx)
    )
    ci = camera.intrinsics
    session, profile_before = robot.session, robot.session.documents.profile_path.read_bytes()
    board_camera, intrinsics_path = session.camera, session.documents.intrinsics_path()
    CameraIntrinsics(ci.fx, ci.fy, ci.cx, ci.cy, ci.width_px, ci.height_px).save(intrinsics_path)
    try:
        staff(page, server)
        assert page.text_content("#face-scale") == "not measured (the mean face is assumed)"
        page.fill("#face-form input[name='distance_m']", "0.45")
        page.click("#face-form button[type=submit]")  # the simulated camera sees the checkerboard, no face
        page.wait_for_selector("#error:has-text('Refused: the citizen') >> text=face was found in 0 of 5")
        session.camera = _FaceCamera(source)
        page.fill("#face-form input[name='distance_m']", f"{np.linalg.norm(camera.to_camera(mouth)):.3f}")
        page.click("#face-form button[type=submit]")
        page.wait_for_selector("#message:has-text('times the mean face saved')")
        saved = load_profile(session.documents.profile_path).face_scale
        assert saved is not None and abs(saved - 1.0) < 0.04
        assert page.text_content("#face-scale") == f"{saved:.2f}"
    finally:
        session.camera = board_camera
        intrinsics_path.unlink(missing_ok=True)
        session.documents.profile_path.write_bytes(profile_before)
        session.profile = load_profile(session.documents.profile_path)


def pair(browser, server, lang="da"):
    """A tablet paired the way staff do it: a one-time code from the staff page, typed on the tablet."""
    staff_page = staff(browser.new_context(bypass_csp=True).new_page(), server)
    staff_page.fill("#pairing-form input[name='name']", "Annas tablet")
    staff_page.click("#pairing-form button[type=submit]")
    staff_page.wait_for_selector("#pairing:not([hidden])")
    code = staff_page.text_content("#pairing-code")
    assert staff_page.get_attribute("#pairing-qr", "src").startswith("data:image/svg+xml")
    staff_page.context.close()
    tablet = browser.new_context(viewport={"width": 1024, "height": 768}, bypass_csp=True).new_page()
    tablet.set_default_timeout(10_000)
    tablet.goto(f"{server}/panel?lang={lang}")
    tablet.wait_for_url("**/pair?lang=*")  # an unpaired tablet sees only the pairing page
    tablet.fill("#code", code.lower())
    tablet.click("#pair-form button[type=submit]")
    tablet.wait_for_url("**/panel?lang=*")
    return tablet


def test_a_tablet_is_paired_with_a_code_from_the_staff_page_and_revoked(browser, page, server, shots):
    tablet = pair(browser, server, lang="en")
    tablet.wait_for_selector("#state")
    assert tablet.locator(".big").count() == 5
    cookie = next(c for c in tablet.context.cookies() if c["name"] == "bidvis_panel")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert "bidvis_panel" not in tablet.evaluate("document.cookie")  # no script on the page can read it
    staff(page, server)
    page.wait_for_selector("#panels >> text=Annas tablet")
    page.locator("#h-panels").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "staff-panels.png"))
    for _ in range(page.locator("button.revoke").count()):  # every paired panel, this tablet's too
        page.locator("button.revoke").first.click()
        page.wait_for_selector("#message:has-text('revoked')")
        page.evaluate("document.querySelector('#message').textContent = ''")
    tablet.wait_for_selector("#feedback:has-text('no longer paired')")
    tablet.wait_for_url("**/pair?lang=en", timeout=10_000)
    tablet.context.close()


def test_a_wrong_pairing_code_is_refused_on_the_tablet(browser, server, shots):
    tablet = browser.new_context(bypass_csp=True, viewport={"width": 1024, "height": 768}).new_page()
    tablet.goto(server + "/pair?lang=en")
    tablet.screenshot(path=str(shots / "pair-en.png"))
    tablet.fill("#code", "AAAA-AAAA")
    tablet.click("#pair-form button[type=submit]")
    tablet.wait_for_selector("#feedback:has-text('Wrong or expired code')")
    tablet.goto(server + "/panel")
    assert "/pair" in tablet.url
    tablet.context.close()


def test_a_page_of_another_site_cannot_stop_a_meal_from_a_staff_browser(browser, page, server, robot, web_app):
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse

    evil = FastAPI()

    @evil.get("/", response_class=HTMLResponse)
    def lure() -> str:  # a bodyless cross-site POST, as in the finding, and a fetch with credentials
        return (
            f'<form id="f" method="post" action="{server}/api/stop"></form>'
            f"<script>fetch('{server}/api/stop', {{method: 'POST', credentials: 'include', mode: 'no-cors'}});"
            "document.getElementById('f').submit();</script>"
        )

    evil_url, stop_evil = start_server(evil, host="127.0.0.2")
    tablet = pair(browser, server)
    try:
        tablet.click("button[data-command='next_bite']")
        wait_for(lambda: robot.journal.open_meal_id is not None, what="the meal")
        staff(page, server)  # the same browser is logged in as staff
        stops = len(web_app.state.audit.entries(AuditAction.STOP))
        page.goto(evil_url)
        page.wait_for_load_state("networkidle")
        time.sleep(0.5)
        # Every accepted STOP is audited, whatever the meal's state: none came from the other site.
        assert len(web_app.state.audit.entries(AuditAction.STOP)) == stops
        # The meal's loop shares this process with the web server and Chromium's two cores: on a busy
        # machine the servos' 60 ms Bus Watchdog, or replies lost on the virtual bus, may end the meal
        # on its own (a safe stop of the arm's own, not a STOP, which would read "estop").
        status = robot.session.meal.status()
        assert robot.session.meal.running or status["stopped_by"] in ("watchdog_tripped", "bus_errors"), status
    finally:
        stop_evil()
        robot.session.stop(source="test cleanup")
        wait_for(lambda: not robot.session.meal.running, timeout_s=15, what="the meal to stop")
        robot.session.meal.clear_stop("Anna")
        tablet.context.close()


def test_a_logged_out_staff_page_says_so_and_keeps_stop(browser, page, server, web_app):
    staff(page, server, lang="en")
    web_app.state.login.sessions.end_account("Anna")  # logged out elsewhere (a password change)
    page.wait_for_selector("#idle:not([hidden])")
    assert "Log in again" in page.text_content("#idle") and page.is_visible("#stop")


def test_panel_with_one_switch_starts_the_meal_pauses_and_shows_the_stop(browser, server, robot, shots):
    robot.session.arm.stop()  # an earlier test's screen may still hold the arm: no meal would start
    page = pair(browser, server)  # a tablet
    assert page.get_attribute("html", "lang") == "da"
    page.screenshot(path=str(shots / "panel-da.png"))
    sizes = [page.locator(".big").nth(i).bounding_box() for i in range(page.locator(".big").count())]
    assert all(box["width"] >= 200 and box["height"] >= 120 for box in sizes), sizes  # very large targets
    page.keyboard.press("Tab")
    assert focused(page) == "Skål 1"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # Skål 1 -> Skål 2 -> Næste bid
    assert focused(page) == "Næste bid"
    page.keyboard.press("Enter")
    page.wait_for_selector("#feedback:has-text('Sendt: Næste bid')")
    page.wait_for_function("document.querySelector('#state').className !== 'state tone-calm'")
    page.keyboard.press("Tab")  # -> Pause
    page.keyboard.press("Space")
    page.wait_for_selector("#state:has-text('Pause')")
    page.wait_for_selector("#pause:has-text('Fortsæt')")
    page.screenshot(path=str(shots / "panel-paused-da.png"))

    staff_page = browser.new_context(bypass_csp=True).new_page()
    staff(staff_page, server)
    staff_page.click("#stop")
    # The meal's loop shares this process with the web server and Chromium's two cores: on a busy
    # machine the servos' 60 ms Bus Watchdog may have ended the paused meal before STOP came
    # ('arm stopped', a safe stop of its own). Either way the panel must show the stop.
    staff_page.wait_for_selector("#message:has-text('stopped')")
    if robot.session.meal.status()["stopped_by"] != "watchdog_tripped":
        assert "meal stopped" in staff_page.inner_text("#message"), robot.session.meal.status()
    page.wait_for_selector("#state.tone-stopped:has-text('Stoppet. Tilkald personale')")
    deadline = time.monotonic() + 10
    while robot.session.meal.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not robot.session.meal.running
    page.keyboard.press("Enter")  # the citizen cannot restart after a stop
    page.wait_for_selector("#feedback:has-text('Ikke muligt lige nu. Tilkald personale')")
    page.screenshot(path=str(shots / "panel-stopped-da.png"))
    staff_page.click("#clear-stop")  # staff have checked the citizen and the arm
    staff_page.wait_for_selector("#message:has-text('stop cleared')")
    page.wait_for_selector("#state.tone-calm")
    staff_page.context.close()
    page.context.close()


def focused(page) -> str:
    return page.evaluate("document.activeElement.textContent.trim()")


def record_panel_presses(page) -> list[dict]:
    """What the panel sends, answered here without reaching the robot."""
    sent: list[dict] = []

    def answer(route):
        sent.append(route.request.post_data_json)
        route.fulfill(status=200, json={"accepted": True, "command": sent[-1]["command"]})

    page.route(lambda url: urlsplit(url).path == "/api/panel", answer)  # the panel names its language in the query
    return sent


def test_panel_acts_on_exactly_what_is_focused(browser, server):
    """Keyboard, switch and touch act on the button that is highlighted, and on nothing else."""
    page = pair(browser, server)
    sent = record_panel_presses(page)
    for _ in range(3):
        page.keyboard.press("Tab")  # Skål 1, Skål 2, Næste bid
    assert focused(page) == "Næste bid"
    page.keyboard.press("Enter")
    page.wait_for_selector("#feedback:has-text('Sendt: Næste bid')")
    assert sent == [{"command": "next_bite"}] and focused(page) == "Næste bid"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")  # an arrow key moves too: Pause, Færdig
    assert focused(page) == "Færdig"
    page.keyboard.press("Space")
    page.wait_for_selector("#feedback:has-text('Sendt: Færdig')")
    assert sent[1:] == [{"command": "done"}]
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "auto-scan"
    page.keyboard.press("Space")
    assert page.is_checked("#auto-scan")
    assert focused(page) == "Skål 1"  # scanning starts at the first button
    targets = page.locator(".scan-target, #auto-scan, a.lang")
    boxes = [targets.nth(i).bounding_box() for i in range(targets.count())]
    assert all(box["width"] >= 44 and box["height"] >= 44 for box in boxes), boxes
    page.context.close()

    scanning = pair(browser, server)
    scanning.goto(server + "/panel?scan=auto&scan_ms=2000")
    sent = record_panel_presses(scanning)
    scanning.wait_for_function("document.activeElement.textContent.trim() === 'Skål 2'", timeout=5_000)
    scanning.keyboard.press("Enter")  # one switch: the highlighted bowl
    scanning.wait_for_selector("#feedback:has-text('Sendt: Skål 2')")
    assert sent == [{"command": "select_bowl", "bowl": 1}]
    scanning.context.close()

    touch = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, bypass_csp=True)
    tablet = touch.new_page()
    paired = pair(browser, server)
    touch.add_cookies(paired.context.cookies())
    paired.context.close()
    tablet.goto(server + "/panel")
    sent = record_panel_presses(tablet)
    tablet.tap("text=Skål 1")
    tablet.wait_for_selector("#feedback:has-text('Sendt: Skål 1')")
    assert sent == [{"command": "select_bowl", "bowl": 0}]
    touch.close()


def test_panel_in_english_with_automatic_scanning(browser, server, shots):
    page = pair(browser, server, lang="en")
    page.goto(server + "/panel?lang=en&scan=auto&scan_ms=300")
    assert page.get_attribute("html", "lang") == "en"
    first = focused(page)
    page.wait_for_function(f"document.activeElement.textContent !== {first!r}", timeout=2_000)
    page.screenshot(path=str(shots / "panel-en-scanning.png"))  # the highlight has moved on
    page.click("a.lang")
    page.wait_for_selector("html[lang='da']")
    page.context.close()


def test_staff_page_is_danish_by_default_after_logging_in(page, server, shots):
    staff(page, server, lang="da")
    assert page.get_attribute("html", "lang") == "da"
    assert page.text_content("#h-connect") == "1. Forbind"
    page.screenshot(path=str(shots / "staff-da.png"))


def test_a_wrong_password_in_the_browser_is_refused(page, server):
    page.goto(server + "/login")
    page.fill("input[name='username']", "Anna")
    page.fill("input[name='password']", "not the password")
    page.click("button[type=submit]")
    page.wait_for_selector("#error:has-text('Brugernavn eller adgangskode passer ikke')")
    page.goto(server + "/staff")
    page.wait_for_url("**/login?next=/staff")


@pytest.mark.parametrize(
    "path",
    ["/login", "/login?lang=en", "/staff", "/staff?lang=en", "/panel", "/panel?lang=en", "/pair", "/pair?lang=en"],
)
def test_no_serious_or_critical_accessibility_violations(page, server, axe_source, path):
    if path.startswith(("/staff", "/panel")):
        staff(page, server)  # staff may open the panel too
    page.goto(server + path)
    page.add_script_tag(content=axe_source)
    violations = page.evaluate(
        "async () => (await axe.run(document)).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))"
    )
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert bad == [], bad


def test_the_browser_enforces_the_pages_policy(browser, server):
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse

    framing = FastAPI()

    @framing.get("/", response_class=HTMLResponse)
    def frame() -> str:
        return f'<iframe id="robot" src="{server}/login"></iframe>'

    framing_url, stop = start_server(framing, host="127.0.0.2")
    context = browser.new_context()  # the policy in force
    try:
        page = context.new_page()
        page.goto(server + "/login")
        with pytest.raises(sync_api.Error):
            page.add_script_tag(content="document.title = 'injected'")  # no inline script runs
        assert page.title() != "injected"
        page.goto(framing_url)
        page.wait_for_timeout(500)
        framed = page.frame_locator("#robot").locator("input[name='username']")
        assert framed.count() == 0  # frame-ancestors 'none': the robot's page is not shown in another site's frame
    finally:
        context.close()
        stop()


def _too_wide(page) -> list[str]:
    """The page scrolls sideways: the elements that stick out (none when it does not)."""
    return page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          if (document.documentElement.scrollWidth <= width) return [];
          return [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > width + 0.5)
            .slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className + ': ' + (e.textContent || '').trim().slice(0, 30));
        }"""
    )


@pytest.mark.parametrize("path", ["/staff", "/staff?lang=en", "/panel", "/panel?lang=en", "/pair"])
def test_no_sideways_scrolling_on_a_phone_or_at_200_percent_zoom(page, server, path):
    staff(page, server)
    page.goto(server + path)
    for width in (320, 640):  # a phone; 200 % zoom of a 1280 px window
        page.set_viewport_size({"width": width, "height": 800})
        assert _too_wide(page) == [], width


@pytest.mark.parametrize("lang", ["da", "en"])
def test_the_panels_words_are_plain(page, server, lang):
    from tests.readability import lix

    staff(page, server)
    page.goto(f"{server}/panel?lang={lang}")
    from bidvis.robot_ui.texts import parse_language, state_words
    from controller.feeding import FeedingState

    words = page.eval_on_selector_all(".help, .big, footer label", "els => els.map(e => e.innerText)")
    for state in [None, *FeedingState]:  # whatever state the panel shows
        shown = state_words(state, parse_language(lang))[1]
        assert lix([shown, *words]) <= 35, (shown, words)
    if lang == "da":
        text = page.inner_text("body")
        assert not re.search(r"\b[a-z]+_[a-z_]+\b|\b(the|meal|stopped|ready|next|bite)\b", text), text
