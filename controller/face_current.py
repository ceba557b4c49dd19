"""Current-limited position control near the face: joints that give way under a push (issue 14).

The XM430's Current-based Position Control (Operating Mode 5) caps the current its position loop
may command at Goal Current (102). Goal Current can change with torque on; the Operating Mode only
with torque off, so the mode is chosen once at start-up (`controller.servos.ArmServos.prepare`) and
never switched mid-meal. With `SafetyLimits.face_current_margin_ma` above 0, the loop lowers each
joint's Goal Current near the face (the approach within the near-mouth radius, at the mouth, and the
retract until the spoon has left that radius) to the current expected for the commanded motion
(`controller.safety.CurrentModel`) plus the margin, and gives it back its Current Limit elsewhere.
A head that pushes harder than that moves the arm instead of winding up its position loop, and
the arm comes back no harder than the margin once the head lets go. The margin must stay above the
contact detector's threshold, or a push could no longer show in the current.
"""

from __future__ import annotations

import math

import numpy as np

from controller.feeding import FeedingState
from firmware_bridge.control_table import OperatingMode

GOAL_CURRENT_STEP_A = 0.02  # a Goal Current is written again once a joint's wanted value moves this much
NEAR_FACE_STATES = frozenset({FeedingState.APPROACH, FeedingState.AT_MOUTH, FeedingState.RETRACT})


def operating_mode(face_current_margin_ma: float) -> OperatingMode:
    """The arm's Operating Mode for `SafetyLimits.face_current_margin_ma`: current-based position
    control when the margin is on (above 0), else position control. Every part that prepares the
    servos (the meal, the staff page's set-up arm) uses it, so that none switches the mode (with
    the torque off) under the other."""
    return OperatingMode.CURRENT_BASED_POSITION if face_current_margin_ma > 0.0 else OperatingMode.POSITION


def near_face(state: FeedingState, spoon_m: np.ndarray, mouth_m: np.ndarray | None, radius_m: float) -> bool:
    """True while the spoon is at the face: in the approach, at the mouth or in the retract, and
    within `radius_m` of the mouth (or with no mouth known, which counts as near)."""
    if state not in NEAR_FACE_STATES:
        return False
    if mouth_m is None:
        return True
    offset = np.asarray(spoon_m, dtype=float) - mouth_m
    distance = math.sqrt(float(offset.dot(offset)))
    return not distance > radius_m  # NaN counts as near


def face_goal_current_a(expected_a: np.ndarray, margin_a: float, limit_a: float) -> np.ndarray:
    """Each joint's Goal Current (A) at the face: |expected current| + `margin_a`, at most
    `limit_a` (the servos' Current Limit); a joint whose expected current is not a number keeps
    `limit_a` (it holds as in position mode). Raises ValueError for a margin or limit that is not
    a positive number."""
    if not (math.isfinite(margin_a) and margin_a > 0.0):
        raise ValueError(f"the face current margin must be a positive number of amperes, got {margin_a}")
    if not (math.isfinite(limit_a) and limit_a > 0.0):
        raise ValueError(f"the current limit must be a positive number of amperes, got {limit_a}")
    wanted = np.abs(np.asarray(expected_a, dtype=float)) + margin_a
    return np.where(np.isfinite(wanted), np.minimum(wanted, limit_a), limit_a)


def goal_current_changed(sent_a: np.ndarray | None, wanted_a: np.ndarray, step_a: float) -> bool:
    """Whether `wanted_a` should be written: nothing sent yet, or a joint off by `step_a` or more."""
    return sent_a is None or bool(np.any(np.abs(wanted_a - sent_a) >= step_a))
