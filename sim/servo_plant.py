"""What the virtual servos drive: the *plant*, a small interface that the MuJoCo arm can implement.

Every tick (1 ms by default) the virtual bus hands the plant one command per servo and asks where
the joints are:

    plant.step(commands, dt) -> {servo_id: JointReading(position_rad, velocity_rad_s, torque_nm)}

`commands[servo_id]` is the commanded joint position (rad, the servo's profile output, 0 rad at
pulse 2048), or None while the servo's torque is off (the joint is free). `torque_nm` is the torque
the servo had to produce; the servo reports it in its effort register (Present Current = torque /
torque constant on the XM430-W350; Present Load in 0.1 % of the stall torque on the XL430-W250; the
facts are `firmware_bridge.control_table`'s).

`IdealPlant` follows every command exactly and derives the torque from a simple load model per
joint: inertia * acceleration + gravity * cos(angle + phase) + Coulomb and viscous friction; a free
joint holds still. `CompliantPlant` is the flawed arm's plant without physics engine: each joint is
held by a position loop of finite stiffness and damping from the servo's Position P/D Gain (the
same mapping as the MuJoCo world's, `sim.world_plant`), limited to the stall torque, through a
gearbox with play (backlash) and friction; so joints sag under load, lag behind a moving command,
brake in finite time when the Bus Watchdog stops them, and fall under gravity with torque off.
The MuJoCo arm (`sim.world_plant.MujocoPlant`) implements `ServoPlant` with full physics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol


class JointReading(NamedTuple):
    """The state of one joint after a plant step (a named tuple: several are made every tick)."""

    position_rad: float
    velocity_rad_s: float
    torque_nm: float


class ServoPlant(Protocol):
    """The mechanism the servos move (ideal joints, or a physics model of the arm)."""

    def step(self, commands: dict[int, float | None], dt: float) -> dict[int, JointReading]:
        """Advance by `dt` seconds with these commanded positions (rad; None = torque off)."""
        ...


# A plant may also define `set_position_gains(servo_id, p_gain, i_gain, d_gain)`: the servo's
# Position P/I/D Gain registers (84/82/80, raw values) whenever they change; and
# `set_torque_limit(servo_id, torque_nm)`: the most torque the servo's position loop may command
# (its Goal Current in current-based position control, else its stall torque,
# `sim.servo.VirtualServo.torque_limit_changed`). The virtual bus calls them before the next step.
# A plant without them (like `IdealPlant`, which follows every command exactly) is not affected.


@dataclass(frozen=True, slots=True)
class JointLoad:
    """A simple load on one joint: what the ideal plant charges the servo for."""

    inertia_kg_m2: float = 0.002
    gravity_nm: float = 0.0  # peak gravity torque, reached where cos(angle + phase) = 1
    gravity_phase_rad: float = 0.0
    coulomb_nm: float = 0.02
    viscous_nm_s: float = 0.01

    def torque_nm(self, position_rad: float, velocity_rad_s: float, acceleration_rad_s2: float) -> float:
        """Torque needed to hold this motion."""
        friction = self.coulomb_nm * (1.0 if velocity_rad_s > 0 else -1.0 if velocity_rad_s < 0 else 0.0)
        return (
            self.inertia_kg_m2 * acceleration_rad_s2
            + self.gravity_nm * math.cos(position_rad + self.gravity_phase_rad)
            + friction
            + self.viscous_nm_s * velocity_rad_s
        )


def arm_loads() -> dict[int, JointLoad]:
    """Loads of the OpenManipulator-X-class arm with a spoon, fitted to the MuJoCo world
    (sim/assets/bidvis_world.xml) at the demo calibration's ready pose: each joint's gravity torque
    and its slope there (the other joints held at the ready pose). Gravity pulls joints 2-4
    positive (the spoon goes down); near the ready pose each joint needs what the MuJoCo arm
    needs, further away the single-joint model drifts from it (at 0 rad: -0.60, -0.43, -0.07
    against the world's -0.62, -0.51, -0.11 N m). `tests/sim/test_flaws.py` checks the fit."""
    return {
        11: JointLoad(inertia_kg_m2=0.004),
        12: JointLoad(inertia_kg_m2=0.010, gravity_nm=0.909, gravity_phase_rad=2.289),
        13: JointLoad(inertia_kg_m2=0.005, gravity_nm=0.485, gravity_phase_rad=2.649),
        14: JointLoad(inertia_kg_m2=0.002, gravity_nm=0.108, gravity_phase_rad=2.307),
        15: JointLoad(inertia_kg_m2=0.0005, gravity_nm=0.02),
    }


@dataclass
class IdealPlant:
    """Joints that follow their commands exactly; torque from `JointLoad` (no load = friction only)."""

    loads: dict[int, JointLoad] = field(default_factory=arm_loads)
    external_nm: dict[int, float] = field(default_factory=dict)
    """Torques from outside (a hand or face pushing on the arm), per servo id, in the joint's
    positive direction: the servo holding the joint takes them up."""
    _state: dict[int, tuple[float, float]] = field(default_factory=dict)

    def set_position(self, servo_id: int, position_rad: float) -> None:
        """Place a joint (before start, or to emulate someone moving a free joint by hand)."""
        self._state[servo_id] = (position_rad, 0.0)

    def step(self, commands: dict[int, float | None], dt: float) -> dict[int, JointReading]:
        readings = {}
        for servo_id, command in commands.items():
            position, velocity = self._state.get(servo_id, (0.0, 0.0))
            if command is None:
                new_position, new_velocity = position, 0.0
            else:
                new_position = command
                new_velocity = (command - position) / dt if dt > 0 else 0.0
            acceleration = (new_velocity - velocity) / dt if dt > 0 else 0.0
            load = self.loads.get(servo_id, JointLoad())
            torque = (
                0.0
                if command is None
                else load.torque_nm(new_position, new_velocity, acceleration) - self.external_nm.get(servo_id, 0.0)
            )
            self._state[servo_id] = (new_position, new_velocity)
            readings[servo_id] = JointReading(new_position, new_velocity, torque)
        return readings


# The servo's position loop as N m/rad and N m s/rad. MODEL ASSUMPTION shared with the MuJoCo world
# (its MJCF, sim/assets/bidvis_world.xml, has kp 100 and kv 3.5 at the power-on gains; see
# sim.world_plant for why): stiffness in proportion to Position P Gain, each unit of Position D
# Gain adding kp x DAMPING_S_PER_D_GAIN of damping.
DEFAULT_POSITION_P_GAIN = 800  # XM430-W350 Position P Gain(84) power-on value
DEFAULT_POSITION_D_GAIN = 0  # Position D Gain(80) power-on value
SERVO_KP_NM_PER_RAD = 100.0  # at DEFAULT_POSITION_P_GAIN
SERVO_KV_NM_S_PER_RAD = 3.5  # back-EMF and motor friction, at any gain
DAMPING_S_PER_D_GAIN = 8 * 0.001 / DEFAULT_POSITION_P_GAIN  # KPD/KPP = 8 D/P, per an assumed 1 ms period
# The gearbox and joint as the MJCF has them: reflected rotor inertia, viscous damping, friction.
JOINT_ARMATURE_KG_M2 = 0.012
JOINT_DAMPING_NM_S = 0.15
JOINT_FRICTION_NM = 0.02
# The joints' hard stops (rad) as the MJCF has them: a free arm falls onto them. The arm's limits
# are narrower (DESIGN.md); a joint not listed (the tool) stops at +-pi.
HARD_STOPS_RAD: dict[int, tuple[float, float]] = {
    11: (-math.pi, math.pi),
    12: (-1.5, 1.5),
    13: (-1.5, 1.4),
    14: (-1.7, 1.97),
}
_NO_STOPS = (-math.pi, math.pi)
_STALL_TORQUE_NM = 4.1  # XM430-W350 at 12 V (firmware_bridge.control_table)


def checked_torque_limit(torque_nm: float) -> float:
    """`torque_nm` if it can be a servo's torque limit (a number >= 0), else ValueError."""
    if not torque_nm >= 0.0:  # NaN too
        raise ValueError(f"a servo's torque limit must be >= 0 N m, got {torque_nm}")
    return float(torque_nm)


def through_backlash(setpoint: float, command: float, half_play: float) -> float:
    """The joint's setpoint after gears with `2 x half_play` of play: it follows the motor's
    `command` only once the motor pushes on a flank."""
    if command - setpoint > half_play:
        return command - half_play
    if setpoint - command > half_play:
        return command + half_play
    return setpoint


def servo_stiffness(p_gain: int, d_gain: int) -> tuple[float, float]:
    """(kp N m/rad, kv N m s/rad) of a servo's position loop at these Position P and D Gains."""
    kp = SERVO_KP_NM_PER_RAD * p_gain / DEFAULT_POSITION_P_GAIN
    kv = SERVO_KV_NM_S_PER_RAD + (d_gain - DEFAULT_POSITION_D_GAIN) * DAMPING_S_PER_D_GAIN * SERVO_KP_NM_PER_RAD
    return kp, max(kv, 0.0)


@dataclass
class _Joint:
    q: float = 0.0
    qd: float = 0.0
    setpoint: float = 0.0  # the command after the gearbox's play
    kp: float = SERVO_KP_NM_PER_RAD
    kv: float = SERVO_KV_NM_S_PER_RAD
    stops: tuple[float, float] = _NO_STOPS
    torque_limit_nm: float = math.inf  # the servo's cap on its position loop, below the stall torque


class CompliantPlant:
    """Joints held by a stiff but finite position loop, through gears with play and friction (see
    the module docstring). Integrated implicitly (stable at any tick the virtual bus uses)."""

    def __init__(
        self,
        loads: dict[int, JointLoad] | None = None,
        *,
        backlash_rad: float = 0.0,
        friction_nm: float = 0.0,
        stall_torque_nm: float = _STALL_TORQUE_NM,
    ) -> None:
        self.loads = arm_loads() if loads is None else loads
        self.backlash_rad = backlash_rad
        self.friction_nm = friction_nm
        self.stall_torque_nm = stall_torque_nm
        self.external_nm: dict[int, float] = {}
        """Torques from outside (a hand or face pushing on the arm), per servo id, in the joint's
        positive direction: the joint gives way until its position loop holds them."""
        self._joints: dict[int, _Joint] = {}

    def _joint(self, servo_id: int) -> _Joint:
        joint = self._joints.get(servo_id)
        if joint is None:
            joint = self._joints[servo_id] = _Joint(stops=HARD_STOPS_RAD.get(servo_id, _NO_STOPS))
        return joint

    def set_position(self, servo_id: int, position_rad: float) -> None:
        """Place a joint at rest (before start)."""
        joint = self._joint(servo_id)
        joint.q = joint.setpoint = position_rad
        joint.qd = 0.0

    def set_position_gains(self, servo_id: int, p_gain: int, i_gain: int, d_gain: int) -> None:
        """Stiffness and damping of this servo's loop from its Position P and D Gain (I is not modelled)."""
        joint = self._joint(servo_id)
        joint.kp, joint.kv = servo_stiffness(p_gain, d_gain)

    def set_torque_limit(self, servo_id: int, torque_nm: float) -> None:
        """The most torque this servo's position loop may command (N m, at most the stall torque)."""
        self._joint(servo_id).torque_limit_nm = checked_torque_limit(torque_nm)

    def step(self, commands: dict[int, float | None], dt: float) -> dict[int, JointReading]:
        readings = {}
        half_play = self.backlash_rad / 2.0
        for servo_id, command in commands.items():
            joint = self._joint(servo_id)
            load = self.loads.get(servo_id, JointLoad())
            if dt <= 0.0:
                readings[servo_id] = JointReading(joint.q, joint.qd, 0.0)
                continue
            if command is None:  # torque off: the motor coasts, the gears' play follows the joint
                kp = kv = 0.0
                joint.setpoint = joint.q
            else:
                kp, kv = joint.kp, joint.kv
                joint.setpoint = through_backlash(joint.setpoint, command, half_play)
            readings[servo_id] = JointReading(
                *self._advance(joint, load, kp, kv, dt, self.external_nm.get(servo_id, 0.0))
            )
        return readings

    def _advance(
        self, joint: _Joint, load: JointLoad, kp: float, kv: float, dt: float, external_nm: float
    ) -> tuple[float, float, float]:
        """One implicit Euler step of joint `joint`; returns (position, velocity, motor torque)."""
        q, qd = joint.q, joint.qd
        limit = min(self.stall_torque_nm, joint.torque_limit_nm)
        inertia = load.inertia_kg_m2 + JOINT_ARMATURE_KG_M2
        viscous = load.viscous_nm_s + JOINT_DAMPING_NM_S
        friction = load.coulomb_nm + JOINT_FRICTION_NM + self.friction_nm
        # What holding the joint takes: gravity, less what pushes it from outside.
        gravity = load.gravity_nm * math.cos(q + load.gravity_phase_rad) - external_nm
        a = dt / inertia
        # the motor's torque, implicit in the new velocity: kp (setpoint - q - dt qd') - kv qd'
        denominator = 1.0 + a * (kv + viscous) + a * dt * kp
        qd_new = (qd + a * (kp * (joint.setpoint - q) - gravity)) / denominator
        motor = kp * (joint.setpoint - q - dt * qd_new) - kv * qd_new
        if abs(motor) > limit:  # saturated: the torque limit, no longer a spring
            motor = math.copysign(limit, motor)
            qd_new = (qd + a * (motor - gravity)) / (1.0 + a * viscous)
        # Coulomb friction takes up to `stick` of velocity per step: a slower joint sticks.
        stick = a * friction / denominator
        qd_new = 0.0 if abs(qd_new) <= stick else qd_new - math.copysign(stick, qd_new)
        q_new = q + dt * qd_new
        low, high = joint.stops
        if not low <= q_new <= high:  # the hard stop
            q_new, qd_new = min(max(q_new, low), high), 0.0
        joint.q, joint.qd = q_new, qd_new
        if kp or kv:
            motor = max(-limit, min(limit, kp * (joint.setpoint - q_new) - kv * qd_new))
        return q_new, qd_new, motor
