"""DynamixelBus over a real pseudo-terminal with scripted servos on the far end."""

from __future__ import annotations

import threading

import pytest
import serial

from firmware_bridge import (
    BridgeError,
    BusTimeout,
    CRCError,
    DynamixelBus,
    HardwareError,
    PortError,
    ProtocolError,
    ServoError,
    StatusError,
    protocol,
    wire_time_s,
)
from firmware_bridge.protocol import ALERT_BIT, Instruction

pytestmark = pytest.mark.timeout(60)


def _u32(value: int) -> bytes:
    return value.to_bytes(4, "little", signed=True)


def test_ping_returns_model_number(bus, servos):
    assert bus.ping(3) == 1020
    assert bus.ping_details(3) == (1020, 45)


def test_broadcast_ping_lists_every_servo(bus, servos):
    assert bus.broadcast_ping(max_id=10) == {i: (1020, 45) for i in (1, 2, 3, 4, 5)}


def test_write_then_read_round_trips(bus, servos):
    bus.write(2, 116, _u32(3000))
    assert servos.memory[2][116:120] == _u32(3000)
    assert bus.read(2, 116, 4) == _u32(3000)


def test_reg_write_and_action_are_sent(bus, servos):
    bus.reg_write(1, 104, _u32(200))
    bus.action()
    bus.ping(1)  # a round trip, so the responder has processed the broadcast ACTION
    kinds = [p.instruction for p in servos.received]
    assert Instruction.REG_WRITE in kinds and Instruction.ACTION in kinds


def test_reboot_factory_reset_and_clear_get_their_status(bus, servos):
    bus.reboot(1)
    bus.factory_reset(1, 0x01)
    bus.clear(1)
    sent = [(p.instruction, p.params) for p in servos.received]
    assert sent == [
        (Instruction.REBOOT, b""),
        (Instruction.FACTORY_RESET, b"\x01"),
        (Instruction.CLEAR, bytes((0x01, 0x44, 0x58, 0x4C, 0x22))),
    ]
    with pytest.raises(ValueError, match="factory reset mode"):
        bus.factory_reset(1, 0x07)


def test_sync_write_then_sync_read_control_cycle(bus, servos):
    ids = (1, 2, 3, 4, 5)
    bus.sync_write(116, {i: _u32(1000 + i) for i in ids})
    for i in ids:
        servos.memory[i][126:136] = (i * 3).to_bytes(2, "little") + _u32(-i) + _u32(2048 + i)
    result = bus.sync_read(126, 10, ids)
    assert list(result) == list(ids)
    for i in ids:
        assert result[i] == (i * 3).to_bytes(2, "little") + _u32(-i) + _u32(2048 + i)
        assert servos.memory[i][116:120] == _u32(1000 + i)


def test_fast_sync_read_matches_sync_read(bus, servos):
    for i in servos.memory:
        servos.memory[i][132:136] = _u32(100 * i)
    assert bus.fast_sync_read(132, 4, [1, 2, 3]) == bus.sync_read(132, 4, [1, 2, 3])


def test_bulk_read_and_fast_bulk_read_use_per_servo_ranges(bus, servos):
    servos.memory[1][144:146] = (119).to_bytes(2, "little")
    servos.memory[2][146] = 36
    expected = {1: (119).to_bytes(2, "little"), 2: bytes((36,))}
    assert bus.bulk_read({1: (144, 2), 2: (146, 1)}) == expected
    assert bus.fast_bulk_read({1: (144, 2), 2: (146, 1)}) == expected


def test_bulk_write_writes_each_servo_its_range(bus, servos):
    bus.bulk_write({1: (32, (160).to_bytes(2, "little")), 2: (31, bytes((80,)))})
    bus.ping(1)  # a round trip, so the responder has processed the write
    assert servos.memory[1][32:34] == (160).to_bytes(2, "little")
    assert servos.memory[2][31] == 80


def test_parameters_with_header_pattern_are_stuffed_on_the_wire(bus, servos):
    data = b"\xff\xff\xfd\x00"
    bus.write(1, 116, data)
    assert servos.memory[1][116:120] == data
    assert bus.read(1, 116, 4) == data


def test_reply_timeout_follows_baud_rate_reply_size_and_return_delay(servos):
    with DynamixelBus(servos.path, baudrate=57_600, timeout=0.002, return_delay_s=0.0005) as slow:
        expected = (14 + 15) * 10 / 57_600 + 0.0005 + 0.002
        assert slow.reply_timeout_s(14, 15) == pytest.approx(expected)
        assert slow.reply_timeout_s(14, 15, repliers=5) == pytest.approx(expected + 4 * 0.0005)
    assert wire_time_s(100, 1_000_000) == pytest.approx(1e-3)


# --- hostile far ends ------------------------------------------------------------------------


