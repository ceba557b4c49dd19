"""The measured-state checks of every tick, one set for every motion of the arm.

The meal (`controller.loop.MealController`) and the staff page's set-up moves
(`bidvis.robot_ui.arm.ArmDriver`) judge each tick's sync read with the same `ArmGuard` over the
same `SafetySupervisor`, in the same order:

1. a failed read: a servo's Alert (its hardware error); a bus the servos have not heard for their
   Bus Watchdog's time (they may have stopped by themselves); failed reads in a row;
2. a read answered: only after failed reads as long as the watchdog (the same silence); what the
   servos say of themselves (hardware error, watchdog tripped, torque off); the measured joints
   too far from the command (following error); temperature and supply voltage.

Each verdict comes with the `Check` that gave it, so that a caller can say it in its own words.
Contact is judged by the caller on the same supervisor's detector: what current to expect depends
on the motion the caller commands.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import numpy as np

from controller.config import SafetyLimits
from controller.safety import (
    OK,
    SafetySupervisor,
    Verdict,
    check_bus_silence,
    check_servo_health,
    check_servo_state,
    classify_hardware_error,
)
from controller.servos import JointReading, MissingReply
from firmware_bridge.errors import BridgeError, BusTimeout, CRCError, ProtocolError, ServoError


class Check(StrEnum):
    """Which check of `ArmGuard.check` gave a verdict."""

    SERVO_ALERT = "servo_alert"  # a failed read whose answer had the Alert bit set
    BUS_SILENCE = "bus_silence"  # the servos unheard for their watchdog's time
    BUS_ERRORS = "bus_errors"  # too many failed reads in a row
    SERVO_STATE = "servo_state"  # hardware error, watchdog tripped or torque off in the reading
    FOLLOWING = "following"  # the measured joints too far from the command
    HEALTH = "health"  # temperature or supply voltage


def servos_heard(error: BridgeError | None) -> bool:
    """Whether a failed read still shows the servos heard it: an answer came back, if garbled,
    partial or an error status. Only a read that nothing answered (or a port that failed) does not."""
    if isinstance(error, BusTimeout):
        return error.received > 0
    return isinstance(error, (CRCError, ProtocolError, ServoError, MissingReply))


class ArmGuard:
    """The measured-state checks of one tick (see the module doc) over `supervisor`.

    `joint_ids`: the joint servos, in joint order; `limits`: the following-error bound and the
    servos' temperature and supply limits; `watchdog_s`: the servos' Bus Watchdog as this motion
    armed it (the meal's and set-up's differ).
    """

    def __init__(
        self, joint_ids: Sequence[int], supervisor: SafetySupervisor, limits: SafetyLimits, watchdog_s: float
    ) -> None:
        self.joint_ids = tuple(joint_ids)
        self.supervisor = supervisor
        self.limits = limits
        self.watchdog_s = watchdog_s
        self.last_heard_s: float | None = None  # the last read the servos answered (if garbled)

    def restart(self, now_s: float) -> None:
        """The servos were just prepared and answered (start-up, a reconnect): nothing failed yet."""
        self.last_heard_s = now_s
        self.supervisor.bus_ok()
        self.supervisor.following_errors_in_a_row = 0

    def check(
        self,
        now_s: float,
        reading: JointReading | None,
        error: BridgeError | None,
        commanded_q: np.ndarray,
        commanded_qd: np.ndarray,
    ) -> tuple[Check | None, Verdict]:
        """Judge this tick's read (started at `now_s`): `reading`, or the `error` it failed with,
        against the joints last commanded (`commanded_q`, rad, at `commanded_qd`, rad/s)."""
        supervisor = self.supervisor
        if self.last_heard_s is None or now_s < self.last_heard_s:
            self.last_heard_s = now_s  # the first tick, or the clock went back
        if error is not None or reading is None:
            if isinstance(error, ServoError) and error.alert:
                return Check.SERVO_ALERT, classify_hardware_error(error.servo_id, error.hardware_error)
            if servos_heard(error):
                self.last_heard_s = now_s
            silence = check_bus_silence(now_s - self.last_heard_s, self.watchdog_s)
            failed = supervisor.bus_failed(error or MissingReply("no reading"))
            return (Check.BUS_SILENCE, silence) if silence else (Check.BUS_ERRORS if failed else None, failed)
        after_failures = supervisor.bus_errors_in_a_row > 0
        unheard_s = now_s - self.last_heard_s
        self.last_heard_s = now_s
        supervisor.bus_ok()
        servo_state = check_servo_state(
            self.joint_ids, reading.torque_on, reading.hardware_error, reading.watchdog_tripped
        )
        if servo_state:
            return Check.SERVO_STATE, servo_state
        if after_failures:  # answered only after failed reads: judged on how long the servos heard nothing
            silence = check_bus_silence(unheard_s, self.watchdog_s)
            if silence:
                return Check.BUS_SILENCE, silence
        limits = self.limits
        following = supervisor.following(
            reading.q_rad, commanded_q, commanded_qd, limits.max_following_error_rad, limits.following_lag_s
        )
        if following:
            return Check.FOLLOWING, following
        health = check_servo_health(
            reading.temperature_c.tolist(),  # floats: max/min over four numpy scalars cost more
            reading.voltage_v.tolist(),
            limits.max_temperature_c,
            limits.min_voltage_v,
            limits.max_voltage_v,
        )
        return (Check.HEALTH, health) if health else (None, OK)


__all__ = ["ArmGuard", "Check", "servos_heard"]
