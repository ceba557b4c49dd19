"""Park and power down from the staff page, over TestClient on virtual servos (real time): the arm
goes to its rest pose, its torque goes off once it is measured there, and no meal starts until
staff send it to ready again; a park that cannot get there keeps the torque on and says why.
Hostile requests move nothing."""

from __future__ import annotations

import numpy as np
import pytest

from bidvis.robot_ui.audit import AuditAction
from controller.config import demo_calibration
from sim.faults import FaultKind, inject
from tests.bidvis.conftest import wait_for

ANNA = "owner-anna-1"
BO = "owner-bo-22"
JOINT_IDS = (11, 12, 13, 14)
REST = demo_calibration().rest_pose
# The park from the ready pose takes about 9 s at set-up speed; a loaded machine gets ample room.
PARK_TIMEOUT_S = 90.0


@pytest.fixture
def connected(staff):
    assert staff.post("/api/connect").status_code == 200
    return staff


def torque(robot) -> list[int]:
    with robot.bus.lock:
        return [robot.bus.servo(i).get("torque_enable") for i in JOINT_IDS]


def arm_status(client, lang: str = "en") -> dict:
    return client.get(f"/api/status?lang={lang}").json()["arm"]


def wait_for_arm(client, done, timeout_s: float, what: str) -> dict:
    """Poll the arm's status until `done(status)`; on a timeout, say where the arm stood and why."""
    seen: dict = {}

    def check() -> bool:
        seen["arm"] = arm_status(client)
        return done(seen["arm"])

    try:
        wait_for(check, timeout_s=timeout_s, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last status: {seen.get('arm')}") from None
    return seen["arm"]


def park_ended(client, robot) -> dict:
    """Wait for the park to end (the driver's move, set when staff asked for it, is over), then the
    arm's status. Not "until the mode is no longer moving": until the driver's next tick takes the
    park up the mode is still idle, and a busy machine can delay that tick past the first poll."""
    wait_for_arm(client, lambda _arm: not robot.session.arm.driver.busy, PARK_TIMEOUT_S, "the park to end")
    return arm_status(client)  # read after the move ended


def test_staff_park_the_arm_and_no_meal_starts_until_they_send_it_to_ready(connected, robot, app):
    answer = connected.post("/api/move/park", json={"owner": ANNA})
    assert answer.status_code == 200 and "rest pose" in answer.json()["message"]
    (entry,) = app.state.audit.entries(AuditAction.PARK)
    assert entry.actor == "staff:Anna" and entry.target == "rest pose"
    assert entry.new == list(REST) and len(entry.old) == 4

    parked = park_ended(connected, robot)
    assert parked["mode"] == "parked" and parked["fault"] is None and parked["parked"]
    assert np.allclose(parked["q_rad"], REST, atol=0.03)  # measured there before the torque went off
    assert torque(robot) == [0, 0, 0, 0]
    assert arm_status(connected, "da")["mode_text"] == "parkeret, motorerne slukket"

    refused = connected.post("/api/panel", json={"command": "select_bowl", "bowl": 0})
    assert refused.status_code == 409 and "parked" in refused.json()["detail"]
    refused = connected.post("/api/move/ready", json={"owner": ANNA})
    assert refused.status_code == 409 and "press Connect" in refused.json()["detail"]

    assert connected.post("/api/connect").status_code == 200  # the start-up: goal = present, torque on
    assert torque(robot) == [1, 1, 1, 1]
    refused = connected.post("/api/panel", json={"command": "select_bowl", "bowl": 0})
    assert refused.status_code == 409 and "Go to ready pose" in refused.json()["detail"]
    assert not robot.session.meal.running

    assert connected.post("/api/move/ready", json={"owner": ANNA}).status_code == 200
    ready = demo_calibration().ready_pose_rad
    wait_for_arm(
        connected,
        lambda a: a["mode"] == "idle" and np.allclose(a["q_rad"], ready, atol=0.05),
        PARK_TIMEOUT_S,
        "the arm at its ready pose",
    )
    assert connected.post("/api/panel", json={"command": "select_bowl", "bowl": 0}).status_code == 200
    wait_for(lambda: robot.session.meal.running, what="the meal")


def test_a_park_the_bus_breaks_off_keeps_the_torque_on_and_the_page_says_why(connected, robot):
    assert connected.post("/api/move/park", json={"owner": ANNA}).status_code == 200
    wait_for_arm(connected, lambda a: a["mode"] == "moving", 10.0, "the park to start")
    inject(robot.bus, FaultKind.SILENT_SERVO, servo_id=13)
    status = park_ended(connected, robot)
    assert status["mode"] == "fault" and "stopped answering" in status["fault"]
    assert "holdt op med at svare" in arm_status(connected, "da")["fault_text"]
    assert torque(robot) == [1, 1, 1, 1]


def test_an_arm_found_at_its_rest_pose_after_a_restart_starts_no_meal(staff, robot):
    """Parked, switched off, started again: the arm lies on its stops by the rest pose."""
    robot.bus.power_off()
    for servo_id, q in zip(JOINT_IDS, (0.0, -1.5, 1.4, -1.7), strict=True):
        robot.bus.plant.set_position(servo_id, q)
    robot.bus.power_on()
    assert staff.post("/api/connect").status_code == 200
    refused = staff.post("/api/panel", json={"command": "select_bowl", "bowl": 0})
    assert refused.status_code == 409 and "parked at its rest pose" in refused.json()["detail"]
    assert not robot.session.meal.running


def test_park_is_refused_while_a_meal_runs(connected, robot, app):
    assert connected.post("/api/panel", json={"command": "select_bowl", "bowl": 0}).status_code == 200
    refused = connected.post("/api/move/park", json={"owner": ANNA})
    assert refused.status_code == 409 and "meal is running" in refused.json()["detail"]
    assert robot.session.meal.running and torque(robot) == [1, 1, 1, 1]
    assert app.state.audit.entries(AuditAction.PARK) == []


def test_park_is_refused_while_another_screen_holds_the_arm(connected, robot, app):
    assert connected.post("/api/test-bite", json={"owner": BO, "bowl": 0}).status_code == 200
    refused = connected.post("/api/move/park", json={"owner": ANNA})
    assert refused.status_code == 409 and "Anna holds the arm (a test bite)" in refused.json()["detail"]
    (held,) = app.state.audit.entries(AuditAction.ARM_HELD)
    assert held.target == "rest pose" and held.detail == {"holder": "Anna", "use": "test_bite"}
    assert app.state.audit.entries(AuditAction.PARK) == []


def test_park_before_connect_is_refused(staff, robot):
    refused = staff.post("/api/move/park", json={"owner": ANNA})
    assert refused.status_code == 409 and "not connected" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("method", "body", "headers", "status"),
    [
        ("GET", None, {}, 405),
        ("PUT", {"owner": ANNA}, {}, 405),
        ("POST", None, {}, 422),
        ("POST", {}, {}, 422),
        ("POST", {"owner": 5}, {}, 422),
        ("POST", {"owner": "short"}, {}, 422),
        ("POST", {"owner": "owner-<script>"}, {}, 422),
        ("POST", {"owner": ANNA, "speed_m_s": 1.0}, {}, 422),
        ("POST", {"owner": ANNA}, {"Origin": "http://evil.example"}, 403),
        ("POST", {"owner": ANNA}, {"Sec-Fetch-Site": "cross-site"}, 403),
    ],
)
def test_hostile_park_requests_move_nothing(connected, robot, app, method, body, headers, status):
    answer = connected.request(method, "/api/move/park", json=body, headers=headers)
    assert answer.status_code == status
    assert not robot.session.arm.driver.busy and arm_status(connected)["mode"] == "idle"
    assert torque(robot) == [1, 1, 1, 1] and app.state.audit.entries(AuditAction.PARK) == []


