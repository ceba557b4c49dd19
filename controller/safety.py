"""The safety supervisor: pure checks, each answering with a `Verdict` that names its reason.

Every check is a plain function of its inputs (limits come from `controller.config.SafetyLimits`
and the citizen profile); the little state that watchdogs need (consecutive bus errors, the last
trusted mouth, the contact detector's filters) lives in `SafetySupervisor`, which the loop calls
once per tick. A verdict is only a decision: the feeding state machine turns it into an ordinary
motion target (stop = zero velocity with the stop jerk limit, then retract or hold).

Reactions, in rising severity:
- HOLD: stop advancing and stand still until the cause goes away (stale vision, a jumped mouth).
- RETRACT: stop, then take the spoon back to the ready pose (mouth lost, contact, a sudden
  lean-in toward the spoon, unreachable target).
- SAFE_STOP: stop where we are and enter FAULT until a person re-arms (servo hardware error,
  overheating, voltage, bus errors, e-stop, invalid command, a measured arm that does not follow
  its command, torque lost, the servos' watchdog tripped, a planner error).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

import numpy as np

from controller.kinematics import JOINT_HIGH_RAD, JOINT_LIMITS_RAD, JOINT_LOW_RAD, JOINT_NAMES
from firmware_bridge.control_table import XM430_W350
from firmware_bridge.protocol import HardwareError

# The arm's hard stops are at its joint limits. A joint this near one (or beyond it) may lie on its
# stop; noise and the stop's give are a few mrad, and set-up jogs end 20 mrad short of a limit.
STOP_BAND_RAD = 0.01


class SafetyReason(StrEnum):
    """Why the supervisor reacted; journalled as `data["reason"]` of a `safety_stop` event."""

    JOINT_LIMIT = "joint_limit"
    WORKSPACE = "workspace"
    SPEED_LIMIT = "speed_limit"
    INVALID_TARGET = "invalid_target"
    UNREACHABLE = "unreachable"
    STALE_VISION = "stale_vision"
    MOUTH_LOST = "mouth_lost"
    MOUTH_JUMP = "mouth_jump"
    LEAN_IN = "lean_in"
    CONTACT = "contact"
    SERVO_HARDWARE_ERROR = "servo_hardware_error"
    OVERHEATING = "overheating"
    LOW_VOLTAGE = "low_voltage"
    HIGH_VOLTAGE = "high_voltage"
    BUS_ERRORS = "bus_errors"
    ESTOP = "estop"
    CLOCK_JUMP = "clock_jump"
    FOLLOWING_ERROR = "following_error"
    TORQUE_OFF = "torque_off"
    WATCHDOG_TRIPPED = "watchdog_tripped"
    PLANNER_ERROR = "planner_error"


class Reaction(IntEnum):
    """What the arm must do, ordered by severity (the worst verdict of a tick wins)."""

    NONE = 0
    HOLD = 1
    RETRACT = 2
    SAFE_STOP = 3


@dataclass(frozen=True, slots=True)
class Verdict:
    """A check's decision: the reaction, its reason, and a human-readable detail."""

    reaction: Reaction
    reason: SafetyReason | None = None
    detail: str = ""

    def __bool__(self) -> bool:
        return self.reaction is not Reaction.NONE


OK = Verdict(Reaction.NONE)


def worst(verdicts: Sequence[Verdict]) -> Verdict:
    """The most severe verdict (the first of equals), or OK."""
    result = OK
    for verdict in verdicts:
        if verdict.reaction > result.reaction:
            result = verdict
    return result


# -- limits of the command ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Workspace:
    """Where the spoon may be, in the base frame (m): above the table, within a radius of joint 1.

    Defaults fit the OpenManipulator-X-class arm on a table at z = 0.
    """

    min_z_m: float = 0.005
    max_z_m: float = 0.45
    max_radius_m: float = 0.50