def test_silent_servo_raises_bus_timeout_naming_id_and_instruction(servos):
    servos.respond = lambda packet: None
    with DynamixelBus(servos.path, timeout=0.02) as b:
        with pytest.raises(BusTimeout, match=r"READ from id 7") as caught:
            b.read(7, 132, 4)
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.ids == (7,)
    assert caught.value.timeout_s == pytest.approx(b.reply_timeout_s(14, 15))


def test_missing_servo_in_sync_read_is_named(servos):
    del servos.memory[4]
    # Long enough for servos 1-3 (a thread behind a pseudo-terminal) on a loaded machine.
    with DynamixelBus(servos.path, timeout=0.5) as b:
        with pytest.raises(BusTimeout, match="SYNC READ from id 4") as caught:
            b.sync_read(132, 4, (1, 2, 3, 4, 5))
    assert caught.value.ids == (4,)


def test_bad_crc_reply_raises_crc_error(servos):
    def corrupt(packet):
        reply = bytearray(servos.answer(packet))
        reply[-1] ^= 0xFF
        return bytes(reply)

    servos.respond = corrupt
    with DynamixelBus(servos.path, timeout=0.5) as b:
        with pytest.raises(CRCError, match="id 1") as caught:
            b.read(1, 132, 4)
    assert caught.value.ids == (1,)


def test_status_from_wrong_id_is_ignored(bus, servos):
    servos.memory[2][132:136] = _u32(77)

    def wrong_first(packet):
        return protocol.encode_status(9, 0, _u32(-1)) + servos.answer(packet)

    servos.respond = wrong_first
    assert bus.read(2, 132, 4) == _u32(77)
    assert bus.stray_statuses == 1


def test_only_a_wrong_id_answering_times_out(servos):
    servos.respond = lambda packet: protocol.encode_status(9, 0, _u32(5))
    with DynamixelBus(servos.path, timeout=0.02) as b:
        with pytest.raises(BusTimeout, match="id 2"):
            b.read(2, 132, 4)


def test_echo_of_the_request_is_skipped(bus, servos):
    servos.memory[1][132:136] = _u32(5)
    servos.respond = lambda packet: (
        protocol.encode_instruction(packet.servo_id, packet.instruction, packet.params) + servos.answer(packet)
    )
    assert bus.read(1, 132, 4) == _u32(5)
    assert bus.sync_read(132, 4, (1, 2)) == {1: _u32(5), 2: _u32(0)}
    assert any(d.reason is protocol.DropReason.INSTRUCTION_ECHO for d in bus.last_dropped)


def test_garbage_before_the_reply_is_skipped(bus, servos):
    servos.memory[1][132:136] = _u32(9)
    servos.respond = lambda packet: b"\x00\xff\xff\xfd\x00\x01\xff\x03junk" + servos.answer(packet)
    assert bus.read(1, 132, 4) == _u32(9)


def test_reply_longer_than_asked_is_a_protocol_error(bus, servos):
    servos.respond = lambda packet: protocol.encode_status(packet.servo_id, 0, bytes(8))
    with pytest.raises(ProtocolError, match="READ from id 1 has 8 data byte.*expected 4"):
        bus.read(1, 132, 4)


def test_error_number_raises_servo_error(bus, servos):
    servos.respond = lambda packet: protocol.encode_status(packet.servo_id, StatusError.DATA_RANGE_ERROR)
    with pytest.raises(ServoError, match="DATA_RANGE_ERROR") as caught:
        bus.write(1, 116, _u32(99999))
    assert caught.value.error_number is StatusError.DATA_RANGE_ERROR
    assert not caught.value.alert and caught.value.hardware_error is None


def test_alert_bit_reads_and_decodes_hardware_error_status(bus, servos):
    servos.memory[3][70] = HardwareError.OVERLOAD | HardwareError.OVERHEATING

    def alerting(packet):
        if packet.instruction == Instruction.READ and packet.params[:2] == (70).to_bytes(2, "little"):
            return protocol.encode_status(3, ALERT_BIT, bytes(servos.memory[3][70:71]))
        if packet.instruction == Instruction.SYNC_READ:
            address, length = int.from_bytes(packet.params[:2], "little"), int.from_bytes(packet.params[2:4], "little")
            return b"".join(
                protocol.encode_status(
                    i, ALERT_BIT if i == 3 else 0, bytes(servos.memory[i][address : address + length])
                )
                for i in packet.params[4:]
            )
        return servos.answer(packet)

    servos.respond = alerting
    with pytest.raises(ServoError, match="OVERHEATING.*OVERLOAD|OVERLOAD.*OVERHEATING") as caught:
        bus.sync_read(132, 4, (1, 2, 3))
    error = caught.value
    assert error.servo_id == 3 and error.alert
    assert error.error_number is StatusError.NONE
    assert error.hardware_error == HardwareError.OVERLOAD | HardwareError.OVERHEATING


