"""Motion of the virtual servos: profiles, velocity mode, present current from the load, bus watchdog."""

from __future__ import annotations

import math

import numpy as np
import pytest

from firmware_bridge import protocol as p
from firmware_bridge.control_table import XL430_W250, XM430_W350
from firmware_bridge.protocol import StatusError, StatusParser
from sim.servo_plant import IdealPlant, JointLoad, JointReading
from sim.virtual_bus import SimulatedClock, VirtualServoBus

pytestmark = pytest.mark.usefixtures("ideal_arm")  # the emulator's exact behaviour, without the flaws

PULSES_PER_S_PER_UNIT = 0.229 * 4096 / 60
PULSES_PER_S2_PER_UNIT = 214.577 * 4096 / 3600


def u32(value: int) -> bytes:
    return value.to_bytes(4, "little", signed=value < 0)


def exchange(bus: VirtualServoBus, packet: bytes) -> list[p.StatusPacket]:
    bus.transmit(packet)
    bus.clock.sleep(0.002)
    return StatusParser().feed(bus.pop_ready())


def write(bus: VirtualServoBus, servo_id: int, address: int, data: bytes) -> None:
    (status,) = exchange(bus, p.write(servo_id, address, data))
    assert status.error == 0, status


def record(bus: VirtualServoBus, servo_id: int, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Present position (pulses) and velocity (units) every millisecond."""
    servo = bus.servo(servo_id)
    positions, velocities = [], []
    for _ in range(round(seconds / 0.001)):
        bus.clock.sleep(0.001)
        bus.advance_to(bus.clock.now())
        positions.append(servo.get("present_position"))
        velocities.append(servo.get("present_velocity"))
    return np.array(positions), np.array(velocities)


@pytest.fixture
def bus() -> VirtualServoBus:
    bus = VirtualServoBus((11,), clock=SimulatedClock(), plant=IdealPlant(loads={}))
    write(bus, 11, 64, b"\x01")
    return bus


def test_trapezoidal_profile_reaches_goal_and_respects_profile_velocity(bus):
    write(bus, 11, 108, u32(20))  # profile acceleration
    write(bus, 11, 112, u32(50))  # profile velocity, 50 x 0.229 rev/min
    write(bus, 11, 116, u32(3048))
    assert bus.servo(11).get("moving_status") & 0x30 == 0x30  # trapezoidal
    positions, velocities = record(bus, 11, 1.5)
    assert positions[-1] == 3048
    assert velocities.max() == 50  # cruises exactly at the profile velocity
    assert np.all(np.diff(positions) >= 0)  # no overshoot, no backwards step
    cruising = np.count_nonzero(velocities == 50)
    assert cruising > 300
    # ramps at the profile acceleration: 50 units take t1 = 64 * 50 / 20 ms (e-Manual); the
    # reported velocity is rounded to whole units, so it shows 50 from 49.5 on (1 % earlier)
    ramp_ms = np.argmax(velocities == 50)
    assert ramp_ms == pytest.approx(64 * 50 / 20, abs=4)
    assert bus.servo(11).get("moving") == 0
    assert bus.servo(11).get("moving_status") & 0x01  # in position


def test_short_move_is_triangular(bus):
    write(bus, 11, 108, u32(20))
    write(bus, 11, 112, u32(200))
    write(bus, 11, 116, u32(2148))
    assert bus.servo(11).get("moving_status") & 0x30 == 0x20
    positions, velocities = record(bus, 11, 1.0)
    assert positions[-1] == 2148
    assert velocities.max() < 200


def test_profile_velocity_zero_moves_at_velocity_limit(bus):
    write(bus, 11, 116, u32(3048))
    positions, velocities = record(bus, 11, 0.5)
    assert velocities.max() == 200  # Velocity Limit(44) default
    assert positions[-1] == 3048
    expected_s = 1000 / (200 * PULSES_PER_S_PER_UNIT)
    assert np.argmax(positions == 3048) * 0.001 == pytest.approx(expected_s, abs=0.003)


def test_new_goal_mid_move_keeps_velocity_continuous(bus):
    write(bus, 11, 108, u32(20))
    write(bus, 11, 112, u32(60))
    write(bus, 11, 116, u32(3500))
    _, before = record(bus, 11, 0.3)
    write(bus, 11, 116, u32(1500))  # reverse
    _, after = record(bus, 11, 0.3)
    steps = np.abs(np.diff(np.concatenate([before, after])))
    max_step = 20 * PULSES_PER_S2_PER_UNIT * 0.001 / PULSES_PER_S_PER_UNIT  # units per ms at the profile acceleration
    assert steps.max() <= max_step + 1.5
    assert after[-1] < 0


def test_time_based_profile_arrives_on_time(bus):
    write(bus, 11, 64, b"\x00")
    write(bus, 11, 10, b"\x04")  # drive mode: time-based profile
    write(bus, 11, 64, b"\x01")
    write(bus, 11, 108, u32(200))  # ramp 200 ms
    write(bus, 11, 112, u32(1000))  # whole move 1000 ms
    write(bus, 11, 116, u32(2848))
    positions, _ = record(bus, 11, 1.2)
    assert positions[499] == pytest.approx(2448, abs=2)  # half way at half time (symmetric profile)
    assert positions[1000] == 2848
    # the last half pulse of the deceleration takes ~14 ms; present position rounds to the goal then
    assert int(np.argmax(positions == 2848)) == pytest.approx(1000, abs=25)


def test_velocity_mode_ramps_to_goal_velocity(bus):
    write(bus, 11, 64, b"\x00")
    write(bus, 11, 11, b"\x01")
    write(bus, 11, 64, b"\x01")
    write(bus, 11, 108, u32(10))
    write(bus, 11, 104, u32(100))
    positions, velocities = record(bus, 11, 1.0)
    assert velocities[-1] == 100
    assert np.argmax(velocities == 100) == pytest.approx(64 * 100 / 10, abs=7)  # rounded from 99.5 on
    assert positions[-1] > positions[0]


def test_torque_off_does_not_move(bus):
    write(bus, 11, 116, u32(3000))
    write(bus, 11, 64, b"\x00")
    positions, _ = record(bus, 11, 0.2)
    assert np.all(positions == positions[0])


def test_torque_on_takes_the_present_position_as_goal():
    bus = VirtualServoBus((11,), clock=SimulatedClock(), plant=IdealPlant(loads={}))
    write(bus, 11, 116, u32(3000))  # written while torque is off
    write(bus, 11, 64, b"\x01")
    assert bus.servo(11).get("goal_position") == 2048
    positions, _ = record(bus, 11, 0.1)
    assert np.all(positions == 2048)


def test_torque_on_by_goal_update_moves_to_the_new_goal():
    bus = VirtualServoBus((11,), clock=SimulatedClock(), plant=IdealPlant(loads={}))
    write(bus, 11, 10, b"\x08")  # drive mode bit 3
    write(bus, 11, 116, u32(2548))
    assert bus.servo(11).torque_on
    positions, _ = record(bus, 11, 0.5)
    assert positions[-1] == 2548


def test_reverse_mode_mirrors_the_direction():
    bus = VirtualServoBus((11,), clock=SimulatedClock(), plant=IdealPlant(loads={}))
    write(bus, 11, 10, b"\x01")  # drive mode bit 0: reverse
    write(bus, 11, 64, b"\x01")
    write(bus, 11, 116, u32(2548))
    record(bus, 11, 0.5)
    assert bus.servo(11).get("present_position") == 2548
    assert bus.servo(11).joint.position_rad == pytest.approx(-500 * 2 * math.pi / 4096)


def test_homing_offset_shifts_present_position():
    bus = VirtualServoBus((11,), clock=SimulatedClock(), plant=IdealPlant(loads={}))
    write(bus, 11, 20, u32(100))
    record(bus, 11, 0.01)
    assert bus.servo(11).get("present_position") == 2148


def test_present_current_comes_from_the_load():
    load = JointLoad(inertia_kg_m2=0.0, gravity_nm=0.5, coulomb_nm=0.0, viscous_nm_s=0.0)
    bus = VirtualServoBus((12,), clock=SimulatedClock(), plant=IdealPlant(loads={12: load}))
    write(bus, 12, 64, b"\x01")
    bus.clock.sleep(0.01)
    bus.advance_to(bus.clock.now())
    expected = 0.5 / XM430_W350.torque_constant_nm_per_a / 0.00269  # gravity at 0 rad, in 2.69 mA units
    assert bus.servo(12).get("present_current") == pytest.approx(expected, abs=1)
    write(bus, 12, 116, u32(3072))  # +90 degrees: gravity torque vanishes
    record(bus, 12, 1.0)
    assert abs(bus.servo(12).get("present_current")) <= 1


def test_present_current_is_clipped_to_the_current_limit():
    class Stuck:
        def step(self, commands, dt):
            return {i: JointReading(0.0, 0.0, 10.0) for i in commands}

    bus = VirtualServoBus((11,), clock=SimulatedClock(), plant=Stuck())
    write(bus, 11, 38, (500).to_bytes(2, "little"))
    write(bus, 11, 64, b"\x01")
    bus.clock.sleep(0.005)
    bus.advance_to(bus.clock.now())
    assert bus.servo(11).get("present_current") == 500


def test_joint_command_in_radians_follows_goal(bus):
    write(bus, 11, 116, u32(2048 + 1024))
    record(bus, 11, 0.5)
    assert bus.servo(11).command_rad() == pytest.approx(math.pi / 2)
    assert bus.servo(11).joint.position_rad == pytest.approx(math.pi / 2)


# --- bus watchdog -------------------------------------------------------------------------------


def test_watchdog_stops_the_servo_and_locks_goals_until_cleared(bus):
    write(bus, 11, 112, u32(100))
    write(bus, 11, 98, b"\x05")  # 100 ms
    write(bus, 11, 116, u32(4000))
    positions, _ = record(bus, 11, 0.3)  # the host is silent
    servo = bus.servo(11)
    assert servo.get("bus_watchdog") == -1
    stop_index = int(np.argmax(np.diff(positions) == 0))
    # stopped 100 ms after the last instruction, which came ~3 ms before the recording started
    assert stop_index == pytest.approx(100 - 3, abs=2)
    assert np.all(positions[stop_index + 1 :] == positions[stop_index])
    assert servo.torque_on  # it holds, torque stays on
    (status,) = exchange(bus, p.write(11, 116, u32(3000)))
    assert status.error_number is StatusError.DATA_RANGE_ERROR
    (status,) = exchange(bus, p.write(11, 98, b"\x03"))  # only 0 clears
    assert status.error_number is StatusError.DATA_RANGE_ERROR
    write(bus, 11, 98, b"\x00")
    write(bus, 11, 116, u32(3000))
    record(bus, 11, 1.0)
    assert servo.get("present_position") > positions[-1]


def test_any_instruction_on_the_bus_feeds_the_watchdog(bus):
    write(bus, 11, 98, b"\x05")
    for _ in range(10):
        record(bus, 11, 0.05)
        exchange(bus, p.ping(200))  # nobody has id 200, the servo still hears it
    assert bus.servo(11).get("bus_watchdog") == 5


def test_watchdog_sleeps_while_torque_is_off():
    bus = VirtualServoBus((11,), clock=SimulatedClock())
    write(bus, 11, 98, b"\x01")
    record(bus, 11, 0.2)
    assert bus.servo(11).get("bus_watchdog") == 1


def test_watchdog_trips_on_a_servo_at_rest(bus):
    write(bus, 11, 98, b"\x02")  # 40 ms
    record(bus, 11, 0.1)
    assert bus.servo(11).get("bus_watchdog") == -1


def test_watchdog_stops_velocity_mode_at_once(bus):
    write(bus, 11, 64, b"\x00")
    write(bus, 11, 11, b"\x01")
    write(bus, 11, 64, b"\x01")
    write(bus, 11, 104, u32(100))
    write(bus, 11, 98, b"\x05")
    positions, velocities = record(bus, 11, 0.3)
    assert bus.servo(11).get("bus_watchdog") == -1
    assert velocities[-1] == 0
    assert bus.servo(11).get("goal_velocity") == 0
    assert np.all(positions[-50:] == positions[-1])


def test_a_virtual_xl430_reports_present_load_in_tenths_of_a_percent():
    load = JointLoad(inertia_kg_m2=0.0, gravity_nm=0.5, coulomb_nm=0.0, viscous_nm_s=0.0)
    bus = VirtualServoBus((12,), clock=SimulatedClock(), plant=IdealPlant(loads={12: load}), models={12: XL430_W250})
    assert bus.servo(12).get("model_number") == 1060
    write(bus, 12, 64, b"\x01")
    bus.clock.sleep(0.01)
    bus.advance_to(bus.clock.now())
    # 0.5 N m of the XL430's 1.5 N m stall torque is 33.3 %, in 0.1 % units at Present Load (126)
    assert bus.servo(12).get("present_load") == pytest.approx(333, abs=1)


def test_a_virtual_xl430_has_no_current_registers_and_no_current_mode():
    bus = VirtualServoBus((12,), clock=SimulatedClock(), models={12: XL430_W250})
    (status,) = exchange(bus, p.write(12, 38, (500).to_bytes(2, "little")))  # Current Limit: XM430 only
    assert status.error_number is StatusError.ACCESS_ERROR
    (status,) = exchange(bus, p.write(12, 11, b"\x00"))  # current control mode
    assert status.error_number is StatusError.DATA_RANGE_ERROR
    assert bus.servo(12).get("position_p_gain") == 640