def check_joint_command(q: Sequence[float]) -> Verdict:
    """A joint command must be finite and within the joint limits (SAFE_STOP otherwise)."""
    for index, (value, (low, high)) in enumerate(zip(q, JOINT_LIMITS_RAD, strict=True)):
        if not math.isfinite(value):
            return Verdict(Reaction.SAFE_STOP, SafetyReason.INVALID_TARGET, f"{JOINT_NAMES[index]} command is {value}")
        if not low <= value <= high:
            return Verdict(
                Reaction.SAFE_STOP,
                SafetyReason.JOINT_LIMIT,
                f"{JOINT_NAMES[index]} command {value:.3f} rad outside [{low}, {high}]",
            )
    return OK


def check_workspace(spoon_xyz: Sequence[float], workspace: Workspace) -> Verdict:
    """The commanded spoon must stay above the table and within reach (SAFE_STOP otherwise)."""
    x, y, z = spoon_xyz
    if not workspace.min_z_m <= z <= workspace.max_z_m:
        return Verdict(
            Reaction.SAFE_STOP,
            SafetyReason.WORKSPACE,
            f"spoon height {z:.3f} m outside {workspace.min_z_m}..{workspace.max_z_m} m",
        )
    radius = math.hypot(x, y)
    if radius > workspace.max_radius_m:
        return Verdict(
            Reaction.SAFE_STOP,
            SafetyReason.WORKSPACE,
            f"spoon {radius:.3f} m from the base, beyond {workspace.max_radius_m} m",
        )
    return OK


def check_joint_speeds(
    joint_speeds_rad_s: Sequence[float], max_joint_speed_rad_s: float, tolerance: float = 0.05
) -> Verdict:
    """Commanded joint speeds within the limit (+tolerance); SAFE_STOP otherwise (a planner fault)."""
    fastest = max(abs(v) for v in joint_speeds_rad_s)
    if fastest > max_joint_speed_rad_s * (1.0 + tolerance):
        return Verdict(
            Reaction.SAFE_STOP,
            SafetyReason.SPEED_LIMIT,
            f"joint speed {fastest:.3f} rad/s above {max_joint_speed_rad_s} rad/s",
        )
    return OK


def check_spoon_speed(
    spoon_speed_m_s: float, spoon_speed_cap_m_s: float, stopping: bool, tolerance: float = 0.05
) -> Verdict:
    """The spoon no faster than the cap where it is (+tolerance). Too fast (typically because the
    mouth came closer) is a stop and retract; a spoon already stopping is only slowing down."""
    if not stopping and spoon_speed_m_s > spoon_speed_cap_m_s * (1.0 + tolerance):
        return Verdict(
            Reaction.RETRACT,
            SafetyReason.SPEED_LIMIT,
            f"spoon speed {spoon_speed_m_s:.3f} m/s above the cap {spoon_speed_cap_m_s} m/s here",
        )
    return OK


def speed_cap_m_s(
    distance_to_mouth_m: float | None,
    speed_m_s: float,
    speed_near_mouth_m_s: float,
    near_mouth_radius_m: float,
    braking_distance_m: float,
) -> float:
    """The spoon speed cap: the near-mouth cap within the near-mouth radius plus the distance the
    arm needs to slow down to it (so it is already slow when it crosses the radius); the free
    cap elsewhere. An unknown mouth distance counts as near."""
    if distance_to_mouth_m is None or distance_to_mouth_m < near_mouth_radius_m + braking_distance_m:
        return speed_near_mouth_m_s
    return speed_m_s


# -- vision -----------------------------------------------------------------------------------


