"""Calibration (taught poses, spoon offset, camera, hand-eye) and the citizen's profile and face size.

Every route needs a staff login. Every change is validated (a bad value is refused with 422
naming the field), saved and journalled with the logged-in staff account's name.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from bidvis.robot_ui.camera_setup import ViewResult
from bidvis.robot_ui.deps import Reader, Session, Staff, current_staff
from bidvis.robot_ui.schemas import Board, FaceDistance, ProfileChange, SpoonChange
from bidvis.robot_ui.texts import said
from controller.messages import Language, Message

router = APIRouter(prefix="/api", tags=["setup"], dependencies=[Depends(current_staff)])


def _guided(message: Message, guidance: Message, reader: Language) -> dict[str, Any]:
    """A calibration step's report and the next step: English (`message`, `guidance`) and in the reader's
    language (`text`, `guidance_text`)."""
    return {**said(message, reader), "guidance": str(guidance), "guidance_text": guidance.text(reader)}


def _view(result: ViewResult, reader: Language) -> dict[str, Any]:
    return {"accepted": result.accepted, "views": result.views, **_guided(result.message, result.next_step, reader)}


@router.post("/calibration/ready")
def teach_ready(staff: Staff, session: Session, reader: Reader) -> dict[str, Any]:
    """The arm's present pose becomes the ready pose."""
    calibration = session.calibration_steps.teach_ready(staff)
    return {**said(Message("done.ready_taught"), reader), "ready_pose_rad": list(calibration.ready_pose_rad)}


@router.post("/calibration/bowls/{bowl}/waypoints")
def teach_waypoint(bowl: int, staff: Staff, session: Session, reader: Reader) -> dict[str, Any]:
    """Append the arm's present pose to the scoop of `bowl` (0-based; the next number adds a bowl)."""
    calibration = session.calibration_steps.teach_waypoint(staff, bowl)
    return said(Message("done.waypoint_taught", n=len(calibration.bowls[bowl].waypoints_rad), bowl=bowl + 1), reader)


@router.post("/calibration/bowls/{bowl}/clear")
def clear_bowl(bowl: int, staff: Staff, session: Session, reader: Reader) -> dict[str, Any]:
    session.calibration_steps.clear_bowl(staff, bowl)
    return said(Message("done.bowl_cleared", bowl=bowl + 1), reader)


@router.put("/calibration/spoon")
def set_spoon(body: SpoonChange, staff: Staff, session: Session, reader: Reader) -> dict[str, Any]:
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
def camera_solve(staff: Staff, session: Session, reader: Reader) -> dict[str, Any]:
    rms = session.calibration_steps.solve_camera(staff)
    quality = Message("done.calibration_good" if rms <= 1.0 else "done.calibration_poor")
    return {**said(Message("done.camera_calibrated", rms_px=rms, quality=quality), reader), "rms_error_px": rms}


@router.post("/hand-eye/start")
def hand_eye_start(body: Board, session: Session, reader: Reader) -> dict[str, Any]:
    guidance = session.calibration_steps.start_hand_eye((body.columns, body.rows), body.square_mm)
    return {**_guided(Message("done.hand_eye_started"), guidance, reader), "views": 0}


@router.post("/hand-eye/capture")
def hand_eye_capture(session: Session, reader: Reader) -> dict[str, Any]:
    return _view(session.calibration_steps.capture_hand_eye_view(), reader)


@router.post("/hand-eye/solve")
def hand_eye_solve(staff: Staff, session: Session, reader: Reader) -> dict[str, Any]:
    pose = session.calibration_steps.solve_hand_eye(staff)
    return {
        **said(Message("done.camera_position_saved"), reader),
        "camera_to_base": [list(map(float, row)) for row in pose],
    }


@router.post("/profile/face-size")
def measure_face_size(body: FaceDistance, staff: Staff, session: Session, reader: Reader) -> dict[str, Any]:
    """The citizen faces the camera; `distance_m` is from the lens to their lips: face_scale saved."""
    size = session.profile_steps.measure_face_size(staff, body.distance_m)
    saved = Message("done.face_size_saved", scale=size.face_scale, used=size.views_used, views=size.views)
    return {
        **said(saved, reader),
        "face_scale": round(size.face_scale, 3),
        "views_used": size.views_used,
        "views": size.views,
    }


@router.put("/profile")
def set_profile(body: ProfileChange, staff: Staff, session: Session, reader: Reader) -> dict[str, Any]:
    profile = session.profile_steps.set_profile(staff, body.values)
    return {**said(Message("done.profile_saved"), reader), "profile": profile.model_dump(mode="json")}
