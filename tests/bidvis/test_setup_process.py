"""The staff page's set-up loop runs in a process of its own (bidvis.motion_runtime.setup_worker), never
in the web server's (issue 13 item 7, issue 17 item 4): its thread is not here, a dead set-up process is
a fault in words that Connect clears, hostile pipe messages are dropped, and a web server that falls
silent stops the arm. The flood of requests during a jog is in test_setup_flood.py."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from bidvis.motion_runtime import messages
from bidvis.motion_runtime import setup_messages as sm
from bidvis.motion_runtime.setup_runner import ArmProcess
from bidvis.motion_runtime.setup_worker import Answerer
from bidvis.robot_ui.arm import ArmDriver, ArmFault, ArmMode, ArmNotConnected, ArmStopped
from bidvis.robot_ui.errors import NotReady
from controller.config import demo_calibration, demo_safety_limits
from controller.messages import Language, Message
from firmware_bridge import DynamixelBus
from sim.virtual_bus import SimulatedClock, VirtualServoBus
from tests.bidvis.arm_noise import REST_TICKS
from tests.bidvis.conftest import wait_for

ANNA = "owner-anna-1"
JOINTS = (11, 12, 13, 14)


def positions(robot) -> list[int]:
    """The virtual servos' own present positions (ticks), as the servos know them."""
    with robot.bus.lock:
        robot.bus.advance_to(robot.bus.clock.now())
        return [robot.bus.servo(i).get("present_position") for i in JOINTS]


def watchdogs(robot) -> list[int]:
    with robot.bus.lock:
        robot.bus.advance_to(robot.bus.clock.now())
        return [robot.bus.servo(i).get("bus_watchdog") for i in JOINTS]