def check_vision(
    now_s: float,
    observation_t_s: float | None,
    trusted_t_s: float | None,
    stale_after_s: float,
    lost_after_s: float,
) -> Verdict:
    """Vision watchdog over the time of the last trusted mouth (a rejected, frozen or missing
    observation does not refresh it): HOLD when it is older than `stale_after_s`, RETRACT when it
    is older than `lost_after_s` or there is none; HOLD too when the latest observation claims a
    time in the future (a clock jumped). A time that is not a number counts as the worst case:
    no trusted mouth, an observation from the future."""
    if trusted_t_s is None or not math.isfinite(trusted_t_s) or not now_s - trusted_t_s <= lost_after_s:
        return Verdict(Reaction.RETRACT, SafetyReason.MOUTH_LOST, f"no trusted mouth for {lost_after_s} s")
    if observation_t_s is not None and not observation_t_s - now_s <= stale_after_s:
        return Verdict(
            Reaction.HOLD, SafetyReason.CLOCK_JUMP, f"mouth observation {observation_t_s - now_s:.3f} s in the future"
        )
    age = now_s - trusted_t_s
    if not age <= stale_after_s:
        return Verdict(Reaction.HOLD, SafetyReason.STALE_VISION, f"last trusted mouth {age * 1e3:.0f} ms old")
    return OK


def confident_mouth(usable: bool, confidence: float, min_confidence: float) -> bool:
    """True when a mouth observation may steer the spoon: vision calls it usable (a face it may
    use, lips seen or estimated) and its confidence is finite and at least `min_confidence`. Any
    other observation counts as none: it does not refresh the trusted mouth, so the vision
    watchdog holds after `stale_after_s` and retracts after `lost_after_s` (`check_vision`)."""
    return usable and math.isfinite(confidence) and confidence >= min_confidence


def mouth_jump_m(previous_m: np.ndarray | None, current_m: np.ndarray) -> float:
    """How far the mouth moved since the last trusted observation (0 when there is none)."""
    if previous_m is None:
        return 0.0
    return float(np.linalg.norm(current_m - previous_m))


def lean_in_speed_m_s(
    history: Sequence[tuple[float, np.ndarray]],
    spoon_xyz: np.ndarray,
    window_s: tuple[float, float] = (0.1, 0.3),
    min_closing_m: float = 0.02,
) -> float:
    """Speed (m/s) at which the mouth has come toward the spoon, from trusted (t, position)
    samples, oldest first: the newest against the newest sample at least `window_s[0]` older (and
    at most `window_s[1]`), and only once the mouth has come `min_closing_m` closer, so that
    detection noise between two frames is not a lean-in. 0 when there is no such pair; infinity
    when the spoon position is not finite (on doubt, stop). Medians over frames were tried against
    one frame's depth error and not kept (docs/safety.md, "The lean-in guard on medians of frames")."""
    if not np.all(np.isfinite(spoon_xyz)):
        return math.inf
    if len(history) < 2:
        return 0.0
    t_new, p_new = history[-1]
    for t_old, p_old in reversed(history):
        age = t_new - t_old
        if age < window_s[0]:
            continue
        if age > window_s[1]:
            return 0.0
        closing = float(np.linalg.norm(spoon_xyz - p_old) - np.linalg.norm(spoon_xyz - p_new))
        return closing / age if closing >= min_closing_m else 0.0
    return 0.0


# -- servos -----------------------------------------------------------------------------------


def check_servo_health(
    temperatures_c: Iterable[float],
    voltages_v: Iterable[float],
    max_temperature_c: float,
    min_voltage_v: float,
    max_voltage_v: float,
) -> Verdict:
    """Present temperature and input voltage of every servo within limits (SAFE_STOP otherwise)."""
    hottest = max(temperatures_c)
    if hottest > max_temperature_c:
        return Verdict(
            Reaction.SAFE_STOP, SafetyReason.OVERHEATING, f"servo at {hottest:.0f} degC > {max_temperature_c}"
        )
    lowest, highest = min(voltages_v), max(voltages_v)
    if lowest < min_voltage_v:
        return Verdict(Reaction.SAFE_STOP, SafetyReason.LOW_VOLTAGE, f"supply {lowest:.1f} V < {min_voltage_v} V")
    if highest > max_voltage_v:
        return Verdict(Reaction.SAFE_STOP, SafetyReason.HIGH_VOLTAGE, f"supply {highest:.1f} V > {max_voltage_v} V")
    return OK


