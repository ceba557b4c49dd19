"""The MuJoCo arm as the servos' plant: readings come from physics, contact shows in the current."""

import numpy as np
import pytest

from controller import kinematics
from sim.servo_plant import TORQUE_CONSTANT_NM_PER_A
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
    extra_current_a = np.abs(pressed_torque - free_torque) / TORQUE_CONSTANT_NM_PER_A
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
