"""The arm during set-up: status, bus scan, connect, STOP, hold-to-move jogging, pose moves.

Every route needs a staff login (`deps.Staff`) except two that only ever stop the arm: STOP and
letting go of a jog button. Stopping is never refused, not even when a login has just expired.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends

from bidvis.robot_ui.deps import Reader, Session, Staff, current_staff
from bidvis.robot_ui.schemas import JogHold, JogRelease, Owner, TestBite
from bidvis.robot_ui.texts import said
from controller.messages import Message

router = APIRouter(prefix="/api", tags=["arm"], dependencies=[Depends(current_staff)])
stop_router = APIRouter(prefix="/api", tags=["arm"])


@router.get("/status")
def status(session: Session, reader: Reader) -> dict[str, Any]:
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
def connect(session: Session, reader: Reader) -> dict[str, Any]:
    session.arm.connect()
    return said(Message("done.connected"), reader)


@router.post("/disconnect")
def disconnect(session: Session, reader: Reader) -> dict[str, Any]:
    session.arm.disconnect()
    return said(Message("done.disconnected"), reader)


@stop_router.post("/stop")
def stop(session: Session, reader: Reader) -> dict[str, Any]:
    """STOP, from any screen and whoever holds the jog: the arm stops now."""
    return said(session.stop(), reader)


@router.post("/meal/clear-stop")
def clear_stop(staff: Staff, session: Session, reader: Reader) -> dict[str, Any]:
    """After a stop in a meal, staff check the citizen and the arm, then let the panel start again."""
    session.meal.clear_stop(staff)
    return said(Message("done.stop_cleared"), reader)


@router.post("/jog/hold")
def jog_hold(body: JogHold, staff: Staff, session: Session) -> dict[str, Any]:
    """Heartbeat of a held jog button; the joint moves only while these keep coming (every ~50 ms)."""
    moving = session.arm.hold(body.owner, staff, body.joint, body.direction, body.press)
    return {"moving": moving}


@stop_router.post("/jog/release")
def jog_release(body: JogRelease, session: Session) -> dict[str, Any]:
    session.arm.release(body.owner, body.press)
    return {"moving": False}


@router.post("/move/ready")
def move_ready(body: Owner, session: Session, reader: Reader) -> dict[str, Any]:
    session.arm.go_to_ready(body.owner)
    return said(Message("done.moving_to_ready"), reader)


@router.post("/test-bite")
def test_bite(body: TestBite, session: Session, reader: Reader) -> dict[str, Any]:
    """Ready pose, the taught scoop of the bowl, back to ready, at the citizen's speed."""
    session.arm.test_bite(body.bowl, body.owner)
    return said(Message("done.test_bite", bowl=body.bowl + 1), reader)