def test_park_without_login_is_refused(client, robot):
    assert client.post("/api/move/park", json={"owner": ANNA}).status_code == 401
    assert robot.session.arm.driver is None


def test_a_disconnect_is_refused_while_another_screen_holds_the_arm(connected, robot, app):
    """A second screen cannot cut the first one's move short by closing the port: the disconnect
    takes the same lease as every set-up move (409 naming who, audited), and the holder may."""
    assert connected.post("/api/test-bite", json={"owner": BO, "bowl": 0}).status_code == 200
    refused = connected.post("/api/disconnect", json={"owner": ANNA})
    assert refused.status_code == 409 and "Anna holds the arm (a test bite)" in refused.json()["detail"]
    assert robot.session.arm.driver is not None  # still connected, the test bite goes on
    (held,) = app.state.audit.entries(AuditAction.ARM_HELD)
    assert held.target == "disconnect" and held.detail == {"holder": "Anna", "use": "test_bite"}
    assert app.state.audit.entries(AuditAction.TORQUE_OFF) == []
    assert connected.post("/api/disconnect", json={"owner": BO}).status_code == 200  # the holder may
    assert robot.session.arm.driver is None


@pytest.mark.parametrize("body", [None, {}, {"owner": 5}, {"owner": "short"}, {"owner": ANNA, "extra": 1}])
def test_a_disconnect_without_a_valid_owner_is_refused_and_keeps_the_arm(connected, robot, body):
    assert connected.post("/api/disconnect", json=body).status_code == 422
    assert robot.session.arm.driver is not None
