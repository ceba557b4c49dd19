"""The MuJoCo arm as the virtual servos' plant (`sim.servo_plant.ServoPlant`).

The virtual servos run their own profile and hand the plant one commanded position per servo each
tick; here that command becomes the setpoint of the joint's MuJoCo position actuator (stiffness,
damping and the 4.1 N m stall torque of the XM430-W350, see `sim/assets/bidvis_world.xml`), and the
reading comes back from physics: joint position and velocity, and the torque MuJoCo applied
(`qfrc_actuator`), which the servo turns into Present Current. So a spoon pressed against the face
shows up in the current the controller reads, as it would on the real arm.

The servos' Position P and D Gain registers set the actuator's stiffness and damping. This mapping
is a MODEL ASSUMPTION, not a datasheet fact (the e-Manual gives the gains only in its own units,
KPP = P/128, KPD = D/16, acting on a PWM output, not N m/rad): the MJCF's kp, kv are what the
default gains (P 800, D 0) give; stiffness scales in proportion to P (P 1600 = twice the MJCF's
kp); D adds damping on top of the MJCF's kv (which stands for the motor's back-EMF and friction),
each unit adding the MJCF's kp x `DAMPING_S_PER_D_GAIN` (from KPD/KPP = 8 D/P, the derivative
taken per an assumed 1 ms control period: D 800 adds 0.8 N m s/rad to kv 3.5). Position I Gain (default 0) is not modelled: it only removes a steady offset,
slowly, and cannot shorten a stop. The real gains must be checked with a step response on a real
XM430-W350 before any stopping time measured here is trusted.
"""

from __future__ import annotations

from sim.servo_plant import (
    DAMPING_S_PER_D_GAIN,
    DEFAULT_POSITION_D_GAIN,
    DEFAULT_POSITION_P_GAIN,
    JointReading,
    through_backlash,
)
from sim.world import SimError, World

ARM_SERVO_IDS = (11, 12, 13, 14)


class UnknownServo(SimError):
    """A command for a servo ID the simulated arm does not have."""


class MujocoPlant:
    """Drives `world`'s arm joints from servo commands; physics advances with the servo ticks.

    The physics timestep may be longer than the servo tick: commands are latched and the world
    steps whenever the accumulated servo time reaches the next physics step. `backlash_rad` is
    the gears' play between a servo's command and its joint's setpoint (the flawed arm's,
    `sim.flaws.ArmFlaws.backlash_rad`; friction is the world's, `World.add_joint_friction`).
    """

    def __init__(self, world: World, servo_ids: tuple[int, ...] = ARM_SERVO_IDS, *, backlash_rad: float = 0.0) -> None:
        self.world = world
        self._index = {servo_id: i for i, servo_id in enumerate(servo_ids)}
        self._torque_on = [True] * len(servo_ids)
        self._clock_s = world.time_s
        self._half_play = backlash_rad / 2.0
        self._setpoints = list(world.arm_positions()[: len(servo_ids)])

    def set_position_gains(self, servo_id: int, p_gain: int, i_gain: int, d_gain: int) -> None:
        """Stiffness and damping of this servo's joint from its Position P and D Gain (see the
        module docstring; `i_gain` is not modelled)."""
        index = self._index.get(servo_id)
        if index is None:
            raise UnknownServo(f"servo {servo_id} is not on the simulated arm (it has {sorted(self._index)})")
        extra_damping = (d_gain - DEFAULT_POSITION_D_GAIN) * DAMPING_S_PER_D_GAIN * self.world.model_servo_kp(index)
        self.world.set_servo_gains(index, p_gain / DEFAULT_POSITION_P_GAIN, extra_damping)

    def set_torque_limit(self, servo_id: int, torque_nm: float) -> None:
        """The most torque this servo's position loop may command (N m; the stall torque at most):
        its Goal Current in current-based position control (`sim.servo.VirtualServo`)."""
        index = self._index.get(servo_id)
        if index is None:
            raise UnknownServo(f"servo {servo_id} is not on the simulated arm (it has {sorted(self._index)})")
        self.world.set_servo_torque_limit(index, torque_nm)

    def step(self, commands: dict[int, float | None], dt: float) -> dict[int, JointReading]:
        """Apply `commands` (rad, None = torque off) and advance physics by `dt` seconds."""
        world = self.world
        for servo_id, command in commands.items():
            index = self._index.get(servo_id)
            if index is None:
                raise UnknownServo(f"servo {servo_id} is not on the simulated arm (it has {sorted(self._index)})")
            enabled = command is not None
            if enabled != self._torque_on[index]:
                world.set_torque_enabled(index, enabled)
                self._torque_on[index] = enabled
            if command is None:
                continue
            setpoint = self._setpoints[index] = through_backlash(self._setpoints[index], command, self._half_play)
            world.set_arm_target(index, setpoint)
        self._clock_s += dt
        world.advance_to(self._clock_s)
        q = world.arm_positions().tolist()
        qd = world.arm_velocities().tolist()
        tau = world.arm_torques().tolist()
        return {
            servo_id: JointReading(q[i], qd[i], tau[i]) for servo_id, i in self._index.items() if servo_id in commands
        }
