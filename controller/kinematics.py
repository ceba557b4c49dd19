"""Kinematics of the 4-DOF OpenManipulator-X-class arm of DESIGN.md, with the spoon as tool.

Frames: base frame x forward, z up. Joint 1 turns about z through the point `BASE_TO_J1`; joints
2-4 turn about y, positive angles tip the tool down, so every point of the arm lies in the vertical
plane through the joint-1 axis at azimuth q1. Inside that plane we use (r, h): r the distance from
the joint-1 axis, h the height above joint 2.

`forward`/`inverse` speak about the tool tip (end of link 4, without the spoon) and the tool pitch
q2+q3+q4 (rad below horizontal). `forward_spoon`/`inverse_spoon` speak about the spoon's bowl, whose
offset on the tool is a calibration value (`SpoonMount`); `inverse_spoon` keeps the bowl level.

The maths is scalar (`math`), not numpy: these run once or twice per 5 ms control tick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import numpy as np

# Joint origins of the arm's public URDF (metres), see DESIGN.md.
BASE_TO_J1 = (0.012, 0.0, 0.017)
J1_TO_J2_Z = 0.0595
J2_TO_J3 = (0.024, 0.128)  # (forward, up) at q2 = 0
J3_TO_J4 = 0.124
J4_TO_TIP = 0.126

SHOULDER_HEIGHT_M = BASE_TO_J1[2] + J1_TO_J2_Z  # height of joint 2 above the base
UPPER_ARM_M = math.hypot(*J2_TO_J3)
# Angle of the upper arm below horizontal at q2 = 0 (negative: it points up and a bit forward).
UPPER_ARM_REST_RAD = math.atan2(-J2_TO_J3[1], J2_TO_J3[0])

JOINT_NAMES = ("joint1", "joint2", "joint3", "joint4")
# (lower, upper) limits in rad, DESIGN.md.
JOINT_LIMITS_RAD = ((-math.pi, math.pi), (-1.5, 1.5), (-1.5, 1.4), (-1.7, 1.97))
# The same limits as read-only arrays of the four lower and the four upper bounds, for numpy.
JOINT_LOW_RAD, JOINT_HIGH_RAD = np.array(JOINT_LIMITS_RAD).T
JOINT_LOW_RAD.flags.writeable = JOINT_HIGH_RAD.flags.writeable = False

# Slack on the limit check for floating-point rounding of a pose solved exactly at a limit.
LIMIT_ROUNDING_RAD = 1e-9


class UnreachableReason(Enum):
    """Why a pose cannot be reached."""

    OUT_OF_REACH = "out_of_reach"
    JOINT_LIMIT = "joint_limit"
    NOT_FINITE = "not_finite"


class Unreachable(ValueError):
    """The pose cannot be reached; `reason` says why, `joint` names the joint for a joint limit."""

    def __init__(self, message: str, reason: UnreachableReason, joint: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.joint = joint


class SpoonMount(Protocol):
    """Where the spoon's bowl sits on the tool: any object with these attributes (a calibration
    value; `controller.config.SpoonOffset` is one).

    `x_m` along the tool axis from the tool tip, `z_m` perpendicular to it in the arm's plane (up
    when the tool is horizontal), `pitch_rad` the bowl's angle below the tool axis (positive tips
    it down, like the tool pitch). A level bowl needs the tool at pitch `-pitch_rad`.
    """

    @property
    def x_m(self) -> float: ...
    @property
    def z_m(self) -> float: ...
    @property
    def pitch_rad(self) -> float: ...


@dataclass(frozen=True, slots=True)
class SpoonOffset:
    """A plain `SpoonMount` value (for the simulator and tests, which do not load configuration)."""

    x_m: float = 0.0
    z_m: float = 0.0
    pitch_rad: float = 0.0


def _wrap(angle: float) -> float:
    """Angle wrapped to [-pi, pi)."""
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


def _planar_forward(q2: float, q3: float, q4: float) -> tuple[float, float]:
    """Tool tip (r, h) in the arm's plane, r from the joint-1 axis, h above joint 2."""
    a2, a23, a234 = q2, q2 + q3, q2 + q3 + q4
    r = J2_TO_J3[0] * math.cos(a2) + J2_TO_J3[1] * math.sin(a2)
    h = -J2_TO_J3[0] * math.sin(a2) + J2_TO_J3[1] * math.cos(a2)
    r += J3_TO_J4 * math.cos(a23) + J4_TO_TIP * math.cos(a234)
    h -= J3_TO_J4 * math.sin(a23) + J4_TO_TIP * math.sin(a234)
    return r, h


