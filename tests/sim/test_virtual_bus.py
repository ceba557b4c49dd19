"""The virtual bus: wire time, group instructions, collisions, hostile bytes, and the in-process URL."""

from __future__ import annotations

import math
import threading
import time

import pytest
import serial
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge import BusTimeout, DynamixelBus, ServoError
from firmware_bridge import protocol as p
from firmware_bridge.protocol import BROADCAST_ID, StatusParser
from sim.servo_plant import JointReading
from sim.virtual_bus import SimulatedClock, VirtualServoBus, wire_time_s

pytestmark = pytest.mark.usefixtures("ideal_arm")  # the emulator's exact behaviour, without the flaws

PING_REPLY_BYTES = 14


def u32(value: int) -> bytes:
    return value.to_bytes(4, "little", signed=value < 0)


def exchange(bus: VirtualServoBus, packet: bytes, wait_s: float = 0.02) -> list[p.StatusPacket]:
    bus.transmit(packet)
    bus.clock.sleep(wait_s)
    return StatusParser().feed(bus.pop_ready())


@pytest.fixture
def bus() -> VirtualServoBus:
    return VirtualServoBus((11, 12, 13, 14), clock=SimulatedClock(), eeprom={"return_delay_time": 0})


@pytest.fixture
def url_bus():
    bus = VirtualServoBus.start((11, 12, 13, 14), clock=SimulatedClock(), eeprom={"return_delay_time": 0})
    yield bus
    bus.close()


# --- wire time -----------------------------------------------------------------------------------


def test_reply_is_readable_only_after_its_wire_time(bus):
    request = p.read(11, 132, 4)
    start = bus.clock.now()
    bus.transmit(request)
    due = start + wire_time_s(len(request) + 15, 1_000_000)
    assert bus.next_ready_s() == pytest.approx(due)
    bus.clock.advance_to(due - 1e-6)
    assert bus.pop_ready() == b""
    bus.clock.advance_to(due)
    assert len(bus.pop_ready()) == 15


def test_return_delay_time_adds_to_the_wire_time(bus):
    exchange(bus, p.write(11, 9, bytes((250,))))  # 500 us
    start = bus.clock.now()
    bus.transmit(p.ping(11))
    assert bus.next_ready_s() - start == pytest.approx(wire_time_s(10 + PING_REPLY_BYTES, 1_000_000) + 500e-6)


def test_wire_time_scales_with_baud_rate():
    bus = VirtualServoBus((11,), baudrate=57_600, clock=SimulatedClock(), eeprom={"return_delay_time": 0})
    bus.transmit(p.ping(11), 57_600)
    assert bus.next_ready_s() == pytest.approx((10 + PING_REPLY_BYTES) * 10 / 57_600)


def test_broadcast_ping_replies_come_in_id_order_one_after_another(bus):
    bus = VirtualServoBus((14, 11, 13), clock=SimulatedClock(), eeprom={"return_delay_time": 0})
    start = bus.clock.now()
    bus.transmit(p.ping(BROADCAST_ID))
    byte_s = wire_time_s(1, 1_000_000)
    arrivals = []
    while (due := bus.next_ready_s()) is not None:
        bus.clock.advance_to(due)
        arrivals.append((due - start, StatusParser().feed(bus.pop_ready())[0].servo_id))
    assert [servo_id for _, servo_id in arrivals] == [11, 13, 14]
    assert [t for t, _ in arrivals] == pytest.approx([(10 + PING_REPLY_BYTES * k) * byte_s for k in (1, 2, 3)])


def test_next_request_waits_for_the_line(bus):
    bus.transmit(p.ping(BROADCAST_ID))
    busy_until = bus.line_free_s
    bus.transmit(p.read(11, 132, 4))
    assert bus.transmit_done_s == pytest.approx(busy_until + wire_time_s(14, 1_000_000))


# --- group instructions --------------------------------------------------------------------------


