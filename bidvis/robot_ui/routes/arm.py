"""The arm during set-up: status, bus scan, connect, STOP, hold-to-move jogging, pose moves.

Every route needs a live staff login (`deps.Staff`) except two that only ever stop the arm: STOP
and letting go of a jog button, which staff may send even when their session has idled out, and
a paired panel may send too (`deps.Stopper`). Torque on and off, each jog press and its release,
pose moves, test bites, park and power down, STOP and clearing a stop are audited with the joint
angles before and after; a pose move, test bite or park refused because another screen holds the
arm is audited with the holder.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Request

from bidvis.robot_ui.arm import ArmError
from bidvis.robot_ui.audit import AuditAction, AuditError
from bidvis.robot_ui.deps import Reader, Session, Staff, StaffAudit, StopAudit, Watcher, current_staff
from bidvis.robot_ui.schemas import JogHold, JogRelease, Owner, TestBite
from bidvis.robot_ui.texts import said
from controller.messages import Message

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["arm"], dependencies=[Depends(current_staff)])
watch_router = APIRouter(prefix="/api", tags=["arm"])
stop_router = APIRouter(prefix="/api", tags=["arm"])
MAX_TRACKED_OWNERS = 256


def joints(session: Session) -> list[float] | None:
    """The joint angles last measured (rad, rounded), or None when the arm is not connected."""
    driver = session.arm.driver
    if driver is None:
        return None
    try:
        return [round(float(q), 4) for q in driver.measured_q()]
    except ArmError:  # not connected after all: nothing measured to record
        return None


@watch_router.get("/status")
def status(session: Session, staff: Watcher, reader: Reader) -> dict[str, Any]:
    """Live status: connection, joints, temperatures, jog owner, meal, calibration and profile."""
    return session.status(reader)


@router.post("/scan")
def scan(session: Session, reader: Reader, all_rates: bool = False) -> dict[str, Any]:
    """Find the servos on the port at the calibration's baud rate, or at every X-series rate
    (`all_rates=true`, slow). The arm must be disconnected."""
    found = session.arm.scan(all_rates)
    return {
        "servos": [asdict(s) for s in found],
        **said(Message("done.scan", count=len(found), port=session.arm.port), reader),
    }


@router.post("/connect")
def connect(session: Session, record: StaffAudit, reader: Reader) -> dict[str, Any]:
    session.arm.connect()
    record(AuditAction.TORQUE_ON, target="arm", new=joints(session))
    return said(Message("done.connected"), reader)


@router.post("/disconnect")
def disconnect(body: Owner, session: Session, record: StaffAudit, reader: Reader) -> dict[str, Any]:
    """Close the arm's port; refused while another screen holds the arm (409, naming who)."""
    old = joints(session)
    with record.refused_while_held("disconnect"):
        session.arm.disconnect(body.owner)
    record(AuditAction.TORQUE_OFF, target="arm", old=old)
    return said(Message("done.disconnected"), reader)


@stop_router.post("/stop")
def stop(session: Session, record: StopAudit, reader: Reader) -> dict[str, Any]:
    """STOP, from staff or the paired panel, whoever holds the arm: the arm stops now. The stop
    is journalled with its real source (who, from which client)."""
    old = joints(session)
    message = session.stop(source=record.actor.label)
    try:
        record(AuditAction.STOP, target="arm", old=old, result=str(message))
    except AuditError:  # the arm has stopped: say so, whatever the audit trail's trouble
        log.exception("STOP by %s not audited", record.actor.label)
    return said(message, reader)


@router.post("/meal/clear-stop")
def clear_stop(staff: Staff, session: Session, record: StaffAudit, reader: Reader) -> dict[str, Any]:
    """After a stop in a meal, staff check the citizen and the arm, then let the panel start again."""
    old = session.meal.status()["state"]
    session.meal.clear_stop(staff)
    record(AuditAction.CLEAR_STOP, target="meal", old=old, new=session.meal.status()["state"])
    return said(Message("done.stop_cleared"), reader)


def _first_beat(request: Request, owner: str, press: int) -> bool:
    """True for the first heartbeat of a press (what the audit records; not every heartbeat)."""
    presses: dict[str, int] = request.app.state.jog_presses
    if presses.get(owner) == press:
        return False
    presses.pop(owner, None)
    presses[owner] = press
    while len(presses) > MAX_TRACKED_OWNERS:
        presses.pop(next(iter(presses)))
    return True


@router.post("/jog/hold")
def jog_hold(body: JogHold, request: Request, staff: Staff, session: Session, record: StaffAudit) -> dict[str, Any]:
    """Heartbeat of a held jog button; the joint moves only while these keep coming (every ~50 ms)."""
    old = joints(session)
    moving = session.arm.hold(body.owner, staff, body.joint, body.direction, body.press)
    if moving and _first_beat(request, body.owner, body.press):
        record(AuditAction.JOG, target=f"joint {body.joint}", old=old, direction=body.direction, press=body.press)
    return {"moving": moving}


@stop_router.post("/jog/release")
def jog_release(body: JogRelease, session: Session, record: StopAudit) -> dict[str, Any]:
    session.arm.release(body.owner, body.press)
    try:
        record(AuditAction.JOG_RELEASED, target="arm", new=joints(session), press=body.press)
    except AuditError:  # the joint has stopped: say so
        log.exception("jog release by %s not audited", record.actor.label)
    return {"moving": False}


@router.post("/move/ready")
def move_ready(body: Owner, staff: Staff, session: Session, record: StaffAudit, reader: Reader) -> dict[str, Any]:
    old = joints(session)
    with record.refused_while_held("ready pose"):
        session.arm.go_to_ready(body.owner, staff)
    record(AuditAction.POSE_MOVE, target="ready pose", old=old, new=list(session.documents.calibration.ready_pose_rad))
    return said(Message("done.moving_to_ready"), reader)


@router.post("/move/park")
def move_park(body: Owner, staff: Staff, session: Session, record: StaffAudit, reader: Reader) -> dict[str, Any]:
    """Park and power down: to the rest pose at set-up speed, then torque off once the measured
    arm is there (the status says `parked`, or why not: a fault, the torque on)."""
    old = joints(session)
    with record.refused_while_held("rest pose"):
        session.arm.park(body.owner, staff)
    record(AuditAction.PARK, target="rest pose", old=old, new=list(session.documents.calibration.rest_pose))
    return said(Message("done.parking"), reader)


@router.post("/test-bite")
def test_bite(body: TestBite, staff: Staff, session: Session, record: StaffAudit, reader: Reader) -> dict[str, Any]:
    """Ready pose, the taught scoop of the bowl, back to ready, at the citizen's speed."""
    old = joints(session)
    with record.refused_while_held(f"test bite bowl {body.bowl}"):
        session.arm.test_bite(body.bowl, body.owner, staff)
    record(AuditAction.TEST_BITE, target=f"bowl {body.bowl}", old=old, speed_m_s=session.documents.profile.speed_m_s)
    return said(Message("done.test_bite", bowl=body.bowl + 1), reader)
