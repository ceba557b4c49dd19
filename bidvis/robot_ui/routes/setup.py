"""Calibration (taught poses, spoon offset, camera, hand-eye) and the citizen's profile and face size.

Every route needs a staff login. Every change is validated (a bad value is refused with 422
naming the field), saved and journalled with the logged-in staff account's name, and audited
with its old and new values (`audited`). While a meal runs every change is refused (409).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Depends

from bidvis.robot_ui.audit import AuditAction
from bidvis.robot_ui.camera_fov import FovKind
from bidvis.robot_ui.camera_setup import ViewResult
from bidvis.robot_ui.changes import changed_values
from bidvis.robot_ui.deps import Reader, Recorder, Session, Staff, StaffAudit, current_staff
from bidvis.robot_ui.schemas import Board, FaceDistance, FaceSizeOverride, FieldOfView, ProfileChange, SpoonChange
from bidvis.robot_ui.session import RobotSession
from bidvis.robot_ui.texts import said, staff_text
from controller.messages import Language, Message

router = APIRouter(prefix="/api", tags=["setup"], dependencies=[Depends(current_staff)])


def _documents(session: RobotSession) -> dict[str, dict[str, Any]]:
    """The calibration (with its camera intrinsics file) and the profile, as JSON data."""
    docs = session.documents
    calibration = docs.calibration.model_dump(mode="json", exclude={"changed_by", "changed_at"})
    path = docs.intrinsics_path()
    try:
        calibration["camera.intrinsics"] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
    except (OSError, ValueError):
        calibration["camera.intrinsics"] = "unreadable"
    return {"calibration": calibration, "profile": docs.profile.model_dump(mode="json")}


@contextmanager
def audited(record: Recorder, session: RobotSession) -> Iterator[None]:
    """Audit what the step in the block changes in the calibration and the profile (old, new)."""
    before = _documents(session)
    yield
    after = _documents(session)
    for document, action in (
        ("calibration", AuditAction.CALIBRATION_CHANGED),
        ("profile", AuditAction.PROFILE_CHANGED),
    ):
        old, new = changed_values(before[document], after[document])
        if old or new:
            record(action, target=document, old=old, new=new)


def _guided(message: Message, guidance: Message, reader: Language) -> dict[str, Any]:
    """A calibration step's report and the next step: English (`message`, `guidance`) and in the reader's
    language (`text`, `guidance_text`)."""
    return {**said(message, reader), "guidance": str(guidance), "guidance_text": guidance.text(reader)}


def _view(result: ViewResult, reader: Language) -> dict[str, Any]:
    return {
        "accepted": result.accepted,
        "views": result.views,
        "views_text": staff_text("js_views", reader, n=result.views),
        **_guided(result.message, result.next_step, reader),
    }


@router.post("/calibration/ready")
def teach_ready(staff: Staff, session: Session, record: StaffAudit, reader: Reader) -> dict[str, Any]:
    """The arm's present pose becomes the ready pose."""
    with audited(record, session):
        calibration = session.calibration_steps.teach_ready(staff)
    return {**said(Message("done.ready_taught"), reader), "ready_pose_rad": list(calibration.ready_pose_rad)}


@router.post("/calibration/bowls/{bowl}/waypoints")
def teach_waypoint(bowl: int, staff: Staff, session: Session, record: StaffAudit, reader: Reader) -> dict[str, Any]:
    """Append the arm's present pose to the scoop of `bowl` (0-based; the next number adds a bowl)."""
    with audited(record, session):
        calibration = session.calibration_steps.teach_waypoint(staff, bowl)
    return said(
        Message("done.waypoint_taught", waypoint=len(calibration.bowls[bowl].waypoints_rad), bowl=bowl + 1), reader
    )


@router.post("/calibration/bowls/{bowl}/clear")
def clear_bowl(bowl: int, staff: Staff, session: Session, record: StaffAudit, reader: Reader) -> dict[str, Any]:
    with audited(record, session):
        session.calibration_steps.clear_bowl(staff, bowl)
    return said(Message("done.bowl_cleared", bowl=bowl + 1), reader)


@router.put("/calibration/spoon")
def set_spoon(body: SpoonChange, staff: Staff, session: Session, record: StaffAudit, reader: Reader) -> dict[str, Any]:
    with audited(record, session):
        session.calibration_steps.set_spoon(staff, body.model_dump())
    return said(Message("done.spoon_saved"), reader)