def test_sync_read_answers_in_the_order_asked(bus):
    statuses = exchange(bus, p.sync_read(132, 4, [13, 11]))
    assert [(s.servo_id, s.params) for s in statuses] == [(13, u32(2048)), (11, u32(2048))]


def test_fast_sync_read_is_one_packet(bus):
    (status,) = exchange(bus, p.fast_sync_read(126, 10, [11, 12, 14]))
    entries = p.split_fast_read(status, [10, 10, 10], [11, 12, 14])
    assert sorted(entries) == [11, 12, 14]
    assert all(error == 0 and data[6:10] == u32(2048) for error, data in entries.values())


def test_bulk_read_and_fast_bulk_read(bus):
    requests = {11: (132, 4), 12: (7, 1)}
    statuses = exchange(bus, p.bulk_read(requests))
    assert [(s.servo_id, s.params) for s in statuses] == [(11, u32(2048)), (12, b"\x0c")]
    (status,) = exchange(bus, p.bulk_read(requests, fast=True))
    assert p.split_fast_read(status, [4, 1], [11, 12]) == {11: (0, u32(2048)), 12: (0, b"\x0c")}


def test_sync_write_and_bulk_write(bus):
    assert exchange(bus, p.sync_write(112, {11: u32(10), 13: u32(30)})) == []
    assert [bus.servo(i).get("profile_velocity") for i in (11, 12, 13)] == [10, 0, 30]
    assert exchange(bus, p.bulk_write({12: (65, b"\x01"), 14: (108, u32(7))})) == []
    assert (bus.servo(12).get("led"), bus.servo(14).get("profile_acceleration")) == (1, 7)


def test_sync_write_with_a_bad_value_changes_only_that_servo(bus):
    exchange(bus, p.sync_write(116, {11: u32(3000), 12: u32(9999)}))
    assert (bus.servo(11).get("goal_position"), bus.servo(12).get("goal_position")) == (3000, 2048)


def test_malformed_sync_write_is_ignored(bus):
    packet = p.encode_instruction(BROADCAST_ID, p.Instruction.SYNC_WRITE, b"\x70\x00\x04\x00\x0b\x0a\x00")
    assert exchange(bus, packet) == []
    assert bus.servo(11).get("profile_velocity") == 0


def test_sync_read_of_a_missing_servo_leaves_a_gap(bus):
    statuses = exchange(bus, p.sync_read(132, 4, [11, 99, 12]))
    assert [s.servo_id for s in statuses] == [11, 12]


# --- collisions and hostile input ----------------------------------------------------------------


def test_two_servos_with_one_id_collide(bus):
    exchange(bus, p.write(12, 7, b"\x0b"))  # now two servos answer to 11
    exchange(bus, p.write(11, 65, b"\x01"))  # both get the LED; the answers are identical
    bus.servo(11).set_temperature(31)  # make one answer differ
    parser = StatusParser()
    bus.transmit(p.read(11, 146, 1))
    bus.clock.sleep(0.01)
    assert parser.feed(bus.pop_ready()) == []  # garbled on the line
    assert parser.crc_errors + len(parser.dropped) > 0