def check_servo_state(
    ids: Sequence[int],
    torque_on: Sequence[bool],
    hardware_error: Sequence[int],
    watchdog_tripped: Sequence[bool],
) -> Verdict:
    """What each tick's sync read says of the servos themselves (SAFE_STOP otherwise): a hardware
    error (its Alert), a Bus Watchdog that has stopped the servo (the host was silent too long), or
    torque that went off without the controller asking (a power loss and return, another program)."""
    for servo_id, error in zip(ids, hardware_error, strict=True):
        if error:
            return classify_hardware_error(servo_id, HardwareError(error))
    for servo_id, tripped in zip(ids, watchdog_tripped, strict=True):
        if tripped:
            return Verdict(
                Reaction.SAFE_STOP,
                SafetyReason.WATCHDOG_TRIPPED,
                f"servo {servo_id}'s Bus Watchdog stopped it: the computer was silent too long",
            )
    for servo_id, on in zip(ids, torque_on, strict=True):
        if not on:
            return Verdict(Reaction.SAFE_STOP, SafetyReason.TORQUE_OFF, f"servo {servo_id}'s torque is off")
    return OK


def check_bus_silence(unheard_s: float, watchdog_s: float) -> Verdict:
    """A failed exchange `unheard_s` after the last one the servos are known to have heard (a read
    they answered, even garbled): from the Bus Watchdog's time on they may have stopped by
    themselves, and no read can tell while the bus is silent (a USB stall, a pulled cable), so the
    controller takes them as stopped (SAFE_STOP) instead of waiting for more failed exchanges."""
    if unheard_s >= watchdog_s - 1e-9:  # tick times are sums of floats: 60 ms may read 59.999...
        return Verdict(
            Reaction.SAFE_STOP,
            SafetyReason.BUS_ERRORS,
            f"no answer from the servos for {unheard_s * 1e3:.0f} ms, as long as their Bus Watchdog "
            f"({watchdog_s * 1e3:.0f} ms): they may have stopped by themselves",
        )
    return OK


def following_error_bound_rad(commanded_speed_rad_s: float, static_rad: float, lag_s: float) -> float:
    """How far (rad) a joint may be from its command: `static_rad` (backlash, sag under load,
    quantisation) plus the distance the command runs ahead of a servo that tracks it `lag_s` late."""
    return static_rad + lag_s * abs(commanded_speed_rad_s)


def check_following_error(
    measured_q: Sequence[float],
    commanded_q: Sequence[float],
    commanded_qd: Sequence[float],
    static_rad: float,
    lag_s: float,
) -> Verdict:
    """The measured joints within `following_error_bound_rad` of the command (SAFE_STOP otherwise):
    a blocked, overloaded or stopped arm, or one that the servos no longer drive."""
    for index, (q, goal, speed) in enumerate(zip(measured_q, commanded_q, commanded_qd, strict=True)):
        error = abs(q - goal)
        bound = following_error_bound_rad(speed, static_rad, lag_s)
        if not error <= bound:  # a NaN reading fails too
            return Verdict(
                Reaction.SAFE_STOP,
                SafetyReason.FOLLOWING_ERROR,
                f"{JOINT_NAMES[index]} is {error:.3f} rad from its command (bound {bound:.3f} rad)",
            )
    return OK


def classify_hardware_error(servo_id: int, hardware_error: HardwareError | None) -> Verdict:
    """A servo's Alert (Hardware Error Status) as a SAFE_STOP naming the most specific reason."""
    if hardware_error is not None and HardwareError.OVERHEATING in hardware_error:
        reason = SafetyReason.OVERHEATING
    elif hardware_error is not None and HardwareError.INPUT_VOLTAGE in hardware_error:
        reason = SafetyReason.LOW_VOLTAGE
    else:
        reason = SafetyReason.SERVO_HARDWARE_ERROR
    flags = "unknown" if hardware_error is None else (hardware_error.name or str(int(hardware_error)))
    return Verdict(Reaction.SAFE_STOP, reason, f"servo {servo_id} hardware error: {flags}")


