"""Camera intrinsics without a checkerboard: from the camera's stated field of view, or a default.

A checkerboard calibration (`camera_setup.CheckerboardViews`) measures the focal length, the
principal point and the lens distortion. Without a board, `intrinsics_from_fov` makes an ideal
camera (square pixels, principal point in the middle, no distortion) from the field of view the
camera's datasheet states (horizontal or diagonal), or `DEFAULT_HFOV_DEG` when it is not known.
`implied_error` says what that costs, for the staff page and the journal:

- the focal length is off by the field of view's uncertainty (`DATASHEET_SPREAD_DEG` for a stated
  one, `DEFAULT_SPREAD_DEG` for the default: USB webcams range about 55-85 degrees horizontally);
- the mouth's depth comes from the face's size in pixels, `z = f * size / pixels`. With the face
  size measured (staff page step 7) under the same intrinsics, `f` cancels: the depth is right
  whatever the focal length, to about 1 % from 0.3 to 0.6 m (the face's relief; see
  tests/bidvis/test_camera_fov.py). Without it, the depth is off by the focal length's error;
- the mouth's sideways position, `x = (u - cx) * z / f`, is off by the focal length's error times
  its distance from the picture's middle: nothing at the middle, most at the edge;
- an uncorrected lens distortion bends points towards (or away from) the middle by about
  `k1 * r^2` at normalised radius `r`; `K1_BOUND` is an assumed bound for webcam lenses.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import StrEnum

from controller.invalid_values import InvalidValue
from controller.messages import Message
from vision import CameraIntrinsics

DEFAULT_HFOV_DEG = 70.0
DEFAULT_SPREAD_DEG = 15.0
DATASHEET_SPREAD_DEG = 3.0
K1_BOUND = 0.1  # |k1| of a typical webcam lens: an assumption, checked only by a checkerboard calibration
TYPICAL_DISTANCE_M = 0.45  # camera to the citizen's mouth at the table
OFF_CENTRE_M = 0.10  # the mouth this far from the picture's middle, sideways
FOV_LIMITS_DEG = (20.0, 150.0)


class FovKind(StrEnum):
    """Which field of view a datasheet states."""

    HORIZONTAL = "horizontal"
    DIAGONAL = "diagonal"


def horizontal_fov_deg(fov_deg: float, kind: FovKind, width: int, height: int) -> float:
    """The horizontal field of view of a `width` x `height` picture with the stated one (`InvalidValue`,
    a ValueError, for a field of view outside `FOV_LIMITS_DEG` or an empty picture)."""
    low, high = FOV_LIMITS_DEG
    if not (math.isfinite(fov_deg) and low <= fov_deg <= high):
        raise InvalidValue(Message("invalid.field_of_view", low_deg=low, high_deg=high, got=fov_deg))
    if width <= 0 or height <= 0:
        raise InvalidValue(Message("invalid.picture_size", width=width, height=height))
    if kind is FovKind.HORIZONTAL:
        return fov_deg
    half_diagonal = math.tan(math.radians(fov_deg) / 2.0)
    return math.degrees(2.0 * math.atan(half_diagonal * width / math.hypot(width, height)))


def intrinsics_from_fov(
    width: int, height: int, fov_deg: float, kind: FovKind = FovKind.HORIZONTAL
) -> CameraIntrinsics:
    """An ideal camera of `width` x `height` pixels with the stated field of view."""
    return CameraIntrinsics.from_fov(width, height, horizontal_fov_deg(fov_deg, kind, width, height))


@dataclass(frozen=True)
class ImpliedError:
    """What intrinsics from a field of view may be off by (see the module docstring)."""

    hfov_deg: float
    spread_deg: float
    focal_length_error: float  # fraction, the larger of both sides
    depth_error_without_face_size: float  # fraction; 0 with the face size measured
    sideways_error_off_centre_m: float  # the mouth OFF_CENTRE_M from the middle, TYPICAL_DISTANCE_M away
    sideways_error_at_edge_m: float  # the mouth at the picture's side edge
    distortion_error_at_edge_m: float  # from an uncorrected lens, |k1| <= K1_BOUND

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}

    def message(self) -> Message:
        """What the error means for the mouth's position, for staff (`done.implied_error`)."""
        return Message(
            "done.implied_error",
            focal_pct=round(self.focal_length_error * 100),
            depth_pct=round(self.depth_error_without_face_size * 100),
            distance_m=TYPICAL_DISTANCE_M,
            off_centre_mm=round(self.sideways_error_off_centre_m * 1000),
            off_centre_cm=round(OFF_CENTRE_M * 100),
            edge_mm=round(self.sideways_error_at_edge_m * 1000),
            distortion_mm=round(self.distortion_error_at_edge_m * 1000),
        )

    def summary(self) -> str:
        """The `message` in English (the journal, logs)."""
        return str(self.message())


def implied_error(hfov_deg: float, spread_deg: float, distance_m: float = TYPICAL_DISTANCE_M) -> ImpliedError:
    """The error of an ideal camera with horizontal field of view `hfov_deg`, when the true one
    may be `spread_deg` either side (see the module docstring)."""
    low, high = FOV_LIMITS_DEG
    half = math.radians(hfov_deg) / 2.0
    focal = 1.0 / math.tan(half)
    candidates = [max(low, min(high, hfov_deg + s)) for s in (-spread_deg, spread_deg)]
    error = max(abs(1.0 / math.tan(math.radians(c) / 2.0) / focal - 1.0) for c in candidates)
    edge_m = distance_m * math.tan(half)  # the picture's side edge, sideways
    return ImpliedError(
        hfov_deg=hfov_deg,
        spread_deg=spread_deg,
        focal_length_error=error,
        depth_error_without_face_size=error,
        sideways_error_off_centre_m=OFF_CENTRE_M * error,
        sideways_error_at_edge_m=edge_m * error,
        distortion_error_at_edge_m=edge_m * K1_BOUND * math.tan(half) ** 2,
    )
