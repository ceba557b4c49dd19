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

import cv2
import numpy as np

from controller.config import FACE_SCALE_MAX, FACE_SCALE_MIN
from vision import CameraIntrinsics, FaceModels, MouthStatus, MouthTracker, project
from vision.head_pose import face_scale_from_depth

LIPS_DISTANCE_MIN_M, LIPS_DISTANCE_MAX_M = 0.2, 1.5
FACE_SIZE_VIEWS = 5
MIN_FACE_VIEWS = 3  # of FACE_SIZE_VIEWS: fewer faces found is refused, not guessed from one picture
MIN_SPOON_VIEWS = 2  # the spoon at the lips, the head in two places: two measurements that must agree
MAX_SPOON_OFF_MOUTH = 0.5  # mouth widths between the projected spoon tip and the mouth the camera sees
MAX_SPOON_VIEWS_APART = 0.06  # largest over smallest face size of the views, minus one


class FaceSizeRefused(ValueError):
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
    with the spoon tip on its mouth, when the views disagree by more than `MAX_SPOON_VIEWS_APART`,
    or when the result lies outside the profile's bounds.
    """
    base_to_camera = np.linalg.inv(np.asarray(camera_to_base, dtype=float))
    scales, problems = [], []
    for number, view in enumerate(views, start=1):
        tip = base_to_camera[:3, :3] @ np.asarray(view.spoon_tip_base_m, dtype=float) + base_to_camera[:3, 3]
        scale, problem = _scale_at_spoon(view.image, tip, intrinsics, models)
        if scale is None:
            problems.append(f"view {number}: {problem}")
        else:
            scales.append(scale)
    if len(scales) < MIN_SPOON_VIEWS:
        raise FaceSizeRefused(
            f"{len(scales)} of {len(views)} views could be used, {MIN_SPOON_VIEWS} are needed"
            + (f" ({'; '.join(problems)})" if problems else "")
            + "; bring the spoon tip to the middle of the lips, the citizen facing the camera, and take the view again"
        )
    apart = max(scales) / min(scales) - 1.0
    if apart > MAX_SPOON_VIEWS_APART:
        raise FaceSizeRefused(
            f"the views give face sizes {100 * apart:.0f} % apart (at most {100 * MAX_SPOON_VIEWS_APART:.0f} %); "
            "the spoon may not have touched the lips each time: take the views again"
        )
    scale = statistics.median(scales)
    if not FACE_SCALE_MIN <= scale <= FACE_SCALE_MAX:
        raise FaceSizeRefused(
            f"the views give a face size of {scale:.2f} times the mean face, outside {FACE_SCALE_MIN:g} .. "
            f"{FACE_SCALE_MAX:g}; check the camera and hand-eye calibrations, then measure again"
        )
    return FaceSize(scale, len(scales), len(views), (min(scales), max(scales)))


def _scale_at_spoon(
    image: np.ndarray, tip_camera_m: np.ndarray, intrinsics: CameraIntrinsics, models: FaceModels
) -> tuple[float | None, str]:
    """This view's face_scale with the mouth at the spoon tip's depth, or None and why not."""
    if tip_camera_m[2] <= 0.0:
        return None, "the spoon tip is behind the camera by the hand-eye calibration; calibrate it again"
    tracker = MouthTracker(intrinsics=intrinsics, models=models)  # fresh: each picture is judged on its own
    observation = tracker.update(image, 0.0)
    points = tracker.landmarks_px
    if observation is None or observation.status is not MouthStatus.TRACKED or points is None:
        return None, "no face looking at the camera"
    spoon_px = project(tip_camera_m.tolist(), intrinsics)
    off = math.dist(spoon_px, observation.center_px) / observation.width_px
    if off > MAX_SPOON_OFF_MOUTH:
        return None, f"the spoon tip is {off:.1f} mouth widths from the mouth the camera sees"
    try:
        return face_scale_from_depth(points, intrinsics, float(tip_camera_m[2])), ""
    except ValueError as exc:  # no head pose in these landmarks
        return None, str(exc)


def check_lips_distance(lips_distance_m: float) -> None:
    if not (math.isfinite(lips_distance_m) and LIPS_DISTANCE_MIN_M <= lips_distance_m <= LIPS_DISTANCE_MAX_M):
        raise ImplausibleDistance(
            f"the distance from the camera lens to the lips must be {LIPS_DISTANCE_MIN_M:g} .. {LIPS_DISTANCE_MAX_M:g} m "
            f"(got {lips_distance_m!r}); measure it with a tape measure, in metres"
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
        raise FaceSizeRefused(
            f"the citizen's face was found in {len(scales)} of {len(images)} pictures; the citizen should sit at the "
            "table facing the camera, lips in view and not covered, in good light, then try again"
        )
    scale = statistics.median(scales)
    if not FACE_SCALE_MIN <= scale <= FACE_SCALE_MAX:
        raise ImplausibleDistance(
            f"{lips_distance_m:g} m gives a face size of {scale:.2f} times the mean face, outside "
            f"{FACE_SCALE_MIN:g} .. {FACE_SCALE_MAX:g}; measure the distance from the lens to the lips again"
        )
    return FaceSize(scale, len(scales), len(images), (min(scales), max(scales)))
