"""The one clock of a simulated meal: simulated time, optionally paced to the wall clock."""

from __future__ import annotations

import math
import time

from sim.virtual_bus import SimulatedClock


class PacedClock(SimulatedClock):
    """Simulated time that never runs ahead of wall time x `speed` (1.0 = real time): the loop's
    sleeps wait for the wall clock; bus reads still advance simulated time as they need."""

    def __init__(self, speed: float) -> None:
        if not (math.isfinite(speed) and speed > 0.0):
            raise ValueError(f"speed must be a positive factor of real time, got {speed}")
        super().__init__()
        self.speed = speed
        self._wall_start = time.monotonic()

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        ahead_s = self.now() / self.speed - (time.monotonic() - self._wall_start)
        if ahead_s > 0.0:
            time.sleep(ahead_s)


def meal_clock(speed: float | None) -> SimulatedClock:
    """The clock of a meal: as fast as the machine allows (`speed` None), or paced to `speed` x
    real time."""
    return SimulatedClock() if speed is None else PacedClock(speed)
