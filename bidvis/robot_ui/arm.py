"""The arm during set-up: hold-to-move jogging, taught-pose moves and a stop, on one motion path.

`ArmDriver` owns the servo bus while staff set the robot up. Every `tick()` reads the joint
servos, judges the reading, advances one jerk-limited `controller.motion.Motion` and writes the
goals. It is the meal's motion runtime with a set-up task: the ticks run on the meal's own
fixed-rate loop (`controller.schedule.run_at_rate`, from the driver's thread; tests call `tick()`
on a simulated clock), and each reading is judged by the meal's own checks over the meal's own
`SafetySupervisor` (`controller.arm_guard.ArmGuard`); only the targets differ. The driver and its
thread live in the set-up process (`bidvis.motion_runtime.setup_worker`), never in the web
server's; the staff page reaches them through `bidvis.motion_runtime.setup_runner.ArmProcess`:

- Jogging is hold-to-move. `hold(owner, ...)` is a heartbeat the browser sends every ~50 ms while
  a button is pressed; the joint moves only while heartbeats keep coming. When none came for
  `HOLD_TIMEOUT_S` (the button was released, the tab closed, the network dropped) the next tick
  stops the arm: a stop target with high jerk, so it rests within 200 ms of the last heartbeat
  (tested on the virtual servos' simulated clock).
- Who may move the arm is decided before a request reaches the driver: one owner at a time
  holds the arm's lease (`arm_lease.ArmLease`, taken by `ArmControl`).
- `move_through(poses)` moves through joint poses (go to a taught pose, a test bite);
  `stop()` ends any motion at once, whoever asks; a browser still holding its jog button is then
  refused (`ArmStopped`) until it presses anew, so STOP cannot be undone by a held button. Presses
  are numbered, and a heartbeat that arrives after its press was released is ignored.
- `park(rest_pose)` (park and power down) moves to the rest pose and, once the measured joints
  stand there, turns the torque off: mode PARKED, the driver sends nothing until `connect()`. A
  park that does not get there ends in fault with the torque on.
- The servos' Bus Watchdog is armed by `connect()`, so the servos stop by themselves if this
  process dies and stops talking. Every reading is judged as in a meal (`ArmGuard`): a watchdog
  that tripped, torque gone off or a hardware error is a fault at once, and nothing re-arms the
  servos but `connect()`, which a person asks for. Joints further from the command than the meal
  allows (`max_following_error_rad` plus `following_lag_s` times the commanded speed, two ticks
  in a row: a blocked or sagging arm) are a fault, and so are a servo hotter, or a supply lower or
  higher, than the meal's limits.
- A bus that stays silent (a USB stall, a pulled cable) is judged as in a meal: a failed read
  that starts the watchdog time or more after the last read the servos answered (a garbled or
  partial answer counts), or a read answered only after failed ones that long, is a fault, since
  the servos may have stopped by themselves; from then on the driver sends nothing until
  `connect()`. A shorter stall is ridden through. Failed reads in a row (a servo that stopped
  answering, replies that keep arriving corrupt) are a fault too, once there are more than a stall
  as long as the watchdog would fail (`controller.timing.stall_bus_errors` on the bus's own reply
  timeout, `max_bus_errors`): so any stall the servos ride out is ridden out here too, whatever
  the port's reply allowance (`ArmControl` opens the port as the meal does,
  `bidvis.motion_runtime.servo_port`).
- Contact is guarded as in a meal (`controller.safety.ContactDetector` against the meal's
  `CurrentModel` of the commanded motion, thresholds from the commissioning record when there is
  one): a jog or a move that meets something stops at once (an ordinary stop target) and then holds
  in fault, naming the joint; `connect()` clears it. A joint lying on its hard stop (an arm parked
  with its torque off, or sagged) is not judged until it has left the stop and its baseline has
  been learnt afresh: the stop carries part of its load, and lets it go as *Go to ready* lifts it. The goals are streamed at the meal's rate: at
  50 Hz each goal was a step four times as large, and the current of the servo's position loop
  swinging after each step (up to 1.4 A at 1 rad/s, sampled at whatever phase the tick fell on)
  was read as contact. The ticks keep to a grid of real time: a late tick catches up the periods
  it missed (up to `MAX_CATCH_UP_PERIODS`), so a loaded computer does not slow the arm down in
  fits and starts. After a pause in the goals or a catch-up step the readings settle
  (`SETTLE_AFTER_PAUSE_S`) before they are judged again (docs/controller.md, "Contact detection").
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from bidvis.motion_runtime.wall_clock import WallClock
from controller.arm_guard import ArmGuard, Check
from controller.causes import cause_message
from controller.config import BUS_WATCHDOG_MAX_STEPS, BUS_WATCHDOG_STEP_MS, SafetyLimits
from controller.kinematics import JOINT_LIMITS_RAD, SpoonMount, Unreachable, forward, forward_spoon
from controller.loop import DEFAULT_RATE_HZ, ArmServos, JointReading
from controller.messages import Language, Message, MessageError
from controller.motion import Motion, MotionLimits
from controller.safety import (
    ContactDetector,
    CurrentModel,
    JointNoise,
    SafetySupervisor,
    Verdict,
    resting_on_stops,
)
from controller.schedule import LoopStats, run_at_rate
from controller.timing import stall_bus_errors
from firmware_bridge import BridgeError, ServoError
from firmware_bridge.control_table import OperatingMode

log = logging.getLogger(__name__)

PERIOD_S = 1.0 / DEFAULT_RATE_HZ  # the meal loop's period; `ArmControl` uses the calibration's rate
MAX_CATCH_UP_PERIODS = 2  # a tick this many periods late still advances the motion on time
# A pause in the goal stream (a lost reply waited out, a late tick) or a catch-up step jolts a moving
# arm: its position loop brakes, or lunges, and its current swings for a few of its time constants
# (~16 ms), as it did after every 50 Hz goal. Readings of that settling are not judged for contact
# (nor learnt into its baseline); a push lasts beyond it and is caught then.
GOAL_PAUSE_PERIODS = 2.0  # goals written this many periods apart: a pause
SETTLE_AFTER_PAUSE_S = 0.05
# Set-up moves sweep the arm through its poses faster than a meal nears a face, and the current
# model's gravity error changes with the pose as fast: the contact baseline follows it with 0.3 s
# (the meal's 1 s; 0.3 s detected the same pushes in the meal's tuning, docs/controller.md).
SETUP_BASELINE_TAU_S = 0.3
HOLD_TIMEOUT_S = 0.1  # two heartbeats (50 ms) missed: stop
JOG_SPOON_SPEED_M_S = 0.05  # the spoon's speed cap while jogging
JOG_MAX_JOINT_SPEED_RAD_S = 0.3
LIMIT_MARGIN_RAD = 0.02  # jogging ends this short of a joint limit
# The servos' Bus Watchdog during set-up. Goals are streamed in steps of at most 15 mrad, so a silent
# host leaves the arm at most one step from where it stands; the watchdog is the servos' backstop and
# must not trip when a busy computer misses a few ticks.
SETUP_WATCHDOG_STEPS = 10  # x 20 ms
# Park and power down: the rest pose is reached when a fresh reading, after the move has ended,
# has every joint this near it; the arm gets PARK_SETTLE_S, and at least PARK_SETTLE_READINGS
# readings (a starved thread cannot cut it short), to get there before the park fails, torque on.
PARK_TOLERANCE_RAD = 0.03
PARK_SETTLE_S = 1.0
PARK_SETTLE_READINGS = 20
PARK_SPOON_SPEED_M_S = 0.05  # set-up speed (as jogging): slow, nobody needs the arm quickly

# Stops during set-up are sharper than in a meal: nothing is near a face and the arm is slow.
JOG_LIMITS = MotionLimits(
    max_joint_speed_rad_s=JOG_MAX_JOINT_SPEED_RAD_S,
    joint_stop_acceleration_rad_s2=8.0,
    joint_stop_jerk_rad_s3=600.0,
)
# Pose moves and test bites: the spoon speed cap of the move rules; joints as in a meal.
POSE_LIMITS = dataclasses.replace(JOG_LIMITS, max_joint_speed_rad_s=1.0)


def setup_contact_detector(noise: JointNoise, sigmas: float, period_s: float) -> ContactDetector:
    """The contact detector of set-up moves: the meal's, with its baseline at `SETUP_BASELINE_TAU_S`."""
    return ContactDetector(noise, sigmas, period_s, baseline_tau_s=SETUP_BASELINE_TAU_S)


