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
joint: inertia * acceleration + gravity * cos(angle + phase) + Coulomb and viscous friction.
Replace it with a physics engine (MuJoCo) by implementing `ServoPlant`; a free joint (command None)
may then fall under gravity, which the ideal plant does not model (it holds still).
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
# Position P/I/D Gain registers (84/82/80, raw values) whenever they change; the virtual bus calls
# it before the next step. A plant without it (like `IdealPlant`, which follows every command
# exactly) is not affected by the gains.


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
    """Rough loads of the OpenManipulator-X-class arm with a spoon (shoulder and elbow carry most)."""
    return {
        11: JointLoad(inertia_kg_m2=0.004),
        12: JointLoad(inertia_kg_m2=0.010, gravity_nm=0.55),
        13: JointLoad(inertia_kg_m2=0.005, gravity_nm=0.30),
        14: JointLoad(inertia_kg_m2=0.002, gravity_nm=0.10),
        15: JointLoad(inertia_kg_m2=0.0005, gravity_nm=0.02),
    }


@dataclass
class IdealPlant:
    """Joints that follow their commands exactly; torque from `JointLoad` (no load = friction only)."""

    loads: dict[int, JointLoad] = field(default_factory=arm_loads)
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
            torque = 0.0 if command is None else load.torque_nm(new_position, new_velocity, acceleration)
            self._state[servo_id] = (new_position, new_velocity)
            readings[servo_id] = JointReading(new_position, new_velocity, torque)
        return readings
