"""The clock of the robot's motion loops (`controller.schedule.run_at_rate`): real time."""

from __future__ import annotations

import time


class WallClock:
    """Monotonic time (the same clock in every process) and real sleeps."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


__all__ = ["WallClock"]
