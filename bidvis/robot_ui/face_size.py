"""The citizen's face size (`CitizenProfile.face_scale`) from a tape-measured distance.

One camera sees the mouth's depth only through the face's size, so `vision.MouthTracker` needs
the citizen's face size relative to its mean face. Staff measure it once: the citizen sits at the
table facing the camera, staff measure the distance from the camera lens to the lips and enter it;
`measure_face_scale` finds the face in a few pictures, turns the distance into the mouth's depth
along the camera axis (the lips may sit off the picture's centre), runs
`vision.head_pose.face_scale_from_depth` on each and takes the median.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from controller.config import FACE_SCALE_MAX, FACE_SCALE_MIN
from controller.messages import Message, MessageError
from vision import CameraIntrinsics, FaceModels, MouthStatus, MouthTracker
from vision.head_pose import face_scale_from_depth

LIPS_DISTANCE_MIN_M, LIPS_DISTANCE_MAX_M = 0.2, 1.5
FACE_SIZE_VIEWS = 5
MIN_FACE_VIEWS = 3  # of FACE_SIZE_VIEWS: fewer faces found is refused, not guessed from one picture


class FaceSizeRefused(MessageError, ValueError):
    """The face size cannot be measured: the message says why and what to do."""


class ImplausibleDistance(FaceSizeRefused):
    """The entered distance, or the face size it gives, is not plausible."""


@dataclass(frozen=True)
class FaceSize:
    """The measured `face_scale` (median), from how many pictures, and its spread (min, max)."""

    face_scale: float
    views_used: int
    views: int
    spread: tuple[float, float]


def check_lips_distance(lips_distance_m: float) -> None:
    if not (math.isfinite(lips_distance_m) and LIPS_DISTANCE_MIN_M <= lips_distance_m <= LIPS_DISTANCE_MAX_M):
        raise ImplausibleDistance(
            Message(
                "refusal.lips_distance", min_m=LIPS_DISTANCE_MIN_M, max_m=LIPS_DISTANCE_MAX_M, got=repr(lips_distance_m)
            )
        )


def _depth_along_axis(lips_distance_m: float, center_px: tuple[float, float], intrinsics: CameraIntrinsics) -> float:
    """The mouth's depth (camera z) from its straight-line distance to the lens and its pixel."""
    x, y = cv2.undistortPoints(np.array([[center_px]], np.float64), intrinsics.matrix, intrinsics.dist_coeffs).reshape(
        2
    )
    return lips_distance_m / math.sqrt(1.0 + x * x + y * y)


def _scale_in(
    image: np.ndarray, intrinsics: CameraIntrinsics, lips_distance_m: float, models: FaceModels
) -> float | None:
    """This picture's face_scale, or None when it shows no face looking at the camera with its lips in view."""
    tracker = MouthTracker(intrinsics=intrinsics, models=models)  # fresh: each picture is judged on its own
    observation = tracker.update(image, 0.0)
    points = tracker.landmarks_px
    if observation is None or observation.status is not MouthStatus.TRACKED or points is None:
        return None
    try:
        return face_scale_from_depth(
            points, intrinsics, _depth_along_axis(lips_distance_m, observation.center_px, intrinsics)
        )
    except ValueError:  # no head pose in these landmarks
        return None


def measure_face_scale(
    images: Sequence[np.ndarray], intrinsics: CameraIntrinsics, lips_distance_m: float, models: FaceModels
) -> FaceSize:
    """The median face_scale over `images` with the lips `lips_distance_m` from the lens.

    Raises `ImplausibleDistance` for a distance outside 0.2 .. 1.5 m or a result outside the
    profile's bounds, `FaceSizeRefused` when fewer than `MIN_FACE_VIEWS` pictures show the face.
    """
    check_lips_distance(lips_distance_m)
    scales = [s for s in (_scale_in(image, intrinsics, lips_distance_m, models) for image in images) if s is not None]
    if len(scales) < min(MIN_FACE_VIEWS, len(images)) or not scales:
        raise FaceSizeRefused(Message("refusal.face_not_found", found=len(scales), pictures=len(images)))
    scale = statistics.median(scales)
    if not FACE_SCALE_MIN <= scale <= FACE_SCALE_MAX:
        raise ImplausibleDistance(
            Message(
                "refusal.face_scale_implausible",
                distance_m=lips_distance_m,
                scale=scale,
                min=FACE_SCALE_MIN,
                max=FACE_SCALE_MAX,
            )
        )
    return FaceSize(scale, len(scales), len(images), (min(scales), max(scales)))
