"""`bidvis run` end to end as a care home runs it, on virtual servos over a pty in their own process
(`bidvis sim-bus`, and the independent XM430-W350 emulator of tests/xm430_emulator: the robot must
not rely on anything only our simulator does) with a video file as the camera: a 150 ms freeze of the host mid-approach (its
processes stopped with SIGSTOP, then continued) trips the servos' Bus Watchdog. The robot notices:
the meal stops, the panel and the staff page say why in plain words, the fault and the meal's end
reach the care-plan journal, no bite is logged that the arm did not give, and nothing moves until a
person clears the stop.

Every wait is bounded, and all of them fit in pytest-timeout's 300 s (`BUDGET_S`), so a robot that
never gets there fails with what it did (the states seen, the stops in the journal), not a timeout.
Before the meal staff bring the arm to its ready pose, as in a care home: the flawed simulated arm
sags with its torque off while the robot starts, and a meal refuses to start from where it may not
move the arm (it used to start, stop at once and leave the arm above the workspace, for ever)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import httpx
import pytest

from careplan_api.schemas import UsageEventType
from controller.config import TriggerKind, demo_calibration, demo_profile, demo_safety_limits, save_config
from controller.journal import UsageJournal
from tests.bidvis.conftest import PASSWORD, SERVO_EMULATORS
from tests.commissioning_records import write_commissioning_record

FREEZE_S = 0.15
FRAMES = 90  # 3 s at 30 fps, played in a loop
STAFF_OWNER = "freeze-test-staff"  # the staff client's screen id for arm moves
# Each emulator's options beyond the servo ids. The independent emulator's servos are as commissioning
# left them (Return Delay Time 0; they power on at the factory's 500 us), in an arm whose links are
# the simulated arm's (OpenManipulator-X class, sim/assets/bidvis_world.xml; the wrist with its spoon).
XM430_ARM = "12:0.2207:0.0103,0.0959:0.024,0.128 13:0.2144:0.0909,0:0.124,0 14:0.17:0.065,0.004"
EMULATOR_OPTIONS = {"sim-bus": (), "xm430-emulator": ("--return-delay-us", "0", "--arm", XM430_ARM)}
# Bounds of the waits (s); their sum stays under pytest-timeout's 300 s with the clip's rendering.
PTY_S, SERVE_S, READY_POSE_S, MEAL_START_S, NOTICE_S, MEAL_END_S = 20.0, 60.0, 30.0, 120.0, 5.0, 20.0
# A scoop's own bound, within MEAL_START_S: the demo bowl's scoop is 10.8 s of planned motion, and
# the loop advances it one period per tick it runs, so a host that misses ticks stretches it (16 s
# on this idle 2-core machine, over 20 s in a loaded CI run).
SCOOP_S = 60.0


def render_face_clip(path: Path) -> tuple[float, float, float, float, int, int]:
    """The simulated citizen's face as the robot's camera sees it, as a video file; returns the
    camera's intrinsics (fx, fy, cx, cy, width, height)."""
    from bidvis.simulation.face_vision import vision_face_measure
    from sim.camera import FaceFrameSource, FacesUnavailable, PinholeCamera
    from sim.world import World, WorldConfig
    from vision import FaceModels

    camera = PinholeCamera()
    ci = camera.intrinsics
    world = World(WorldConfig(spoon_offset_m=(demo_calibration().spoon.x_m, 0.0)))
    try:
        source = FaceFrameSource(
            world, camera, measure_face=vision_face_measure(FaceModels.load(), ci.fx), sensor_noise=2.0
        )
    except FacesUnavailable as exc:
        pytest.skip(f"no face photographs to render the camera's clip: {exc}")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (ci.width_px, ci.height_px))
    for k in range(FRAMES):
        writer.write(source.render(k / 30.0))
    writer.release()
    return ci.fx, ci.fy, ci.cx, ci.cy, ci.width_px, ci.height_px


def family(pid: int) -> list[int]:
    """`pid` and its descendants (Linux /proc), children last."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            pids += family(int(child))
    return pids


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def high_priority() -> None:
    """A robot's computer runs the robot first (docs/controller.md, "Timing budget"); on this shared
    test machine that is a raised priority, where the test may raise it."""
    try:
        os.nice(-10)
    except OSError:
        pass


def at_high_priority(command: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(command, preexec_fn=high_priority, **kwargs)


def bidvis(*args: str, **kwargs) -> subprocess.Popen:
    return at_high_priority([sys.executable, "-m", "bidvis.cli", *args], **kwargs)


def wait_for(check, what, timeout_s: float, every_s: float = 0.02):
    """`check()`'s first true value within `timeout_s`; else an AssertionError naming `what`."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what() if callable(what) else what}")


def stops(directory: Path) -> list[str]:
    """The journal's safety stops so far, as `reason in state` (for failure messages)."""
    try:
        with UsageJournal(directory / "journal.sqlite3", read_only=True) as journal:
            return [
                f"{event.data.get('reason')} in {event.data.get('state')}"
                for event, _ in journal.events()
                if event.type is UsageEventType.SAFETY_STOP
            ]
    except Exception as exc:  # a message, never a second failure
        return [f"journal unreadable: {exc}"]