# -- contact ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CurrentModel:
    """Expected motor current of a commanded motion, per joint (A).

    current = (gravity (point masses on the links, joints 2-4)
               + (link inertia + reflected rotor inertia) * commanded acceleration
               + Coulomb friction * sign(commanded velocity)
               + viscous damping * commanded velocity) / torque constant.
    The masses and frictions are rough; the contact detector removes the slow model error with
    its baseline, and its thresholds are set against the noise the commissioning measured.
    """

    torque_constant_nm_a: float = XM430_W350.torque_constant_nm_per_a  # the one table of servo facts
    link_masses_kg: tuple[float, float, float] = (0.14, 0.14, 0.20)  # upper arm, forearm, wrist+spoon
    inertia_kg_m2: tuple[float, float, float, float] = (0.004, 0.010, 0.005, 0.002)
    rotor_inertia_kg_m2: float = 0.012  # the XM430's rotor through its 353:1 gears, seen at the joint
    friction_nm: float = 0.04  # gearbox Coulomb friction, per joint
    viscous_nm_s_per_rad: float = 0.4  # gearbox and motor damping, per joint
    moving_rad_s: float = 0.01  # commanded slower than this, a joint counts as still (no friction sign)

    def expected_a(self, q: np.ndarray, qdd: np.ndarray, qd: np.ndarray | None = None) -> np.ndarray:
        """Expected current (A) of joints 1-4 holding q (rad) while accelerating at qdd (rad/s^2)
        and, when given, moving at qd (rad/s)."""
        g = 9.81
        _, q2, q3, q4 = q.tolist()  # four joints: plain floats are cheaper than numpy on them
        a2, a23, a234 = q2, q2 + q3, q2 + q3 + q4
        m_upper, m_fore, m_wrist = self.link_masses_kg
        # Horizontal lever arms (m) of each link's centre of mass about joints 2, 3 and 4.
        upper_mid = 0.5 * (0.024 * math.cos(a2) + 0.128 * math.sin(a2))
        upper_end = 2.0 * upper_mid
        fore_mid = 0.062 * math.cos(a23)
        fore_end = 2.0 * fore_mid
        wrist_mid = 0.08 * math.cos(a234)
        tau4 = m_wrist * g * wrist_mid
        tau3 = tau4 + m_wrist * g * fore_end + m_fore * g * fore_mid
        tau2 = tau3 + (m_wrist + m_fore) * g * upper_end + m_upper * g * upper_mid
        rotor = self.rotor_inertia_kg_m2
        # The motor holds against gravity: its torque is the opposite of gravity's.
        torque = [
            (inertia + rotor) * acceleration - tau
            for inertia, acceleration, tau in zip(
                self.inertia_kg_m2, qdd.tolist(), (0.0, tau2, tau3, tau4), strict=True
            )
        ]
        if qd is not None:
            friction, viscous, still = self.friction_nm, self.viscous_nm_s_per_rad, self.moving_rad_s
            torque = [
                t + (math.copysign(friction, v) if abs(v) > still else 0.0) + viscous * v
                for t, v in zip(torque, qd.tolist(), strict=True)
            ]
        return np.array(torque) / self.torque_constant_nm_a


