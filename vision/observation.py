"""What vision hands to the controller: one observation of the user's mouth."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MouthStatus(StrEnum):
    """Why an observation may or may not be used to steer the spoon."""

    TRACKED = "tracked"  # the lips were seen in this frame
    OCCLUDED = "occluded"  # lips hidden (spoon); estimated from the rest of the face
    TOO_SMALL = "too_small"  # face too small (too far away) to trust
    OFF_CENTER = "off_center"  # face too far to the side of the seat position
    TURNED_AWAY = "turned_away"  # head turned too far to see the mouth

    @property
    def usable(self) -> bool:
        """True when the mouth estimate may steer the spoon (with its `confidence`)."""
        return self in (MouthStatus.TRACKED, MouthStatus.OCCLUDED)


@dataclass(frozen=True, slots=True)
class MouthObservation:
    """The user's mouth in one frame.

    `center_px` is the centre of the mouth opening and `width_px` the corner-to-corner width, in
    pixels; `open_ratio` is inner-lip gap over mouth width; `is_open` applies the backend's
    hysteresis; `confidence` in [0, 1] says how far to trust the estimate (it falls while the spoon
    hides the lips); `t` is the capture time of the frame (seconds, the caller's clock).
    `position_m` is the mouth in the camera frame (metres, x right, y down, z forward) when a
    camera calibration is loaded, else None.

    `status` says what was seen: only `status.usable` observations may steer the spoon; a face
    that is too small, too far to the side or turned away is reported with `confidence` 0.
    """

    center_px: tuple[float, float]
    width_px: float
    open_ratio: float
    is_open: bool
    confidence: float
    t: float
    position_m: tuple[float, float, float] | None = None
    status: MouthStatus = MouthStatus.TRACKED

    @property
    def usable(self) -> bool:
        """True when the mouth may steer the spoon: a usable status and a confidence above zero."""
        return self.status.usable and self.confidence > 0.0
