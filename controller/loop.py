"""The control loop: one tick of the controller, and the fixed-rate runner over injected roles.

`MealController.tick` is the whole controller without I/O: it takes this tick's joint reading (or
the bus error), the latest mouth observation and user commands, runs the safety supervisor, the
feeding state machine and the jerk-limited motion, and returns the joint command to send.

`run_meal` runs it at a fixed rate (200 Hz by default) over injected roles:

- bus: `sync_read(address, length, ids) -> {id: bytes}` and `sync_write(address, {id: bytes})`
  (`firmware_bridge.DynamixelBus`, or one over the `bidvis-sim://` virtual servos); one sync read
  and one sync write per tick;
- mouth: `latest() -> vision.MouthObservation | None` (a `LatestValue` the vision thread fills);
- inputs: `poll(now_s, mouth) -> list[UserCommand]` (a `CommandQueue` or the trigger sources; a
  `controller.triggers.TriggerMerger`'s usage events, misfires and lost devices, are journalled);
- clock: `now() -> float` (s) and `sleep(seconds)`; a simulated clock runs the loop faster than
  real time, and the mouth observations' `t` must come from the same clock;
- journal: `start_meal(data)`, `record(event_type, data)`, `end_meal(reason, data)`
  (`controller.journal.UsageJournal`), written from a background thread (`JournalWriter`) so a
  disk flush never delays a tick.

Deadlines: the ticks run on `controller.schedule.run_at_rate`, the loop the staff page's set-up
moves run on too; a tick that overruns its slot is counted and the next tick starts at the next
free slot (missed slots are skipped, never made up). Each reading is judged by
`controller.arm_guard.ArmGuard`, as set-up moves judge theirs. The servos' Bus Watchdog is armed by
`prepare_servos`, so the arm stops by itself if this loop dies.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from careplan_api.schemas import UsageEventType
from controller.arm_guard import ArmGuard
from controller.config import CitizenProfile, RobotCalibration, SafetyLimits
from controller.face_current import (
    GOAL_CURRENT_STEP_A,
    face_goal_current_a,
    goal_current_changed,
    near_face,
    operating_mode,
)
from controller.feeding import (
    ArmView,
    CommandKind,
    FeedingMachine,
    FeedingSettings,
    FeedingState,
    FeedingStats,
    FeedingTuning,
    GoalKind,
    MouthView,
    UserCommand,
)
from controller.kinematics import JOINT_HIGH_RAD, JOINT_LOW_RAD, Unreachable, forward_spoon
from controller.motion import Motion, MotionLimits
from controller.roles import Clock, CommandSource, Journal, MouthSource, ServoBus
from controller.safety import (
    OK,
    ContactDetector,
    CurrentModel,
    JointNoise,
    Reaction,
    SafetyReason,
    SafetySupervisor,
    Verdict,
    Workspace,
    check_joint_command,
    check_joint_speeds,
    check_spoon_speed,
    check_vision,
    check_workspace,
    confident_mouth,
    lean_in_speed_m_s,
    speed_cap_m_s,
    worst,
)
from controller.schedule import LoopStats, TickTiming, run_at_rate
from controller.servos import ArmServos, JointReading, MissingReply
from firmware_bridge.errors import BridgeError
from vision.observation import MouthObservation

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_RATE_HZ = 200.0
# Safe stops after which the servos, not the controller, decide where the arm is.
_STOPPED_BY_THE_SERVOS = frozenset(
    {
        SafetyReason.FOLLOWING_ERROR,
        SafetyReason.TORQUE_OFF,
        SafetyReason.WATCHDOG_TRIPPED,
        SafetyReason.SERVO_HARDWARE_ERROR,
        SafetyReason.OVERHEATING,
        SafetyReason.LOW_VOLTAGE,
    }
)


# -- roles (one Protocol each: controller/roles.py) --------------------------------------------


class LatestValue(Generic[T]):
    """A thread-safe holder of the latest value: producers `put`, the loop reads `latest()`.

    Vision runs in its own thread and puts each new `MouthObservation`; older values are simply
    replaced, so the loop never waits and never sees a backlog.
    """

    def __init__(self, value: T | None = None) -> None:
        self._value = value
        self._lock = threading.Lock()

    def put(self, value: T | None) -> None:
        with self._lock:
            self._value = value

    def latest(self) -> T | None:
        with self._lock:
            return self._value


class CommandQueue:
    """Commands from any thread (switch, panel, gesture detector), handed to the loop in order.

    Implements the `CommandSource` role: `poll` returns everything pushed since the last poll.
    """

    def __init__(self) -> None:
        self._items: deque[UserCommand] = deque()
        self._lock = threading.Lock()

    def push(self, command: UserCommand) -> None:
        with self._lock:
            self._items.append(command)

    def poll(self, now_s: float, mouth: MouthObservation | None) -> list[UserCommand]:
        with self._lock:
            items = list(self._items)
            self._items.clear()
        return items


# -- the controller ---------------------------------------------------------------------------


@dataclass
class ControllerStats:
    """What the controller saw: counts of each safety reason (on its rising edge) and more."""

    reasons: dict[SafetyReason, int] = field(default_factory=dict)
    rejected_mouth_jumps: int = 0
    low_confidence_mouths: int = 0  # observations not trusted: not usable or below `min_mouth_confidence`
    bus_errors: int = 0
    clock_jumps_back: int = 0
    advances_on_stale_mouth: int = 0


class MealController:
    """The controller without I/O: `tick` maps this tick's inputs to the joint command.

    `profile`, `calibration` and `limits` are `controller.config.CitizenProfile`,
    `RobotCalibration` and `SafetyLimits`; `q0` the measured
    joint angles at start (rad). `contact_noise` is the arm's commissioned current noise
    (`CommissioningRecord.joint_noise`); without it the contact thresholds assume
    `limits.uncommissioned_current_noise_ma` on every joint. `current_limit_a` is the joint
    servos' Current Limit when they run in current-based position control: then, with
    `limits.face_current_margin_ma` above 0, `goal_current_a` is each tick's Goal Current for the joints
    (`controller.face_current`; None: their Current Limit).
    """

    def __init__(
        self,
        profile: CitizenProfile,
        calibration: RobotCalibration,
        limits: SafetyLimits,
        q0: Sequence[float] | np.ndarray,
        *,
        period_s: float,
        motion_limits: MotionLimits | None = None,
        workspace: Workspace = Workspace(),
        current_model: CurrentModel = CurrentModel(),
        tuning: FeedingTuning = FeedingTuning(),
        contact_noise: JointNoise | None = None,
        current_limit_a: float | None = None,
    ) -> None:
        self.period_s = period_s
        self.limits = limits
        self.profile = profile
        self.workspace = workspace
        self.current_model = current_model
        self.camera_to_base = calibration.camera.matrix()
        self.motion_limits = motion_limits or MotionLimits(max_joint_speed_rad_s=limits.max_joint_speed_rad_s)
        self.spoon = calibration.spoon
        self.joint_ids = tuple(calibration.joint_servo_ids)
        self.motion = Motion(q0, calibration.spoon, period_s, self.motion_limits)
        motion_limits = self.motion_limits
        ready = calibration.ready_pose_rad
        self.machine = FeedingMachine(
            FeedingSettings(
                speed_m_s=profile.speed_m_s,
                speed_near_mouth_m_s=profile.speed_near_mouth_m_s,
                near_mouth_radius_m=profile.near_mouth_radius_m,
                standoff_m=profile.standoff_m,
                bite_timeout_s=profile.bite_timeout_s,
                ready_pose_rad=ready,
                ready_spoon_m=tuple(forward_spoon(ready, calibration.spoon)[:3]),
                bowls_waypoints_rad=tuple(tuple(b.waypoints_rad) for b in calibration.bowls),
                bowls_used=tuple(profile.bowls_used),
                braking_distance_m=motion_limits.braking_distance_m(profile.speed_m_s, profile.speed_near_mouth_m_s),
                tuning=tuning,
            )
        )
        self.supervisor = SafetySupervisor(
            max_consecutive_bus_errors=limits.max_consecutive_bus_errors,
            max_mouth_jump_m=limits.max_mouth_jump_m,
            contact=ContactDetector(
                contact_noise or JointNoise.uniform(limits.uncommissioned_current_noise_ma / 1e3),
                limits.contact_noise_sigmas,
                period_s,
            ),
            lean_in_limit_m_s=limits.max_lean_in_speed_m_s,
            lean_in_min_closing_m=limits.lean_in_min_closing_m,
        )
        self.guard = ArmGuard(self.joint_ids, self.supervisor, limits, limits.watchdog_ms / 1e3)
        # The approach advances only on a mouth young enough that a stop begun now has stopped
        # gaining speed by the time the mouth is `stale_after_s` old: a jerk-limited stop takes
        # (move acceleration / stop jerk) to take the acceleration off, plus a tick to begin.
        self.advance_within_s = (
            limits.stale_after_s - motion_limits.acceleration_m_s2 / motion_limits.stop_jerk_m_s3 - period_s
        )
        self.stats = ControllerStats()
        self._last_now_s: float | None = None
        self._last_obs_t_s: float | None = None
        self._newest_untrusted = False  # the newest mouth observation was one vision does not vouch for
        self._pending: Verdict = OK
        self._last_reason: SafetyReason | None = None
        self._q_sent = np.array(q0, dtype=float)
        self._qd_sent = np.zeros(4)
        self._qd_prev = np.zeros(4)
        self.measured_q = np.array(q0, dtype=float)  # the last joint angles read from the servos
        self.measured_spoon_m = forward_spoon(self.measured_q, self.spoon)[:3]
        margin_ma = limits.face_current_margin_ma
        self.face_current_margin_a = margin_ma / 1e3 if margin_ma > 0.0 else None
        self.current_limit_a = current_limit_a
        self.goal_current_a: np.ndarray | None = None
        self._expected_a: np.ndarray | None = None  # the current expected for this tick's commanded motion

    @property
    def state(self) -> FeedingState:
        return self.machine.state

    def tick(
        self,
        now_s: float,
        reading: JointReading | None,
        bus_error: BridgeError | None,
        observation: MouthObservation | None,
        commands: Sequence[UserCommand],
    ) -> np.ndarray:
        """One control period: returns the joint command (rad) to send."""
        verdicts = [self._pending]
        self._pending = OK
        if self._last_now_s is not None and now_s < self._last_now_s:
            self.stats.clock_jumps_back += 1
        self._last_now_s = now_s
        verdicts.append(self._check_bus(now_s, reading, bus_error))
        mouth, vision_verdict = self._check_mouth(now_s, observation)
        verdicts.append(vision_verdict)
        verdict = worst(verdicts)
        self._count(verdict)

        if reading is not None:
            self.measured_q = reading.q_rad
            self.measured_spoon_m = forward_spoon(reading.q_rad, self.spoon)[:3]
            if verdict.reason in _STOPPED_BY_THE_SERVOS and np.all(np.isfinite(reading.q_rad)):
                # The servos stopped or no longer drive the arm: the command starts again from
                # where the arm is (within the joint limits), so it never runs ahead of an arm
                # that cannot follow.
                q = np.clip(reading.q_rad, JOINT_LOW_RAD, JOINT_HIGH_RAD)
                self.motion = Motion(q, self.spoon, self.period_s, self.motion_limits)
        motion = self.motion
        arm = ArmView(motion.q, motion.spoon_pose[:3], motion.spoon_speed_m_s, motion.at_rest, self.measured_spoon_m)
        goal = self.machine.step(now_s, commands, mouth, verdict, arm)
        try:
            if goal.kind is GoalKind.HOLD:
                if not motion.stopping:
                    motion.stop()
            elif goal.kind is GoalKind.JOINTS:
                motion.move_joints(goal.target, goal.speed_cap_m_s)
            else:
                motion.move_spoon(goal.target, goal.speed_cap_m_s)
            q = motion.step()
        except Unreachable as error:
            q = self._planning_failed(Verdict(Reaction.RETRACT, SafetyReason.UNREACHABLE, str(error)))
        except Exception as error:  # any other failure of the planner (ruckig's included) is a named safe stop
            detail = f"{type(error).__name__}: {error}"
            q = self._planning_failed(Verdict(Reaction.SAFE_STOP, SafetyReason.PLANNER_ERROR, detail))
        if goal.kind is GoalKind.SPOON and mouth.position_m is None and self.machine.state is FeedingState.APPROACH:
            self.stats.advances_on_stale_mouth += 1
        self.goal_current_a = self._face_goal_current()
        command_verdict = self._check_command(q)
        if command_verdict:
            self._pending = worst([self._pending, command_verdict])
            self._count(command_verdict)
            if command_verdict.reaction is Reaction.SAFE_STOP:
                return self._q_sent  # never send a bad command: keep the last good one
        self._q_sent = q
        self._qd_sent = self.motion.qd
        return q

    def _face_goal_current(self) -> np.ndarray | None:
        """The joints' Goal Current (A) this tick: lowered while the spoon is at the face (see
        `controller.face_current`), else None (their Current Limit)."""
        margin, limit, expected = self.face_current_margin_a, self.current_limit_a, self._expected_a
        if margin is None or limit is None or expected is None:
            return None
        mouth = self.supervisor.trusted_mouth_m
        if not near_face(self.machine.state, self.motion.spoon_pose[:3], mouth, self.profile.near_mouth_radius_m):
            return None
        return face_goal_current_a(expected, margin, limit)

    def _planning_failed(self, verdict: Verdict) -> np.ndarray:
        """The planner failed this tick: hold the last command (the motion holds it after a failed
        step), stop, and act on `verdict` from the next tick."""
        self._pending = worst([self._pending, verdict])
        motion = self.motion
        try:
            if not motion.stopping:
                motion.stop()
        except Exception as error:  # a planner that cannot even stop: keep the last good command
            log.error("the planner could not stop: %s", error)
        return motion.q

    # -- checks --------------------------------------------------------------------------------

    def _check_bus(self, now_s: float, reading: JointReading | None, error: BridgeError | None) -> Verdict:
        """The measured state (`controller.arm_guard.ArmGuard`), then contact on a reading that passed it."""
        if error is not None or reading is None:
            self.stats.bus_errors += 1
        _, verdict = self.guard.check(now_s, reading, error, self._q_sent, self._qd_sent)
        if verdict or reading is None or error is not None:
            return verdict
        return self._check_contact(reading)

    def _check_contact(self, reading: JointReading) -> Verdict:
        """Contact in every phase the arm is driven (scoop, ready, approach, at the mouth, retract,
        homing): measured current against the current expected for the commanded motion."""
        contact = self.supervisor.contact
        qd = self.motion.qd
        qdd = (qd - self._qd_prev) / self.period_s
        self._qd_prev = qd
        if self.machine.state in (FeedingState.IDLE, FeedingState.FAULT):
            contact.reset()  # learnt afresh once the arm is driven again
            self._expected_a = None
            return OK
        expected = self._expected_a = self.current_model.expected_a(self.motion.q, qdd, qd)
        return contact.update(reading.current_a, expected, qd)

    def _check_mouth(self, now_s: float, observation: MouthObservation | None) -> tuple[MouthView, Verdict]:
        supervisor = self.supervisor
        near_face = self.machine.state in (FeedingState.APPROACH, FeedingState.AT_MOUTH, FeedingState.RETRACT)
        verdict = OK
        if observation is not None and observation.t != self._last_obs_t_s:
            self._last_obs_t_s = observation.t
            position = observation.position_m  # None: turned away, no face, or no calibration
            confident = confident_mouth(observation.usable, observation.confidence, self.limits.min_mouth_confidence)
            self._newest_untrusted = not confident or position is None
            if confident and position is not None:
                verdict = self._trust_mouth(position, observation.t, near_face)
            elif not confident:  # counts as no observation: the vision watchdog holds, then retracts
                self.stats.low_confidence_mouths += 1
        obs_t = None if observation is None else observation.t
        vision = check_vision(
            now_s, obs_t, supervisor.trusted_mouth_t_s, self.limits.stale_after_s, self.limits.lost_after_s
        )
        fresh = not vision and supervisor.trusted_mouth_m is not None and verdict.reaction is Reaction.NONE
        if fresh and self.machine.state is FeedingState.APPROACH and supervisor.trusted_mouth_t_s is not None:
            # Stop advancing on a mouth that will be stale before the stop has taken the
            # acceleration off (`advance_within_s`); it goes on at the next trusted frame.
            fresh = now_s - supervisor.trusted_mouth_t_s <= self.advance_within_s
        if self._newest_untrusted and self.machine.state is FeedingState.APPROACH:
            # The newest frame says the mouth is hidden, turned away or unsure: that is news, not a
            # gap in the stream, so the spoon stops advancing now (the goal holds while the view has no
            # mouth), not once the last trusted mouth is `stale_after_s` old; it goes on at the next
            # trusted frame. No safety stop is journalled for it: `stale_vision` and `mouth_lost` still
            # come when no trusted frame follows.
            fresh = False
        view = MouthView(
            supervisor.trusted_mouth_m if fresh else None,
            bool(observation.is_open) if observation is not None else False,
            obs_t or 0.0,
            supervisor.trusted_mouth_m,
        )
        if not near_face:
            return view, OK  # nothing to guard: the machine only needs the mouth to accept a trigger
        return view, worst([verdict, vision])

    def _trust_mouth(self, position_cam_m: tuple[float, float, float], t_s: float, near_face: bool) -> Verdict:
        """Offer a confident observation to the supervisor (base frame); a lean-in during the approach retracts."""
        supervisor = self.supervisor
        position = self.camera_to_base[:3, :3] @ np.asarray(position_cam_m, dtype=float)
        position += self.camera_to_base[:3, 3]
        verdict = supervisor.trust_mouth(position, t_s, check_jump=near_face)
        if verdict.reason is SafetyReason.MOUTH_JUMP:
            self.stats.rejected_mouth_jumps += 1
        elif self.machine.state is FeedingState.APPROACH:
            closing = lean_in_speed_m_s(
                supervisor.mouth_history, self.motion.spoon_pose[:3], min_closing_m=supervisor.lean_in_min_closing_m
            )
            if closing > supervisor.lean_in_limit_m_s:
                verdict = Verdict(Reaction.RETRACT, SafetyReason.LEAN_IN, f"mouth closing in at {closing:.2f} m/s")
        return verdict

    def _check_command(self, q: np.ndarray) -> Verdict:
        """Checks of the command about to be sent. A SAFE_STOP verdict keeps the last good command;
        a RETRACT (spoon too fast for where it is) sends it and stops from the next tick."""
        # The checks loop over a few values: plain floats are much cheaper to loop over than numpy's.
        verdict = check_joint_command(q.tolist())
        if verdict:
            return verdict
        spoon = self.motion.spoon_pose[:3]
        verdict = check_workspace(spoon.tolist(), self.workspace) or check_joint_speeds(
            self.motion.qd.tolist(), self.limits.max_joint_speed_rad_s
        )
        if verdict:
            return verdict
        mouth = self.supervisor.trusted_mouth_m
        if mouth is None:
            distance = None
        else:
            to_mouth = spoon - mouth
            distance = math.sqrt(to_mouth.dot(to_mouth))  # np.linalg.norm, without its overhead
        if distance is None and self.machine.state not in (FeedingState.APPROACH, FeedingState.AT_MOUTH):
            distance = math.inf  # away from the face with no mouth in view: the free cap applies
        p = self.profile
        cap = speed_cap_m_s(distance, p.speed_m_s, p.speed_near_mouth_m_s, p.near_mouth_radius_m, 0.0)
        return check_spoon_speed(self.motion.spoon_speed_m_s, cap, self.motion.stopping)

    def _count(self, verdict: Verdict) -> None:
        reason = verdict.reason
        if reason is not None and reason is not self._last_reason:
            self.stats.reasons[reason] = self.stats.reasons.get(reason, 0) + 1
        self._last_reason = reason


# -- journal ----------------------------------------------------------------------------------


class JournalWriter:
    """Writes journal events from a background thread so that the loop never waits on the disk.

    `put` never blocks. Errors of the journal are logged and counted in `errors` (the last one in
    `last_error`); the events themselves stay in order. `close()` writes what is queued, then stops.
    """

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.errors = 0
        self.last_error: Exception | None = None
        self.written = 0
        self._queue: queue.SimpleQueue[tuple[UsageEventType, dict[str, Any]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="bidvis-journal", daemon=True)
        self._thread.start()

    def put(self, event_type: UsageEventType, data: dict[str, Any]) -> None:
        self._queue.put((event_type, data))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            event_type, data = item
            try:
                if event_type is UsageEventType.MEAL_STARTED:
                    self.journal.start_meal(data)
                elif event_type is UsageEventType.MEAL_ENDED:
                    data = dict(data)
                    self.journal.end_meal(data.pop("reason", "completed"), data)
                else:
                    self.journal.record(event_type, data)
                self.written += 1
            except Exception as error:
                self.errors += 1
                self.last_error = error
                log.error("journal could not store %s: %s", event_type.value, error)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()


# -- the runner -------------------------------------------------------------------------------


@dataclass
class MealReport:
    """How a run ended, with everything counted on the way."""

    final_state: FeedingState
    duration_s: float
    loop: LoopStats
    controller: ControllerStats
    feeding: FeedingStats
    journal_errors: int


def run_meal(
    bus: ServoBus,
    mouth: MouthSource,
    inputs: CommandSource,
    clock: Clock,
    journal: Journal,
    profile: CitizenProfile,
    calibration: RobotCalibration,
    limits: SafetyLimits,
    *,
    rate_hz: float = DEFAULT_RATE_HZ,
    max_duration_s: float | None = None,
    stop_when: Callable[[MealController], bool] | None = None,
    prepare: bool = True,
    record_timing: bool = False,
    on_tick: Callable[[MealController], None] | None = None,
    contact_noise: JointNoise | None = None,
) -> MealReport:
    """Run the controller at `rate_hz` until the meal has ended (arm home), a fault has brought the
    arm to rest, `stop_when(controller)` is true, or `max_duration_s` has passed.

    Servos: `calibration.joint_servo_ids`; they are prepared (position mode, or current-based
    position mode when `limits.face_current_margin_ma` is above 0; torque on, Bus Watchdog
    `limits.watchdog_steps`, Position P/D Gain from `limits`) unless `prepare` is False (then
    Goal Current is never written). The start position is read from
    the bus. `on_tick` is called after every tick (progress display, the simulator's step).
    `contact_noise`: the arm's commissioned current noise (see `MealController`).
    """
    if not (math.isfinite(rate_hz) and rate_hz > 0.0):
        raise ValueError(f"rate must be a positive frequency in Hz, got {rate_hz}")
    period_s = 1.0 / rate_hz
    servos = ArmServos(calibration.joint_servo_ids)
    if prepare:
        gains = (limits.position_p_gain, limits.position_d_gain)
        servos.prepare(bus, limits.watchdog_steps, gains, operating_mode=operating_mode(limits.face_current_margin_ma))
    start_reading = servos.read_at_start(bus)
    controller = MealController(
        profile,
        calibration,
        limits,
        start_reading.q_rad,
        period_s=period_s,
        contact_noise=contact_noise,
        current_limit_a=servos.current_limit_a,
    )
    goal_current = _GoalCurrentSender(servos)
    writer = JournalWriter(journal)
    # Trigger sources report misfires and lost devices through the merger (`controller.triggers`).
    drain_input_events = getattr(inputs, "drain_events", None)
    stats = LoopStats(timing=TickTiming() if record_timing else None)
    timing = stats.timing
    start_s = clock.now()

    def tick(_periods: int) -> bool:
        """One tick of the meal; False once it is over."""
        now_s = clock.now()
        reading, error = None, None
        try:
            reading = servos.read(bus)
        except BridgeError as exc:
            error = exc
        read_s = clock.now()
        observation = mouth.latest()
        commands = inputs.poll(now_s, observation)
        q = controller.tick(now_s, reading, error, observation, commands)
        computed_s = clock.now()
        try:
            servos.write(bus, q)
        except BridgeError as exc:  # a lost write shows as a failed read next tick
            log.warning("sync write failed: %s", exc)
        goal_current.send(bus, controller.goal_current_a)
        if timing is not None:
            timing.read_s.append(read_s - now_s)
            timing.compute_s.append(computed_s - read_s)
            timing.write_s.append(clock.now() - computed_s)
        for event in controller.machine.events:
            writer.put(*event)
        controller.machine.events.clear()
        if drain_input_events is not None:
            for event in drain_input_events():
                writer.put(*event)
        if on_tick is not None:
            on_tick(controller)
        if _finished(controller) or (stop_when is not None and stop_when(controller)):
            return False
        return max_duration_s is None or clock.now() - start_s < max_duration_s

    try:
        run_at_rate(tick, clock, period_s, stats)
    finally:
        writer.close()
    return MealReport(
        controller.state,
        clock.now() - start_s,
        stats,
        controller.stats,
        controller.machine.stats,
        writer.errors,
    )


class _GoalCurrentSender:
    """Writes the joints' Goal Current when it changes (`GOAL_CURRENT_STEP_A`), in current-based
    position control only; a failed write is tried again on the next tick."""

    def __init__(self, servos: ArmServos) -> None:
        self.servos = servos
        limit = servos.current_limit_a
        self.full_a = None if limit is None else np.full(4, limit)
        self.sent_a: np.ndarray | None = self.full_a  # what start-up wrote

    def send(self, bus: ServoBus, wanted_a: np.ndarray | None) -> None:
        """Write `wanted_a` (A per joint; None: the Current Limit) if it differs from what was sent."""
        if self.full_a is None:
            return
        wanted = self.full_a if wanted_a is None else wanted_a
        if not goal_current_changed(self.sent_a, wanted, GOAL_CURRENT_STEP_A):
            return
        try:
            self.servos.write_goal_current(bus, wanted)
        except BridgeError as exc:
            log.warning("goal current write failed: %s", exc)
            return
        self.sent_a = wanted


def _finished(controller: MealController) -> bool:
    machine = controller.machine
    if machine.state is FeedingState.ENDED and not machine.ending:
        return True
    return machine.state is FeedingState.FAULT and controller.motion.at_rest


__all__ = [
    "DEFAULT_RATE_HZ",
    "ArmServos",
    "CommandKind",
    "CommandQueue",
    "ControllerStats",
    "JointReading",
    "JournalWriter",
    "LatestValue",
    "LoopStats",
    "MealController",
    "MealReport",
    "MissingReply",
    "TickTiming",
    "UserCommand",
    "run_meal",
]