def forward(q) -> np.ndarray:
    """Tool tip (x, y, z in m, base frame, without the spoon) and pitch q2+q3+q4 for joints q (rad)."""
    q1, q2, q3, q4 = map(float, q)
    r, h = _planar_forward(q2, q3, q4)
    return np.array(
        (
            BASE_TO_J1[0] + r * math.cos(q1),
            BASE_TO_J1[1] + r * math.sin(q1),
            SHOULDER_HEIGHT_M + h,
            q2 + q3 + q4,
        )
    )


def check_joint_limits(q) -> None:
    """Raise `Unreachable` naming the first joint of q outside its limits (plus rounding slack)."""
    for index, (value, (low, high)) in enumerate(zip(q, JOINT_LIMITS_RAD, strict=True)):
        low, high = low - LIMIT_ROUNDING_RAD, high + LIMIT_ROUNDING_RAD
        if not math.isfinite(value):
            raise Unreachable(
                f"{JOINT_NAMES[index]} angle is {value}; expected a finite number",
                UnreachableReason.NOT_FINITE,
                joint=index + 1,
            )
        if not low <= value <= high:
            raise Unreachable(
                f"{JOINT_NAMES[index]} would need {value:.3f} rad, outside its limits [{low:.3f}, {high:.3f}] rad",
                UnreachableReason.JOINT_LIMIT,
                joint=index + 1,
            )


def _planar_inverse(q1: float, r: float, h: float, pitch: float, elbow_up: bool) -> tuple[float, float, float, float]:
    """Joint angles putting the tool tip at (r, h) in the plane at azimuth q1 with a given pitch."""
    # Wrist (joint 4) position in the plane, then the two-link problem for the upper and fore arm
    # in (u, v) = (r, -h), where angles below horizontal become ordinary counter-clockwise angles.
    u = r - J4_TO_TIP * math.cos(pitch)
    v = -(h + J4_TO_TIP * math.sin(pitch))
    distance = math.hypot(u, v)
    cos_elbow = (distance**2 - UPPER_ARM_M**2 - J3_TO_J4**2) / (2.0 * UPPER_ARM_M * J3_TO_J4)
    if not -1.0 <= cos_elbow <= 1.0:
        longest, shortest = UPPER_ARM_M + J3_TO_J4, abs(UPPER_ARM_M - J3_TO_J4)
        raise Unreachable(
            f"wrist would be {distance:.4f} m from the shoulder; the arm reaches only "
            f"{shortest:.4f}..{longest:.4f} m at pitch {pitch:.3f} rad",
            UnreachableReason.OUT_OF_REACH,
        )
    elbow = math.acos(cos_elbow)
    if not elbow_up:
        elbow = -elbow
    upper = math.atan2(v, u) - math.atan2(J3_TO_J4 * math.sin(elbow), UPPER_ARM_M + J3_TO_J4 * math.cos(elbow))
    q2 = _wrap(upper - UPPER_ARM_REST_RAD)
    q3 = _wrap(elbow + UPPER_ARM_REST_RAD)
    q4 = _wrap(pitch - q2 - q3)
    return q1, q2, q3, q4


def _check_pose(pose, size: int) -> tuple[float, ...]:
    values = tuple(float(v) for v in pose)
    if len(values) != size:
        raise ValueError(f"expected {size} pose values, got {len(values)}")
    if not all(math.isfinite(v) for v in values):
        raise Unreachable(f"pose {values} is not finite", UnreachableReason.NOT_FINITE)
    return values


def _azimuth(x: float, y: float) -> tuple[float, float]:
    """(q1, r) of a point: joint-1 angle and distance from the joint-1 axis."""
    dx, dy = x - BASE_TO_J1[0], y - BASE_TO_J1[1]
    return math.atan2(dy, dx), math.hypot(dx, dy)


