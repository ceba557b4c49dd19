"""The meal's loop in the controller process (issue 17 item 4): its messages, a meal on virtual
servos served by `bidvis sim-bus` in a third process, STOP, and a peer that falls silent or dies."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from bidvis.motion_runtime import messages
from bidvis.motion_runtime.runner import ControllerProcess
from bidvis.motion_runtime.worker import GONE_WEB_SERVER, SILENT_WEB_SERVER, Setup
from bidvis.robot_ui.session import RobotSession
from careplan_api.schemas import UsageEventType
from controller.causes import Cause
from controller.config import SafetyLimits, TriggerKind, demo_calibration, demo_profile, demo_safety_limits, save_config
from controller.feeding import CommandKind, FeedingState, UserCommand
from controller.journal import UsageJournal
from controller.loop import CommandQueue, LatestValue
from controller.messages import Language, Message
from tests.bidvis.conftest import sim_bus_process, wait_for
from tests.commissioning_records import write_commissioning_record
from tests.controller.test_invalid_values import danish_problems
from vision.observation import MouthObservation, MouthStatus

STAFF = "staff Anna from 127.0.0.1"
# The servos' Bus Watchdog as during set-up, not the meal's 60 ms: on this shared 2-core machine the
# pseudo-terminal to the emulated servos alone stalls for up to ~100 ms now and then (docs/benchmarks.md,
# "Controller process under a flood"); these tests are about the processes, not that timing.
LIMITS = demo_safety_limits().model_copy(update={"watchdog_ms": 200})

# -- the messages ---------------------------------------------------------------------------------


def test_a_mouth_observation_crosses_unchanged():
    seen = MouthObservation((320.5, 240.0), 61.0, 0.4, True, 0.9, 12.25, (0.01, 0.02, 0.5), MouthStatus.OCCLUDED)
    assert messages.to_controller(messages.encode(messages.Mouth.of(seen))).observation() == seen


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"[]",
        b'{"kind": "reboot"}',
        b'{"kind": "heartbeat", "extra": 1}',
        b'{"kind": "panel", "command": "select_bowl", "bowl": 99, "source": "x"}',
        b'{"kind": "panel", "command": "fly", "source": "x"}',
        b'{"kind": "panel", "command": "pause", "source": ""}',
        b'{"kind": "stop", "source": "' + b"x" * 201 + b'"}',
        b'{"kind": "command", "command": "next_bite", "source": "the attacker"}',
        b'{"kind": "mouth", "center_px": [NaN, 1], "width_px": 1, "open_ratio": 0, "is_open": false, '
        b'"confidence": 1, "t": 0}',
        b'{"kind": "mouth", "center_px": [1, 1], "width_px": 1, "open_ratio": 0, "is_open": false, '
        b'"confidence": 7, "t": 0}',
        b'{"kind": "heartbeat"' + b" " * messages.MAX_MESSAGE_BYTES + b"}",
    ],
)
def test_every_message_to_the_controller_is_validated(data):
    with pytest.raises(messages.ProtocolError):
        messages.to_controller(data)


@pytest.mark.parametrize(
    "data",
    [
        b'{"kind": "journal", "event_type": "bite_taken", "data": {"force_n": NaN}}',
        b'{"kind": "journal", "event_type": "made_up", "data": {}}',
        b'{"kind": "state", "state": "flying"}',
        b'{"kind": "timing", "intervals_s": [Infinity]}',
        b'{"kind": "stop", "source": "x"}',  # a message for the controller, not from it
        b'{"kind": "finished", "final_state": "fault", "error": "x", "cause": "disk I/O error"}',
        b'{"kind": "finished", "final_state": "fault", "cause": "calibration"}',
    ],
)
def test_every_message_from_the_controller_is_validated(data):
    with pytest.raises(messages.ProtocolError):
        messages.from_controller(data)


def test_a_failed_meal_crosses_with_its_english_and_the_kind_said_in_words():
    finished = messages.Finished(final_state=FeedingState.FAULT, error="could not open port", cause=Cause.PORT)
    assert messages.from_controller(messages.encode(finished)) == finished


# -- a meal in the controller process --------------------------------------------------------------


@pytest.fixture
def robot_files(tmp_path: Path) -> Path:
    save_config(demo_calibration().model_copy(update={"tool_servo_id": None}), tmp_path / "robot_calibration.toml")
    save_config(demo_profile(), tmp_path / "citizen_profile.toml")
    return tmp_path


@pytest.fixture
def port(robot_files: Path):
    with sim_bus_process(robot_files / "ttyARM", real_time=True) as link:
        yield str(link)


@pytest.fixture
def journal(robot_files: Path):
    journal = UsageJournal(robot_files / "journal.sqlite3")
    yield journal
    journal.close()


@pytest.fixture
def make_session(robot_files: Path, journal: UsageJournal):
    """`make(port, limits=LIMITS)`: the robot's session on `port` as `bidvis run` builds it (the meal
    in a controller process), over the files in `robot_files`; closed after the test (ask for `port`
    first, so that the sessions close before the servos go)."""
    sessions: list[RobotSession] = []

    def make(port: str, limits: SafetyLimits = LIMITS) -> RobotSession:
        session = RobotSession(
            port=port,
            calibration=demo_calibration().model_copy(update={"tool_servo_id": None}),
            calibration_path=robot_files / "robot_calibration.toml",
            profile=demo_profile(),
            profile_path=robot_files / "citizen_profile.toml",
            limits=limits,
            journal=journal,
            controller_process=True,
        )
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.close()


def setup_for(port: str, **changes) -> Setup:
    calibration = demo_calibration().model_copy(update={"tool_servo_id": None})
    documents = {
        "profile": demo_profile().model_dump(mode="json"),
        "calibration": calibration.model_dump(mode="json"),
        "limits": LIMITS.model_dump(mode="json"),
    }
    return Setup(port=port, baudrate=calibration.baudrate, **{**documents, **changes})


def events(journal: UsageJournal, kind: UsageEventType) -> list[dict]:
    return [e.data for e, _ in journal.events() if e.type is kind]


def test_a_meal_runs_in_its_own_process_and_stop_reaches_it(port, make_session, journal):
    session = make_session(port)
    session.meal.panel_command(CommandKind.SELECT_BOWL, 0, STAFF)
    wait_for(lambda: journal.open_meal_id is not None, timeout_s=30, what="the meal in the journal")
    process = session.meal.process
    assert process is not None and process.pid not in (None, os.getpid())
    assert events(journal, UsageEventType.MEAL_STARTED)[0]["started_by"] == STAFF
    wait_for(lambda: len(process.intervals_s) >= 200, timeout_s=30, what="a second of ticks")
    os.kill(process.pid, signal.SIGINT)  # a Ctrl-C at the terminal reaches the whole process group
    ticks = len(process.intervals_s)
    wait_for(lambda: len(process.intervals_s) >= ticks + 200, timeout_s=30, what="the meal to go on")
    assert session.meal.running  # it is the web server's to end, with a stop (`RobotSession.close`)
    assert session.stop(source=STAFF).key == "done.meal_stopped"
    wait_for(lambda: not session.meal.running, timeout_s=30, what="the meal to end")
    assert events(journal, UsageEventType.SAFETY_STOP)[0]["detail"] == f"e-stop from {STAFF}"
    status = session.meal.status()
    assert journal.open_meal_id is None and status["state"] == FeedingState.FAULT.value
    assert status["stopped_by"] == "estop" and "stopped" in status["result"]
    assert session.arm.driver is not None, session.meal.message  # staff have the arm back, held where it stopped


def test_a_meal_the_controller_refuses_says_why_in_words_and_logs_the_english(port, make_session, caplog):
    session = make_session(port, LIMITS.model_copy(update={"max_consecutive_bus_errors": 3}))  # too few for a stall
    session.meal.panel_command(CommandKind.SELECT_BOWL, 0, STAFF)
    wait_for(lambda: not session.meal.running, timeout_s=30, what="the meal to fail")
    failed = Message("fault.meal_failed", cause=Cause.TIMING_BUDGET.message())
    for language in Language:
        assert session.meal.status(language)["result_text"] == failed.text(language)
    assert danish_problems(failed.text(Language.DANISH), []) == []
    assert "USB stall" in caplog.text and "USB stall" not in session.meal.status()["result"]


def test_a_silent_web_server_stops_the_meal(port, journal):
    process = ControllerProcess(setup_for(port, silence_s=0.5), journal, LatestValue(), heartbeat_s=60.0)
    process.panel(CommandKind.START_MEAL, None, STAFF)
    process.start()
    try:
        assert process.wait(60), "the meal did not stop"
        assert events(journal, UsageEventType.SAFETY_STOP)[0]["detail"] == f"e-stop from {SILENT_WEB_SERVER}"
        assert process.finished is not None and process.finished.final_state is FeedingState.FAULT
    finally:
        process.end()


def test_a_dead_controller_process_ends_the_meal_as_interrupted(port, journal):
    process = ControllerProcess(setup_for(port), journal, LatestValue())
    process.panel(CommandKind.START_MEAL, None, STAFF)
    process.start()
    try:
        wait_for(lambda: journal.open_meal_id is not None or not process.running, timeout_s=30, what="the meal")
        assert journal.open_meal_id is not None and process.pid is not None, process.finished
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(10)
        assert process.state is FeedingState.FAULT and "ended unexpectedly" in (process.finished.error or "")
        assert process.finished.cause is Cause.CONTROLLER_ENDED
        (ended,) = events(journal, UsageEventType.MEAL_ENDED)
        assert ended["reason"] == "interrupted" and journal.open_meal_id is None
    finally:
        process.end()


def test_the_controller_refuses_bad_messages_and_goes_on(port, journal):
    process = ControllerProcess(setup_for(port), journal, LatestValue())
    process.panel(CommandKind.START_MEAL, None, STAFF)
    process.start()
    try:
        wait_for(lambda: journal.open_meal_id is not None, timeout_s=30, what="the meal in the journal")
        for junk in (b"\xff\x00", json.dumps({"kind": "stop"}).encode(), b'{"kind": "end", "now": true}'):
            process._connection.send_bytes(junk)
        seen = len(process.intervals_s)
        wait_for(lambda: len(process.intervals_s) >= seen + 400, timeout_s=30, what="two more seconds of ticks")
        assert process.running and process.state is not FeedingState.FAULT
    finally:
        process.end()
    stops = [stop["detail"] for stop in events(journal, UsageEventType.SAFETY_STOP)]
    assert stops == ["e-stop from the web server closed the meal"]  # only the end's own stop
    assert journal.open_meal_id is None


def test_a_message_over_the_size_cap_is_a_broken_peer_and_a_stop(port, journal):
    process = ControllerProcess(setup_for(port), journal, LatestValue())
    process.panel(CommandKind.START_MEAL, None, STAFF)
    process.start()
    try:
        wait_for(lambda: journal.open_meal_id is not None, timeout_s=30, what="the meal in the journal")
        process._connection.send_bytes(b"{}" * messages.MAX_MESSAGE_BYTES)
        assert process.wait(30), "the meal did not stop"
        assert events(journal, UsageEventType.SAFETY_STOP)[0]["detail"] == f"e-stop from {GONE_WEB_SERVER}"
    finally:
        process.end()


def test_a_local_switch_of_the_web_server_reaches_the_meal_as_a_switch(port, journal):
    switch = CommandQueue()  # stands in for an `EvdevSwitch` opened by `bidvis run`
    profile = demo_profile().model_copy(update={"trigger_kind": TriggerKind.PANEL})
    process = ControllerProcess(
        setup_for(port, profile=profile.model_dump(mode="json")), journal, LatestValue(), switches=[switch]
    )
    process.panel(CommandKind.START_MEAL, None, STAFF)
    process.start()
    try:
        wait_for(lambda: journal.open_meal_id is not None, timeout_s=30, what="the meal in the journal")
        switch.push(UserCommand(CommandKind.NEXT_BITE, source=TriggerKind.SWITCH.value))
        wait_for(lambda: events(journal, UsageEventType.TRIGGER), timeout_s=10, what="the switch's press")
        (press,) = events(journal, UsageEventType.TRIGGER)
        assert press["kind"] == "switch" and press["accepted"] is False  # the profile names the panel
    finally:
        process.end()


def test_the_controller_process_gets_the_arms_commissioned_current_noise(robot_files, make_session):
    write_commissioning_record(robot_files)
    session = make_session("/dev/null")
    noise = session.documents.contact_noise()
    assert noise is not None
    setup = session.meal._controller_process().setup  # what the process would be started with
    assert setup.contact_noise_a == (noise.rest_a, noise.moving_a) and noise.rest_a[0] == pytest.approx(0.039)