def test_port_closed_mid_read_raises_port_error(bus, servos):
    def hang_up(packet):
        servos.hang_up()
        return None

    servos.respond = hang_up
    with pytest.raises(PortError, match="reconnect"):
        bus.read(1, 132, 4)


def test_opening_a_missing_port_raises_port_error(tmp_path):
    with pytest.raises(PortError, match="cannot open"):
        DynamixelBus(str(tmp_path / "ttyUSB9"))


def test_closed_bus_raises_port_error(servos):
    b = DynamixelBus(servos.path)
    b.close()
    with pytest.raises(PortError):
        b.ping(1)


def test_invalid_requests_are_refused_before_sending(bus, servos):
    with pytest.raises(ValueError):
        bus.read(300, 0, 1)
    with pytest.raises(ValueError, match="distinct"):
        bus.sync_read(132, 4, (1, 1))
    with pytest.raises(ValueError, match="one length"):
        bus.sync_write(116, {1: b"\x00", 2: b"\x00\x00"})
    assert servos.received == []


def test_two_threads_never_interleave_packets(bus, servos):
    """Each request gets its own reply even with two threads sharing the bus."""
    for i in servos.memory:
        servos.memory[i][132:136] = _u32(i * 11)
    errors: list[BaseException] = []

    def hammer(servo_id: int) -> None:
        try:
            for n in range(60):
                bus.write(servo_id, 116, _u32(n))
                assert bus.read(servo_id, 132, 4) == _u32(servo_id * 11)
                assert bus.sync_read(132, 4, (1, 2)) == {1: _u32(11), 2: _u32(22)}
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # The responder saw only whole packets, so nothing was interleaved on the wire.
    assert len(servos.received) == 2 * 60 * 3


def test_loop_url_echo_alone_is_a_timeout(tmp_path):
    """On loop:// the only thing that comes back is our own request, which is not an answer."""
    with DynamixelBus("loop://", timeout=0.01) as b:
        with pytest.raises(BusTimeout, match="PING from id 1"):
            b.ping(1)
        assert [d.reason for d in b.last_dropped] == [protocol.DropReason.INSTRUCTION_ECHO]


def test_custom_url_handler_is_used(monkeypatch):
    """A URL handler registered with pyserial is how in-process virtual buses plug in."""
    monkeypatch.setattr(serial, "protocol_handler_packages", [*serial.protocol_handler_packages])
    with pytest.raises(PortError, match="protocol 'nosuchbus' not known"):
        DynamixelBus("nosuchbus://x")


def test_every_bus_error_is_a_bridge_error():
    for kind in (BusTimeout, CRCError, ServoError, PortError, ProtocolError):
        assert issubclass(kind, BridgeError)


def test_fast_sync_read_answer_of_the_wrong_size_is_a_protocol_error(bus, servos):
    servos.respond = lambda packet: protocol.encode_fast_read_status([(1, 0, bytes(4)), (2, 0, bytes(6))])
    with pytest.raises(ProtocolError, match="FAST SYNC READ from id 1, 2 is malformed"):
        bus.fast_sync_read(132, 4, (1, 2))


def test_fast_sync_read_entry_with_an_error_raises_for_that_servo(bus, servos):
    servos.respond = lambda packet: protocol.encode_fast_read_status(
        [(1, 0, bytes(4)), (2, StatusError.ACCESS_ERROR, bytes(4))]
    )
    with pytest.raises(ServoError) as caught:
        bus.fast_sync_read(132, 4, (1, 2))
    assert caught.value.servo_id == 2 and caught.value.error_number is StatusError.ACCESS_ERROR


def test_silent_fast_sync_read_names_every_asked_servo(servos):
    servos.respond = lambda packet: None
    with DynamixelBus(servos.path, timeout=0.01) as b:
        with pytest.raises(BusTimeout, match="FAST SYNC READ from id 1, 2"):
            b.fast_sync_read(132, 4, (1, 2))


def test_port_closed_during_broadcast_ping_raises_port_error(bus, servos):
    def hang_up(packet):
        servos.hang_up()
        return None

    servos.respond = hang_up
    with pytest.raises(PortError):
        bus.broadcast_ping(max_id=3)


def test_hardware_error_reads_status_even_with_alert_set(bus, servos):
    servos.memory[5][70] = HardwareError.ELECTRICAL_SHOCK
    servos.respond = lambda packet: protocol.encode_status(5, ALERT_BIT, bytes(servos.memory[5][70:71]))
    assert bus.hardware_error(5) == HardwareError.ELECTRICAL_SHOCK
    with pytest.raises(ServoError, match="ELECTRICAL_SHOCK"):
        bus.read(5, 70, 1)
