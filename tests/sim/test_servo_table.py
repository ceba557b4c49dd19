"""The virtual XM430-W350's control table: addresses, defaults, access rules and error numbers."""

from __future__ import annotations

import itertools

import pytest

from firmware_bridge import protocol as p
from firmware_bridge.protocol import ALERT_BIT, StatusError, StatusParser
from sim.servo import VirtualServo
from sim.servo_table import servo_table
from sim.virtual_bus import SimulatedClock, VirtualServoBus

pytestmark = pytest.mark.usefixtures("ideal_arm")  # the emulator's exact behaviour, without the flaws


def u32(value: int) -> bytes:
    return value.to_bytes(4, "little", signed=value < 0)


@pytest.fixture
def bus() -> VirtualServoBus:
    return VirtualServoBus((11, 12), clock=SimulatedClock())


def exchange(bus: VirtualServoBus, packet: bytes) -> list[p.StatusPacket]:
    bus.transmit(packet)
    bus.clock.sleep(0.01)
    return StatusParser().feed(bus.pop_ready())


def test_addresses_match_the_e_manual():
    expected = {
        "model_number": (0, 2),
        "firmware_version": (6, 1),
        "id": (7, 1),
        "baud_rate": (8, 1),
        "return_delay_time": (9, 1),
        "drive_mode": (10, 1),
        "operating_mode": (11, 1),
        "homing_offset": (20, 4),
        "temperature_limit": (31, 1),
        "max_voltage_limit": (32, 2),
        "min_voltage_limit": (34, 2),
        "pwm_limit": (36, 2),
        "current_limit": (38, 2),
        "velocity_limit": (44, 4),
        "max_position_limit": (48, 4),
        "min_position_limit": (52, 4),
        "shutdown": (63, 1),
        "torque_enable": (64, 1),
        "led": (65, 1),
        "status_return_level": (68, 1),
        "registered_instruction": (69, 1),
        "hardware_error_status": (70, 1),
        "position_p_gain": (84, 2),
        "bus_watchdog": (98, 1),
        "goal_pwm": (100, 2),
        "goal_current": (102, 2),
        "goal_velocity": (104, 4),
        "profile_acceleration": (108, 4),
        "profile_velocity": (112, 4),
        "goal_position": (116, 4),
        "realtime_tick": (120, 2),
        "moving": (122, 1),
        "moving_status": (123, 1),
        "present_pwm": (124, 2),
        "present_current": (126, 2),
        "present_velocity": (128, 4),
        "present_position": (132, 4),
        "velocity_trajectory": (136, 4),
        "position_trajectory": (140, 4),
        "present_input_voltage": (144, 2),
        "present_temperature": (146, 1),
        "indirect_address_1": (168, 2),
        "indirect_data_1": (224, 1),
        "indirect_address_29": (578, 2),
        "indirect_data_56": (661, 1),
    }
    view = servo_table()
    for name, (address, size) in expected.items():
        assert (view.by_name[name].address, view.by_name[name].size) == (address, size), name
    ends = [f.end for f in view.fields]
    assert all(a.end <= b.address for a, b in itertools.pairwise(view.fields)), "fields overlap"
    assert max(ends) == view.size == 662


def test_ping_answers_model_1020_and_firmware(bus):
    (status,) = exchange(bus, p.ping(11))
    assert status.servo_id == 11 and status.error == 0
    assert status.params == (1020).to_bytes(2, "little") + bytes((48,))


def test_power_on_values(bus):
    servo = bus.servo(12)
    assert servo.get("model_number") == 1020
    assert servo.get("return_delay_time") == 250
    assert servo.get("operating_mode") == 3
    assert servo.get("shutdown") == 52
    assert servo.get("torque_enable") == 0
    assert servo.get("status_return_level") == 2
    assert servo.get("bus_watchdog") == 0
    assert servo.get("present_position") == 2048
    assert servo.get("goal_position") == servo.get("present_position")
    assert servo.get("present_input_voltage") == 120


def test_read_of_any_range_including_gaps(bus):
    (status,) = exchange(bus, p.read(11, 0, 147))
    assert len(status.params) == 147
    assert status.params[0:2] == (1020).to_bytes(2, "little")
    assert status.params[14:20] == bytes(6)  # undefined addresses read 0
    assert status.params[132:136] == u32(2048)


def test_read_beyond_the_table_is_an_access_error(bus):
    (status,) = exchange(bus, p.read(11, 660, 4))
    assert status.error_number is StatusError.ACCESS_ERROR and status.params == b""


def test_write_then_read_back(bus):
    assert exchange(bus, p.write(11, 112, u32(100)))[0].error == 0
    assert exchange(bus, p.read(11, 112, 4))[0].params == u32(100)