@dataclass(frozen=True, slots=True)
class JointNoise:
    """Each joint's Present Current noise (A, standard deviation), joints 1-4: standing still and
    moving along the taught paths, as `bidvis commission` measured it on this arm
    (`controller.commissioning.CommissioningRecord.joint_noise`)."""

    rest_a: tuple[float, float, float, float]
    moving_a: tuple[float, float, float, float]

    def __post_init__(self) -> None:
        for value in (*self.rest_a, *self.moving_a):
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"current noise must be finite and not negative, got {value}")

    @classmethod
    def uniform(cls, noise_a: float) -> JointNoise:
        """The same noise on every joint, at rest and moving (an arm not yet commissioned is given
        the noisiest one commissioning passes: `CommissioningLimits.max_current_noise_ma`)."""
        joints = (noise_a,) * 4
        return cls(joints, joints)


def contact_thresholds_a(
    noise: JointNoise,
    qd_rad_s: np.ndarray,
    sigmas: float,
    floor_a: float,
    moving_rad_s: float,
    speed_margin_a_per_rad_s: float = 0.0,
) -> np.ndarray:
    """Per joint, how far (A) the current may stray from the expected before it counts: `sigmas`
    times the joint's measured noise, moving (commanded faster than `moving_rad_s`) or at rest, at
    least `floor_a`, plus `speed_margin_a_per_rad_s` per rad/s of commanded speed (what grows with
    speed: the swing after each goal step, the model's friction and damping error)."""
    thresholds = []
    for speed, moving_a, rest_a in zip(map(abs, qd_rad_s.tolist()), noise.moving_a, noise.rest_a, strict=True):
        noise_a = moving_a if speed > moving_rad_s else rest_a  # four joints: floats, not numpy
        thresholds.append(max(sigmas * noise_a, floor_a) + speed_margin_a_per_rad_s * speed)
    return np.array(thresholds)


@dataclass
class ContactDetector:
    """Contact from motor current: |measured - expected - baseline| above the joint's threshold
    (`contact_thresholds_a`: `sigmas` x the commissioned noise) on any joint for `confirm_ticks`
    ticks in a row; a joint commanded to move fast is given `speed_margin_a_per_rad_s` more per
    rad/s (its current swings after each goal step, and the model's damping is rough: a scoop's
    1.5 rad/s on joint 4 read as contact in campaign meals; near the face the joints are slow, so
    the margin there is tens of mA). The baseline follows the residual slowly (time constant `baseline_tau_s`) so
    that model error and slow load changes do not count as contact, while a push on the spoon (a
    step within a few ticks) does. For `warmup_s` after a reset the baseline is learnt fast and
    nothing is detected (torque just came on). The gains were chosen on tuning seeds of the flawed
    simulated arm and judged on held-out ones (docs/controller.md, "Contact detection")."""

    noise: JointNoise
    sigmas: float
    period_s: float
    floor_a: float = 0.03
    baseline_tau_s: float = 1.0
    confirm_ticks: int = 2
    warmup_s: float = 0.1
    warmup_tau_s: float = 0.02
    moving_rad_s: float = 0.01  # a joint commanded faster than this is judged against its moving noise
    speed_margin_a_per_rad_s: float = 0.15  # added per rad/s of commanded joint speed (tuned, see above)
    baseline: np.ndarray | None = None
    # Diagnostics of the last update: measured - expected, the commanded speeds given,
    # |residual - baseline|, the thresholds.
    last_residual_a: np.ndarray | None = None
    last_qd_rad_s: np.ndarray | None = None
    last_excess_a: np.ndarray | None = None
    last_threshold_a: np.ndarray | None = None
    _over: int = 0
    _learning: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # per joint: fast-learning ticks left

    def update(
        self,
        measured_a: np.ndarray,
        expected_a: np.ndarray,
        qd_rad_s: np.ndarray | None = None,
        on_stop: np.ndarray | None = None,
    ) -> Verdict:
        """One tick: the measured and expected currents (A), the commanded joint speeds (rad/s;
        None: the arm is commanded to stand still) and which joints rest on a hard stop
        (`resting_on_stops`; None: none). A stop carries a part of its joint's load that no model
        knows, and lets it go as the joint lifts off: such a joint is not judged, and its baseline
        is learnt afresh, as after a reset, once it has left the stop."""
        residual = measured_a - expected_a
        self.last_residual_a, self.last_qd_rad_s = residual, qd_rad_s
        warmup_ticks = math.ceil(self.warmup_s / self.period_s - 1e-9)
        if self.baseline is None:
            self.baseline = residual.copy()
            self._learning = np.full(residual.shape, warmup_ticks)
            return OK
        baseline, learning = self.baseline, self._learning
        if on_stop is not None:
            baseline[on_stop] = residual[on_stop]
            learning[on_stop] = warmup_ticks
        # Settling after a reset or a stop: learn those joints' baseline fast, judge the others.
        fast = learning > 0
        baseline[fast] += min(1.0, self.period_s / self.warmup_tau_s) * (residual[fast] - baseline[fast])
        learning[fast] -= 1
        qd = np.zeros(len(residual)) if qd_rad_s is None else qd_rad_s
        threshold = contact_thresholds_a(
            self.noise, qd, self.sigmas, self.floor_a, self.moving_rad_s, self.speed_margin_a_per_rad_s
        )
        excess = np.where(fast, 0.0, np.abs(residual - baseline))
        self.last_excess_a, self.last_threshold_a = excess, threshold
        over = excess / threshold
        joint = int(np.argmax(over))
        if over[joint] > 1.0:
            self._over += 1
            if self._over >= self.confirm_ticks:
                return Verdict(
                    Reaction.RETRACT,
                    SafetyReason.CONTACT,
                    f"{JOINT_NAMES[joint]} current {excess[joint] * 1e3:.0f} mA off the expected "
                    f"(threshold {threshold[joint] * 1e3:.0f} mA)",
                )
            return OK
        self._over = 0
        slow = ~fast
        baseline[slow] += min(1.0, self.period_s / self.baseline_tau_s) * (residual[slow] - baseline[slow])
        return OK

    def reset(self) -> None:
        """Forget the baseline (torque came on, after a fault or a reboot)."""
        self.baseline = self.last_residual_a = None
        self._over = 0