def inverse(pose, elbow_up: bool = True) -> np.ndarray:
    """Joint angles (rad) that put the tool tip at pose = (x, y, z, pitch).

    Raises `Unreachable` (a ValueError) when the pose is not finite, out of reach, or needs a joint
    outside its limits; the message names which.
    """
    x, y, z, pitch = _check_pose(pose, 4)
    q1, r = _azimuth(x, y)
    q = _planar_inverse(q1, r, z - SHOULDER_HEIGHT_M, pitch, elbow_up)
    check_joint_limits(q)
    return np.array(q)


def forward_spoon(q, spoon: SpoonMount) -> np.ndarray:
    """Spoon bowl (x, y, z in m, base frame) and its pitch below horizontal (rad)."""
    q1, q2, q3, q4 = map(float, q)
    pitch = q2 + q3 + q4
    r, h = _planar_forward(q2, q3, q4)
    r += spoon.x_m * math.cos(pitch) + spoon.z_m * math.sin(pitch)
    h += -spoon.x_m * math.sin(pitch) + spoon.z_m * math.cos(pitch)
    return np.array(
        (
            BASE_TO_J1[0] + r * math.cos(q1),
            BASE_TO_J1[1] + r * math.sin(q1),
            SHOULDER_HEIGHT_M + h,
            pitch + spoon.pitch_rad,
        )
    )


def spoon_jacobian(q, spoon: SpoonMount) -> np.ndarray:
    """4x4 d(spoon x, y, z, pitch)/dq of `forward_spoon` at joint angles q (rad), in closed form."""
    q1, q2, q3, q4 = map(float, q)
    a23, pitch = q2 + q3, q2 + q3 + q4
    r, _ = _planar_forward(q2, q3, q4)
    cp, sp = math.cos(pitch), math.sin(pitch)
    reach = r + spoon.x_m * cp + spoon.z_m * sp  # the spoon's distance from the joint-1 axis
    # d(reach)/dq and d(height)/dq for joints 4, 3, 2: each moves every link beyond it
    dr4 = -(J4_TO_TIP + spoon.x_m) * sp + spoon.z_m * cp
    dh4 = -(J4_TO_TIP + spoon.x_m) * cp - spoon.z_m * sp
    dr3 = dr4 - J3_TO_J4 * math.sin(a23)
    dh3 = dh4 - J3_TO_J4 * math.cos(a23)
    dr2 = dr3 - J2_TO_J3[0] * math.sin(q2) + J2_TO_J3[1] * math.cos(q2)
    dh2 = dh3 - J2_TO_J3[0] * math.cos(q2) - J2_TO_J3[1] * math.sin(q2)
    c1, s1 = math.cos(q1), math.sin(q1)
    return np.array(
        (
            (-reach * s1, dr2 * c1, dr3 * c1, dr4 * c1),
            (reach * c1, dr2 * s1, dr3 * s1, dr4 * s1),
            (0.0, dh2, dh3, dh4),
            (0.0, 1.0, 1.0, 1.0),
        )
    )


def inverse_spoon(position, spoon: SpoonMount, elbow_up: bool = True, spoon_pitch_rad: float = 0.0) -> np.ndarray:
    """Joint angles putting the spoon bowl at position = (x, y, z), level by default.

    `spoon_pitch_rad` tilts the bowl below horizontal (scooping); 0 keeps food on the spoon.
    Raises `Unreachable` as `inverse` does.
    """
    x, y, z = _check_pose(position, 3)
    if not math.isfinite(spoon_pitch_rad):
        raise Unreachable(f"spoon pitch {spoon_pitch_rad} is not finite", UnreachableReason.NOT_FINITE)
    pitch = spoon_pitch_rad - spoon.pitch_rad
    q1, r = _azimuth(x, y)
    r -= spoon.x_m * math.cos(pitch) + spoon.z_m * math.sin(pitch)
    h = z - SHOULDER_HEIGHT_M + spoon.x_m * math.sin(pitch) - spoon.z_m * math.cos(pitch)
    q = _planar_inverse(q1, r, h, pitch, elbow_up)
    check_joint_limits(q)
    return np.array(q)


__all__ = [
    "JOINT_HIGH_RAD",
    "JOINT_LIMITS_RAD",
    "JOINT_LOW_RAD",
    "JOINT_NAMES",
    "SpoonMount",
    "SpoonOffset",
    "Unreachable",
    "UnreachableReason",
    "check_joint_limits",
    "forward",
    "forward_spoon",
    "inverse",
    "inverse_spoon",
]