@pytest.mark.parametrize(
    ("address", "data", "error"),
    [
        (132, u32(5), StatusError.ACCESS_ERROR),  # present position is read-only
        (0, (1000).to_bytes(2, "little"), StatusError.ACCESS_ERROR),  # model number is read-only
        (14, b"\x00", StatusError.ACCESS_ERROR),  # undefined address
        (116, b"\x00\x08", StatusError.DATA_LENGTH_ERROR),  # half of goal position
        (114, u32(0), StatusError.DATA_LENGTH_ERROR),  # starts inside profile velocity
        (64, b"\x02", StatusError.DATA_RANGE_ERROR),  # torque enable is 0..1
        (68, b"\x03", StatusError.DATA_RANGE_ERROR),  # status return level is 0..2
        (11, b"\x02", StatusError.DATA_RANGE_ERROR),  # operating mode 2 does not exist
        (8, b"\x08", StatusError.DATA_RANGE_ERROR),  # baud rate 0..7
        (112, u32(32768), StatusError.DATA_RANGE_ERROR),  # profile velocity 0..32767
        (98, b"\x80", StatusError.DATA_RANGE_ERROR),  # bus watchdog 1..127 (0x80 is -128)
        (63, b"\x02", StatusError.DATA_RANGE_ERROR),  # shutdown bit 1 is unused
        (116, u32(4096), StatusError.DATA_LIMIT_ERROR),  # beyond Max Position Limit
        (104, u32(201), StatusError.DATA_LIMIT_ERROR),  # beyond Velocity Limit
        (102, (-1194).to_bytes(2, "little", signed=True), StatusError.DATA_LIMIT_ERROR),
    ],
)
def test_refused_writes_answer_the_right_error_and_change_nothing(bus, address, data, error):
    before = exchange(bus, p.read(11, 0, 147))[0].params
    (status,) = exchange(bus, p.write(11, address, data))
    assert status.error_number is error
    assert exchange(bus, p.read(11, 0, 147))[0].params[:120] == before[:120]


def test_eeprom_is_locked_while_torque_is_on(bus):
    assert exchange(bus, p.write(11, 64, b"\x01"))[0].error == 0
    (status,) = exchange(bus, p.write(11, 9, b"\x00"))
    assert status.error_number is StatusError.ACCESS_ERROR
    assert bus.servo(11).get("return_delay_time") == 250
    assert exchange(bus, p.write(11, 64, b"\x00"))[0].error == 0
    assert exchange(bus, p.write(11, 9, b"\x00"))[0].error == 0
    assert bus.servo(11).get("return_delay_time") == 0


def test_goal_position_range_follows_the_position_limits(bus):
    assert exchange(bus, p.write(11, 48, u32(3000)))[0].error == 0
    assert exchange(bus, p.write(11, 116, u32(3001)))[0].error_number is StatusError.DATA_LIMIT_ERROR
    assert exchange(bus, p.write(11, 11, b"\x04"))[0].error == 0  # extended position: limits do not apply
    assert exchange(bus, p.write(11, 116, u32(-10000)))[0].error == 0


def test_a_write_of_several_fields_is_all_or_nothing(bus):
    data = u32(50) + u32(100) + u32(5000)  # profile acceleration, profile velocity, goal position (too far)
    assert exchange(bus, p.write(11, 108, data))[0].error_number is StatusError.DATA_LIMIT_ERROR
    assert bus.servo(11).get("profile_velocity") == 0


def test_unknown_instruction_is_an_instruction_error(bus):
    (status,) = exchange(bus, p.encode_instruction(11, 0x7A, b""))
    assert status.error_number is StatusError.INSTRUCTION_ERROR


def test_malformed_read_is_a_length_error(bus):
    (status,) = exchange(bus, p.encode_instruction(11, p.Instruction.READ, b"\x84\x00"))
    assert status.error_number is StatusError.DATA_LENGTH_ERROR


def test_status_return_level_decides_who_answers(bus):
    assert exchange(bus, p.write(11, 68, b"\x01")) == []  # the new level already applies to its own answer
    assert exchange(bus, p.write(11, 65, b"\x01")) == []  # writes go unanswered
    assert len(exchange(bus, p.read(11, 65, 1))) == 1  # reads are answered
    assert exchange(bus, p.write(11, 68, b"\x00")) == []
    assert exchange(bus, p.read(11, 65, 1)) == []
    assert len(exchange(bus, p.ping(11))) == 1  # ping always


def test_broadcast_write_runs_everywhere_without_answers(bus):
    assert exchange(bus, p.write(p.BROADCAST_ID, 65, b"\x01")) == []
    assert [bus.servo(i).get("led") for i in (11, 12)] == [1, 1]


def test_reg_write_waits_for_action(bus):
    assert exchange(bus, p.reg_write(11, 65, b"\x01"))[0].error == 0
    assert bus.servo(11).get("registered_instruction") == 1
    assert bus.servo(11).get("led") == 0
    assert exchange(bus, p.action(p.BROADCAST_ID)) == []
    assert bus.servo(11).get("led") == 1
    assert bus.servo(11).get("registered_instruction") == 0
    assert exchange(bus, p.action(11))[0].error_number is StatusError.INSTRUCTION_ERROR  # nothing registered


def test_reg_write_is_checked_when_registered(bus):
    assert exchange(bus, p.reg_write(11, 132, u32(1)))[0].error_number is StatusError.ACCESS_ERROR
    assert bus.servo(11).get("registered_instruction") == 0


