"""The joint servos as the controller drives them, on the real virtual servos: the measured state of
every tick, and a start-up that neither sags nor jumps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controller.servos import SHUTDOWN_ON_EVERY_ERROR, ArmServos
from firmware_bridge import DynamixelBus, protocol
from firmware_bridge.control_table import XL430_W250, XM430_W350, OperatingMode, Register
from firmware_bridge.protocol import HardwareError
from sim.virtual_bus import SimulatedClock, VirtualServoBus

# Exact start positions and register values: the ideal arm (a flawed one sags with torque off).
pytestmark = pytest.mark.usefixtures("ideal_arm")

IDS = (11, 12, 13, 14)
START_RAD = (0.1, -0.6, -0.1, 0.7)


@pytest.fixture
def arm():
    clock = SimulatedClock()
    servos = VirtualServoBus.start(ids=IDS, clock=clock)
    for servo_id, angle in zip(IDS, START_RAD, strict=True):
        servos.plant.set_position(servo_id, angle)
    servos.advance_to(0.01)
    bus = DynamixelBus(servos.url, clock=clock.now)
    yield servos, bus
    bus.close()
    servos.close()


class RecordingBus:
    """The real bus, with every single write recorded as (id, register address, data)."""

    def __init__(self, bus):
        self.bus, self.writes = bus, []

    def read(self, servo_id, address, length):
        return self.bus.read(servo_id, address, length)

    def write(self, servo_id, address, data):
        self.writes.append((servo_id, address, bytes(data)))
        return self.bus.write(servo_id, address, data)

    def sync_read(self, address, length, ids):
        return self.bus.sync_read(address, length, ids)

    def sync_write(self, address, data):
        return self.bus.sync_write(address, data)


def test_one_sync_read_brings_position_velocity_current_and_the_servo_state(arm):
    _, bus = arm
    joints = ArmServos(IDS)
    joints.prepare(bus, watchdog_steps=3)
    reading = joints.read(bus)
    np.testing.assert_allclose(reading.q_rad, START_RAD, atol=2 * math.tau / 4096)
    assert reading.torque_on == (True,) * 4
    assert reading.hardware_error == (0,) * 4 and reading.watchdog_tripped == (False,) * 4
    assert np.all(reading.voltage_v > 11.0) and np.all(reading.temperature_c > 20.0)
    # The same values as read register by register at their own addresses.
    for index, servo_id in enumerate(IDS):
        for register, value in (
            (Register.PRESENT_CURRENT, reading.current_a),
            (Register.PRESENT_POSITION, reading.q_rad),
        ):
            field = XM430_W350[register]
            direct = field.to_si(field.decode_raw(bus.read(servo_id, field.address, field.size)))
            assert value[index] == pytest.approx(direct, abs=field.scale)


def test_the_reading_shows_a_tripped_watchdog_torque_off_and_a_hardware_error(arm):
    servos, bus = arm
    joints = ArmServos(IDS)
    joints.prepare(bus, watchdog_steps=3)
    servos.servo(12).trip_watchdog()
    bus.write(13, XM430_W350[Register.TORQUE_ENABLE].address, b"\x00")
    reading = joints.read(bus)
    assert reading.watchdog_tripped == (False, True, False, False)
    assert reading.torque_on == (True, True, False, True)
    servos.servo(14).inject_hardware_error(HardwareError.OVERHEATING)
    with pytest.raises(Exception) as raised:  # the Alert bit of the status makes the bus raise
        joints.read(bus)
    assert "14" in str(raised.value)


def test_start_up_sets_the_goal_to_the_present_position_before_torque_on_and_shutdown_0x3d(arm):
    servos, bus = arm
    recording = RecordingBus(bus)
    ArmServos(IDS).prepare(recording, watchdog_steps=3)
    goal, torque = XM430_W350[Register.GOAL_POSITION], XM430_W350[Register.TORQUE_ENABLE]
    for servo_id, angle in zip(IDS, START_RAD, strict=True):
        writes = [(address, data) for i, address, data in recording.writes if i == servo_id]
        goal_at = next(k for k, (address, _) in enumerate(writes) if address == goal.address)
        torque_on_at = writes.index((torque.address, b"\x01"))
        assert goal_at < torque_on_at
        assert goal.to_si(goal.decode_raw(writes[goal_at][1])) == pytest.approx(angle, abs=math.tau / 4096)
        assert servos.servo(servo_id).get("shutdown") == SHUTDOWN_ON_EVERY_ERROR == 0x3D
    servos.advance_to(servos.clock.now() + 0.5)
    np.testing.assert_allclose(ArmServos(IDS).read(bus).q_rad, START_RAD, atol=2 * math.tau / 4096)  # no jump


def test_a_second_start_up_keeps_the_torque_on_so_the_arm_never_sags(arm):
    servos, bus = arm
    ArmServos(IDS).prepare(bus, watchdog_steps=3)
    recording = RecordingBus(bus)
    ArmServos(IDS).prepare(recording, watchdog_steps=3)  # a restarted program
    torque = XM430_W350[Register.TORQUE_ENABLE].address
    assert [data for _, address, data in recording.writes if address == torque] == [b"\x01"] * 4
    assert all(servo.torque_on for servo in servos.servos)


def test_a_start_up_reply_lost_once_is_retried(arm):
    servos, bus = arm
    servos.servo(13).reply_faults.drop = 1
    ArmServos(IDS).prepare(bus, watchdog_steps=3)
    assert servos.servo(13).torque_on


def test_the_indirect_map_must_fit_one_bank():
    with pytest.raises(ValueError, match="one bank"):
        XM430_W350.indirect_block(Register.PRESENT_POSITION, Register.PRESENT_VELOCITY, first=25)


def test_a_start_up_that_meets_a_stale_answer_on_the_wire_retries(arm):
    """The port's previous owner (the staff page's driver, a meal) left a request whose answer is
    still on its way: the first start-up exchange gets that answer, of the wrong length, and is
    tried again instead of refusing the meal."""
    servos, bus = arm
    with DynamixelBus(servos.url, clock=servos.clock.now) as previous_owner:
        previous_owner._serial.write(protocol.read(11, 132, 4))  # Present Position, never read back
    ArmServos(IDS).prepare(bus, watchdog_steps=3)
    assert all(servos.servo(i).torque_on for i in IDS)


# -- current-based position control (controller.face_current) ---------------------------------


def test_start_up_in_current_based_mode_gives_full_goal_current_and_sets_the_goal_before_torque_on(arm):
    servos, bus = arm
    recording = RecordingBus(bus)
    joints = ArmServos(IDS)
    joints.prepare(recording, watchdog_steps=3, operating_mode=OperatingMode.CURRENT_BASED_POSITION)
    goal, torque = XM430_W350[Register.GOAL_POSITION], XM430_W350[Register.TORQUE_ENABLE]
    mode = XM430_W350[Register.OPERATING_MODE]
    for servo_id in IDS:
        writes = [(address, data) for i, address, data in recording.writes if i == servo_id]
        torque_on_at = writes.index((torque.address, b"\x01"))
        assert writes.index((mode.address, b"\x05")) < torque_on_at  # the mode only with torque off
        assert max(k for k, (address, _) in enumerate(writes) if address == goal.address) < torque_on_at
        servo = servos.servo(servo_id)
        assert servo.get("operating_mode") == 5 and servo.get("goal_current") == servo.get("current_limit")
    assert joints.current_limit_a == pytest.approx(1193 * 0.00269)
    servos.advance_to(servos.clock.now() + 0.5)
    np.testing.assert_allclose(joints.read(bus).q_rad, START_RAD, atol=2 * math.tau / 4096)  # no jump


def test_goal_current_is_written_to_every_joint_with_torque_on(arm):
    servos, bus = arm
    joints = ArmServos(IDS)
    joints.prepare(bus, watchdog_steps=0, operating_mode=OperatingMode.CURRENT_BASED_POSITION)
    joints.write_goal_current(bus, np.array([0.5, 0.8, 0.7, 0.6]))
    servos.advance_to(servos.clock.now() + 0.01)
    assert [servos.servo(i).get("goal_current") for i in IDS] == [186, 297, 260, 223]  # 2.69 mA units
    assert all(servo.torque_on for servo in servos.servos)


@pytest.mark.parametrize("mode", [OperatingMode.CURRENT, OperatingMode.VELOCITY, OperatingMode.PWM])
def test_start_up_refuses_any_mode_but_position_and_current_based_position(arm, mode):
    _, bus = arm
    with pytest.raises(ValueError, match="position"):
        ArmServos(IDS).prepare(bus, watchdog_steps=3, operating_mode=mode)


def test_start_up_refuses_current_based_mode_on_servos_without_it(arm):
    _, bus = arm
    with pytest.raises(ValueError, match="XL430-W250 servos have no current based position control"):
        ArmServos(IDS, model=XL430_W250).prepare(
            bus, watchdog_steps=3, operating_mode=OperatingMode.CURRENT_BASED_POSITION
        )
