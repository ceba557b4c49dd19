"""Hostile byte streams into the streaming parsers (hypothesis).

Derandomized so that a run is reproducible: a corrupt packet whose CRC matches by chance
(1 in 65536) would otherwise make the suite flaky.
"""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from firmware_bridge import protocol
from firmware_bridge.protocol import MAX_PACKET_LENGTH, DropReason, StatusPacket

SETTINGS = settings(derandomize=True, max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

servo_ids = st.integers(0, protocol.MAX_ID)
# Parameters drawn so that the header pattern, and thus byte stuffing, comes up often.
params = st.lists(
    st.sampled_from([b"\xff", b"\xfd", b"\x00", b"\xff\xff\xfd", b"\xff\xff\xfd\x00"]) | st.binary(max_size=3),
    max_size=12,
).map(b"".join)
statuses = st.builds(StatusPacket, servo_ids, st.integers(0, 255), params)


@st.composite
def noise(draw) -> bytes:
    """Bytes that are not a valid status packet: garbage, truncated or corrupt packets, echoes.

    Drawn bytes that happen to hold a whole valid status packet are not noise (Hypothesis also
    draws byte strings from constants it finds in loaded modules, so this does happen)."""
    junk = draw(_noise_candidates())
    assume(not protocol.StatusParser().feed(junk))
    return junk


@st.composite
def _noise_candidates(draw) -> bytes:
    kind = draw(st.sampled_from(["garbage", "truncated", "bad_crc", "echo", "impossible", "header"]))
    if kind == "garbage":
        return draw(st.binary(min_size=1, max_size=30))
    if kind == "header":
        return protocol.HEADER[: draw(st.integers(1, 4))]
    packet = protocol.encode_status(draw(servo_ids), draw(st.integers(0, 255)), draw(params))
    if kind == "truncated":
        return packet[: draw(st.integers(1, len(packet) - 1))]
    if kind == "bad_crc":
        flip = draw(st.integers(1, 255))
        return packet[:-1] + bytes((packet[-1] ^ flip,))
    if kind == "echo":
        return protocol.encode_instruction(
            draw(servo_ids), draw(st.sampled_from([0x01, 0x02, 0x03, 0x82, 0x83])), draw(params)
        )
    length = draw(st.integers(MAX_PACKET_LENGTH + 1, 0xFFFF) | st.integers(0, 2))
    return protocol.HEADER + bytes((draw(servo_ids), length & 0xFF, length >> 8)) + draw(st.binary(max_size=8))


def _feed_in_pieces(parser, stream: bytes, cuts: list[int]) -> list:
    out = []
    start = 0
    for cut in [*sorted(set(c % (len(stream) + 1) for c in cuts)), len(stream)]:
        out += parser.feed(stream[start:cut])
        start = cut
    return out


@SETTINGS
@given(st.binary(max_size=2000), st.lists(st.integers(0, 4000), max_size=20))
def test_random_bytes_never_raise_and_buffer_stays_bounded(data, cuts):
    parser = protocol.StatusParser()
    for packet in _feed_in_pieces(parser, data, cuts):
        assert isinstance(packet, StatusPacket)
    assert parser.pending <= MAX_PACKET_LENGTH + 7
    instruction_parser = protocol.InstructionParser()
    _feed_in_pieces(instruction_parser, data, cuts)
    assert instruction_parser.pending <= MAX_PACKET_LENGTH + 7


@SETTINGS
@given(
    st.lists(st.tuples(st.lists(noise(), max_size=3), statuses), min_size=1, max_size=8),
    st.lists(st.integers(0, 4000), max_size=25),
)
def test_every_valid_packet_is_recovered_through_noise_and_arbitrary_splits(items, cuts):
    stream = b"".join(b"".join(junk) + protocol.encode_status(s.servo_id, s.error, s.params) for junk, s in items)
    expected = [s for _, s in items]
    assert _feed_in_pieces(protocol.StatusParser(), stream, cuts) == expected


@SETTINGS
@given(st.lists(statuses, min_size=1, max_size=10), st.lists(st.integers(0, 4000), max_size=25))
def test_merged_and_split_reads_give_the_same_packets(packets, cuts):
    stream = b"".join(protocol.encode_status(s.servo_id, s.error, s.params) for s in packets)
    assert protocol.StatusParser().feed(stream) == packets
    assert _feed_in_pieces(protocol.StatusParser(), stream, cuts) == packets


@SETTINGS
@given(servo_ids, st.integers(0, 255), params, params)
def test_stuffing_round_trips_through_encode_and_parse(servo_id, instruction, data, more):
    payload = data + more
    assert protocol.unstuff(protocol.stuff(payload)) == payload
    packet = protocol.encode_instruction(servo_id, instruction, payload)
    assert packet.find(protocol.HEADER, 1) == -1
    parsed = protocol.InstructionParser().feed(packet)
    if instruction == protocol.STATUS:
        assert parsed == []  # the instruction parser leaves status packets to the host
    else:
        assert [(p.servo_id, p.instruction, p.params) for p in parsed] == [(servo_id, instruction, payload)]


@SETTINGS
@given(statuses)
def test_every_truncation_yields_nothing_and_the_rest_completes_it(status):
    packet = protocol.encode_status(status.servo_id, status.error, status.params)
    for cut in range(len(packet)):
        parser = protocol.StatusParser()
        assert parser.feed(packet[:cut]) == []
        assert parser.feed(packet[cut:]) == [status]


def test_each_kind_of_noise_is_recorded_with_its_reason():
    bad = bytearray(protocol.encode_status(4, 0, b"\x10\x20"))
    bad[-2] ^= 0x55
    stream = (
        b"\x13\x37"
        + protocol.HEADER
        + b"\x01\xff\xff"
        + bytes(bad)
        + protocol.read(4, 132, 4)
        + protocol.encode_status(4, 0, bytes(30))[:15]
        + protocol.encode_status(4, 0, b"\x01")
    )
    parser = protocol.StatusParser()
    assert parser.feed(stream) == [StatusPacket(4, 0, b"\x01")]
    reasons = [d.reason for d in parser.dropped]
    for reason in (
        DropReason.GARBAGE,
        DropReason.IMPOSSIBLE_HEADER,
        DropReason.BAD_CRC,
        DropReason.INSTRUCTION_ECHO,
        DropReason.TRUNCATED,
    ):
        assert reason in reasons


instructions = st.builds(
    protocol.InstructionPacket, servo_ids, st.sampled_from([0x01, 0x02, 0x03, 0x04, 0x82, 0x83, 0x8A, 0x92]), params
)


@SETTINGS
@given(
    st.lists(st.tuples(st.lists(noise(), max_size=3), instructions), min_size=1, max_size=8),
    st.lists(st.integers(0, 4000), max_size=25),
)
def test_servo_side_parser_recovers_every_instruction_through_noise(items, cuts):
    """What the virtual servos rely on: garbage and other servos' status packets are skipped."""
    stream = b"".join(
        b"".join(junk) + protocol.encode_instruction(p.servo_id, p.instruction, p.params) for junk, p in items
    )
    received = _feed_in_pieces(protocol.InstructionParser(), stream, cuts)
    # Noise may hold an echo-like instruction packet of its own; ours must all be there, in order.
    expected = iter(received)
    assert all(any(p == got for got in expected) for _, p in items)
