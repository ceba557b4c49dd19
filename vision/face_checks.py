"""Which face is the user's, and whether a face can be used: size, position and head turn."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vision.face_detector import FaceDetection
from vision.observation import MouthStatus

NOSE_TIP, RIGHT_CHEEK, LEFT_CHEEK = 1, 234, 454
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263


@dataclass(frozen=True, slots=True)
class FaceChecks:
    """Limits on a usable face, as fractions of the frame width.

    `seat_center_fraction` is where the user's face is expected (x, y as fractions of the frame);
    a face narrower than `min_face_width_fraction` is too small (too far away); a face whose
    centre lies more than `max_offset_fraction` of the frame width from the seat position is too
    far to the side; `max_turn_asymmetry` bounds how far the nose tip may sit from the middle of
    the two cheeks (0 = frontal, 0.5 = nose on a cheek, i.e. profile; 0.3 is about 50 degrees of yaw).
    """

    seat_center_fraction: tuple[float, float] = (0.5, 0.5)
    min_face_width_fraction: float = 0.08
    max_offset_fraction: float = 0.42
    max_turn_asymmetry: float = 0.3

    def __post_init__(self) -> None:
        if not (0.0 < self.min_face_width_fraction < 1.0 and 0.0 < self.max_offset_fraction
                and 0.0 < self.max_turn_asymmetry <= 0.5):
            raise ValueError(f"face check limits out of range: {self}")

    def seat_px(self, frame_shape: Sequence[int]) -> tuple[float, float]:
        return self.seat_center_fraction[0] * frame_shape[1], self.seat_center_fraction[1] * frame_shape[0]

    def status(self, points: np.ndarray, frame_shape: Sequence[int]) -> MouthStatus:
        """`TRACKED` for a usable face, else the first reason it is not usable."""
        width = frame_shape[1]
        if face_width_px(points) < self.min_face_width_fraction * width:
            return MouthStatus.TOO_SMALL
        seat = self.seat_px(frame_shape)
        centre = points[:, :2].mean(axis=0)
        if math.hypot(centre[0] - seat[0], centre[1] - seat[1]) > self.max_offset_fraction * width:
            return MouthStatus.OFF_CENTER
        if abs(turn_asymmetry(points)) > self.max_turn_asymmetry:
            return MouthStatus.TURNED_AWAY
        return MouthStatus.TRACKED

    def pick_user(self, faces: Sequence[FaceDetection], frame_shape: Sequence[int]) -> FaceDetection | None:
        """The face most likely the user's when none is being followed: large and near the seat position."""
        if not faces:
            return None
        seat, width = self.seat_px(frame_shape), float(frame_shape[1])
        return min(faces, key=lambda f: (math.hypot(f.center_px[0] - seat[0], f.center_px[1] - seat[1]) - f.width_px) / width)


def face_width_px(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[LEFT_CHEEK, :2] - points[RIGHT_CHEEK, :2]))


def turn_asymmetry(points: np.ndarray) -> float:
    """Nose tip position between the cheeks along the eye line: 0 frontal, +-0.5 in profile."""
    axis = points[LEFT_EYE_OUTER, :2] - points[RIGHT_EYE_OUTER, :2]
    axis = axis / max(float(np.linalg.norm(axis)), 1e-6)
    right, left, nose = (float(points[i, :2] @ axis) for i in (RIGHT_CHEEK, LEFT_CHEEK, NOSE_TIP))
    span = left - right
    if abs(span) < 1e-6:
        return 0.5
    return (nose - right) / span - 0.5
