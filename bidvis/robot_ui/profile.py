"""The citizen's profile as staff set it: its fields, and the face size measured with the camera."""

from __future__ import annotations

from typing import Any

from bidvis.robot_ui.calibration import FrameSource, read_image
from bidvis.robot_ui.documents import RobotDocuments, check_operator
from bidvis.robot_ui.errors import FieldError, NotReady
from bidvis.robot_ui.face_size import (
    FACE_SIZE_VIEWS,
    FaceSize,
    FaceSizeRefused,
    ImplausibleDistance,
    check_lips_distance,
    measure_face_scale,
)
from controller.causes import cause_message
from controller.config import CitizenProfile
from controller.messages import Message
from vision import CameraIntrinsics, FaceModels
from vision.errors import CalibrationError

MIN_REASON_CHARS = 10


class ProfileSteps:
    """The profile steps of the staff page over `documents` and the `camera`."""

    def __init__(self, documents: RobotDocuments, camera: FrameSource | None = None) -> None:
        self.documents = documents
        self.camera = camera
        self._face_models: FaceModels | None = None  # loaded at the first face-size measurement

    def set_profile(
        self, operator: str, values: dict[str, Any], detail: dict[str, Any] | None = None
    ) -> CitizenProfile:
        """Change profile fields, validated with the rest of the profile, saved and journalled."""
        return self.documents.change_profile(operator, values, detail)

    def measure_face_size(self, operator: str, lips_distance_m: float) -> FaceSize:
        """The citizen's face size from `FACE_SIZE_VIEWS` pictures with their lips `lips_distance_m`
        from the camera lens (tape-measured): saved as the profile's `face_scale` and journalled."""
        who = check_operator(operator)
        try:
            check_lips_distance(lips_distance_m)
        except ImplausibleDistance as exc:
            raise FieldError("distance_m", exc.message) from None
        try:
            intrinsics = CameraIntrinsics.load(self.documents.intrinsics_path())
        except CalibrationError as exc:
            raise NotReady(Message("refusal.camera_not_calibrated", cause=cause_message(exc)), cause=exc) from exc
        images = [read_image(self.camera) for _ in range(FACE_SIZE_VIEWS)]
        if self._face_models is None:
            self._face_models = FaceModels.load()
        try:
            size = measure_face_scale(images, intrinsics, lips_distance_m, self._face_models)
        except ImplausibleDistance as exc:
            raise FieldError("distance_m", exc.message) from None
        except FaceSizeRefused as exc:
            raise NotReady(exc.message) from None
        self.documents.set_measured(
            who,
            "face_scale",
            round(size.face_scale, 3),
            detail={
                "how": "measured",
                "lips_distance_m": lips_distance_m,
                "views_used": size.views_used,
                "face_scale_spread": [round(v, 3) for v in size.spread],
            },
        )
        return size

    def override_face_size(self, operator: str, face_scale: float | None, reason: str) -> CitizenProfile:
        """Staff set the face size without measuring it (or back to the mean face, None): a
        separate action, refused without a reason, journalled with it."""
        why = " ".join(reason.split())
        if len(why) < MIN_REASON_CHARS:
            raise FieldError("reason", Message("refusal.override_reason", min=MIN_REASON_CHARS))
        return self.documents.set_measured(
            operator, "face_scale", face_scale, detail={"how": "override", "reason": why}
        )