@router.post("/camera/start")
def camera_start(body: Board, session: Session, reader: Reader) -> dict[str, Any]:
    guidance = session.calibration_steps.start_camera((body.columns, body.rows), body.square_mm)
    return {**_guided(Message("done.camera_calibration_started"), guidance, reader), "views": 0}


@router.post("/camera/capture")
def camera_capture(session: Session, reader: Reader) -> dict[str, Any]:
    return _view(session.calibration_steps.capture_camera_view(), reader)


@router.post("/camera/solve")
def camera_solve(staff: Staff, session: Session, record: StaffAudit, reader: Reader) -> dict[str, Any]:
    with audited(record, session):
        rms = session.calibration_steps.solve_camera(staff)
    quality = Message("done.calibration_good" if rms <= 1.0 else "done.calibration_poor")
    return {**said(Message("done.camera_calibrated", rms_px=rms, quality=quality), reader), "rms_error_px": rms}


@router.post("/camera/field-of-view")
def camera_from_field_of_view(
    body: FieldOfView, staff: Staff, session: Session, record: StaffAudit, reader: Reader
) -> dict[str, Any]:
    """No checkerboard at hand: intrinsics from the camera's stated field of view (or the default),
    saved with the error they imply."""
    kind = FovKind(body.kind)
    with audited(record, session):
        error = session.calibration_steps.intrinsics_from_field_of_view(staff, body.fov_deg, kind)
    if body.fov_deg is None:
        where = Message("done.default_field_of_view")
    elif kind is FovKind.DIAGONAL:
        where = Message("done.diagonal_field_of_view", fov_deg=body.fov_deg)
    else:
        where = Message("done.horizontal_field_of_view", fov_deg=body.fov_deg)
    saved = Message("done.intrinsics_from_field_of_view", where=where, error=error.message())
    return {**said(saved, reader), "implied_error": error.as_dict()}


@router.post("/hand-eye/start")
def hand_eye_start(body: Board, session: Session, reader: Reader) -> dict[str, Any]:
    guidance = session.calibration_steps.start_hand_eye((body.columns, body.rows), body.square_mm)
    return {**_guided(Message("done.hand_eye_started"), guidance, reader), "views": 0}


@router.post("/hand-eye/capture")
def hand_eye_capture(session: Session, reader: Reader) -> dict[str, Any]:
    return _view(session.calibration_steps.capture_hand_eye_view(), reader)


@router.post("/hand-eye/solve")
def hand_eye_solve(staff: Staff, session: Session, record: StaffAudit, reader: Reader) -> dict[str, Any]:
    with audited(record, session):
        result = session.calibration_steps.solve_hand_eye(staff)
    return {
        **said(Message("done.camera_position_saved", residual_mm=result.residual_mm), reader),
        "camera_to_base": [list(map(float, row)) for row in result.pose],
        "residual_mm": result.residual_mm,
    }


@router.post("/profile/face-size")
def measure_face_size(
    body: FaceDistance, staff: Staff, session: Session, record: StaffAudit, reader: Reader
) -> dict[str, Any]:
    """The citizen faces the camera; `distance_m` is from the lens to their lips: face_scale saved."""
    with audited(record, session):
        size = session.profile_steps.measure_face_size(staff, body.distance_m)
    return {
        **said(Message("done.face_size_saved", scale=size.face_scale, used=size.views_used, views=size.views), reader),
        "face_scale": round(size.face_scale, 3),
        "views_used": size.views_used,
        "views": size.views,
    }


@router.put("/profile")
def set_profile(
    body: ProfileChange, staff: Staff, session: Session, record: StaffAudit, reader: Reader
) -> dict[str, Any]:
    with audited(record, session):
        profile = session.profile_steps.set_profile(staff, body.values)
    return {**said(Message("done.profile_saved"), reader), "profile": profile.model_dump(mode="json")}


@router.post("/profile/face-size/override")
def override_face_size(
    body: FaceSizeOverride, staff: Staff, session: Session, record: StaffAudit, reader: Reader
) -> dict[str, Any]:
    """Set the face size by hand (or back to the mean face: null), with a reason: only when it
    truly cannot be measured. Journalled and audited as an override, not a measurement."""
    old = session.documents.profile.face_scale
    session.profile_steps.override_face_size(staff, body.face_scale, body.reason)
    record(
        AuditAction.FACE_SIZE_OVERRIDDEN, target="profile.face_scale", old=old, new=body.face_scale, reason=body.reason
    )
    if body.face_scale is None:
        return said(Message("done.face_size_reset_by_hand"), reader)
    return said(Message("done.face_size_set_by_hand", scale=body.face_scale), reader)
