"""The MuJoCo arm as the servos' plant: readings come from physics, contact shows in the current."""

import numpy as np
import pytest

from controller import kinematics
from firmware_bridge.control_table import XM430_W350
from firmware_bridge.protocol import StatusError
from sim.servo_plant import SERVO_KP_NM_PER_RAD, SERVO_KV_NM_S_PER_RAD
from sim.virtual_bus import SimulatedClock, VirtualServoBus
from sim.world import World
from sim.world_plant import MujocoPlant, UnknownServo


def _hold(plant: MujocoPlant, q, seconds: float, dt: float = 0.001):
    readings = None
    for _ in range(int(seconds / dt)):
        readings = plant.step({11 + i: float(v) for i, v in enumerate(q)}, dt)
    return readings


def test_joints_reach_commands_and_report_gravity_torque():
    world = World()
    plant = MujocoPlant(world)
    q = (0.0, 0.6, -0.2, 0.1)
    readings = _hold(plant, q, 1.0)
    assert [readings[11 + i].position_rad for i in range(4)] == pytest.approx(q, abs=0.02)
    # the shoulder carries the arm: a clearly non-zero holding torque, within the stall torque
    assert 0.2 < abs(readings[12].torque_nm) < 4.1
    assert world.time_s == pytest.approx(1.0, abs=0.003)


def test_servo_tick_shorter_than_the_physics_step_keeps_time():
    world = World()
    plant = MujocoPlant(world)
    for _ in range(1000):
        plant.step({11: 0.0}, 0.001)
    assert world.time_s == pytest.approx(1.0, abs=world.timestep_s)


def test_pushing_the_spoon_into_the_face_raises_the_current():
    world = World()
    plant = MujocoPlant(world)
    mouth = world.mouth_position()
    offset = world.config.spoon_offset_m[0]
    free = kinematics.inverse((mouth[0] - offset - 0.08, 0.0, mouth[2] - 0.02, 0.0))
    world.set_arm_pose(free)
    free_torque = np.array([r.torque_nm for r in _hold(plant, free, 0.5).values()])
    pressed = kinematics.inverse((mouth[0] - offset + 0.02, 0.0, mouth[2] - 0.02, 0.0))
    pressed_torque = np.array([r.torque_nm for r in _hold(plant, pressed, 1.0).values()])
    assert world.metrics.peak_face_force_n > 1.0
    extra_current_a = np.abs(pressed_torque - free_torque) / XM430_W350.torque_constant_nm_per_a
    assert extra_current_a.max() > 0.05  # hundreds of Present Current units (2.69 mA each)


def test_torque_off_reports_no_torque_and_lets_the_joint_move():
    world = World()
    plant = MujocoPlant(world)
    ready = (0.0, -0.1831, -0.6682, 0.8514)
    world.set_arm_pose(ready)
    readings = None
    for _ in range(300):
        readings = plant.step({11: 0.0, 12: None, 13: ready[2], 14: ready[3]}, 0.001)
    assert readings[12].torque_nm == 0.0
    assert readings[12].position_rad > ready[1] + 0.1
    readings = _hold(plant, ready, 1.5)
    assert readings[12].position_rad == pytest.approx(ready[1], abs=0.03)


def test_unknown_servo_is_named():
    plant = MujocoPlant(World())
    with pytest.raises(UnknownServo, match="servo 15"):
        plant.step({15: 0.0}, 0.001)


def _sag_of_the_shoulder(bus: VirtualServoBus, world: World, pose) -> float:
    """How far gravity pulls joint 2 below its goal while the servos hold `pose`."""
    for servo_id in (11, 12, 13, 14):
        assert bus.servo(servo_id).write(64, b"\x01").error == 0  # torque on: holds where it is
    bus.advance_to(bus.clock.now() + 1.0)
    return abs(world.arm_positions()[1] - pose[1])


def _gain_bus(world: World) -> VirtualServoBus:
    return VirtualServoBus((11, 12, 13, 14), clock=SimulatedClock(), plant=MujocoPlant(world))


def test_a_higher_position_p_gain_register_makes_the_joint_stiffer():
    pose = (0.0, 0.6, -0.2, 0.1)  # the shoulder carries the outstretched arm
    soft_world = World()
    soft_world.set_arm_pose(pose)
    soft_sag = _sag_of_the_shoulder(_gain_bus(soft_world), soft_world, pose)
    stiff_world = World()
    stiff_world.set_arm_pose(pose)
    stiff_bus = _gain_bus(stiff_world)
    for servo_id in (11, 12, 13, 14):
        assert stiff_bus.servo(servo_id).write(84, (1600).to_bytes(2, "little")).error == 0
    stiff_sag = _sag_of_the_shoulder(stiff_bus, stiff_world, pose)
    assert soft_sag > 0.005  # gravity over kp 100 N m/rad: a visible droop
    assert stiff_sag == pytest.approx(soft_sag / 2, rel=0.15)  # twice the P gain, twice the stiffness


