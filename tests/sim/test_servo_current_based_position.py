"""Current-based position control (Operating Mode 5) on the virtual XM430-W350: the position loop's
current is capped at |Goal Current|, so a pushed joint gives way and comes back no harder than that."""

from __future__ import annotations

import math

import numpy as np
import pytest

from firmware_bridge import protocol as p
from firmware_bridge.control_table import XM430_W350
from firmware_bridge.protocol import StatusError, StatusParser
from sim.servo_plant import JOINT_ARMATURE_KG_M2, CompliantPlant, JointLoad
from sim.virtual_bus import SimulatedClock, VirtualServoBus
from sim.world import World
from sim.world_plant import MujocoPlant

pytestmark = pytest.mark.usefixtures("ideal_arm")  # exact readings: no sensor noise

# A joint without gravity or friction, so the servo alone holds it against a push.
LOAD = JointLoad(inertia_kg_m2=0.004, coulomb_nm=0.0, viscous_nm_s=0.0)
INERTIA_KG_M2 = LOAD.inertia_kg_m2 + JOINT_ARMATURE_KG_M2
GOAL_CURRENT = 100  # 0.269 A
CLAMP_NM = GOAL_CURRENT * 0.00269 * XM430_W350.torque_constant_nm_per_a  # 0.48 N m
PUSH_NM = 1.0
CURRENT_BASED_POSITION, POSITION = 5, 3


def i16(value: int) -> bytes:
    return value.to_bytes(2, "little", signed=True)


def answer(bus: VirtualServoBus, packet: bytes) -> int:
    """The status error number of the one reply to `packet`."""
    bus.transmit(packet)
    bus.clock.sleep(0.002)
    (status,) = StatusParser().feed(bus.pop_ready())
    return status.error_number


def arm(mode: int, goal_current: int = GOAL_CURRENT) -> tuple[VirtualServoBus, CompliantPlant]:
    """One joint servo (id 11) in `mode` holding its joint at 0 rad, with this Goal Current."""
    plant = CompliantPlant({11: LOAD})
    bus = VirtualServoBus((11,), clock=SimulatedClock(), plant=plant)
    assert answer(bus, p.write(11, 11, bytes((mode,)))) == StatusError.NONE
    assert answer(bus, p.write(11, 102, i16(goal_current))) == StatusError.NONE
    assert answer(bus, p.write(11, 64, b"\x01")) == StatusError.NONE
    return bus, plant


