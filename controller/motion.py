"""Jerk-limited motion with ruckig: joint moves, straight spoon moves, and stops, on one path.

`Motion` owns the commanded joint state of the arm and advances it one control period per
`step()`. It has two ruckig generators (online trajectory generation, re-planned every step from
the current commanded state):

- joint space (4 DOF), for moves between taught poses (ready, scoop waypoints). Joint speed limits
  are scaled from the spoon speed cap so that the spoon never exceeds it on a phase-synchronised
  (straight in joint space) move: |v_spoon| <= sum_i |qdot_i| * lever_i <= cap.
- Cartesian (3 DOF, the spoon bowl's x, y, z), for the straight approach to the mouth and the
  retreat from it; the target may change every tick. Per-axis speed limits are the cap times the
  direction cosines of the remaining path, so the speed (the norm) stays within the cap. The spoon
  keeps the pitch it had when the Cartesian move began (level for a taught ready pose); joint
  angles come from `kinematics.inverse_spoon` every step.

A stop is an ordinary target: ruckig's velocity interface with target velocity zero and the
higher stop acceleration and jerk limits, in whichever space the arm is moving. A stop runs to
rest: a move asked for while it runs begins once the arm stands still (a move begun mid-stop would
start from the stop's braking, which the move's lower jerk takes long to undo, driving the spoon
backwards and then past its cap).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import partial

import numpy as np
from ruckig import (
    ControlInterface,
    InputParameter,
    OutputParameter,
    Result,
    Ruckig,
    RuckigError,
    Synchronization,
)

from controller.kinematics import (
    SpoonMount,
    Unreachable,
    check_joint_limits,
    forward_spoon,
    inverse_spoon,
    spoon_jacobian,
)

# Step for the directional differences of a joint move's spoon speed (rad).
_JACOBIAN_STEP_RAD = 1e-6
# Joint speed (rad/s) below which a finished trajectory counts as at rest (rounding).
_REST_SPEED_RAD_S = 1e-9
# Joint moves: points of the path at which the spoon speed gain is sampled, and the margin for
# peaks between samples.
_PATH_SAMPLES = 12
_PATH_SAMPLING_MARGIN = 1.1
# Smallest per-axis speed limit handed to ruckig (m/s); ruckig needs positive limits.
_MIN_AXIS_SPEED_M_S = 1e-3


@dataclass(frozen=True, slots=True)
class MotionLimits:
    """Acceleration and jerk limits of normal moves and of stops (units in the names).

    Speeds are not here: they come per move from the citizen profile (spoon speed caps) and the
    safety limits (`max_joint_speed_rad_s`).
    """

    acceleration_m_s2: float = 0.5
    jerk_m_s3: float = 5.0
    stop_acceleration_m_s2: float = 1.5
    # A stop begun at a move's full acceleration a brakes from its second 5 ms tick T on only if
    # the jerk exceeds a / T (0.5 / 0.005 = 100; at 100 the two ticks are equally fast): 1.5 times that.
    stop_jerk_m_s3: float = 150.0
    joint_acceleration_rad_s2: float = 2.0
    joint_jerk_rad_s3: float = 20.0
    joint_stop_acceleration_rad_s2: float = 6.0
    joint_stop_jerk_rad_s3: float = 120.0
    max_joint_speed_rad_s: float = 2.0

    def braking_distance_m(self, speed_m_s: float, to_speed_m_s: float) -> float:
        """Upper bound on the distance a normal move needs to slow from one speed to another."""
        if speed_m_s <= to_speed_m_s:
            return 0.0
        a, j = self.acceleration_m_s2, self.jerk_m_s3
        return (speed_m_s**2 - to_speed_m_s**2) / (2.0 * a) + speed_m_s * a / j


class PlanningError(ValueError):
    """ruckig could not plan the requested move (the arm is held where it was)."""


class MotionMode(Enum):
    """Which generator drives the arm."""

    JOINT = "joint"
    CARTESIAN = "cartesian"


class Motion:
    """The commanded arm state, advanced by jerk-limited online trajectories.

    `q`/`qd` are the commanded joint angles (rad) and speeds (rad/s); `spoon` the spoon mount
    (`kinematics.SpoonMount`). Call one of `move_joints`, `move_spoon`, `stop` whenever the goal
    changes (every tick is fine), then `step()` once per control period `period_s`.
    """

    def __init__(
        self,
        q,
        spoon: SpoonMount,
        period_s: float,
        limits: MotionLimits = MotionLimits(),
        elbow_up: bool = True,
    ) -> None:
        self.spoon = spoon
        self.period_s = period_s
        self.limits = limits
        self.elbow_up = elbow_up
        self.q = np.array(q, dtype=float)
        check_joint_limits(self.q)
        self.qd = np.zeros(4)
        self.mode = MotionMode.JOINT
        self.stopping = False
        self.finished = True
        self.spoon_speed_m_s = 0.0
        self._joint_goal: tuple[np.ndarray, float] | None = None
        self._after_stop: Callable[[], None] | None = None  # the move asked for while a stop runs
        self._joint_path: tuple[np.ndarray, float] = (np.zeros(4), 0.0)
        self._spoon_pitch_rad = 0.0
        self._pose = forward_spoon(self.q, spoon)

        self._joint = Ruckig(4, period_s)
        self._joint_in = InputParameter(4)
        self._joint_out = OutputParameter(4)
        self._cart = Ruckig(3, period_s)
        self._cart_in = InputParameter(3)
        self._cart_out = OutputParameter(3)
        for inp in (self._joint_in, self._cart_in):
            inp.synchronization = Synchronization.Phase
        self._set_joint_state(self.q, self.qd)
        self._joint_in.target_position = list(self.q)
        self._joint_in.target_velocity = [0.0] * 4

    # -- state ---------------------------------------------------------------------------------

    @property
    def spoon_pose(self) -> np.ndarray:
        """Commanded spoon (x, y, z, pitch) of the last step."""
        return self._pose

    @property
    def at_rest(self) -> bool:
        """True when the last step finished its trajectory and the arm stands still."""
        return self.finished and all(abs(v) < _REST_SPEED_RAD_S for v in self.qd.tolist())

    def _set_joint_state(self, q: np.ndarray, qd: np.ndarray) -> None:
        self._joint_in.current_position = list(q)
        self._joint_in.current_velocity = list(qd)
        self._joint_in.current_acceleration = [0.0] * 4

    def _enter(self, mode: MotionMode) -> None:
        """Switch generator, carrying the current velocity across (spoon pitch rate held at 0)."""
        if mode is self.mode:
            return
        jac = spoon_jacobian(self.q, self.spoon)
        if mode is MotionMode.CARTESIAN:
            self._spoon_pitch_rad = float(self._pose[3])
            self._cart_in.current_position = list(self._pose[:3])
            self._cart_in.current_velocity = list(jac[:3] @ self.qd)
            self._cart_in.current_acceleration = [0.0] * 3
        else:
            velocity = np.array([*self._cart_in.current_velocity, 0.0])
            try:
                self.qd = np.linalg.solve(jac, velocity)
            except np.linalg.LinAlgError:
                self.qd = np.zeros(4)
            self._set_joint_state(self.q, self.qd)
        self.mode = mode

    # -- goals ---------------------------------------------------------------------------------

    def move_joints(self, q_target, speed_cap_m_s: float) -> None:
        """Move to joint angles q_target (rad), ending at rest, the spoon no faster than the cap.
        Asked for while a stop runs, the move begins once the arm is at rest.

        Raises `Unreachable` for a target outside the joint limits or not finite, and ValueError
        for a cap that is not a positive finite speed; the current goal is kept then.
        """
        target = np.array(q_target, dtype=float)
        check_joint_limits(target.tolist())
        _check_speed(speed_cap_m_s)
        self._begin(partial(self._start_joints, target, speed_cap_m_s))

    def _stop_runs(self) -> bool:
        return self.stopping and not self.at_rest

    def _begin(self, start: Callable[[], None]) -> None:
        """Start a move now, or, while a stop runs, once the arm is at rest (`step`)."""
        if self._stop_runs():
            self._after_stop = start
        else:
            self._after_stop = None
            start()

    def _start_joints(self, target: np.ndarray, speed_cap_m_s: float) -> None:
        angles = target.tolist()  # four floats: cheaper to compare than numpy's scalars
        if self._joint_goal is not None and self._joint_goal[0].tolist() == angles:
            if self._joint_goal[1] == speed_cap_m_s:
                return  # same goal as before: keep the running trajectory
            delta, gain = self._joint_path  # same straight line, new cap: only the speeds change
        else:
            self._enter(MotionMode.JOINT)
            delta = target - self.q
            gain = self._path_gain(delta)
        max_joint = self.limits.max_joint_speed_rad_s
        if gain > 0.0:
            speeds = np.minimum(max_joint, np.maximum(np.abs(delta) * speed_cap_m_s / gain, 1e-6))
        else:
            speeds = np.full(4, max_joint)
        inp = self._joint_in
        inp.control_interface = ControlInterface.Position
        inp.target_position = list(target)
        inp.target_velocity = [0.0] * 4
        inp.max_velocity = list(speeds)
        inp.max_acceleration = [self.limits.joint_acceleration_rad_s2] * 4
        inp.max_jerk = [self.limits.joint_jerk_rad_s3] * 4
        self._joint_goal = (target, speed_cap_m_s)
        self._joint_path = (delta, gain)
        self.stopping = False
        self.finished = False

    def _path_gain(self, delta: np.ndarray) -> float:
        """Peak spoon speed per unit path speed on the straight joint-space line from q to q+delta
        (sampled, with a margin for peaks between samples)."""
        # d(spoon)/ds along q + s * delta is the Jacobian times delta: a directional difference.
        h = _JACOBIAN_STEP_RAD
        gain = 0.0
        for s in np.linspace(0.0, 1.0, _PATH_SAMPLES):
            ahead = forward_spoon(self.q + (s + h) * delta, self.spoon)[:3]
            behind = forward_spoon(self.q + (s - h) * delta, self.spoon)[:3]
            gain = max(gain, float(np.linalg.norm(ahead - behind)) / (2.0 * h))
        return gain * _PATH_SAMPLING_MARGIN

    def move_spoon(self, target_xyz, speed_cap_m_s: float) -> None:
        """Move the spoon bowl in a straight line to target_xyz (m), ending at rest. Asked for
        while a stop runs, the move begins once the arm is at rest.

        Call again with a new target every tick to follow a moving goal. Raises `Unreachable` if
        the target is not finite or cannot be reached with the spoon at its current pitch.
        """
        target = np.array(target_xyz, dtype=float)
        _check_speed(speed_cap_m_s)
        if self._stop_runs():  # refused now as a move begun now would be (from the pitch it would keep)
            pitch = self._spoon_pitch_rad if self.mode is MotionMode.CARTESIAN else float(self._pose[3])
            inverse_spoon(target, self.spoon, self.elbow_up, pitch)
        self._begin(partial(self._start_spoon, target, speed_cap_m_s))

    def _start_spoon(self, target: np.ndarray, speed_cap_m_s: float) -> None:
        self._enter(MotionMode.CARTESIAN)
        self._joint_goal = None
        inverse_spoon(target, self.spoon, self.elbow_up, self._spoon_pitch_rad)
        inp = self._cart_in
        delta = target - np.asarray(inp.current_position)
        distance = float(np.linalg.norm(delta))
        if distance > 0.0:
            axis_speeds = np.maximum(speed_cap_m_s * np.abs(delta) / distance, _MIN_AXIS_SPEED_M_S)
        else:
            axis_speeds = np.full(3, speed_cap_m_s)
        inp.control_interface = ControlInterface.Position
        inp.target_position = list(target)
        inp.target_velocity = [0.0] * 3
        inp.max_velocity = list(axis_speeds)
        inp.max_acceleration = [self.limits.acceleration_m_s2] * 3
        inp.max_jerk = [self.limits.jerk_m_s3] * 3
        self.stopping = False
        self.finished = False

    def stop(self) -> None:
        """Bring the arm to rest where it is: zero target velocity, stop acceleration and jerk."""
        if self.mode is MotionMode.JOINT:
            inp, n = self._joint_in, 4
            acceleration, jerk = self.limits.joint_stop_acceleration_rad_s2, self.limits.joint_stop_jerk_rad_s3
            inp.max_velocity = [self.limits.max_joint_speed_rad_s] * n
        else:
            inp, n = self._cart_in, 3
            acceleration, jerk = self.limits.stop_acceleration_m_s2, self.limits.stop_jerk_m_s3
        inp.control_interface = ControlInterface.Velocity
        inp.target_velocity = [0.0] * n
        inp.target_acceleration = [0.0] * n
        inp.max_acceleration = [acceleration] * n
        inp.max_jerk = [jerk] * n
        self._joint_goal = None
        self._after_stop = None
        self.stopping = True
        self.finished = False

    # -- the step ------------------------------------------------------------------------------

    def step(self) -> np.ndarray:
        """Advance one period and return the new commanded joint angles (rad). A move asked for
        during a stop begins in the step that brings the arm to rest (it moves from the next).

        Raises `Unreachable` when the Cartesian path leaves the reachable workspace (or a move
        waiting for the stop's end cannot reach its target), and
        `PlanningError` when ruckig cannot plan; the arm is then held at the last commanded angles
        (velocity zeroed) and must be given a new goal.
        """
        if self.mode is MotionMode.JOINT:
            result = self._update(self._joint, self._joint_in, self._joint_out)
            self._joint_out.pass_to_input(self._joint_in)
            q = np.array(self._joint_out.new_position)
            qd = np.array(self._joint_out.new_velocity)
        else:
            result = self._update(self._cart, self._cart_in, self._cart_out)
            position = self._cart_out.new_position
            try:
                q = inverse_spoon(position, self.spoon, self.elbow_up, self._spoon_pitch_rad)
            except Unreachable:
                self._hold()
                raise
            self._cart_out.pass_to_input(self._cart_in)
            qd = (q - self.q) / self.period_s
        pose = forward_spoon(q, self.spoon)
        moved = pose[:3] - self._pose[:3]
        self.spoon_speed_m_s = math.sqrt(moved.dot(moved)) / self.period_s  # np.linalg.norm, without its overhead
        self.q, self.qd, self._pose = q, qd, pose
        self.finished = result == Result.Finished
        if self._after_stop is not None and self.at_rest:
            start, self._after_stop = self._after_stop, None
            start()
        return q

    def _update(self, generator: Ruckig, inp: InputParameter, out: OutputParameter) -> Result:
        """One ruckig step; a failed plan holds the arm and raises `PlanningError`. A step that phase
        synchronisation cannot plan (ruckig's numerics fail on some micrometre moves, as a flawed
        arm's retract can ask for) is planned again with time synchronisation, then without."""
        try:
            return self._update_once(generator, inp, out)
        except (RuckigError, ValueError, RuntimeError) as error:  # the binding raises ValueError for some results
            first = error
        try:
            for synchronization in (Synchronization.Time, Synchronization.No):
                inp.synchronization = synchronization
                try:
                    return self._update_once(generator, inp, out)
                except (RuckigError, ValueError, RuntimeError):
                    continue
        finally:
            inp.synchronization = Synchronization.Phase
        self._hold()
        raise PlanningError(f"ruckig could not plan the {self.mode.value} move: {first}") from first

    @staticmethod
    def _update_once(generator: Ruckig, inp: InputParameter, out: OutputParameter) -> Result:
        result = generator.update(inp, out)
        if result not in (Result.Working, Result.Finished):
            raise RuckigError(f"ruckig answered {result.name}")
        return result

    def _hold(self) -> None:
        """Stand still at the last commanded state (after a failed step)."""
        self.qd = np.zeros(4)
        self.spoon_speed_m_s = 0.0
        self._cart_in.current_position = list(self._pose[:3])
        self._cart_in.current_velocity = [0.0] * 3
        self._cart_in.current_acceleration = [0.0] * 3
        self._cart_in.target_position = list(self._pose[:3])
        self._set_joint_state(self.q, self.qd)
        self._joint_in.target_position = list(self.q)
        self._joint_goal = None
        self._after_stop = None
        self.finished = True


def _check_speed(speed_m_s: float) -> None:
    if not (math.isfinite(speed_m_s) and speed_m_s > 0.0):
        raise ValueError(f"speed cap must be a positive finite speed in m/s, got {speed_m_s}")


__all__ = ["Motion", "MotionLimits", "MotionMode", "PlanningError"]