class ArmError(MessageError):
    """Base of the set-up arm errors; each carries a robot `Message`."""


class ArmNotConnected(ArmError):
    """The arm is not connected (or is being used by a running meal)."""


class ArmStopped(ArmError):
    """STOP was pressed while this owner held a jog button: it must let go before moving again."""


class ArmFault(ArmError):
    """The arm cannot move: the bus failed or a servo reported an error; reconnect to clear."""


class ArmParked(ArmError):
    """The arm is parked with its torque off; `connect()` turns the torque on again."""


class ArmMode(StrEnum):
    """What the driver is doing."""

    IDLE = "idle"
    JOGGING = "jogging"
    MOVING = "moving"
    STOPPING = "stopping"
    FAULT = "fault"
    PARKED = "parked"


# The driver sends nothing in these modes: the servos hold their last goal (FAULT) or are limp (PARKED).
_SILENT_MODES = frozenset({ArmMode.FAULT, ArmMode.PARKED})


@dataclass
class Jog:
    """Which owner jogs which joint, and when their last heartbeat came."""

    owner: str
    joint: int
    direction: int
    last_beat_s: float
    press: int = 0
    moving: bool = True


@dataclass(frozen=True)
class ArmStatus:
    """A snapshot for the status display."""

    mode: ArmMode
    q_rad: tuple[float, ...]
    spoon_xyz_m: tuple[float, ...]
    temperature_c: tuple[float, ...]
    voltage_v: float
    fault: Message | None
    at: float

    def as_dict(self, language: Language = Language.ENGLISH) -> dict[str, Any]:
        """The status for the page: `fault` in English (logs, scripts), `fault_text` in `language`."""
        return {
            "mode": self.mode.value,
            "mode_text": Message(f"arm_mode.{self.mode.value}").text(language),
            "q_rad": list(self.q_rad),
            "q_deg": [round(math.degrees(q), 1) for q in self.q_rad],
            "spoon_xyz_m": list(self.spoon_xyz_m),
            "temperature_c": list(self.temperature_c),
            "voltage_v": self.voltage_v,
            "fault": None if self.fault is None else str(self.fault),
            "fault_text": None if self.fault is None else self.fault.text(language),
        }


