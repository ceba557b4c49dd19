"""What the simulator measures about the controller every control tick, beyond the physics'
own measurements (`sim.world.PhysicsMetrics`): advances toward the mouth on a stale or
low-confidence observation, servo stops the controller did not notice, and where the arm drove
the spoon fastest (for the host-silence probe)."""

from __future__ import annotations

import math

import numpy as np

from controller.feeding import FeedingState
from controller.loop import MealController
from sim.safety_report import ReportLimits, StaleAdvanceCounter
from sim.servo import VirtualServo
from sim.world import World, vector_length

TRACKING_STATES = (FeedingState.APPROACH, FeedingState.AT_MOUTH)
NOTICED_STATES = (FeedingState.FAULT, FeedingState.PAUSED, FeedingState.ENDED)


class StaleMouthJudge:
    """Counts ticks in which the commanded spoon moves toward the true mouth while what the
    controller knows of the mouth is stale or not confident (`sim.safety_report.StaleAdvanceCounter`)."""

    def __init__(self, limits: ReportLimits, period_s: float) -> None:
        self.counter = StaleAdvanceCounter(limits.stale_mouth_s, period_s)
        self.min_confidence = limits.min_mouth_confidence
        self._last_spoon: np.ndarray | None = None
        self._unconfident_since: float | None = None

    @property
    def count(self) -> int:
        return self.counter.count

    def after_step(
        self,
        physics: World,
        controller: MealController,
        now_s: float,
        content_t: float | None,
        confidence: float | None,
    ) -> None:
        """`content_t`: when the scene of the controller's newest mouth observation was captured;
        `confidence`: that observation's confidence (None: no observation yet)."""
        if confidence is not None and confidence < self.min_confidence:
            if self._unconfident_since is None:
                self._unconfident_since = now_s
        else:
            self._unconfident_since = None
        spoon = np.asarray(controller.motion.spoon_pose[:3], dtype=float)
        if self._last_spoon is not None and controller.state in TRACKING_STATES:
            to_mouth = physics.mouth_position() - spoon
            distance = vector_length(to_mouth)
            velocity = (spoon - self._last_spoon) / controller.period_s
            toward = float(velocity @ to_mouth / distance) if distance > 1e-9 else 0.0
            # the age of what the controller knows: a frozen frame looks fresh but shows the past
            age = math.inf if content_t is None else now_s - content_t
            unconfident = 0.0 if self._unconfident_since is None else now_s - self._unconfident_since
            self.counter.update(age, toward, unconfident)
        self._last_spoon = spoon


class ArmStopJudge:
    """Counts servo stops the controller did not notice: a servo whose torque went off or whose
    Bus Watchdog tripped (it stops by itself) must find the controller no longer commanding
    motion (fault, pause or the meal's end) within `ReportLimits.notice_arm_stop_s` of the moment
    the servo stopped (`VirtualServo.stopped_s`, the servo's own time)."""

    def __init__(self, limits: ReportLimits, servos: list[VirtualServo]) -> None:
        self.notice_s = limits.notice_arm_stop_s
        self.servos = servos
        self.unnoticed = 0
        self._stopped_since: float | None = None
        self._counted = False

    def after_step(self, controller: MealController, now_s: float) -> None:
        stopped = [servo for servo in self.servos if not servo.torque_on or servo.get("bus_watchdog") < 0]
        if not stopped:
            self._stopped_since, self._counted = None, False
            return
        if self._stopped_since is None:
            # When the servo stopped on its own clock, not when this tick first sees it: a packet
            # held up by a USB stall moves the servos on to when it arrives, so a servo can show a
            # stop that comes later in the meal's time than `now_s`.
            times = [servo.stopped_s for servo in stopped if servo.stopped_s is not None]
            self._stopped_since = min(times) if times else now_s
        if controller.state in NOTICED_STATES or self._counted:
            return
        if now_s - self._stopped_since > self.notice_s:
            self.unnoticed += 1
            self._counted = True


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
