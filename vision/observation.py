"""What vision hands to the controller: one observation of the user's mouth."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MouthObservation:
    """The user's mouth in one frame.

    `center_px` is the centre of the mouth opening and `width_px` the corner-to-corner width, in
    pixels; `open_ratio` is inner-lip gap over mouth width; `is_open` applies the backend's
    hysteresis; `confidence` in [0, 1] says how far to trust the estimate (it falls while the spoon
    hides the lips); `t` is the capture time of the frame (seconds, the caller's clock).
    `position_m` is the mouth in the camera frame (metres, x right, y down, z forward) when a
    camera calibration is loaded, else None.
    """

    center_px: tuple[float, float]
    width_px: float
    open_ratio: float
    is_open: bool
    confidence: float
    t: float
    position_m: tuple[float, float, float] | None = None