@dataclass
class _Sequence:
    poses: list[np.ndarray]
    speed_m_s: float
    index: int = 0
    started: bool = field(default=False)
    power_down: bool = False  # a park: torque off once the measured arm stands on the last pose
    settle_from_s: float | None = None  # when the park move ended
    settle_readings: int = 0  # fresh readings since then


class ArmDriver:
    """Set-up motion of the arm on `bus` (a `firmware_bridge.DynamixelBus`); see the module doc."""

    def __init__(
        self,
        bus: Any,
        joint_ids: Sequence[int],
        spoon: SpoonMount,
        watchdog_steps: int,
        *,
        limits: SafetyLimits,
        clock: Callable[[], float] = time.monotonic,
        period_s: float = PERIOD_S,
        contact: ContactDetector | None = None,
        operating_mode: OperatingMode = OperatingMode.POSITION,
    ) -> None:
        """`watchdog_steps`: the servos' Bus Watchdog during set-up, in its 20 ms steps (1-127);
        `limits`: the meal's safety limits, by which every reading is judged as in a meal
        (`controller.arm_guard.ArmGuard`: following error, temperature, supply voltage);
        `contact`: the contact detector of set-up moves (its `period_s` must be this driver's);
        None: the meal's for an arm not yet commissioned, at the set-up's baseline
        (`setup_contact_detector`); `operating_mode`: the meal's
        (`controller.face_current.operating_mode`), so that neither switches it under the other
        (in current-based position control set-up moves have the full Current Limit)."""
        if not 1 <= watchdog_steps <= BUS_WATCHDOG_MAX_STEPS:
            raise ValueError(
                f"the set-up Bus Watchdog must be 1-{BUS_WATCHDOG_MAX_STEPS} steps of {BUS_WATCHDOG_STEP_MS} ms "
                f"(the servos stop by themselves when this computer falls silent), got {watchdog_steps}"
            )
        self.bus = bus
        self.servos = ArmServos(joint_ids)
        self.spoon = spoon
        self.watchdog_steps = watchdog_steps
        self.watchdog_s = watchdog_steps * BUS_WATCHDOG_STEP_MS / 1000.0
        self.operating_mode = operating_mode
        self.limits = limits
        self.clock = clock
        self.period_s = period_s
        self._lock = threading.RLock()
        self._jog: Jog | None = None
        self._ended_press: dict[str, int] = {}  # owner -> last press released or stopped
        self._stopped_press: dict[str, int] = {}  # owner -> last press ended by STOP
        self._sequence: _Sequence | None = None
        self._reading: JointReading | None = None
        self._motion: Motion | None = None
        self._mode = ArmMode.IDLE
        self._fault: Message | None = None
        self.failed_reads = 0  # since connect: reads lost to timeouts or bad packets
        self._read_at = -math.inf  # clock time of the last good reading
        self._fresh = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._running = threading.Event()
        self.contact = contact or setup_contact_detector(
            JointNoise.uniform(limits.uncommissioned_current_noise_ma / 1e3), limits.contact_noise_sigmas, period_s
        )
        # The meal's supervisor and checks; the failed reads in a row it allows are set by `connect`.
        self.supervisor = SafetySupervisor(
            max_consecutive_bus_errors=1, max_mouth_jump_m=limits.max_mouth_jump_m, contact=self.contact
        )
        self.guard = ArmGuard(self.servos.ids, self.supervisor, limits, self.watchdog_s)
        self._current_model = CurrentModel()
        self._qd_prev = np.zeros(4)
        self._stepped_s = period_s  # how much motion time the last written goals advanced
        self._written_at = -math.inf  # clock time of the last goal write
        self._settled_at = -math.inf  # readings before this follow a pause in the goals: not judged
        self._contact_fault: Message | None = None  # set on contact; a fault once the arm stands still

    # -- life cycle ----------------------------------------------------------------------------

    def connect(self) -> JointReading:
        """Prepare the servos (`operating_mode`, torque on, watchdog armed) and hold them where they are."""
        with self._lock:
            self.supervisor.max_consecutive_bus_errors = (
                stall_bus_errors(self.servos.read_timeout_s(self.bus), self.watchdog_s) + 1
            )
            try:
                self.servos.prepare(self.bus, self.watchdog_steps, operating_mode=self.operating_mode)
                reading = self.servos.read_at_start(self.bus)  # a garbled or lost answer is asked again
            except BridgeError as exc:
                raise ArmFault(Message("fault.cannot_prepare_servos", cause=cause_message(exc)), cause=exc) from exc
            self._reading = reading
            self._motion = Motion(
                np.clip(reading.q_rad, *np.array(JOINT_LIMITS_RAD).T), self.spoon, self.period_s, JOG_LIMITS
            )
            self._mode, self._fault, self.failed_reads = ArmMode.IDLE, None, 0
            self._read_at = self.clock()
            self.guard.restart(self._read_at)
            self._jog, self._sequence = None, None
            self._reset_contact()
            return reading

    def start(self) -> None:
        """Run `tick()` every period from a background thread (real time)."""
        if self._thread is not None:
            return
        self._running.set()
        self._thread = threading.Thread(target=self._run, name="arm-driver", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread; the servos hold their last goal (and stop by watchdog if left alone)."""
        self._running.clear()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

    @property
    def max_bus_errors(self) -> int:
        """Failed reads in a row that are a fault: more than a stall as long as the set-up watchdog
        fails at this bus's reply timeout (set by `connect`)."""
        return self.supervisor.max_consecutive_bus_errors

    def _run(self) -> None:
        """The thread: `tick()` on the meal's fixed-rate loop, catching up late ticks (real time)."""
        run_at_rate(
            self._tick_while_running, WallClock(), self.period_s, LoopStats(), catch_up_periods=MAX_CATCH_UP_PERIODS
        )

    def _tick_while_running(self, periods: int) -> bool:
        if not self._running.is_set():
            return False
        try:
            self.tick(periods)
        except Exception:  # never die silently: report it as a fault and keep the arm held
            log.exception("arm driver tick failed")
            with self._lock:
                self._set_fault(Message("fault.driver_internal"))
        return self._running.is_set()

    # -- requests ------------------------------------------------------------------------------

    def hold(self, owner: str, joint: int, direction: int, press: int = 0) -> bool:
        """One heartbeat of a held jog button: move `joint` (1-4) in `direction` (+1/-1).

        `press` numbers the owner's button presses; a heartbeat of a press already released (one
        that arrives late, after its release) is ignored and returns False, so a late packet can
        never restart the arm. A press ended by STOP is refused with `ArmStopped`.
        """
        if joint not in (1, 2, 3, 4) or direction not in (1, -1):
            raise ValueError(f"jog needs joint 1-4 and direction +1 or -1, got joint {joint}, direction {direction}")
        now = self.clock()
        with self._lock:
            self._require_ready()
            if press <= self._stopped_press.get(owner, -1):
                raise ArmStopped(Message("refusal.let_go_after_stop"))
            if press <= self._ended_press.get(owner, -1):
                return False
            self._sequence = None
            self._jog = Jog(owner, joint, direction, now, press)
            return True

    def release(self, owner: str, press: int | None = None) -> None:
        """The jog button was let go (`press`, or the owner's current press): stop now."""
        with self._lock:
            jog = self._jog if self._jog is not None and self._jog.owner == owner else None
            ended = press if press is not None else (jog.press if jog is not None else -1)
            self._ended_press[owner] = max(self._ended_press.get(owner, -1), ended)
            if jog is not None and jog.moving and jog.press <= ended:
                jog.moving = False
                self._stop_motion()

    def move_through(self, poses: Sequence[Sequence[float]], speed_m_s: float) -> None:
        """Move through joint poses (rad) in order, the spoon no faster than `speed_m_s`."""
        self._start_sequence(poses, speed_m_s, power_down=False)

    def park(self, rest_pose: Sequence[float], speed_m_s: float) -> None:
        """Park and power down: move to `rest_pose` (rad), the spoon no faster than `speed_m_s`;
        once a fresh reading has every joint within `PARK_TOLERANCE_RAD` of it, turn the torque
        off on every joint (mode PARKED). If the arm does not get there (a fault on the way, or
        still off the pose `PARK_SETTLE_S` after the move ended) it is a fault, the torque on."""
        self._start_sequence([rest_pose], speed_m_s, power_down=True)

    def _start_sequence(self, poses: Sequence[Sequence[float]], speed_m_s: float, *, power_down: bool) -> None:
        targets = [np.asarray(p, dtype=float) for p in poses]
        if not targets:
            raise ValueError("no poses to move through")
        with self._lock:
            self._require_ready()
            self._jog = None
            self._sequence = _Sequence(targets, speed_m_s, power_down=power_down)

    def stop(self) -> None:
        """Stop any motion now (jog or pose moves), whoever asks. The owner who was jogging must
        let go of its button before its heartbeats move the arm again."""
        with self._lock:
            self._sequence = None
            jog = self._jog
            if jog is not None:
                for ended in (self._stopped_press, self._ended_press):
                    ended[jog.owner] = max(ended.get(jog.owner, -1), jog.press)
                self._jog = None
            self._stop_motion()

    def _require_motion(self) -> Motion:
        """The commanded motion; it exists from `connect` on, and the loop runs only after it."""
        assert self._motion is not None, "the arm is not connected"
        return self._motion

    def _stop_motion(self) -> None:
        if self._motion is not None and self._mode not in _SILENT_MODES:
            self._motion.stop()
            self._mode = ArmMode.STOPPING

    def _require_ready(self) -> None:
        if self._motion is None:
            raise ArmNotConnected(Message("refusal.not_connected"))
        if self._mode is ArmMode.FAULT:
            raise ArmFault(Message("fault.arm_fault", fault=self._fault or ""))
        if self._mode is ArmMode.PARKED:
            raise ArmParked(Message("refusal.arm_parked"))

    # -- one period ----------------------------------------------------------------------------

    def tick(self, periods: int = 1) -> None:
        """Read the joints, advance the motion `periods` periods (the slots since the last tick,
        at most 1 + `MAX_CATCH_UP_PERIODS`), write the goals."""
        with self._lock:
            if self._motion is None or self._mode in _SILENT_MODES:
                return
            now = self.clock()
            reading, error = None, None
            try:
                reading = self.servos.read(self.bus)
            except BridgeError as exc:
                error = exc
                self.failed_reads += 1
            # Judged when the read ended, so that a failed read's wait counts as silence and a pulled
            # cable is a fault within a tick of the watchdog time. (The meal judges at the tick's
            # start; its timing budget, docs/controller.md, counts that way.)
            read_s, heard_s, motion = self.clock(), self.guard.last_heard_s, self._motion
            check, verdict = self.guard.check(read_s, reading, error, motion.q, motion.qd)
            if reading is not None:
                self._reading, self._read_at = reading, now
                self._fresh.notify_all()
            if verdict:
                log.warning("set-up move stopped: %s", verdict.detail)
                assert check is not None  # every verdict comes with its check
                unheard_s = read_s - (heard_s if heard_s is not None else read_s)
                self._set_fault(self._fault_said(check, verdict, error, unheard_s))
                return
            if self._read_at == now:  # a fresh reading
                self._touched()
            try:
                self._plan(now)
                if self._mode in _SILENT_MODES:
                    return  # parked (torque off), or the park did not get there
                if self._mode is ArmMode.IDLE and self._motion.finished:
                    return  # nothing asked: the servos hold their goal (the reads keep the watchdog fed)
                for _ in range(periods):
                    q = self._motion.step()
                self._stepped_s = periods * self.period_s
            except (Unreachable, ValueError) as exc:  # PlanningError included: a named stop, never an internal error
                self._sequence = None
                self._stop_motion()
                log.warning("set-up move stopped: %s", exc)
                return
            try:
                self.servos.write(self.bus, q)
            except BridgeError as exc:
                log.warning("goal write failed: %s", exc)
            self._goals_written()
            if self._mode is ArmMode.STOPPING and self._motion.at_rest:
                self._mode = ArmMode.IDLE
                if self._contact_fault is not None:
                    self._set_fault(self._contact_fault)

    def _goals_written(self) -> None:
        """Note when the goals went out; after a pause in them or a catch-up, the readings settle first."""
        written_at = self.clock()
        if written_at - self._written_at > GOAL_PAUSE_PERIODS * self.period_s or self._stepped_s > self.period_s * 1.5:
            self._settled_at = written_at + SETTLE_AFTER_PAUSE_S
        self._written_at = written_at

    def _reset_contact(self) -> None:
        self._qd_prev = np.zeros(4)
        self._contact_fault = None
        self.contact.reset()

    def _touched(self) -> None:
        """Contact check of this tick's reading against the commanded motion: on contact, stop
        (jog and moves end, as with STOP) and fault once at rest."""
        motion = self._require_motion()
        qd = motion.qd
        qdd = (qd - self._qd_prev) / self._stepped_s
        self._qd_prev = qd
        if self._reading is None or self._contact_fault is not None or self._read_at < self._settled_at:
            return
        expected = self._current_model.expected_a(motion.q, qdd, qd)
        on_stop = resting_on_stops(self._reading.q_rad)  # a parked or sagged arm lies on its stops
        verdict = self.contact.update(self._reading.current_a, expected, qd, on_stop)
        if verdict:
            log.warning("set-up move stopped by contact: %s", verdict.detail)
            self._contact_fault = self._contact_said(self.contact)
            self.stop()

    def _fault_said(self, check: Check, verdict: Verdict, error: BridgeError | None, unheard_s: float) -> Message:
        """A fault `ArmGuard` found (`check`, `verdict`), in the staff page's words."""
        reason = Message(f"safety.{verdict.reason}") if verdict.reason is not None else ""
        if check is Check.SERVO_ALERT and isinstance(error, ServoError):
            return Message("fault.servo_hardware", servo=error.servo_id, cause=cause_message(error))
        if check is Check.BUS_SILENCE:
            return Message(
                "fault.bus_silent_for_watchdog", unheard_ms=unheard_s * 1e3, watchdog_ms=self.watchdog_s * 1e3
            )
        if check is Check.BUS_ERRORS:
            return Message("fault.bus_silent", cause=cause_message(error) if error is not None else "")
        if check is Check.FOLLOWING:
            return Message("fault.following_error")
        if check is Check.HEALTH:
            return Message("fault.servo_health", reason=reason)
        return Message("fault.servos_stopped", reason=reason)

    @staticmethod
    def _contact_said(contact: ContactDetector) -> Message:
        """The contact just found, in words: the joint furthest over its threshold, its excess and threshold."""
        assert contact.last_excess_a is not None and contact.last_threshold_a is not None  # set by its update
        joint = int(np.argmax(contact.last_excess_a / contact.last_threshold_a))
        return Message(
            "fault.contact",
            joint=joint + 1,
            excess_ma=float(contact.last_excess_a[joint]) * 1e3,
            threshold_ma=float(contact.last_threshold_a[joint]) * 1e3,
        )

    def _plan(self, now: float) -> None:
        motion = self._require_motion()
        jog = self._jog
        if jog is not None and jog.moving:
            if now - jog.last_beat_s > HOLD_TIMEOUT_S:
                jog.moving = False
                self._stop_motion()
                return
            target = motion.q.copy()
            low, high = JOINT_LIMITS_RAD[jog.joint - 1]
            target[jog.joint - 1] = high - LIMIT_MARGIN_RAD if jog.direction > 0 else low + LIMIT_MARGIN_RAD
            motion.limits = JOG_LIMITS
            motion.move_joints(target, JOG_SPOON_SPEED_M_S)
            self._mode = ArmMode.JOGGING
            return
        sequence = self._sequence
        if sequence is None:
            return
        if sequence.started and motion.at_rest:
            sequence.index += 1
            sequence.started = False
        if sequence.index >= len(sequence.poses):
            if sequence.power_down:
                self._power_down_there(sequence, now)
                return
            self._sequence = None
            self._mode = ArmMode.IDLE
            return
        if not sequence.started:
            try:
                motion.limits = POSE_LIMITS
                motion.move_joints(sequence.poses[sequence.index], sequence.speed_m_s)
            except (Unreachable, ValueError) as exc:
                self._sequence = None
                self._stop_motion()
                log.warning("pose move refused: %s", exc)
                return
            sequence.started = True
            self._mode = ArmMode.MOVING

    def _power_down_there(self, sequence: _Sequence, now: float) -> None:
        """The park move has ended: torque off once a fresh reading has the arm on the rest pose
        (PARKED); a fault, torque on, if it is not there after the settling time."""
        if self._reading is None or self._read_at != now:
            return  # judged on this tick's reading only
        off = np.abs(self._reading.q_rad - sequence.poses[-1])
        if float(np.max(off)) <= PARK_TOLERANCE_RAD:
            try:
                self.servos.torque_off(self.bus)
            except BridgeError as exc:
                log.warning("cannot turn the torque off: %s", exc)
                self._set_fault(Message("fault.torque_not_off", cause=cause_message(exc)))
                return
            log.info("arm parked at %s rad, torque off", np.round(self._reading.q_rad, 3).tolist())
            self._sequence, self._mode = None, ArmMode.PARKED
            return
        if sequence.settle_from_s is None:
            sequence.settle_from_s = now
        sequence.settle_readings += 1
        if now - sequence.settle_from_s >= PARK_SETTLE_S and sequence.settle_readings >= PARK_SETTLE_READINGS:
            joint = int(np.argmax(off))
            self._set_fault(
                Message(
                    "fault.rest_pose_not_reached",
                    joint=joint + 1,
                    off_rad=float(off[joint]),
                    tolerance_rad=PARK_TOLERANCE_RAD,
                )
            )

    def _set_fault(self, reason: Message) -> None:
        self._mode, self._fault = ArmMode.FAULT, reason
        self._sequence, self._jog = None, None
        self._fresh.notify_all()

    # -- what the pages show -------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while the arm moves on its own (a pose move or a test bite)."""
        with self._lock:
            return self._sequence is not None

    def measured_q(self) -> np.ndarray:
        """The joint angles last read from the servos (rad)."""
        with self._lock:
            if self._reading is None:
                raise ArmNotConnected(Message("refusal.not_connected"))
            return self._reading.q_rad.copy()

    def current_q(self, timeout_s: float = 1.0) -> np.ndarray:
        """The joint angles read after this call (rad): where the arm is now, never a stale reading
        (what teaching and calibration record). Needs the driver's thread; raises `ArmFault` when
        no reading comes within `timeout_s`."""
        with self._lock:
            asked = self.clock()
            if self._reading is None:
                raise ArmNotConnected(Message("refusal.not_connected"))
            if self._mode is ArmMode.PARKED:
                raise ArmParked(Message("refusal.arm_parked"))
            if not self._fresh.wait_for(lambda: self._read_at > asked or self._mode is ArmMode.FAULT, timeout_s):
                raise ArmFault(Message("fault.no_reading", timeout_s=float(timeout_s)))
            if self._mode is ArmMode.FAULT:
                raise ArmFault(Message("fault.arm_fault", fault=self._fault or ""))
            return self._reading.q_rad.copy()

    def status(self) -> ArmStatus:
        with self._lock:
            reading = self._reading
            if reading is None:
                return ArmStatus(self._mode, (), (), (), 0.0, self._fault, self.clock())
            spoon = (
                forward_spoon(reading.q_rad, self.spoon)[:3] if self._motion is not None else forward(reading.q_rad)[:3]
            )
            return ArmStatus(
                self._mode,
                tuple(float(q) for q in reading.q_rad),
                tuple(round(float(v), 4) for v in spoon),
                tuple(float(t) for t in reading.temperature_c),
                float(np.min(reading.voltage_v)),
                self._fault,
                self.clock(),
            )
