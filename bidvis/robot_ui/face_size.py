"""The citizen's face size (`CitizenProfile.face_scale`), measured with the camera and the arm.

One camera sees the mouth's depth only through the face's size, so `vision.MouthTracker` needs
the citizen's face size relative to its mean face. `measure_face_scale_with_spoon` measures it
without a tape: staff bring the spoon tip to the middle of the citizen's lips (jogging the arm),
twice, with the citizen's head in two places; each time the arm knows where its spoon tip is
(forward kinematics of the measured joints) and the hand-eye calibration puts that point in the
camera frame, so the mouth's true depth is known while the camera sees the face.
`vision.head_pose.face_scale_from_depth` gives one face size per view. A view is refused when
the spoon tip, projected into the picture, is not on the mouth the camera sees (the spoon is
elsewhere, or the camera calibration is wrong); the measurement is refused when the views
disagree. `measure_face_scale` is the older way, from a tape-measured lens-to-lips distance.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from controller.config import FACE_SCALE_MAX, FACE_SCALE_MIN
from controller.messages import Message, MessageError
from vision import CameraIntrinsics, FaceModels, MouthStatus, MouthTracker, project
from vision.head_pose import face_scale_from_depth

LIPS_DISTANCE_MIN_M, LIPS_DISTANCE_MAX_M = 0.2, 1.5
FACE_SIZE_VIEWS = 5
MIN_FACE_VIEWS = 3  # of FACE_SIZE_VIEWS: fewer faces found is refused, not guessed from one picture
MIN_SPOON_VIEWS = 2  # the spoon at the lips, the head in two places: two measurements that must agree
MAX_SPOON_OFF_MOUTH = 0.5  # mouth widths between the projected spoon tip and the mouth the camera sees
MAX_SPOON_VIEWS_APART = 0.06  # largest over smallest face size of the views, minus one


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


@dataclass(frozen=True)
class SpoonAtLips:
    """One view for the face size: a picture taken while the spoon tip touches the middle of the
    citizen's lips, and where the arm's spoon tip then is (base frame, m: forward kinematics of the
    measured joint angles with the spoon offset)."""

    image: np.ndarray
    spoon_tip_base_m: tuple[float, float, float]


def measure_face_scale_with_spoon(
    views: Sequence[SpoonAtLips], intrinsics: CameraIntrinsics, camera_to_base: np.ndarray, models: FaceModels
) -> FaceSize:
    """The median face_scale over views of the spoon at the lips (see the module docstring).

    Raises `FaceSizeRefused` saying what to do when fewer than `MIN_SPOON_VIEWS` views show the face
    with the spoon tip on its mouth (counted by why not), when the views disagree by more than
    `MAX_SPOON_VIEWS_APART`, or when the result lies outside the profile's bounds.
    """
    base_to_camera = np.linalg.inv(np.asarray(camera_to_base, dtype=float))
    scales: list[float] = []
    unusable = {problem: 0 for problem in SpoonViewProblem}
    for view in views:
        tip = base_to_camera[:3, :3] @ np.asarray(view.spoon_tip_base_m, dtype=float) + base_to_camera[:3, 3]
        scale = _scale_at_spoon(view.image, tip, intrinsics, models)
        if isinstance(scale, SpoonViewProblem):
            unusable[scale] += 1
        else:
            scales.append(scale)
    if len(scales) < MIN_SPOON_VIEWS:
        raise FaceSizeRefused(
            Message(
                "refusal.face_size_spoon_views",
                used=len(scales),
                views=len(views),
                needed=MIN_SPOON_VIEWS,
                **{problem.value: count for problem, count in unusable.items()},
            )
        )
    apart = max(scales) / min(scales) - 1.0
    if apart > MAX_SPOON_VIEWS_APART:
        raise FaceSizeRefused(
            Message("refusal.face_size_views_apart", percent=100 * apart, limit=100 * MAX_SPOON_VIEWS_APART)
        )
    scale = statistics.median(scales)
    if not FACE_SCALE_MIN <= scale <= FACE_SCALE_MAX:
        raise FaceSizeRefused(
            Message("refusal.face_size_spoon_implausible", scale=scale, min=FACE_SCALE_MIN, max=FACE_SCALE_MAX)
        )
    return FaceSize(scale, len(scales), len(views), (min(scales), max(scales)))


class SpoonViewProblem(StrEnum):
    """Why a view of the spoon at the lips cannot be used."""

    NO_FACE = "no_face"  # no face looking at the camera (or no head pose in it)
    OFF_MOUTH = "off_mouth"  # the projected spoon tip is not on the mouth the camera sees
    BEHIND = "behind"  # the spoon tip is behind the camera by the hand-eye calibration


def _scale_at_spoon(
    image: np.ndarray, tip_camera_m: np.ndarray, intrinsics: CameraIntrinsics, models: FaceModels
) -> float | SpoonViewProblem:
    """This view's face_scale with the mouth at the spoon tip's depth, or why not."""
    if tip_camera_m[2] <= 0.0:
        return SpoonViewProblem.BEHIND
    tracker = MouthTracker(intrinsics=intrinsics, models=models)  # fresh: each picture is judged on its own
    observation = tracker.update(image, 0.0)
    points = tracker.landmarks_px
    if observation is None or observation.status is not MouthStatus.TRACKED or points is None:
        return SpoonViewProblem.NO_FACE
    spoon_px = project(tip_camera_m.tolist(), intrinsics)
    if math.dist(spoon_px, observation.center_px) > MAX_SPOON_OFF_MOUTH * observation.width_px:
        return SpoonViewProblem.OFF_MOUTH
    try:
        return face_scale_from_depth(points, intrinsics, float(tip_camera_m[2]))
    except ValueError:  # no head pose in these landmarks
        return SpoonViewProblem.NO_FACE


def check_lips_distance(lips_distance_m: float) -> None:
    if not (math.isfinite(lips_distance_m) and LIPS_DISTANCE_MIN_M <= lips_distance_m <= LIPS_DISTANCE_MAX_M):
        raise ImplausibleDistance(
            Message(
                "refusal.lips_distance",
                min_m=LIPS_DISTANCE_MIN_M,
                max_m=LIPS_DISTANCE_MAX_M,
                got=lips_distance_m,  # a number in the reader's way (the API refuses NaN before this)
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