def jog(client, seconds: float, press: int = 0) -> None:
    """Hold joint 1's button for `seconds` (heartbeats every 50 ms), then let go."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        body = {"owner": ANNA, "joint": 1, "direction": 1, "press": press}
        assert client.post("/api/jog/hold", json=body).status_code == 200
        time.sleep(0.05)
    client.post("/api/jog/release", json={"owner": ANNA, "press": press})


def arm_status(client, language: str = "en") -> dict:
    return client.get(f"/api/status?lang={language}").json()["arm"]


def test_the_set_up_loop_is_not_in_the_web_servers_process_and_drops_hostile_messages_and_sigint(staff, robot):
    assert staff.post("/api/connect").status_code == 200
    arm = robot.session.arm.driver
    assert isinstance(arm, ArmProcess) and arm.pid not in (None, os.getpid())
    assert [t.name for t in threading.enumerate() if t.name == "arm-driver"] == []  # no tick thread here
    before = positions(robot)
    jog(staff, 0.3)
    wait_for(lambda: arm_status(staff)["mode"] == "idle", what="the jog to end")
    moved = positions(robot)
    assert moved[0] > before[0] + 10, (before, moved)  # the process moved the servos
    hostile = [
        b"\xff\x00",  # not JSON
        b'{"kind": "stop", "source": "x", "extra": 1}',  # an extra field
        b'{"kind": "move", "id": 1, "poses": [[0, 0, 0, NaN]], "speed_m_s": 0.1}',  # not finite
        b'{"kind": "move", "id": 2, "poses": [[1e9, 0, 0, 0]], "speed_m_s": 0.1, "power_down": "yes"}',
        b'{"kind": "hold", "id": 3, "owner": "x", "joint": 9, "direction": 1, "press": 0}',  # no joint 9
        b'{"kind": "launch", "id": 4}',  # not a kind of ours
        json.dumps({"kind": "ask", "id": -1, "what": "status"}).encode(),
    ]
    for junk in hostile:
        arm._pipe.connection.send_bytes(junk)
    time.sleep(0.3)  # what the process makes of them, if anything
    status = arm_status(staff)
    assert not arm.ended and status["mode"] == "idle" and status["fault"] is None
    # nothing moved the arm: what it does after a jog is settle in its gears' play, under the noise
    assert np.abs(np.array(positions(robot)) - moved).max() <= REST_TICKS
    os.kill(arm.pid, signal.SIGINT)  # a Ctrl-C at the terminal is the web server's to handle
    jog(staff, 0.2, press=1)  # and it still answers
    wait_for(lambda: positions(robot)[0] > moved[0] + 5, what="the next jog")
    assert not arm.ended


def test_a_set_up_process_killed_mid_jog_is_a_fault_in_words_and_connect_recovers(staff, robot):
    assert staff.post("/api/connect").status_code == 200
    first = robot.session.arm.driver
    jog(staff, 0.2)
    body = {"owner": ANNA, "joint": 1, "direction": 1, "press": 1}
    assert staff.post("/api/jog/hold", json=body).json() == {"moving": True}
    os.kill(first.pid, signal.SIGKILL)  # mid-jog
    wait_for(lambda: arm_status(staff)["mode"] == "fault", what="the fault")
    status = arm_status(staff)
    assert status["fault_text"] == Message("fault.setup_process_ended").text(Language.ENGLISH)
    assert "Bus Watchdog has stopped the arm" in status["fault_text"]
    assert "vagthund har stoppet armen" in arm_status(staff, "da")["fault_text"]
    refused = staff.post("/api/jog/hold", json={**body, "press": 2})
    assert refused.status_code == 409 and "set-up process ended" in refused.json()["detail"]
    wait_for(lambda: -1 in watchdogs(robot), what="the servos' watchdog")  # what the words say happened
    assert staff.post("/api/connect").status_code == 200  # a new process, the watchdog re-armed
    assert robot.session.arm.driver is not first and arm_status(staff)["mode"] == "idle"
    before = positions(robot)
    jog(staff, 0.3, press=3)
    wait_for(lambda: positions(robot)[0] > before[0] + 10, what="a jog after Connect")


def test_lending_the_arm_to_a_meal_ends_the_set_up_process_and_taking_it_back_starts_one(robot):
    arm = robot.session.arm
    arm.connect()
    first = arm.driver
    arm.lend_arm("Anna at the staff page")
    assert first.ended and first._process.exitcode is not None and arm.driver is None  # the port is free
    arm.take_back()
    assert arm.driver is not None and arm.driver.pid != first.pid and arm.driver.status().mode is ArmMode.IDLE


def test_a_silent_web_server_stops_a_pose_move(robot):
    """Nothing from the web server for `silence_s`: the process stops the arm (an ordinary stop target) before the
    far pose is reached; the arm stays connected and answers."""
    setup = robot.session.arm.arm_setup()
    arm = ArmProcess.connect(type(setup)(**{**setup.__dict__, "silence_s": 0.5}), heartbeat_s=60.0)
    try:
        start = arm.measured_q()
        far = start + np.array([1.2, 0.0, 0.0, 0.0])
        arm.move_through([far], 0.05)  # ~10 s away at set-up speed
        time.sleep(2.0)  # nothing sent (a request is a sign of life, as a heartbeat is)
        assert not arm.busy
        wait_for(lambda: arm.status().mode is ArmMode.IDLE, what="the arm at rest")
        assert abs(arm.measured_q()[0] - far[0]) > 0.5  # stopped on the way
    finally:
        arm.close()
    assert arm.ended


def test_a_message_over_the_size_cap_ends_the_set_up_process_and_the_arm_says_so(robot):
    arm = ArmProcess.connect(robot.session.arm.arm_setup())
    try:
        arm._pipe.connection.send_bytes(b"{}" * messages.MAX_MESSAGE_BYTES)  # not one of ours: a broken peer
        wait_for(lambda: arm.ended, what="the process to end")
        status = arm.status()
        assert status.mode is ArmMode.FAULT and status.fault == Message("fault.setup_process_ended")
        with pytest.raises(ArmFault, match="set-up process ended"):
            arm.hold(ANNA, 1, 1)
    finally:
        arm.close()


# -- the process's parts and the protocol, without a process -----------------------------------


def test_a_stop_wins_over_a_move_that_waited_in_the_queue_before_it():
    """STOP goes to the driver at once; a move sent before it but answered after it is stopped again."""
    clock = SimulatedClock()
    servos = VirtualServoBus.start(clock=clock)
    calibration = demo_calibration()
    sent: list = []
    try:
        with DynamixelBus(servos.url, timeout=0.05) as bus:
            driver = ArmDriver(
                bus, calibration.joint_servo_ids, calibration.spoon, 10, limits=demo_safety_limits(), clock=clock.now
            )
            driver.connect()
            answerer = Answerer(driver, SimpleNamespace(send=sent.append))  # it only sends
            answerer.put(sm.Ask(id=0, what="current_q"))  # no tick brings a reading: the queue waits 1 s
            far = tuple(float(q) + 0.5 for q in calibration.ready_pose_rad)
            answerer.put(sm.Move(id=1, poses=[far], speed_m_s=0.05))
            answerer.stop()  # STOP, while the move waits
            wait_for(lambda: len(sent) == 2, what="both answers")
            answerer.close()
            assert isinstance(sent[0], sm.Failed) and isinstance(sent[1], sm.Done)
            assert not driver.busy  # the move was stopped
    finally:
        servos.close()


@pytest.mark.parametrize(
    "error",
    [
        ArmFault(Message("fault.arm_fault", fault=Message("fault.bus_silent", cause="no answer")), cause="x"),
        ArmStopped(Message("refusal.let_go_after_stop")),
        ArmNotConnected(Message("refusal.not_connected")),
        NotReady(Message("refusal.cannot_connect", cause="the budget"), cause="in English"),
        ValueError("jog needs joint 1-4"),
    ],
)
def test_an_error_in_the_set_up_process_is_raised_again_as_the_same_class_and_words(error):
    answer = sm.from_setup(messages.encode(sm.Failed.of(7, error)))
    again = answer.exception()
    assert type(again) is type(error) and str(again) == str(error)
    if not isinstance(error, ValueError):
        assert again.message == error.message and again.message.text(Language.DANISH)


@pytest.mark.parametrize(
    "junk",
    [
        b'{"kind": "status", "id": 1, "mode": "idle", "q_rad": [Infinity], "spoon_xyz_m": [], "temperature_c": [],'
        b' "voltage_v": 12, "fault": null, "at": 0, "busy": false}',
        b'{"kind": "failed", "id": 1, "error": "SystemExit", "text": "bye"}',
        b'{"kind": "done", "id": 1, "q_rad": [0, 0, 0]}',
        b'{"kind": "ready", "now": true}',
        b'{"kind": "failed", "id": 1, "error": "ArmFault", "said": {"key": "no.such.text"}}',  # no words for it
    ],
)
def test_the_web_side_refuses_answers_that_are_not_valid(junk):
    with pytest.raises(messages.ProtocolError):
        sm.from_setup(junk)
