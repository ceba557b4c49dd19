"""Is the camera still showing the world? Judged by the content of its frames, never by its driver.

A stuck camera can keep delivering frames with fresh timestamps: the very same picture again, the
same picture with new sensor noise on it (a stuck image pipeline behind a live sensor), black or
white frames, or a covered lens. `ContentHealth.update(image, t)` looks at each frame shrunk to
cells of 4x4 pixels (grey, as floats) and says whether the frame may be used:

- BLACK / WHITE: the mean is below `dark_mean_max` / above `bright_mean_min` and the picture is flat;
- COVERED: a picture flatter than `flat_contrast_max` (standard deviation of the cells, grey
  levels) at any brightness: a finger, a cap, a cloth over the lens, or a lens fogged over;
- REPEATED: the same pixels as the frame before, `identical_after_frames` times in a row;
- STILL: for `still_window_s`, nothing in the picture has changed by more than its own noise
  allows. Each new frame is compared with every frame of the last `still_window_s`: the 99.5th
  percentile of the cells' absolute change, over the frame's pixel noise (the robust standard
  deviation of the full-resolution difference, at least 1 grey level), must exceed
  `min_motion_over_noise` at least once. Noise on a frozen picture averages out in the cells
  (ratio 0.3-0.7 at any noise level; 0.8-1.4 with JPEG blocks on it), while a live scene with a
  person in it changes some cells beyond its noise (1.6 or more on the quietest 0.4 s of every
  shared clip; docs/vision.md, "Stuck camera").

A healthy verdict needs none of these. STILL is decided after `still_window_s` (0.4 s by default,
so a stuck camera is reported within 0.5 s at 25 fps or more); the others at once. The cost is one
resize and a few subtractions per frame (no image is kept beyond the window, none leaves the process).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

CELL_PX = 4


class HealthReason(StrEnum):
    """Why the camera's picture may (OK) or may not be used."""

    OK = "ok"
    BLACK = "black"
    WHITE = "white"
    COVERED = "covered"
    REPEATED = "repeated"
    STILL = "still"


@dataclass(frozen=True, slots=True)
class HealthLimits:
    """Thresholds of `ContentHealth` (grey levels 0-255, seconds); see the module docstring."""

    dark_mean_max: float = 16.0
    bright_mean_min: float = 240.0
    flat_contrast_max: float = 6.0
    identical_after_frames: int = 3
    still_window_s: float = 0.3
    min_motion_over_noise: float = 1.45

    def __post_init__(self) -> None:
        if not (
            0.0 <= self.dark_mean_max < self.bright_mean_min <= 255.0
            and self.flat_contrast_max >= 0.0
            and self.identical_after_frames >= 2
            and 0.0 < self.still_window_s <= 5.0
            and self.min_motion_over_noise > 0.0
        ):
            raise ValueError(f"camera health limits out of range: {self}")


@dataclass(frozen=True, slots=True)
class CameraHealth:
    """The verdict on the latest frame: `reason` (OK when usable) and since when it has held (`since_t`)."""

    reason: HealthReason
    since_t: float

    @property
    def healthy(self) -> bool:
        return self.reason is HealthReason.OK


class ContentHealth:
    """The camera's health from its frames; one per camera (not thread-safe)."""

    def __init__(self, limits: HealthLimits | None = None) -> None:
        self.limits = limits or HealthLimits()
        self._cells: deque[tuple[float, np.ndarray, np.ndarray]] = deque()
        self._last: np.ndarray | None = None
        self._repeats = 0
        self.health = CameraHealth(HealthReason.OK, -math.inf)

    def reset(self) -> None:
        self._cells.clear()
        self._last = None
        self._repeats = 0
        self.health = CameraHealth(HealthReason.OK, -math.inf)

    def update(self, image_bgr: np.ndarray, t: float) -> CameraHealth:
        """Judge one frame (BGR uint8, captured at `t` seconds); returns and keeps the verdict."""
        reason = self._judge(image_bgr, t)
        if reason is not self.health.reason:
            self.health = CameraHealth(reason, t)
        return self.health

    def _judge(self, image_bgr: np.ndarray, t: float) -> HealthReason:
        limits = self.limits
        grey = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        same = self._last is not None and self._last.shape == grey.shape and np.array_equal(self._last, grey)
        self._repeats = self._repeats + 1 if same else 1
        self._last = grey
        height, width = grey.shape
        size = (max(1, width // CELL_PX), max(1, height // CELL_PX))
        cells = cv2.resize(grey.astype(np.float32), size, interpolation=cv2.INTER_AREA)
        mean, contrast = float(cells.mean()), float(cells.std())
        fine = grey[::CELL_PX, ::CELL_PX].astype(np.float32)  # every 4th pixel: its noise is not averaged
        noise = _noise(fine, self._cells[-1][2]) if self._cells else 1.0
        while len(self._cells) >= 2 and t - self._cells[1][0] >= limits.still_window_s:
            self._cells.popleft()  # keeps one frame at least `still_window_s` old, once there is one
        window_full = bool(self._cells) and t - self._cells[0][0] >= limits.still_window_s - 1e-9
        # Oldest first: in a live scene the first comparison already shows the motion.
        moved = any(_change(cells, old) > limits.min_motion_over_noise * noise for _, old, _ in self._cells)
        self._cells.append((t, cells, fine))
        if contrast <= limits.flat_contrast_max:
            if mean <= limits.dark_mean_max:
                return HealthReason.BLACK
            if mean >= limits.bright_mean_min:
                return HealthReason.WHITE
            return HealthReason.COVERED
        if self._repeats >= limits.identical_after_frames:
            return HealthReason.REPEATED
        if window_full and not moved:
            return HealthReason.STILL
        return HealthReason.OK


def _noise(fine: np.ndarray, old_fine: np.ndarray) -> float:
    """The pixel noise between two frames: robust standard deviation of their difference, at least 1 grey level."""
    if fine.shape != old_fine.shape:
        return 1.0
    difference = fine - old_fine
    return max(1.0, 1.4826 * float(np.median(np.abs(difference - np.median(difference)))))


def _change(cells: np.ndarray, old_cells: np.ndarray) -> float:
    """How far the most changed cells moved (99.5th percentile, grey levels); a new picture size is a change."""
    if cells.shape != old_cells.shape:
        return math.inf
    return float(np.percentile(np.abs(cells - old_cells), 99.5))