def test_factory_reset_keeps_id_and_baud_with_option_2(bus):
    exchange(bus, p.write(11, 9, b"\x00"))
    exchange(bus, p.write(11, 31, b"\x46"))
    assert exchange(bus, p.factory_reset(11, 0x02))[0].error == 0
    servo = bus.servo(11)
    assert (servo.get("return_delay_time"), servo.get("temperature_limit")) == (250, 80)
    assert servo.get("baud_rate") == 3  # kept; the factory value would be 1 (57600)


def test_factory_reset_is_refused_while_torque_is_on(bus):
    exchange(bus, p.write(11, 64, b"\x01"))
    assert exchange(bus, p.factory_reset(11, 0x01))[0].error_number is StatusError.ACCESS_ERROR


def test_broadcast_factory_reset_of_everything_is_ignored(bus):
    exchange(bus, p.write(11, 31, b"\x46"))
    assert exchange(bus, p.factory_reset(p.BROADCAST_ID, 0xFF)) == []
    assert bus.servo(11).get("temperature_limit") == 0x46


def test_id_change_takes_effect(bus):
    assert exchange(bus, p.write(12, 7, b"\x0f"))[0].servo_id == 12
    assert exchange(bus, p.ping(15))[0].servo_id == 15
    assert exchange(bus, p.ping(12)) == []


def test_baud_change_makes_the_servo_deaf_at_the_old_rate(bus):
    assert exchange(bus, p.write(12, 8, b"\x01"))[0].error == 0  # 57600
    assert exchange(bus, p.ping(12)) == []
    bus.transmit(p.ping(12), 57_600)
    bus.clock.sleep(0.01)
    assert StatusParser().feed(bus.pop_ready())[0].servo_id == 12


def test_clear_needs_the_key_and_a_stopped_servo(bus):
    assert exchange(bus, p.clear(11))[0].error == 0
    bad = p.encode_instruction(11, p.Instruction.CLEAR, b"\x01\x00\x00\x00\x00")
    assert exchange(bus, bad)[0].error_number is StatusError.DATA_RANGE_ERROR


def test_indirect_data_reads_the_mapped_address(bus):
    assert exchange(bus, p.write(11, 168, (132).to_bytes(2, "little") + (133).to_bytes(2, "little")))[0].error == 0
    assert exchange(bus, p.read(11, 224, 2))[0].params == (2048).to_bytes(2, "little")


def test_indirect_data_reads_follow_the_table_and_a_remapping():
    servo = VirtualServo(11)
    assert servo.write(168, b"".join(a.to_bytes(2, "little") for a in (132, 133, 64))).error == 0
    assert servo.read(223, 4).params == b"\x00" + (2048).to_bytes(2, "little") + b"\x00"  # a plain byte first
    assert servo.write(64, b"\x01").error == 0  # torque on: the same range again reads the new value
    assert servo.read(223, 4).params == b"\x00" + (2048).to_bytes(2, "little") + b"\x01"
    assert servo.write(168, (84).to_bytes(2, "little")).error == 0  # Indirect Data 1: Position P Gain's low byte
    assert servo.read(223, 4).params == b"\x00\x20\x08\x01"  # 800 = 0x0320
    assert servo.read(224, 1).params == b"\x20"


def test_indirect_data_writes_go_to_the_mapped_field(bus):
    pointers = b"".join((112 + i).to_bytes(2, "little") for i in range(4))  # profile velocity
    assert exchange(bus, p.write(11, 168, pointers))[0].error == 0
    assert exchange(bus, p.write(11, 224, u32(77)))[0].error == 0
    assert bus.servo(11).get("profile_velocity") == 77
    assert exchange(bus, p.write(11, 224, b"\x05\x00"))[0].error_number is StatusError.DATA_LENGTH_ERROR
    pointers = b"".join((132 + i).to_bytes(2, "little") for i in range(4))  # present position
    assert exchange(bus, p.write(11, 168, pointers))[0].error == 0
    assert exchange(bus, p.write(11, 224, u32(1)))[0].error_number is StatusError.ACCESS_ERROR


def test_direct_servo_api_reports_alert_bit_with_hardware_error():
    servo = VirtualServo(3)
    assert servo.status_error() == 0
    servo.inject_hardware_error(p.HardwareError.OVERLOAD)
    assert servo.status_error(StatusError.NONE) == ALERT_BIT


def test_position_gain_registers_are_handed_to_the_plant_once_per_change():
    servo = VirtualServo(1)
    assert servo.position_gains_changed() == (800, 0, 0)  # power-on values: P, I, D
    assert servo.position_gains_changed() is None
    assert servo.write(84, (1400).to_bytes(2, "little")).error == 0
    assert servo.write(80, (600).to_bytes(2, "little")).error == 0
    assert servo.position_gains_changed() == (1400, 0, 600)
    assert servo.write(82, (16384).to_bytes(2, "little")).error == StatusError.DATA_RANGE_ERROR
    assert servo.write(84, b"\x10").error == StatusError.DATA_LENGTH_ERROR  # half a gain
    assert servo.position_gains_changed() is None
    servo.reboot()  # RAM: the gains are back to the power-on values
    assert servo.position_gains_changed() == (800, 0, 0)
