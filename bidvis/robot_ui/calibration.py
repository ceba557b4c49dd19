"""Calibration by staff: taught poses (ready pose, scoops), the spoon offset, the camera's
intrinsics (checkerboard, or its field of view when no board is at hand) and its place (hand-eye). Each step is saved and journalled through
`RobotDocuments`; none runs while a meal holds the arm."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from bidvis.robot_ui.arm_control import ArmControl
from bidvis.robot_ui.camera_fov import (
    DATASHEET_SPREAD_DEG,
    DEFAULT_HFOV_DEG,
    DEFAULT_SPREAD_DEG,
    FovKind,
    ImpliedError,
    horizontal_fov_deg,
    implied_error,
    intrinsics_from_fov,
)
from bidvis.robot_ui.camera_setup import CheckerboardViews, HandEyeViews, ViewResult
from bidvis.robot_ui.documents import RobotDocuments, check_operator
from bidvis.robot_ui.errors import FieldError, NotReady
from controller.causes import cause_message
from controller.config import RobotCalibration
from controller.invalid_values import InvalidValue
from controller.messages import Message
from vision import CameraIntrinsics
from vision.calibration import HandEyeCalibration
from vision.capture import Frame
from vision.errors import CalibrationError


class FrameSource(Protocol):
    """A camera: `read(timeout_s)` gives the newest frame or None (`vision.capture.CameraCapture`)."""

    def read(self, timeout_s: float = 0.0) -> Frame | None: ...


def read_image(camera: FrameSource | None) -> np.ndarray:
    """The camera's newest picture (BGR); `NotReady` without a camera or a picture within 1 s."""
    if camera is None:
        raise NotReady(Message("refusal.no_camera"))
    frame = camera.read(timeout_s=1.0)
    if frame is None:
        raise NotReady(Message("refusal.no_picture"))
    return frame.image