def test_default_gains_keep_the_mjcf_position_loop_exactly():
    world = World()
    kp = world.model.actuator_gainprm[:4, 0].copy()
    bias = world.model.actuator_biasprm[:4, :3].copy()
    bus = _gain_bus(world)
    servo = bus.servo(13)
    servo.write(64, b"\x01")  # torque on
    servo.write(84, (3000).to_bytes(2, "little"))
    servo.write(80, (800).to_bytes(2, "little"))
    bus.advance_to(0.01)
    assert world.model.actuator_gainprm[2, 0] == pytest.approx(kp[2] * 3000 / 800)
    assert world.model.actuator_biasprm[2, 2] == pytest.approx(bias[2, 2] - 0.8)  # D 800: +0.8 N m s/rad (model)
    servo.reboot()  # RAM back to the power-on gains: the MJCF's loop, to the last bit
    servo.write(64, b"\x01")
    bus.advance_to(0.02)
    assert world.model.actuator_gainprm[2, 0] == kp[2]
    np.testing.assert_array_equal(world.model.actuator_biasprm[2, :3], bias[2])


def test_a_gain_out_of_range_is_refused_and_leaves_the_loop_alone():
    world = World()
    kp = world.model.actuator_gainprm[:4, 0].copy()
    bus = _gain_bus(world)
    bus.servo(12).write(64, b"\x01")
    reply = bus.servo(12).write(84, (16384).to_bytes(2, "little"))
    assert reply.error == StatusError.DATA_RANGE_ERROR
    assert bus.servo(12).get("position_p_gain") == 800
    bus.advance_to(0.01)
    assert world.model.actuator_gainprm[1, 0] == kp[1]


def test_gains_written_while_the_torque_is_off_apply_when_it_comes_on():
    world = World()
    plant = MujocoPlant(world)
    plant.step({12: None}, 0.001)
    plant.set_position_gains(12, 1600, 0, 0)
    assert world.model.actuator_gainprm[1, 0] == 0.0  # limp until the torque comes on
    plant.step({12: 0.0}, 0.001)
    assert world.model.actuator_gainprm[1, 0] == pytest.approx(2 * world.model_servo_kp(1))
    with pytest.raises(UnknownServo, match="servo 15"):
        plant.set_position_gains(15, 800, 0, 0)


@pytest.mark.parametrize("scale, damping", [(-1.0, 0.0), (float("nan"), 0.0), (1.0, -0.5), (1.0, float("nan"))])
def test_a_negative_or_nan_servo_gain_is_refused(scale, damping):
    world = World()
    kp = world.model.actuator_gainprm[1, 0]
    with pytest.raises(ValueError, match="must be >= 0"):
        world.set_servo_gains(1, scale, damping)
    assert world.model.actuator_gainprm[1, 0] == kp


def test_the_flawed_arms_gear_play_swallows_a_small_reversal():
    play = 0.01
    plant = MujocoPlant(World(), backlash_rad=play)
    q = (0.3, 0.0, 0.0, 0.0)
    before = _hold(plant, q, 1.0)[11].position_rad
    back = _hold(plant, (0.3 - 0.8 * play, 0.0, 0.0, 0.0), 0.5)[11].position_rad  # back by less than the play
    assert back == pytest.approx(before, abs=1e-3)
    beyond = _hold(plant, (0.3 - 3 * play, 0.0, 0.0, 0.0), 0.5)[11].position_rad
    assert beyond < before - play


def test_added_joint_friction_is_on_every_arm_joint():
    world = World()
    before = world.model.dof_frictionloss.copy()
    world.add_joint_friction(0.03)
    changed = np.flatnonzero(world.model.dof_frictionloss != before)
    assert len(changed) == 4 and np.allclose(world.model.dof_frictionloss[changed] - before[changed], 0.03)
    with pytest.raises(ValueError, match="must be >= 0"):
        world.add_joint_friction(-1.0)


def test_the_compliant_plant_and_the_mujoco_arm_share_their_servo_model():
    world = World()
    assert world.model_servo_kp(0) == SERVO_KP_NM_PER_RAD
    act = world.model.actuator("joint1").id
    assert -world.model.actuator_biasprm[act, 2] == SERVO_KV_NM_S_PER_RAD
