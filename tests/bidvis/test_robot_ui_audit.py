"""Everything done to the robot is in its audit trail: who, when, from which client, old and new
values; the trail is private, append-only, and an action it cannot record is refused."""

from __future__ import annotations

import sqlite3
import stat
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from bidvis.robot_ui.app import create_app
from bidvis.robot_ui.audit import AUDIT_FILE, AuditAction, AuditError, AuditLog
from tests.bidvis.conftest import ROBOT_URL, wait_for

OWNER = "owner-anna-1"


@pytest.fixture
def app(robot, tmp_path, make_staff_login):
    return create_app(robot.session, make_staff_login(tmp_path))


@pytest.fixture
def staff(app, log_in):
    with TestClient(app, base_url=ROBOT_URL, client=("10.0.0.7", 40000)) as client:
        assert log_in(client).status_code == 303
        yield client


def entries(app, action):
    return app.state.audit.entries(action)


def test_torque_on_and_off_are_audited_with_the_joint_angles(staff, app):
    assert staff.post("/api/connect").status_code == 200
    assert staff.post("/api/disconnect", json={"owner": OWNER}).status_code == 200
    (on,), (off,) = entries(app, AuditAction.TORQUE_ON), entries(app, AuditAction.TORQUE_OFF)
    assert on.actor == off.actor == "staff:Anna" and on.client == off.client == "10.0.0.7"
    assert len(on.new) == 4 and len(off.old) == 4
    assert abs(on.at - datetime.now(UTC)) < timedelta(seconds=30)


def test_each_jog_press_is_audited_once_with_where_the_arm_was_and_where_it_stopped(staff, app, robot):
    staff.post("/api/connect")
    for press in (1, 2):
        for _ in range(6):  # heartbeats of one press
            assert (
                staff.post(
                    "/api/jog/hold", json={"owner": OWNER, "joint": 2, "direction": -1, "press": press}
                ).status_code
                == 200
            )
            time.sleep(0.05)
        staff.post("/api/jog/release", json={"owner": OWNER, "press": press})
    jogs, releases = entries(app, AuditAction.JOG), entries(app, AuditAction.JOG_RELEASED)
    assert [(j.target, j.detail["direction"], j.detail["press"]) for j in jogs] == [
        ("joint 2", -1, 1),
        ("joint 2", -1, 2),
    ]
    assert len(releases) == 2 and releases[-1].new != jogs[0].old  # the arm moved


def test_pose_moves_test_bites_stop_and_clear_stop_are_audited(staff, app, robot):
    staff.post("/api/connect")
    assert staff.post("/api/move/ready", json={"owner": OWNER}).status_code == 200
    wait_for(lambda: not robot.session.arm.driver.busy, timeout_s=30, what="the ready pose")
    assert staff.post("/api/test-bite", json={"owner": OWNER, "bowl": 0}).status_code == 200
    assert staff.post("/api/stop").status_code == 200
    (move,), (bite,), (stop,) = (
        entries(app, a) for a in (AuditAction.POSE_MOVE, AuditAction.TEST_BITE, AuditAction.STOP)
    )
    assert move.target == "ready pose" and move.new == list(robot.session.documents.calibration.ready_pose_rad)
    assert bite.target == "bowl 0" and len(bite.old) == 4
    assert stop.actor == "staff:Anna" and stop.detail["result"] == "arm stopped"

    staff.post("/api/panel", json={"command": "select_bowl", "bowl": 0})
    wait_for(lambda: robot.journal.open_meal_id is not None, what="the meal")
    staff.post("/api/stop")
    wait_for(lambda: not robot.session.meal.running, timeout_s=15, what="the meal to stop")
    assert staff.post("/api/meal/clear-stop").status_code == 200
    (start,) = entries(app, AuditAction.MEAL_START)
    assert start.actor == "staff:Anna" and start.client == "10.0.0.7" and start.detail["bowl"] == 0
    (cleared,) = entries(app, AuditAction.CLEAR_STOP)
    assert cleared.old == "fault" and cleared.new is None


def test_calibration_changes_are_audited_with_old_and_new_values(staff, app, robot):
    old = robot.session.documents.calibration.spoon.model_dump()
    assert staff.put("/api/calibration/spoon", json={"x_m": 0.06, "z_m": 0.01, "pitch_rad": 0.1}).status_code == 200
    (entry,) = entries(app, AuditAction.CALIBRATION_CHANGED)
    assert entry.old["spoon"] == old and entry.new["spoon"] == {"x_m": 0.06, "z_m": 0.01, "pitch_rad": 0.1}
    assert entry.new["port"] == robot.port


def test_the_trail_is_private_and_survives_a_restart(tmp_path):
    log = AuditLog(tmp_path / AUDIT_FILE)
    log.record(AuditAction.LOGIN, actor="staff:Anna", client="10.0.0.7")
    log.close()
    assert stat.S_IMODE((tmp_path / AUDIT_FILE).stat().st_mode) == 0o600
    again = AuditLog(tmp_path / AUDIT_FILE)
    again.record(AuditAction.LOGOUT, actor="staff:Anna", client="10.0.0.7", detail={"why": "done"})
    assert [e.action for e in again.entries()] == [AuditAction.LOGIN, AuditAction.LOGOUT]
    again.close()


def test_hostile_values_are_clipped_and_stored_as_json(tmp_path):
    log = AuditLog(tmp_path / AUDIT_FILE)
    log.record(
        AuditAction.LOGIN_FAILED, actor="staff:" + "x" * 10_000, client="'; DROP TABLE audit; --", old={"ø": [1, 2]}
    )
    (entry,) = log.entries()
    assert len(entry.actor) == 200 and entry.client == "'; DROP TABLE audit; --" and entry.old == {"ø": [1, 2]}
    with pytest.raises(ValueError):
        log.record(AuditAction.LOGIN, actor="a", client="b", new=float("nan"))
    log.close()


def test_a_foreign_or_broken_file_is_refused(tmp_path):
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(AuditError, match="another kind"):
        AuditLog(other)
    broken = tmp_path / "broken.sqlite3"
    broken.write_bytes(b"not a database" * 100)
    with pytest.raises(AuditError):
        AuditLog(broken)


def test_while_the_trail_cannot_record_actions_are_refused_but_never_stop(staff, app, robot):
    assert staff.post("/api/connect").status_code == 200
    app.state.audit.close()  # the trail is gone (a full disk, a broken file)
    answer = staff.post("/api/move/ready", json={"owner": OWNER})
    assert answer.status_code == 503 and "audit trail" in answer.json()["detail"]  # done, but not audited: said so
    refused = staff.post("/api/disconnect", json={"owner": OWNER})
    assert refused.status_code == 503 and robot.session.arm.driver is not None  # refused before it started
    assert staff.post("/api/panel", json={"command": "select_bowl", "bowl": 0}).status_code == 503
    assert not robot.session.meal.running
    assert staff.post("/api/stop").status_code == 200  # STOP is never refused