def run(bus: VirtualServoBus, seconds: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Joint position (rad), velocity (rad/s) and Present Current (raw) every millisecond."""
    servo = bus.servo(11)
    q, qd, current = [], [], []
    for _ in range(round(seconds / 0.001)):
        bus.clock.sleep(0.001)
        bus.advance_to(bus.clock.now())
        q.append(servo.joint.position_rad)
        qd.append(servo.joint.velocity_rad_s)
        current.append(servo.get("present_current"))
    return np.array(q), np.array(qd), np.array(current)


def test_a_joint_pushed_harder_than_goal_current_gives_way_and_the_servo_never_pushes_back_harder():
    bus, plant = arm(CURRENT_BASED_POSITION)
    run(bus, 0.05)
    plant.external_nm[11] = PUSH_NM
    q, _, current = run(bus, 0.2)
    assert q[-1] > 0.2  # keeps giving way while the push exceeds the cap
    assert np.abs(current).max() <= GOAL_CURRENT

    stiff, stiff_plant = arm(POSITION)  # position mode: Goal Current does not apply
    run(stiff, 0.05)
    stiff_plant.external_nm[11] = PUSH_NM
    q_stiff, _, _ = run(stiff, 0.2)
    assert abs(q_stiff[-1]) < 0.02  # held by the stiff loop (1 N m / 100 N m/rad)


def test_a_pushed_joint_springs_back_no_faster_than_goal_current_allows():
    bus, plant = arm(CURRENT_BASED_POSITION)
    plant.external_nm[11] = PUSH_NM
    run(bus, 0.1)
    plant.external_nm[11] = 0.0  # the face lets go
    q_back, qd_back, current = run(bus, 1.0)
    displaced = q_back.max()  # the joint coasts on a little before it turns
    back = -qd_back.min()  # the fastest it comes back toward its goal (0 rad)
    assert q_back[-1] < 0.5 * displaced and back > 0
    # No faster than the cap can accelerate it over the way back (work = energy).
    assert back <= math.sqrt(2 * CLAMP_NM * displaced / INERTIA_KG_M2)
    assert np.abs(current).max() <= GOAL_CURRENT

    stiff, stiff_plant = arm(POSITION)  # the same displacement in position mode comes back far faster
    stiff_plant.set_position(11, displaced)
    _, qd_stiff, _ = run(stiff, 0.3)
    assert -qd_stiff.min() > 1.5 * back


def test_goal_current_can_be_lowered_and_raised_with_torque_on():
    bus, plant = arm(CURRENT_BASED_POSITION, goal_current=1193)
    plant.external_nm[11] = PUSH_NM
    q, _, _ = run(bus, 0.1)
    assert abs(q[-1]) < 0.02  # the full current holds the push
    assert answer(bus, p.write(11, 102, i16(-GOAL_CURRENT))) == StatusError.NONE  # the sign does not matter
    q, _, current = run(bus, 0.1)
    assert q[-1] > 0.1
    assert np.abs(current).max() <= GOAL_CURRENT
    assert answer(bus, p.write(11, 102, i16(1193))) == StatusError.NONE
    q, _, _ = run(bus, 1.0)
    assert abs(q[-1]) < 0.02  # holds again, back at its goal


def test_goal_current_zero_leaves_the_joint_free():
    bus, plant = arm(CURRENT_BASED_POSITION, goal_current=0)
    plant.external_nm[11] = 0.1
    q, _, current = run(bus, 0.2)
    assert q[-1] > 0.05
    assert not current.any()


def test_a_current_limit_below_goal_current_caps_the_loop():
    plant = CompliantPlant({11: LOAD})
    bus = VirtualServoBus((11,), clock=SimulatedClock(), plant=plant)
    assert answer(bus, p.write(11, 11, bytes((CURRENT_BASED_POSITION,)))) == StatusError.NONE
    assert answer(bus, p.write(11, 102, i16(GOAL_CURRENT))) == StatusError.NONE
    assert answer(bus, p.write(11, 38, i16(50))) == StatusError.NONE  # below the Goal Current already set
    assert answer(bus, p.write(11, 64, b"\x01")) == StatusError.NONE
    plant.external_nm[11] = PUSH_NM
    _, _, current = run(bus, 0.1)
    assert np.abs(current).max() <= 50


@pytest.mark.parametrize("value", [1194, -1194, 32767, -32768])
def test_goal_current_beyond_current_limit_is_refused_and_changes_nothing(value):
    bus, plant = arm(CURRENT_BASED_POSITION)
    assert answer(bus, p.write(11, 102, i16(value))) == StatusError.DATA_LIMIT_ERROR
    assert bus.servo(11).get("goal_current") == GOAL_CURRENT
    plant.external_nm[11] = PUSH_NM
    _, _, current = run(bus, 0.1)
    assert np.abs(current).max() <= GOAL_CURRENT  # the cap stayed


def test_goal_current_above_a_lowered_current_limit_is_refused():
    bus = VirtualServoBus((11,), clock=SimulatedClock(), plant=CompliantPlant({11: LOAD}))
    assert answer(bus, p.write(11, 38, i16(200))) == StatusError.NONE
    assert answer(bus, p.write(11, 102, i16(201))) == StatusError.DATA_LIMIT_ERROR
    assert answer(bus, p.write(11, 102, i16(-201))) == StatusError.DATA_LIMIT_ERROR
    assert answer(bus, p.write(11, 102, i16(200))) == StatusError.NONE


def test_half_a_goal_current_is_a_length_error():
    bus, _ = arm(CURRENT_BASED_POSITION)
    assert answer(bus, p.write(11, 102, b"\x05")) == StatusError.DATA_LENGTH_ERROR
    assert bus.servo(11).get("goal_current") == GOAL_CURRENT


def test_operating_mode_cannot_change_with_torque_on():
    bus, _ = arm(CURRENT_BASED_POSITION)
    assert answer(bus, p.write(11, 11, bytes((POSITION,)))) == StatusError.ACCESS_ERROR
    assert bus.servo(11).get("operating_mode") == CURRENT_BASED_POSITION


@pytest.mark.parametrize("limit", [-0.1, math.nan])
def test_a_plant_refuses_a_negative_or_nan_torque_limit(limit):
    with pytest.raises(ValueError, match="torque limit"):
        CompliantPlant({11: LOAD}).set_torque_limit(11, limit)
    with pytest.raises(ValueError, match="torque limit"):
        MujocoPlant(World()).set_torque_limit(12, limit)


def test_the_mujoco_arm_holds_its_joint_no_harder_than_the_limit():
    world = World()
    plant = MujocoPlant(world)
    start = world.arm_positions()
    plant.set_torque_limit(11, 0.3)
    for _ in range(200):  # joint 1 (no gravity) commanded 0.5 rad away: the loop saturates
        readings = plant.step({11: float(start[0]) + 0.5, 12: float(start[1])}, 0.001)
    assert abs(readings[11].torque_nm) == pytest.approx(0.3, abs=1e-6)
    assert abs(readings[12].torque_nm) > 0.3  # the other joints keep their stall torque
    plant.set_torque_limit(11, 100.0)  # beyond the stall torque: the stall torque
    for _ in range(10):
        readings = plant.step({11: float(start[0]) + 0.5}, 0.001)
    assert abs(readings[11].torque_nm) == pytest.approx(world.config.stall_torque_nm, abs=1e-6)