def at_ready_pose(staff: httpx.Client, ready_rad: tuple[float, ...]) -> bool:
    """The set-up arm stands at the ready pose (within 0.05 rad), its move over."""
    arm = staff.get("/api/status").json()["arm"]
    return (
        arm is not None
        and arm["mode"] == "idle"
        and all(abs(q - r) < 0.05 for q, r in zip(arm["q_rad"], ready_rad, strict=True))
    )


def bring_to_ready(staff: httpx.Client, ready_rad: tuple[float, ...], timeout_s: float) -> None:
    """Staff connect the arm and send it to the ready pose, then wait until it stands there. A move
    stopped as a contact (the sagged arm's way up over the top, see the module doc) is connected
    again and sent on, as staff do once they see nothing is in its way."""
    end = time.monotonic() + timeout_s
    faults: list[str] = []
    while True:
        answer = staff.post("/api/connect")  # clears a fault
        assert answer.status_code == 200, answer.text
        answer = staff.post("/api/move/ready", json={"owner": STAFF_OWNER})
        assert answer.status_code == 200, answer.text
        arm = wait_for(
            lambda: (arm := staff.get("/api/status").json()["arm"]) and arm["mode"] in ("idle", "fault") and arm,
            lambda: f"the arm's move to its ready pose to end (faults: {faults})",
            max(0.1, end - time.monotonic()),
            every_s=0.1,
        )
        if at_ready_pose(staff, ready_rad):
            return
        faults.append(str(arm["fault"]))
        assert len(faults) < 4 and time.monotonic() < end, f"the arm did not reach its ready pose: {faults}"


@pytest.fixture(params=sorted(SERVO_EMULATORS))
def care_home(request, tmp_path, make_staff_login):
    """A robot's files, a paired panel, a staff account, a servo emulator (each of
    `SERVO_EMULATORS`) and `bidvis run`."""
    load_per_core = os.getloadavg()[0] / (os.cpu_count() or 1)
    if load_per_core > 8.0:  # it passed at up to ~8 per core; a robot runs the robot alone
        pytest.skip(f"load {load_per_core:.1f} per core: too loaded to run the robot's real-time loop on time")
    from vision import CameraIntrinsics

    calibration = demo_calibration()
    save_config(calibration, tmp_path / "robot_calibration.toml")
    save_config(demo_profile().model_copy(update={"trigger_kind": TriggerKind.PANEL}), tmp_path / "citizen.toml")
    clip = tmp_path / "face.avi"
    CameraIntrinsics(*render_face_clip(clip)).save(tmp_path / calibration.camera.intrinsics_ref)
    # The built-in limits, but for the shared test machine (2 cores, load 10-15): vision may be 0.5 s
    # old before the approach holds (the tracker delivers observations 120-250 ms after capture; a
    # robot's own computer ~60 ms), and the Bus Watchdog is 100 ms, not 60 ms (at 60 ms both processes,
    # even at raised priority, were starved into unprovoked trips here). The freeze outlasts both.
    limits = demo_safety_limits().model_copy(update={"stale_after_s": 0.5, "lost_after_s": 1.0, "watchdog_ms": 100})
    save_config(limits, tmp_path / "safety_limits.toml")
    write_commissioning_record(tmp_path, watchdog_ms=limits.watchdog_ms)
    make_staff_login(tmp_path)  # staff account Anna
    paired = subprocess.run(
        [sys.executable, "-m", "bidvis.cli", "ui", "pair-panel", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    token = json.loads(paired.stdout)["token"]
    link = tmp_path / "arm"
    ids = ",".join(str(i) for i in calibration.servo_ids)
    emulator = SERVO_EMULATORS[request.param](link, ids, *EMULATOR_OPTIONS[request.param])
    servos = at_high_priority(emulator, stdout=subprocess.DEVNULL)
    robot = None
    try:
        wait_for(link.exists, "the virtual servos' pty", PTY_S)
        port = free_port()
        robot = bidvis(
            "run",
            "--port",
            str(link),
            "--camera",
            str(clip),
            "--profile",
            str(tmp_path / "citizen.toml"),
            "--safety",
            str(tmp_path / "safety_limits.toml"),
            "--journal",
            str(tmp_path / "journal.sqlite3"),
            "--http-port",
            str(port),
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "run.log").open("wb"),
            env={**os.environ, "BIDVIS_UI_PASSWORD_LOGIN": "everyone"},  # Anna logs in with her password
        )
        panel = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"})

        def up():
            assert robot.poll() is None, "bidvis run ended"
            try:
                return panel.get("/api/panel/status").status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, lambda: f"bidvis run to serve its pages ({tmp_path / 'run.log'})", SERVE_S, every_s=0.2)
        yield tmp_path, robot, panel
        panel.close()
    finally:
        for process in (robot, servos):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


