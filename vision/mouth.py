"""Mouth geometry on the 468-point face mesh, and open/closed with hysteresis.

`open_ratio` = inner-lip gap (points 13-14) / inner mouth width (78-308); `width_px` is the outer
corner-to-corner width (61-291) and the centre is the middle of the inner-lip gap.
Thresholds belong to the landmark backend (the two runtimes give different ratios on the same
image); how they were chosen on the dev split is in docs/vision.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UPPER_INNER_LIP, LOWER_INNER_LIP = 13, 14
INNER_CORNER_RIGHT, INNER_CORNER_LEFT = 78, 308
OUTER_CORNER_RIGHT, OUTER_CORNER_LEFT = 61, 291
# Outer lip contour: lip colour here stays lip colour whether the mouth is open or closed.
OUTER_LIP_CONTOUR = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146)


@dataclass(frozen=True, slots=True)
class MouthGeometry:
    center_px: tuple[float, float]
    width_px: float
    open_ratio: float


def mouth_geometry(points: np.ndarray) -> MouthGeometry:
    """Centre, outer width and open ratio of the mouth from 468 mesh points (frame px)."""
    upper, lower = points[UPPER_INNER_LIP, :2], points[LOWER_INNER_LIP, :2]
    inner_width = float(np.linalg.norm(points[INNER_CORNER_LEFT, :2] - points[INNER_CORNER_RIGHT, :2]))
    gap = float(np.linalg.norm(lower - upper))
    centre = (upper + lower) / 2.0
    return MouthGeometry(
        (float(centre[0]), float(centre[1])),
        float(np.linalg.norm(points[OUTER_CORNER_LEFT, :2] - points[OUTER_CORNER_RIGHT, :2])),
        gap / inner_width if inner_width > 1e-6 else 0.0,
    )


@dataclass(frozen=True, slots=True)
class OpenThresholds:
    """Hysteresis on `open_ratio`: the mouth opens above `open_at` and closes below `close_at`."""

    open_at: float
    close_at: float

    def __post_init__(self) -> None:
        if not 0.0 < self.close_at <= self.open_at:
            raise ValueError(f"need 0 < close_at <= open_at, got close_at={self.close_at}, open_at={self.open_at}")

    def still_image(self, ratio: float) -> bool:
        """Open or closed for a single image (no history): the middle of the band decides."""
        return ratio >= (self.open_at + self.close_at) / 2.0


# Chosen on the dev split of ../shared/data/faces (docs/vision.md, "Open or closed").
OPENCV_THRESHOLDS = OpenThresholds(open_at=0.091, close_at=0.078)
MEDIAPIPE_THRESHOLDS = OpenThresholds(open_at=0.118, close_at=0.089)


class OpenHysteresis:
    """Per-frame open/closed state of one mouth stream."""

    def __init__(self, thresholds: OpenThresholds) -> None:
        self._thresholds = thresholds
        self.is_open = False

    def update(self, ratio: float) -> bool:
        if self.is_open and ratio < self._thresholds.close_at:
            self.is_open = False
        elif not self.is_open and ratio > self._thresholds.open_at:
            self.is_open = True
        return self.is_open

    def reset(self) -> None:
        self.is_open = False