def test_broadcast_ping_with_duplicate_ids_does_not_hang(bus):
    exchange(bus, p.write(12, 7, b"\x0b"))
    statuses = exchange(bus, p.ping(BROADCAST_ID))
    assert [s.servo_id for s in statuses] == [11, 13, 14]  # identical answers overlap into one


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(max_size=300))
def test_garbage_never_breaks_the_servos(bus, garbage):
    bus.transmit(garbage)
    bus.clock.sleep(0.005)
    bus.pop_ready()
    (status,) = exchange(bus, p.ping(11))
    assert status.servo_id == 11


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=1, max_value=14), instruction=st.sampled_from([0x01, 0x02, 0x03, 0x83, 0x92, 0x9A]))
def test_truncated_instruction_then_a_good_one(bus, cut, instruction):
    whole = p.encode_instruction(11, instruction, b"\x84\x00\x04\x00")
    bus.transmit(whole[:cut])
    bus.clock.sleep(0.005)
    bus.pop_ready()
    statuses = exchange(bus, p.ping(11))
    # The stub swallows the ping's first bytes (its length field says more is coming): servo 11
    # may answer CRC Error for the stub, and then answers the ping found inside.
    assert statuses[-1] == p.StatusPacket(11, 0, (1020).to_bytes(2, "little") + bytes((48,)))
    assert all(s.error_number is p.StatusError.CRC_ERROR for s in statuses[:-1])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    servo_id=st.sampled_from([11, 12, 99, BROADCAST_ID]),
    instruction=st.one_of(st.sampled_from(list(p.Instruction)), st.integers(0, 255)),
    params=st.binary(max_size=40),
)
def test_any_well_framed_instruction_gets_an_answer_or_silence_never_a_crash(bus, servo_id, instruction, params):
    # Examples share the bus, so random writes pile up (new ids, baud rates, limits): only
    # well-formed answers from servos that are on the bus may come back.
    ids = {servo.servo_id for servo in bus.servos} | {BROADCAST_ID}
    for packet in exchange(bus, p.encode_instruction(servo_id, instruction, params)):
        assert packet.servo_id in ids


def test_instruction_split_across_writes_is_assembled(bus):
    packet = p.read(12, 132, 4)
    for i in range(len(packet)):
        bus.transmit(packet[i : i + 1])
    bus.clock.sleep(0.01)
    (status,) = StatusParser().feed(bus.pop_ready())
    assert status.servo_id == 12


def test_bad_crc_instruction_is_answered_with_crc_error_and_not_executed(bus):
    packet = bytearray(p.write(11, 65, b"\x01"))
    packet[-1] ^= 0xFF
    (status,) = exchange(bus, bytes(packet))
    assert (status.servo_id, status.error_number) == (11, p.StatusError.CRC_ERROR)
    assert bus.servo(11).get("led") == 0
    packet = bytearray(p.write(BROADCAST_ID, 65, b"\x01"))
    packet[-1] ^= 0xFF
    assert exchange(bus, bytes(packet)) == []  # nobody answers for the broadcast id


def test_status_packets_on_the_bus_are_not_instructions(bus):
    assert exchange(bus, p.encode_status(11, 0, b"\x00")) == []


# --- in-process serial URL -----------------------------------------------------------------------


def test_serial_for_url_talks_to_the_named_bus(url_bus):
    port = serial.serial_for_url(url_bus.url, baudrate=1_000_000, timeout=0.01)
    port.write(p.ping(12))
    status = StatusParser().feed(port.read(PING_REPLY_BYTES))[0]
    assert status.servo_id == 12
    port.close()


def test_simulated_clock_reads_advance_time_instead_of_sleeping(url_bus, monkeypatch):
    def no_sleeping(seconds):
        raise AssertionError(f"slept {seconds} s in simulated time")

    monkeypatch.setattr(time, "sleep", no_sleeping)
    port = serial.serial_for_url(url_bus.url, baudrate=1_000_000, timeout=1.0)
    start = url_bus.clock.now()
    port.write(p.read(11, 132, 4))
    assert len(port.read(15)) == 15
    assert url_bus.clock.now() - start == pytest.approx(wire_time_s(14 + 15, 1_000_000))
    port.write(p.ping(99))  # nobody answers: the read times out in simulated time
    assert port.read(PING_REPLY_BYTES) == b""
    assert url_bus.clock.now() - start == pytest.approx(1.0 + wire_time_s(14 + 15, 1_000_000), abs=1e-3)


def test_real_time_read_waits_for_the_wire():
    bus = VirtualServoBus.start((11,), baudrate=57_600)
    try:
        port = serial.serial_for_url(bus.url, baudrate=57_600, timeout=1.0)
        start = time.monotonic()
        port.write(p.ping(11))
        assert len(port.read(PING_REPLY_BYTES)) == PING_REPLY_BYTES
        assert time.monotonic() - start >= (10 + PING_REPLY_BYTES) * 10 / 57_600 + 500e-6
    finally:
        bus.close()


