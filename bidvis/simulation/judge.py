"""What the simulator measures about the controller every control tick, beyond the physics'
own measurements (`sim.world.PhysicsMetrics`): advances toward the mouth on a stale observation,
and where the arm drove the spoon fastest (for the host-silence probe)."""

from __future__ import annotations

import math

import numpy as np

from controller.feeding import FeedingState
from controller.loop import MealController
from sim.safety_report import ReportLimits, StaleAdvanceCounter
from sim.world import World

TRACKING_STATES = (FeedingState.APPROACH, FeedingState.AT_MOUTH)


class StaleMouthJudge:
    """Counts ticks in which the commanded spoon moves toward the true mouth while what the
    controller knows of the mouth is stale (`sim.safety_report.StaleAdvanceCounter`)."""

    def __init__(self, limits: ReportLimits, period_s: float) -> None:
        self.counter = StaleAdvanceCounter(limits.stale_mouth_s, period_s)
        self._last_spoon: np.ndarray | None = None

    @property
    def count(self) -> int:
        return self.counter.count

    def after_step(self, physics: World, controller: MealController, now_s: float, content_t: float | None) -> None:
        """`content_t`: when the scene of the controller's newest mouth observation was captured."""
        spoon = np.asarray(controller.motion.spoon_pose[:3], dtype=float)
        if self._last_spoon is not None and controller.state in TRACKING_STATES:
            to_mouth = physics.mouth_position() - spoon
            distance = float(np.linalg.norm(to_mouth))
            velocity = (spoon - self._last_spoon) / controller.period_s
            toward = float(velocity @ to_mouth / distance) if distance > 1e-9 else 0.0
            # the age of what the controller knows: a frozen frame looks fresh but shows the past
            age = math.inf if content_t is None else now_s - content_t
            self.counter.update(age, toward)
        self._last_spoon = spoon


class FastestMotion:
    """Where in a meal the arm drove the spoon fastest (the worst moment for the host to fall
    silent): during the approach to the mouth, and in any state after the first second. The
    commanded speed, so that a spoon knocked about in its holder does not count. Pass `update` as
    a meal's `on_progress`."""

    def __init__(self) -> None:
        self.approach = (0.0, math.nan)  # (commanded spoon speed m/s, simulated time s)
        self.any_state = (0.0, math.nan)

    def update(self, meal, controller: MealController) -> None:
        speed, now = controller.motion.spoon_speed_m_s, meal.clock.now()
        if speed > self.approach[0] and controller.state in TRACKING_STATES:
            self.approach = (speed, now)
        if speed > self.any_state[0] and now > 1.0:
            self.any_state = (speed, now)
