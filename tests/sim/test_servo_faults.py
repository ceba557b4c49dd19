"""Fault injection: hardware errors as real servos report them, and broken, lost or late replies."""

from __future__ import annotations

import pytest

from firmware_bridge import protocol as p
from firmware_bridge.protocol import ALERT_BIT, HardwareError, StatusError, StatusParser
from sim.servo_plant import JointReading
from sim.virtual_bus import SimulatedClock, VirtualServoBus, wire_time_s

pytestmark = pytest.mark.usefixtures("ideal_arm")  # the emulator's exact behaviour, without the flaws


def exchange(bus: VirtualServoBus, packet: bytes, wait_s: float = 0.01) -> list[p.StatusPacket]:
    bus.transmit(packet)
    bus.clock.sleep(wait_s)
    return StatusParser().feed(bus.pop_ready())


@pytest.fixture
def bus() -> VirtualServoBus:
    bus = VirtualServoBus((11, 12), clock=SimulatedClock())
    for servo_id in (11, 12):
        exchange(bus, p.write(servo_id, 64, b"\x01"))
    return bus


@pytest.mark.parametrize("error", [HardwareError.OVERLOAD, HardwareError.ELECTRICAL_SHOCK])
def test_injected_hardware_error_turns_torque_off_and_sets_alert(bus, error):
    bus.servo(11).inject_hardware_error(error)
    (status,) = exchange(bus, p.read(11, 70, 1))
    assert status.error & ALERT_BIT and status.error_number is StatusError.NONE
    assert status.params == bytes((error,))
    assert bus.servo(11).get("torque_enable") == 0
    (other,) = exchange(bus, p.ping(12))
    assert other.error == 0  # only the faulty servo


def test_alert_bit_is_in_every_status_until_reboot(bus):
    bus.servo(11).inject_hardware_error(HardwareError.OVERLOAD)
    for packet in (p.ping(11), p.read(11, 132, 4), p.write(11, 65, b"\x01")):
        (status,) = exchange(bus, packet)
        assert status.error & ALERT_BIT
    exchange(bus, p.write(11, 64, b"\x01"))
    assert bus.servo(11).get("torque_enable") == 0  # torque cannot come back without a reboot
    (status,) = exchange(bus, p.reboot(11))
    assert status.error & ALERT_BIT  # the answer leaves before the reboot
    (status,) = exchange(bus, p.read(11, 64, 7))
    assert status.error == 0 and status.params[6] == 0
    assert exchange(bus, p.write(11, 64, b"\x01"))[0].error == 0
    assert bus.servo(11).torque_on


def test_overheating_from_temperature_beyond_the_limit(bus):
    bus.servo(12).set_temperature(85)
    (status,) = exchange(bus, p.read(12, 146, 1))
    assert status.params == bytes((85,))
    assert status.error & ALERT_BIT
    assert bus.servo(12).hardware_errors == HardwareError.OVERHEATING
    assert not bus.servo(12).torque_on


def test_a_condition_that_persists_is_detected_again_after_reboot(bus):
    bus.servo(12).set_temperature(85)
    exchange(bus, p.reboot(12))
    assert bus.servo(12).hardware_errors == HardwareError.OVERHEATING
    bus.servo(12).set_temperature(40)
    exchange(bus, p.reboot(12))
    assert bus.servo(12).hardware_errors == HardwareError.NONE


def test_input_voltage_error_is_reported_only_when_enabled_in_shutdown(bus):
    servo = bus.servo(11)
    servo.set_input_voltage(8.0)
    assert exchange(bus, p.read(11, 144, 2))[0].params == (80).to_bytes(2, "little")
    assert servo.hardware_errors == HardwareError.NONE  # Shutdown 52 does not watch the supply
    exchange(bus, p.write(11, 64, b"\x00"))
    (status,) = exchange(bus, p.write(11, 63, bytes((52 | 0x01,))))
    assert status.error == ALERT_BIT  # written, and detected at once
    assert servo.hardware_errors == HardwareError.INPUT_VOLTAGE
    (status,) = exchange(bus, p.ping(11))
    assert status.error & ALERT_BIT


def test_sustained_load_beyond_the_current_limit_is_an_overload():
    class Blocked:
        def step(self, commands, dt):
            return {i: JointReading(0.0, 0.0, 5.0 if c is not None else 0.0) for i, c in commands.items()}

    bus = VirtualServoBus((11,), clock=SimulatedClock(), plant=Blocked())
    exchange(bus, p.write(11, 64, b"\x01"))
    bus.clock.sleep(0.5)
    bus.advance_to(bus.clock.now())
    assert bus.servo(11).hardware_errors == HardwareError.NONE
    bus.clock.sleep(0.6)
    bus.advance_to(bus.clock.now())
    assert bus.servo(11).hardware_errors == HardwareError.OVERLOAD
    assert not bus.servo(11).torque_on


def test_dropped_replies(bus):
    bus.servo(11).reply_faults.drop = 2
    assert exchange(bus, p.ping(11)) == []
    assert exchange(bus, p.read(11, 132, 4)) == []
    assert len(exchange(bus, p.ping(11))) == 1


def test_silent_servo_still_obeys(bus):
    bus.servo(11).reply_faults.silent = True
    assert exchange(bus, p.write(11, 65, b"\x01")) == []
    assert bus.servo(11).get("led") == 1


def test_corrupted_reply_fails_its_crc(bus):
    bus.servo(11).reply_faults.corrupt = 1
    parser = StatusParser()
    bus.transmit(p.read(11, 132, 4))
    bus.clock.sleep(0.01)
    assert parser.feed(bus.pop_ready()) == []
    assert parser.crc_errors == 1
    assert len(exchange(bus, p.read(11, 132, 4))) == 1


def test_delayed_reply_arrives_late(bus):
    bus.servo(11).reply_faults.delay_s = 0.05
    start = bus.clock.now()
    bus.transmit(p.ping(11))
    on_time = start + wire_time_s(10 + 14, 1_000_000) + bus.servo(11).return_delay_s
    assert bus.next_ready_s() == pytest.approx(on_time + 0.05)
    bus.clock.advance_to(on_time + 0.01)
    assert bus.pop_ready() == b""
    bus.clock.advance_to(on_time + 0.05)
    assert len(StatusParser().feed(bus.pop_ready())) == 1


def test_faults_apply_to_sync_read_answers(bus):
    bus.servo(12).reply_faults.drop = 1
    statuses = exchange(bus, p.sync_read(132, 4, [11, 12]))
    assert [s.servo_id for s in statuses] == [11]


def test_fast_sync_read_breaks_at_a_silent_servo(bus):
    bus.servo(11).reply_faults.silent = True
    assert exchange(bus, p.fast_sync_read(132, 4, [11, 12])) == []


def test_fast_sync_read_is_cut_short_by_a_dropped_answer(bus):
    bus.servo(12).reply_faults.drop = 1
    (status,) = exchange(bus, p.fast_sync_read(132, 4, [11, 12]))
    assert p.split_fast_read(status, [4], [11]) == {11: (0, (2048).to_bytes(4, "little"))}
    with pytest.raises(ValueError):
        p.split_fast_read(status, [4, 4], [11, 12])  # what the host expected
    (status,) = exchange(bus, p.fast_sync_read(132, 4, [11, 12]))
    assert sorted(p.split_fast_read(status, [4, 4], [11, 12])) == [11, 12]