def test_bus_closed_during_a_read_fails_the_read_promptly():
    bus = VirtualServoBus.start((11,))
    port = serial.serial_for_url(bus.url, baudrate=1_000_000, timeout=5.0)
    bus.servo(11).reply_faults.delay_s = 3.0
    port.write(p.ping(11))
    closer = threading.Timer(0.05, bus.close)
    closer.start()
    with pytest.raises(serial.SerialException, match="was closed"):
        port.read(14)
    closer.join()
    assert bus.next_ready_s() is not None  # the reply was still on its way: the read did not wait for it


def test_unknown_bus_name_is_a_clear_error(url_bus):
    with pytest.raises(serial.SerialException, match="no virtual servo bus named 'nope'"):
        serial.serial_for_url("bidvis-sim://nope")


def test_port_fails_after_the_bus_closed():
    bus = VirtualServoBus.start((11,))
    port = serial.serial_for_url(bus.url, timeout=0.01)
    bus.close()
    with pytest.raises(serial.SerialException, match="was closed"):
        port.write(p.ping(11))


def test_bus_names_are_unique():
    bus = VirtualServoBus.start((11,), name="twin")
    try:
        with pytest.raises(ValueError, match="already running"):
            VirtualServoBus.start((12,), name="twin")
    finally:
        bus.close()


def test_our_dynamixel_bus_works_in_process(url_bus):
    with DynamixelBus(url_bus.url) as host:
        assert host.ping(11) == 1020
        host.write(12, 64, b"\x01")
        host.write(12, 116, u32(2548))
        url_bus.clock.sleep(2.0)
        assert host.sync_read(132, 4, [11, 12]) == {11: u32(2048), 12: u32(2548)}
        joints = url_bus.joint_states()
        assert sorted(joints) == [11, 12, 13, 14]
        assert joints[12].position_rad == pytest.approx(500 * 2 * math.pi / 4096)
        assert host.fast_sync_read(132, 4, [11, 12]) == {11: u32(2048), 12: u32(2548)}
        with pytest.raises(ServoError) as excinfo:
            host.write(11, 132, u32(0))
        assert excinfo.value.error_number == p.StatusError.ACCESS_ERROR
        url_bus.servo(13).reply_faults.silent = True
        with pytest.raises(BusTimeout):
            host.ping(13)


# --- byte stuffing ---------------------------------------------------------------------------------


def test_stuffed_instruction_data_arrives_unstuffed(bus):
    exchange(bus, p.write(11, 11, b"\x04"))  # extended position: negative goals allowed
    packet = p.write(11, 116, b"\xff\xff\xfd\xff")
    assert b"\xff\xff\xfd\xfd" in packet  # our encoder stuffed it
    assert exchange(bus, packet)[0].error == 0
    assert bus.servo(11).get("goal_position") == int.from_bytes(b"\xff\xff\xfd\xff", "little", signed=True)


def test_status_data_that_needs_stuffing_is_stuffed():
    class Backwards:
        def step(self, commands, dt):
            # 2045 pulses (low byte 0xFD) turning at -1 velocity unit: present velocity ff ff ff ff, then fd
            return {
                i: JointReading((2045 - 2048) * 2 * math.pi / 4096, -0.229 * 2 * math.pi / 60, 0.0) for i in commands
            }

    bus = VirtualServoBus((11,), clock=SimulatedClock(), plant=Backwards())
    bus.transmit(p.read(11, 128, 8))
    bus.clock.sleep(0.01)
    raw = bus.pop_ready()
    assert b"\xff\xff\xfd\xfd" in raw[7:]
    (status,) = StatusParser().feed(raw)
    assert status.params == b"\xff\xff\xff\xff" + (2045).to_bytes(4, "little")
