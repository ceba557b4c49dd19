"""Which face is the user's, and whether a face can be used: size, position and head turn."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vision.calibration import CameraIntrinsics
from vision.face_detector import FaceDetection
from vision.head_pose import estimate_head_pose
from vision.observation import MouthStatus

RIGHT_CHEEK, LEFT_CHEEK = 234, 454
NOMINAL_FOV_DEG = 60.0


@dataclass(frozen=True, slots=True)
class FaceChecks:
    """Limits on a usable face, as fractions of the frame width.

    `seat_center_fraction` is where the user's face is expected (x, y as fractions of the frame);
    a face narrower than `min_face_width_fraction` is too small (too far away); a face whose
    centre lies more than `max_offset_fraction` of the frame width from the seat position is too
    far to the side; a head turned (yaw) more than `max_yaw_deg` away from the camera is turned
    away. Yaw comes from solvePnP against the canonical face with a nominal 60-degree camera, so it
    needs no calibration (the focal length barely changes a rotation estimate).
    """

    seat_center_fraction: tuple[float, float] = (0.5, 0.5)
    min_face_width_fraction: float = 0.08
    max_offset_fraction: float = 0.42
    max_yaw_deg: float = 45.0

    def __post_init__(self) -> None:
        if not (
            0.0 < self.min_face_width_fraction < 1.0
            and self.max_offset_fraction > 0.0
            and 0.0 < self.max_yaw_deg <= 90.0
        ):
            raise ValueError(f"face check limits out of range: {self}")

    def seat_px(self, frame_shape: Sequence[int]) -> tuple[float, float]:
        return self.seat_center_fraction[0] * frame_shape[1], self.seat_center_fraction[1] * frame_shape[0]

    def status(self, points: np.ndarray, frame_shape: Sequence[int], yaw_deg: float | None = None) -> MouthStatus:
        """`TRACKED` for a usable face, else the first reason it is not usable.

        `yaw_deg` may be passed when known (the tracker measures it once per landmark-model run).
        """
        width = frame_shape[1]
        if face_width_px(points) < self.min_face_width_fraction * width:
            return MouthStatus.TOO_SMALL
        seat = self.seat_px(frame_shape)
        centre = (points[RIGHT_CHEEK, :2] + points[LEFT_CHEEK, :2]) / 2.0
        if math.hypot(centre[0] - seat[0], centre[1] - seat[1]) > self.max_offset_fraction * width:
            return MouthStatus.OFF_CENTER
        if abs(head_yaw_deg(points, frame_shape) if yaw_deg is None else yaw_deg) > self.max_yaw_deg:
            return MouthStatus.TURNED_AWAY
        return MouthStatus.TRACKED

    def pick_user(self, faces: Sequence[FaceDetection], frame_shape: Sequence[int]) -> FaceDetection | None:
        """The face most likely the user's when none is being followed: large and near the seat position."""
        if not faces:
            return None
        seat, width = self.seat_px(frame_shape), float(frame_shape[1])
        return min(
            faces, key=lambda f: (math.hypot(f.center_px[0] - seat[0], f.center_px[1] - seat[1]) - f.width_px) / width
        )


def face_width_px(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[LEFT_CHEEK, :2] - points[RIGHT_CHEEK, :2]))


def head_yaw_deg(points: np.ndarray, frame_shape: Sequence[int]) -> float:
    """Head turn about the vertical axis (degrees, 0 facing the camera), or 90 when no pose is found."""
    intrinsics = CameraIntrinsics.from_fov(int(frame_shape[1]), int(frame_shape[0]), NOMINAL_FOV_DEG)
    pose = estimate_head_pose(points, intrinsics)
    if pose is None:
        return 90.0
    # The face's forward axis (towards the camera is -z) in the camera frame.
    forward = -pose.T_camera_face[:3, 2]
    return math.degrees(math.atan2(forward[0], -forward[2]))