def resting_on_stops(q_rad: Sequence[float] | np.ndarray, band_rad: float = STOP_BAND_RAD) -> np.ndarray:
    """Per joint, whether its measured angle is within `band_rad` of an end of its range or beyond
    it: where the arm's hard stops are, and where an arm parked with torque off, or sagged, lies.
    A stop there may carry part of the joint's load (`ContactDetector.update`)."""
    q = np.asarray(q_rad, dtype=float)
    return (q <= JOINT_LOW_RAD + band_rad) | (q >= JOINT_HIGH_RAD - band_rad)


# -- the supervisor ---------------------------------------------------------------------------


@dataclass
class SafetySupervisor:
    """The watchdogs' state between ticks. Limits are passed in; nothing is read from globals.

    `max_consecutive_bus_errors`: that many failed bus exchanges in a row is a SAFE_STOP.
    `max_mouth_jump_m`: a trusted mouth that moves further than this in one observation is not
    trusted (the observation is rejected, counted, and the last trusted position kept). A position
    exactly equal to the last trusted one (a frozen camera) is counted and does not refresh it.
    `lean_in_limit_m_s`: a mouth closing in on the spoon faster than this during the approach
    (once it has come `lean_in_min_closing_m` closer, see `lean_in_speed_m_s`) makes the arm stop
    and retract.
    """

    max_consecutive_bus_errors: int
    max_mouth_jump_m: float
    contact: ContactDetector
    lean_in_limit_m_s: float = 0.25
    lean_in_min_closing_m: float = 0.02
    following_confirm_ticks: int = 2
    bus_errors_in_a_row: int = 0
    following_errors_in_a_row: int = 0
    rejected_mouth_jumps: int = 0
    frozen_observations: int = 0
    trusted_mouth_m: np.ndarray | None = None
    trusted_mouth_t_s: float | None = None
    mouth_history: deque[tuple[float, np.ndarray]] = field(default_factory=lambda: deque(maxlen=32))
    _counters: dict[SafetyReason, int] = field(default_factory=dict)

    def count(self, verdict: Verdict) -> Verdict:
        """Count a non-OK verdict by reason (for the summary) and return it."""
        if verdict.reason is not None:
            self._counters[verdict.reason] = self._counters.get(verdict.reason, 0) + 1
        return verdict

    @property
    def counts(self) -> dict[SafetyReason, int]:
        """How many times each reason fired."""
        return dict(self._counters)

    def following(
        self, measured_q: np.ndarray, commanded_q: np.ndarray, commanded_qd: np.ndarray, static_rad: float, lag_s: float
    ) -> Verdict:
        """`check_following_error` confirmed on `following_confirm_ticks` ticks in a row (one
        corrupt or glitching reading is not a blocked arm)."""
        verdict = check_following_error(
            measured_q.tolist(), commanded_q.tolist(), commanded_qd.tolist(), static_rad, lag_s
        )
        if not verdict:
            self.following_errors_in_a_row = 0
            return OK
        self.following_errors_in_a_row += 1
        return verdict if self.following_errors_in_a_row >= self.following_confirm_ticks else OK

    def bus_ok(self) -> None:
        self.bus_errors_in_a_row = 0

    def bus_failed(self, error: Exception) -> Verdict:
        """One failed bus exchange; SAFE_STOP after the configured number in a row."""
        self.bus_errors_in_a_row += 1
        if self.bus_errors_in_a_row >= self.max_consecutive_bus_errors:
            return Verdict(
                Reaction.SAFE_STOP,
                SafetyReason.BUS_ERRORS,
                f"{self.bus_errors_in_a_row} bus errors in a row, last: {error}",
            )
        return OK

    def trust_mouth(self, position_m: np.ndarray, t_s: float, check_jump: bool = True) -> Verdict:
        """Accept a mouth position unless it or its time is not finite or (with `check_jump`,
        while the spoon is at the face) it jumped too far from the last trusted one."""
        if not np.all(np.isfinite(position_m)):
            return Verdict(Reaction.HOLD, SafetyReason.INVALID_TARGET, "mouth position is not finite")
        if not math.isfinite(t_s):
            # A trusted time that is not a number would never grow old: the vision watchdog would
            # stay quiet for good after the camera stopped.
            return Verdict(Reaction.HOLD, SafetyReason.CLOCK_JUMP, f"mouth observation time {t_s} is not finite")
        if self.trusted_mouth_m is not None and np.array_equal(position_m, self.trusted_mouth_m):
            # A detector never measures exactly the same position twice: a frozen camera repeats
            # an old frame under new timestamps. It does not refresh the trusted time.
            self.frozen_observations += 1
            return OK
        jump = mouth_jump_m(self.trusted_mouth_m, position_m)
        if check_jump and jump > self.max_mouth_jump_m:
            self.rejected_mouth_jumps += 1
            return Verdict(Reaction.HOLD, SafetyReason.MOUTH_JUMP, f"mouth jumped {jump:.3f} m in one frame")
        self.trusted_mouth_m = position_m
        self.trusted_mouth_t_s = t_s
        self.mouth_history.append((t_s, position_m))
        return OK


__all__ = [
    "OK",
    "ContactDetector",
    "CurrentModel",
    "JointNoise",
    "Reaction",
    "SafetyReason",
    "SafetySupervisor",
    "Verdict",
    "Workspace",
    "check_following_error",
    "check_joint_command",
    "check_joint_speeds",
    "check_servo_health",
    "check_servo_state",
    "check_spoon_speed",
    "check_vision",
    "check_workspace",
    "classify_hardware_error",
    "confident_mouth",
    "contact_thresholds_a",
    "following_error_bound_rad",
    "lean_in_speed_m_s",
    "mouth_jump_m",
    "speed_cap_m_s",
    "worst",
]