def test_a_150_ms_host_freeze_mid_meal_stops_tells_staff_reaches_the_journal_and_waits_for_a_person(care_home):
    directory, robot, panel = care_home
    staff = httpx.Client(base_url=panel.base_url, headers={"Origin": str(panel.base_url).rstrip("/")})
    assert staff.post("/login", data={"username": "Anna", "password": PASSWORD}).status_code in (200, 303)
    seen: list[str | None] = []

    def state() -> str | None:
        value = panel.get("/api/panel/status", params={"lang": "en"}).json()["state"]
        if not seen or seen[-1] != value:
            seen.append(value)
        return value

    def pressed(command: dict) -> bool:
        """A panel press; False when the meal stopped meanwhile (409: stopped until cleared)."""
        answer = panel.post("/api/panel", json=command)
        assert answer.status_code in (200, 409), answer.text
        return answer.status_code == 200

    ready_rad = demo_calibration().ready_pose_rad
    deadline = time.monotonic() + MEAL_START_S

    def left() -> float:
        """What is left of the meal start's time (at least a moment, to fail with a message)."""
        return max(0.1, deadline - time.monotonic())

    def spoon_on_its_way() -> bool:
        """Start a meal from the ready pose and ask for a bite; True once the spoon approaches the
        mouth. A stop before that (this loaded machine can starve the robot into a watchdog trip of
        its own) is cleared by staff, as on the robot, who bring the arm back to its ready pose, and
        the meal is started again; a meal paused by a contact while scooping is resumed."""
        if state() == "fault":
            wait_for(lambda: not staff.get("/api/status").json()["meal"]["running"], "the stopped meal's end", left())
            answer = staff.post("/api/meal/clear-stop")
            assert answer.status_code == 200, answer.text
        if not staff.get("/api/status").json()["meal"]["running"]:  # else a resumed meal goes on
            if not at_ready_pose(staff, ready_rad):
                bring_to_ready(staff, ready_rad, min(READY_POSE_S, left()))
            if not pressed({"command": "select_bowl", "bowl": 0}):
                return False
        loaded = wait_for(
            lambda: (now := state()) in ("ready", "fault", "paused") and now,
            lambda: f"a loaded spoon (states: {seen})",
            min(SCOOP_S, left()),
        )
        if loaded == "paused":  # a contact while scooping pauses the meal until a person resumes it
            pressed({"command": "resume"})
            return False
        if loaded == "fault":
            return False
        for _ in range(20):  # the citizen presses again while the robot does not see the mouth
            if not pressed({"command": "next_bite"}):
                return False
            end = time.monotonic() + 1.0
            while time.monotonic() < end and state() not in ("approach", "fault"):
                time.sleep(0.005)
            if state() != "ready" or time.monotonic() > deadline:
                break
        time.sleep(0.3)  # the spoon on its way to the mouth
        return state() == "approach"

    wait_for(
        spoon_on_its_way,
        lambda: f"a meal that reaches the approach (states: {seen}; stops: {stops(directory)})",
        MEAL_START_S,
        every_s=0.0,
    )
    frozen = family(robot.pid)  # the web server and the controller's process (issue 17)
    assert len(frozen) >= 2
    for pid in frozen:  # the host freezes ...
        os.kill(pid, signal.SIGSTOP)
    time.sleep(FREEZE_S)
    for pid in reversed(frozen):  # ... and goes on
        os.kill(pid, signal.SIGCONT)

    wait_for(lambda: state() == "fault", lambda: f"the robot to notice (states: {seen})", NOTICE_S)
    status = panel.get("/api/panel/status", params={"lang": "en"}).json()
    assert status["why"] == "The servos stopped the arm because the computer was silent too long."
    danish = panel.get("/api/panel/status", params={"lang": "da"}).json()["why"]
    assert "computeren var tavs" in danish

    meal = wait_for(
        lambda: (m := staff.get("/api/status").json()["meal"]) and not m["running"] and m, "the meal's end", MEAL_END_S
    )
    # The staff page in the staff's language (Danish by default): why, and what to do.
    assert "computeren var tavs for længe" in meal["result_text"] and "ryd så stoppet" in meal["result_text"]

    # Nothing moves until a person clears the stop: the panel's next bite is refused.
    assert panel.post("/api/panel", json={"command": "next_bite"}).status_code == 409
    assert state() == "fault"

    with UsageJournal(directory / "journal.sqlite3", read_only=True) as journal:
        events = [event for event, _ in journal.events()]
        assert journal.open_meal_id is None  # the meal is closed, not left for the next one
    ended = events[-1]
    assert ended.type is UsageEventType.MEAL_ENDED
    meal_events = [event for event in events if event.meal_id == ended.meal_id]  # the frozen meal's
    kinds = [event.type for event in meal_events]
    assert UsageEventType.BITE_OFFERED in kinds and UsageEventType.BITE_TAKEN not in kinds  # no bite given
    (fault,) = [event.data for event in meal_events if event.type is UsageEventType.FAULT]
    assert fault["reason"] == "watchdog_tripped" and fault["state"] == "approach"
    assert ended.data["reason"] == "interrupted" and ended.data["stopped_by"] == "watchdog_tripped"
