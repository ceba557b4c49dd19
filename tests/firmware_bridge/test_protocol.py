"""The Protocol 2.0 codec against the ROBOTIS e-Manual's example packets, and each builder."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import protocol
from firmware_bridge.protocol import (
    ALERT_BIT,
    BROADCAST_ID,
    DropReason,
    HardwareError,
    Instruction,
    InstructionPacket,
    StatusError,
    StatusPacket,
)


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# Instruction packets of the e-Manual "Protocol 2.0" page (XM430-W210 examples).
EMANUAL_INSTRUCTIONS = {
    "ping id 1": (protocol.ping(1), "FF FF FD 00 01 03 00 01 19 4E"),
    "broadcast ping": (protocol.ping(), "FF FF FD 00 FE 03 00 01 31 42"),
    "read present position": (protocol.read(1, 132, 4), "FF FF FD 00 01 07 00 02 84 00 04 00 1D 15"),
    "write goal position 512": (
        protocol.write(1, 116, (512).to_bytes(4, "little")),
        "FF FF FD 00 01 09 00 03 74 00 00 02 00 00 CA 89",
    ),
    "reg write goal velocity 200": (
        protocol.reg_write(1, 104, (200).to_bytes(4, "little")),
        "FF FF FD 00 01 09 00 04 68 00 C8 00 00 00 AE 8E",
    ),
    "action": (protocol.action(1), "FF FF FD 00 01 03 00 05 02 CE"),
    "factory reset all but id": (protocol.factory_reset(1, 0x01), "FF FF FD 00 01 04 00 06 01 A1 E6"),
    "reboot": (protocol.reboot(1), "FF FF FD 00 01 03 00 08 2F 4E"),
    "clear multi-turn": (protocol.clear(1), "FF FF FD 00 01 08 00 10 01 44 58 4C 22 B1 DC"),
    "sync read": (protocol.sync_read(132, 4, [1, 2]), "FF FF FD 00 FE 09 00 82 84 00 04 00 01 02 CE FA"),
    "sync write": (
        protocol.sync_write(116, {1: (150).to_bytes(4, "little"), 2: (170).to_bytes(4, "little")}),
        "FF FF FD 00 FE 11 00 83 74 00 04 00 01 96 00 00 00 02 AA 00 00 00 82 87",
    ),
    "bulk read": (
        protocol.bulk_read({1: (144, 2), 2: (146, 1)}),
        "FF FF FD 00 FE 0D 00 92 01 90 00 02 00 02 92 00 01 00 1A 05",
    ),
    "bulk write": (
        protocol.bulk_write({1: (32, (160).to_bytes(2, "little")), 2: (31, bytes((80,)))}),
        "FF FF FD 00 FE 10 00 93 01 20 00 02 00 A0 00 02 1F 00 01 00 50 B7 68",
    ),
}

# Status packets of the same page: (bytes, id, error, params).
EMANUAL_STATUSES = {
    "ping id 1": ("FF FF FD 00 01 07 00 55 00 06 04 26 65 5D", 1, 0, "06 04 26"),
    "ping id 2": ("FF FF FD 00 02 07 00 55 00 06 04 26 6F 6D", 2, 0, "06 04 26"),
    "read id 1": ("FF FF FD 00 01 08 00 55 00 A6 00 00 00 8C C0", 1, 0, "A6 00 00 00"),
    "sync read id 2": ("FF FF FD 00 02 08 00 55 00 1F 08 00 00 BA BE", 2, 0, "1F 08 00 00"),
    "write ack": ("FF FF FD 00 01 04 00 55 00 A1 0C", 1, 0, ""),
    "bulk read id 1": ("FF FF FD 00 01 06 00 55 00 77 00 C3 69", 1, 0, "77 00"),
    "bulk read id 2": ("FF FF FD 00 02 05 00 55 00 24 8B A9", 2, 0, "24"),
}


@pytest.mark.parametrize("name", EMANUAL_INSTRUCTIONS)
def test_builders_match_emanual_instruction_packets(name):
    built, expected = EMANUAL_INSTRUCTIONS[name]
    assert built == h(expected)


@pytest.mark.parametrize("name", EMANUAL_STATUSES)
def test_parser_decodes_emanual_status_packets(name):
    raw, servo_id, error, params = EMANUAL_STATUSES[name]
    assert protocol.StatusParser().feed(h(raw)) == [StatusPacket(servo_id, error, h(params))]
    assert protocol.encode_status(servo_id, error, h(params)) == h(raw)


def test_broadcast_ping_with_several_replies_in_one_read():
    stream = h(EMANUAL_STATUSES["ping id 1"][0]) + h(EMANUAL_STATUSES["ping id 2"][0])
    packets = protocol.StatusParser().feed(stream)
    assert [(p.servo_id, p.params[0] | p.params[1] << 8, p.params[2]) for p in packets] == [
        (1, 1030, 38),
        (2, 1030, 38),
    ]


def test_crc_check_value():
    assert protocol.crc16(b"123456789") == 0xFEE8


def test_crc_continues_a_run():
    assert protocol.crc16(b"6789", protocol.crc16(b"12345")) == 0xFEE8


def test_stuffing_follows_the_emanual_rule():
    # "If FF FF FD already exists, add a 0xFD to change it to FF FF FD FD".
    assert protocol.stuff(h("FF FF FD")) == h("FF FF FD FD")
    assert protocol.stuff(h("01 FF FF FD 00 FF FF FD FD")) == h("01 FF FF FD FD 00 FF FF FD FD FD")
    assert protocol.stuff(h("FF FF FF FD")) == h("FF FF FF FD FD")
    assert protocol.stuff(h("FF FD FF FD")) == h("FF FD FF FD")


@pytest.mark.parametrize(
    "params", [h("FF FF FD"), h("FF FF FD FD"), h("FF FF FD 00 FF FF FD"), h("00 FF FF FF FD FF"), bytes(range(256))]
)
def test_stuffing_round_trips(params):
    assert protocol.unstuff(protocol.stuff(params)) == params


def test_write_with_header_pattern_in_params_is_stuffed_and_length_counts_stuffed_bytes():
    packet = protocol.write(1, 116, h("FF FF FD 00"))
    # INST 03, address 74 00, data FF FF FD [FD] 00, CRC: LEN = 1 + 2 + 5 + 2 = 10.
    assert packet[:7] == h("FF FF FD 00 01 0A 00")
    assert packet[7:-2] == h("03 74 00 FF FF FD FD 00")
    assert protocol.crc16(packet[:-2]) == int.from_bytes(packet[-2:], "little")
    # The header pattern never appears inside the packet, so no receiver can mistake it.
    assert packet.find(protocol.HEADER, 1) == -1
    decoded = protocol.InstructionParser().feed(packet)
    assert decoded == [InstructionPacket(1, Instruction.WRITE, h("74 00 FF FF FD 00"))]


def test_status_with_header_pattern_in_params_is_stuffed_and_restored():
    packet = protocol.encode_status(3, 0, h("FF FF FD 00"))
    assert h("FF FF FD FD 00") in packet
    assert protocol.StatusParser().feed(packet) == [StatusPacket(3, 0, h("FF FF FD 00"))]


def test_factory_reset_mode_and_clear_key():
    assert protocol.factory_reset(5, 0xFF)[7:9] == bytes((Instruction.FACTORY_RESET, 0xFF))
    assert protocol.factory_reset(5)[8] == 0x02


def test_fast_sync_read_request_layout():
    packet = protocol.fast_sync_read(132, 4, [3, 7, 4])
    assert packet[4] == BROADCAST_ID and packet[7] == Instruction.FAST_SYNC_READ
    assert packet[8:-2] == h("84 00 04 00 03 07 04")


def test_fast_bulk_read_request_uses_its_own_instruction():
    assert protocol.bulk_read({1: (132, 4)}, fast=True)[7] == Instruction.FAST_BULK_READ


def test_fast_read_answer_layout_and_running_crcs():
    entries = [(3, 0, h("A6 00 00 00")), (7, 0, h("1F 08 00 00")), (4, 0, h("1F 08 00 00"))]
    packet = protocol.encode_fast_read_status(entries)
    # LEN = INST + 3 x (ERR, ID, 4 data, CRC 2) = 25, as in the e-Manual example.
    assert packet[:8] == h("FF FF FD 00 FE 19 00 55")
    assert len(packet) == 8 + 3 * 8
    # Each entry's CRC is the running CRC of everything before it on the wire.
    for end in (14, 22, 30):
        assert int.from_bytes(packet[end : end + 2], "little") == protocol.crc16(packet[:end])
    (status,) = protocol.StatusParser().feed(packet)
    assert protocol.split_fast_read(status, [4, 4, 4], [3, 7, 4]) == {i: (e, d) for i, e, d in entries}


def test_fast_read_answer_needing_stuffing_still_parses():
    # Present current -1 (FF FF) followed by velocity -3 (FD FF FF FF) forms FF FF FD.
    data = h("FF FF FD FF FF FF 00 08 00 00")
    packet = protocol.encode_fast_read_status([(1, 0, data), (2, 0, data)])
    (status,) = protocol.StatusParser().feed(packet)
    assert protocol.split_fast_read(status, [10, 10], [1, 2]) == {1: (0, data), 2: (0, data)}


def test_split_fast_read_rejects_wrong_sizes_ids_and_sender():
    packet = protocol.encode_fast_read_status([(3, 0, h("01 02")), (4, 0, h("03 04"))])
    (status,) = protocol.StatusParser().feed(packet)
    with pytest.raises(ValueError, match="expected"):
        protocol.split_fast_read(status, [2, 4])
    with pytest.raises(ValueError, match="expected id 5"):
        protocol.split_fast_read(status, [2, 2], [3, 5])
    with pytest.raises(ValueError, match="comes from id"):
        protocol.split_fast_read(StatusPacket(1, 0, b""), [2])


def test_status_error_number_and_alert_bit():
    status = StatusPacket(1, ALERT_BIT | StatusError.DATA_LIMIT_ERROR, b"")
    assert status.error_number is StatusError.DATA_LIMIT_ERROR and status.alert
    assert StatusPacket(1, ALERT_BIT, b"").error_number is StatusError.NONE
    assert not StatusPacket(1, StatusError.ACCESS_ERROR, b"").alert
    # An undefined number is reported as a failure rather than raising.
    assert StatusPacket(1, 0x42, b"").error_number is StatusError.RESULT_FAIL


def test_hardware_error_bits_follow_the_control_table():
    value = HardwareError(0x01 | 0x04 | 0x08 | 0x10 | 0x20)
    assert value == (
        HardwareError.INPUT_VOLTAGE
        | HardwareError.OVERHEATING
        | HardwareError.MOTOR_ENCODER
        | HardwareError.ELECTRICAL_SHOCK
        | HardwareError.OVERLOAD
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: protocol.encode_instruction(0xFD, Instruction.PING), "servo id"),
        (lambda: protocol.encode_instruction(1, 0x100), "one byte"),
        (lambda: protocol.sync_write(116, {1: b"\x00", 2: b"\x00\x00"}), "one length"),
        (lambda: protocol.sync_write(116, {BROADCAST_ID: b"\x00"}), "servo id"),
        (lambda: protocol.bulk_read({300: (0, 1)}), "servo id"),
        (lambda: protocol.encode_fast_read_status([]), "at least one"),
        (lambda: protocol.sync_write(116, {}), "at least one"),
        (lambda: protocol.bulk_write({}), "at least one"),
        (lambda: protocol.bulk_read({}), "at least one"),
        (lambda: protocol.sync_read(132, 4, []), "at least one"),
        (lambda: protocol.fast_sync_read(132, 4, [1, BROADCAST_ID]), "servo id"),
        (lambda: protocol.read(1, 70000, 1), "0..65535"),
        (lambda: protocol.read(1, 0, -1), "0..65535"),
    ],
)
def test_builders_refuse_impossible_requests(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_instruction_parser_skips_status_packets():
    stream = protocol.encode_status(1, 0) + protocol.ping(2)
    assert protocol.InstructionParser().feed(stream) == [InstructionPacket(2, Instruction.PING, b"")]


def test_status_parser_records_echo_bad_crc_and_impossible_length():
    parser = protocol.StatusParser()
    bad = bytearray(protocol.encode_status(1, 0, b"\x01"))
    bad[-1] ^= 1
    impossible = protocol.HEADER + h("01 FF FF 55")
    good = protocol.encode_status(2, 0, b"\x02")
    assert parser.feed(protocol.ping(1) + bytes(bad) + impossible + good) == [StatusPacket(2, 0, b"\x02")]
    reasons = {d.reason for d in parser.dropped}
    assert {DropReason.INSTRUCTION_ECHO, DropReason.BAD_CRC, DropReason.IMPOSSIBLE_HEADER} <= reasons
    assert parser.crc_errors == 1


def test_status_parser_recovers_a_packet_behind_a_truncated_one():
    truncated = protocol.encode_status(1, 0, bytes(40))[:20]
    good = protocol.encode_status(2, 0, b"\x07")
    parser = protocol.StatusParser()
    assert parser.feed(truncated + good) == [StatusPacket(2, 0, b"\x07")]
    assert parser.dropped[-1].reason is DropReason.TRUNCATED


def test_status_without_error_byte_is_dropped():
    packet = protocol.encode_instruction(1, protocol.STATUS)  # INST 0x55 and no error byte
    parser = protocol.StatusParser()
    assert parser.feed(packet) == []
    assert parser.dropped[-1].reason is DropReason.STATUS_WITHOUT_ERROR


def _crc16_bitwise(data: bytes) -> int:
    """The e-Manual's CRC written out bit by bit: poly 0x8005, init 0, MSB first."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


@settings(derandomize=True, max_examples=200)
@given(st.binary(max_size=300))
def test_crc_matches_the_bitwise_definition(data):
    assert protocol.crc16(data) == _crc16_bitwise(data)