class CalibrationSteps:
    """The calibration steps of the staff page over `documents`, the `arm` and the `camera`."""

    def __init__(self, documents: RobotDocuments, arm: ArmControl, camera: FrameSource | None = None) -> None:
        self.documents = documents
        self.arm = arm
        self.camera = camera
        self.checkerboard: CheckerboardViews | None = None
        self.hand_eye: HandEyeViews | None = None

    def _change(self, operator: str, **kwargs: Any) -> RobotCalibration:
        self.arm.require_no_meal()
        return self.documents.change_calibration(operator, **kwargs)

    # -- taught poses and the spoon --------------------------------------------------------------

    def teach_ready(self, operator: str) -> RobotCalibration:
        """The arm's present joint angles become the ready pose."""
        q = self.arm.current_q()
        return self._change(operator, ready_pose_rad=tuple(float(v) for v in q))

    def teach_waypoint(self, operator: str, bowl: int) -> RobotCalibration:
        """Append the present joint angles to the scoop of `bowl` (a new bowl after the last one)."""
        q = tuple(float(v) for v in self.arm.current_q())
        bowls = [b.model_dump() for b in self.documents.calibration.bowls]
        if not 0 <= bowl <= len(bowls):
            raise FieldError("bowl", Message("refusal.no_such_bowl_to_teach", bowl=bowl, last=len(bowls)))
        if bowl == len(bowls):
            bowls.append({"name": f"bowl {bowl + 1}", "waypoints_rad": [q]})
        else:
            bowls[bowl]["waypoints_rad"] = [*bowls[bowl]["waypoints_rad"], q]
        return self._change(operator, bowls=bowls)

    def clear_bowl(self, operator: str, bowl: int) -> RobotCalibration:
        """Forget the scoop of `bowl`, to teach it again (its first waypoint is kept as the start)."""
        bowls = [b.model_dump() for b in self.documents.calibration.bowls]
        if not 0 <= bowl < len(bowls):
            raise FieldError("bowl", Message("refusal.no_such_bowl", bowl=bowl, last=len(bowls) - 1))
        bowls[bowl]["waypoints_rad"] = bowls[bowl]["waypoints_rad"][:1]
        return self._change(operator, bowls=bowls)

    def set_spoon(self, operator: str, values: dict[str, Any]) -> RobotCalibration:
        new = self._change(operator, spoon=values)
        self.arm.use_spoon(new.spoon)
        return new

    # -- camera intrinsics -----------------------------------------------------------------------

    def start_camera(self, board: tuple[int, int], square_mm: float) -> Message:
        self.arm.require_no_meal()
        self.checkerboard = CheckerboardViews(board, square_mm / 1000.0)
        return self.checkerboard.guidance()

    def capture_camera_view(self) -> ViewResult:
        self.arm.require_no_meal()
        if self.checkerboard is None:
            raise NotReady(Message("refusal.camera_calibration_not_started"))
        try:
            return self.checkerboard.add(read_image(self.camera))
        except CalibrationError as exc:
            raise NotReady(Message("refusal.calibration_failed", cause=cause_message(exc)), cause=exc) from exc

    def solve_camera(self, operator: str) -> float:
        """Compute and save the intrinsics; returns the RMS reprojection error (px)."""
        who = check_operator(operator)
        if self.checkerboard is None:
            raise NotReady(Message("refusal.camera_calibration_not_started"))
        try:
            intrinsics, rms = self.checkerboard.solve()
        except CalibrationError as exc:
            raise NotReady(Message("refusal.calibration_failed", cause=cause_message(exc)), cause=exc) from exc
        self._save_intrinsics(who, intrinsics, {"intrinsics_from": "checkerboard", "rms_error_px": round(rms, 3)})
        return rms

    def intrinsics_from_field_of_view(
        self, operator: str, fov_deg: float | None, kind: FovKind = FovKind.HORIZONTAL
    ) -> ImpliedError:
        """No checkerboard at hand: intrinsics from the camera's stated field of view (`fov_deg`,
        `kind`), or the default (`fov_deg` None), at the camera's picture size. Saved and
        journalled with where they came from and the error they imply (`camera_fov`)."""
        who = check_operator(operator)
        self.arm.require_no_meal()
        stated = fov_deg is not None
        fov, kind = (fov_deg, kind) if fov_deg is not None else (DEFAULT_HFOV_DEG, FovKind.HORIZONTAL)
        height, width = read_image(self.camera).shape[:2]
        try:
            hfov = horizontal_fov_deg(fov, kind, width, height)
        except InvalidValue as exc:
            raise FieldError("fov_deg", Message("refusal.invalid_value", cause=exc.message)) from None
        error = implied_error(hfov, DATASHEET_SPREAD_DEG if stated else DEFAULT_SPREAD_DEG)
        detail = {
            "intrinsics_from": "stated field of view" if stated else "default field of view",
            "fov_deg": fov,
            "fov_kind": kind.value,
            "implied_error": error.as_dict(),
        }
        self._save_intrinsics(who, intrinsics_from_fov(width, height, fov, kind), detail)
        return error

    def _save_intrinsics(self, who: str, intrinsics: CameraIntrinsics, detail: dict[str, Any]) -> None:
        """Save the intrinsics file and the calibration naming it, journalled with `detail`; the
        old file is put back if the calibration change is refused or undone."""
        path = self.documents.intrinsics_path()
        previous = path.read_bytes() if path.exists() else None
        intrinsics.save(path)
        camera = {**self.documents.calibration.camera.model_dump(), "intrinsics_ref": path.name}
        try:
            self._change(who, also_changed=("camera.intrinsics",), detail=detail, camera=camera)
        except Exception:  # the calibration change was refused or undone: so is the intrinsics file
            if previous is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(previous)
            raise

    # -- hand-eye --------------------------------------------------------------------------------

    def start_hand_eye(self, board: tuple[int, int], square_mm: float) -> Message:
        self.arm.require_no_meal()
        try:
            intrinsics = CameraIntrinsics.load(self.documents.intrinsics_path())
        except CalibrationError as exc:
            raise NotReady(Message("refusal.camera_not_calibrated", cause=cause_message(exc)), cause=exc) from exc
        self.hand_eye = HandEyeViews(board, square_mm / 1000.0, intrinsics)
        return self.hand_eye.guidance()

    def capture_hand_eye_view(self) -> ViewResult:
        if self.hand_eye is None:
            raise NotReady(Message("refusal.hand_eye_not_started"))
        q = self.arm.current_q()
        try:
            return self.hand_eye.add(read_image(self.camera), q)
        except CalibrationError as exc:
            raise NotReady(Message("refusal.calibration_failed", cause=cause_message(exc)), cause=exc) from exc

    def solve_hand_eye(self, operator: str) -> HandEyeCalibration:
        """Solve, check and save the camera's pose; a refused calibration (`NotReady`) says what to do."""
        if self.hand_eye is None:
            raise NotReady(Message("refusal.hand_eye_not_started"))
        try:
            result = self.hand_eye.solve()
        except CalibrationError as exc:
            raise NotReady(Message("refusal.calibration_failed", cause=cause_message(exc)), cause=exc) from exc
        camera = {
            **self.documents.calibration.camera.model_dump(),
            "camera_to_base": [list(map(float, row)) for row in result.pose],
        }
        self._change(operator, camera=camera)
        return result
