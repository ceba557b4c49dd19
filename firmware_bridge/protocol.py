"""Dynamixel Protocol 2.0 as pure functions over bytes: CRC, byte stuffing, packets, parsing.

Nothing here touches a port; `firmware_bridge.bus` and the virtual servos in `sim` both build on
it, so the host and the simulated servos speak through one codec.

Packet layout (ROBOTIS e-Manual, "Protocol 2.0"):
    FF FF FD 00 | ID | LEN_L LEN_H | INST | PARAMS... | CRC_L CRC_H
LEN counts INST, PARAMS and CRC after stuffing. A status packet has INST 0x55 and an error byte as
its first parameter. Byte stuffing inserts FD after every FF FF FD inside INST+PARAMS; the CRC is
computed over the whole stuffed packet up to the CRC field.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import IntEnum, IntFlag, StrEnum
from typing import NamedTuple

from fastcrc.crc16 import umts as _crc16_umts

HEADER = b"\xff\xff\xfd\x00"
BROADCAST_ID = 0xFE
MAX_ID = 0xFC
STATUS = 0x55
# Largest LEN the parser accepts; XM/XL servos answer at most a few hundred bytes. Anything longer
# is treated as a corrupted length field so the parser resynchronises instead of waiting forever.
MAX_PACKET_LENGTH = 1024
# Bytes of a status packet around its parameters: header 4, id, LEN 2, INST, ERR, CRC 2.
STATUS_OVERHEAD = 11


class Instruction(IntEnum):
    """Instruction codes of Protocol 2.0."""

    PING = 0x01
    READ = 0x02
    WRITE = 0x03
    REG_WRITE = 0x04
    ACTION = 0x05
    FACTORY_RESET = 0x06
    REBOOT = 0x08
    CLEAR = 0x10
    CONTROL_TABLE_BACKUP = 0x20
    STATUS = 0x55
    SYNC_READ = 0x82
    SYNC_WRITE = 0x83
    FAST_SYNC_READ = 0x8A
    BULK_READ = 0x92
    BULK_WRITE = 0x93
    FAST_BULK_READ = 0x9A


class StatusError(IntEnum):
    """Error numbers of a status packet (the low 7 bits of its error byte)."""

    NONE = 0
    RESULT_FAIL = 1
    INSTRUCTION_ERROR = 2
    CRC_ERROR = 3
    DATA_RANGE_ERROR = 4
    DATA_LENGTH_ERROR = 5
    DATA_LIMIT_ERROR = 6
    ACCESS_ERROR = 7


ALERT_BIT = 0x80


class HardwareError(IntFlag):
    """Bits of the Hardware Error Status register (address 70 on X-series servos)."""

    NONE = 0
    INPUT_VOLTAGE = 0x01
    OVERHEATING = 0x04
    MOTOR_ENCODER = 0x08
    ELECTRICAL_SHOCK = 0x10
    OVERLOAD = 0x20


def crc16(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-16 of Protocol 2.0 (polynomial 0x8005, init 0, not reflected); `crc` continues a run.

    This is the catalogue's CRC-16/UMTS (alias BUYPASS), computed by fastcrc's compiled code:
    a pure-Python table loop took most of a control cycle's codec time (docs/benchmarks.md).
    """
    return _crc16_umts(data, crc)


def stuff(payload: bytes) -> bytes:
    """Insert FD after every FF FF FD, as the sender must over INST+PARAMS."""
    if b"\xff\xff\xfd" not in payload:
        return payload
    return payload.replace(b"\xff\xff\xfd", b"\xff\xff\xfd\xfd")


def unstuff(payload: bytes) -> bytes:
    """Remove the FD that stuffing inserted after FF FF FD."""
    if b"\xff\xff\xfd\xfd" not in payload:
        return payload
    return payload.replace(b"\xff\xff\xfd\xfd", b"\xff\xff\xfd")


def _frame(servo_id: int, body: bytes) -> bytes:
    """Wrap an unstuffed INST+PARAMS body into a complete packet with header, LEN and CRC."""
    body = stuff(body)
    length = len(body) + 2
    packet = HEADER + bytes((servo_id, length & 0xFF, length >> 8)) + body
    crc = crc16(packet)
    return packet + bytes((crc & 0xFF, crc >> 8))


def _check_id(servo_id: int, *, allow_broadcast: bool = True) -> None:
    if not 0 <= servo_id <= MAX_ID and not (allow_broadcast and servo_id == BROADCAST_ID):
        raise ValueError(f"servo id must be 0..{MAX_ID} or broadcast {BROADCAST_ID}, got {servo_id}")


def encode_instruction(servo_id: int, instruction: int, params: bytes = b"") -> bytes:
    """An instruction packet for `servo_id`, stuffed and with CRC."""
    _check_id(servo_id)
    if not 0 <= instruction <= 0xFF:
        raise ValueError(f"instruction must be one byte, got {instruction}")
    return _frame(servo_id, bytes((instruction,)) + bytes(params))


def encode_status(servo_id: int, error: int = 0, params: bytes = b"") -> bytes:
    """A status packet as a servo sends it (used by the virtual servos and by tests)."""
    _check_id(servo_id)
    return _frame(servo_id, bytes((STATUS, error & 0xFF)) + bytes(params))


# --- instruction builders -------------------------------------------------------------------


def _u16(value: int) -> bytes:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"address and length must be 0..65535, got {value}")
    return value.to_bytes(2, "little")


def ping(servo_id: int = BROADCAST_ID) -> bytes:
    """PING; to the broadcast id every servo answers, one after another by id."""
    return encode_instruction(servo_id, Instruction.PING)


def read(servo_id: int, address: int, length: int) -> bytes:
    """READ `length` bytes from `address`."""
    return encode_instruction(servo_id, Instruction.READ, _u16(address) + _u16(length))


def write(servo_id: int, address: int, data: bytes) -> bytes:
    """WRITE `data` at `address`."""
    return encode_instruction(servo_id, Instruction.WRITE, _u16(address) + bytes(data))


def reg_write(servo_id: int, address: int, data: bytes) -> bytes:
    """REG WRITE: store `data` for `address`, applied on ACTION."""
    return encode_instruction(servo_id, Instruction.REG_WRITE, _u16(address) + bytes(data))


def action(servo_id: int = BROADCAST_ID) -> bytes:
    """ACTION: apply the registered writes."""
    return encode_instruction(servo_id, Instruction.ACTION)


def factory_reset(servo_id: int, mode: int = 0x02) -> bytes:
    """FACTORY RESET: 0xFF everything, 0x01 all but ID, 0x02 all but ID and baud rate."""
    return encode_instruction(servo_id, Instruction.FACTORY_RESET, bytes((mode,)))


def reboot(servo_id: int) -> bytes:
    """REBOOT."""
    return encode_instruction(servo_id, Instruction.REBOOT)


def clear(servo_id: int, what: int = 0x01) -> bytes:
    """CLEAR: 0x01 resets the multi-turn position (the e-Manual's fixed key follows)."""
    return encode_instruction(servo_id, Instruction.CLEAR, bytes((what, 0x44, 0x58, 0x4C, 0x22)))


def _id_list(ids: list[int] | tuple[int, ...]) -> bytes:
    if not ids:
        raise ValueError("a sync read needs at least one servo id")
    for servo_id in ids:
        _check_id(servo_id, allow_broadcast=False)
    return bytes(ids)


def sync_read(address: int, length: int, ids: list[int] | tuple[int, ...]) -> bytes:
    """SYNC READ the same range from several servos; each answers with its own status packet."""
    return encode_instruction(BROADCAST_ID, Instruction.SYNC_READ, _u16(address) + _u16(length) + _id_list(ids))


def fast_sync_read(address: int, length: int, ids: list[int] | tuple[int, ...]) -> bytes:
    """FAST SYNC READ: like SYNC READ, but the servos answer together in one packet."""
    return encode_instruction(BROADCAST_ID, Instruction.FAST_SYNC_READ, _u16(address) + _u16(length) + _id_list(ids))


def sync_write(address: int, data_by_id: dict[int, bytes]) -> bytes:
    """SYNC WRITE the same range, with data of equal length per servo."""
    if not data_by_id:
        raise ValueError("sync write needs data for at least one servo")
    lengths = {len(d) for d in data_by_id.values()}
    if len(lengths) != 1:
        raise ValueError(f"sync write needs data of one length for every servo, got lengths {sorted(lengths)}")
    (length,) = lengths
    body = bytearray(_u16(address) + _u16(length))
    for servo_id, data in data_by_id.items():
        _check_id(servo_id, allow_broadcast=False)
        body.append(servo_id)
        body += data
    return encode_instruction(BROADCAST_ID, Instruction.SYNC_WRITE, bytes(body))


def bulk_read(requests: dict[int, tuple[int, int]], *, fast: bool = False) -> bytes:
    """BULK READ (or FAST BULK READ): per servo its own (address, length)."""
    if not requests:
        raise ValueError("bulk read needs at least one servo")
    body = bytearray()
    for servo_id, (address, length) in requests.items():
        _check_id(servo_id, allow_broadcast=False)
        body.append(servo_id)
        body += _u16(address) + _u16(length)
    instruction = Instruction.FAST_BULK_READ if fast else Instruction.BULK_READ
    return encode_instruction(BROADCAST_ID, instruction, bytes(body))


def bulk_write(writes: dict[int, tuple[int, bytes]]) -> bytes:
    """BULK WRITE: per servo its own (address, data)."""
    if not writes:
        raise ValueError("bulk write needs data for at least one servo")
    body = bytearray()
    for servo_id, (address, data) in writes.items():
        _check_id(servo_id, allow_broadcast=False)
        body.append(servo_id)
        body += _u16(address) + _u16(len(data)) + bytes(data)
    return encode_instruction(BROADCAST_ID, Instruction.BULK_WRITE, bytes(body))


# --- fast read answers ------------------------------------------------------------------------


def encode_fast_read_status(entries: list[tuple[int, int, bytes]]) -> bytes:
    """The one status packet of a FAST SYNC/BULK READ, for (id, error, data) per servo in order.

    Layout (as the official SDK reads it): header, id 0xFE, LEN, 0x55, then per servo
    ERR, ID, DATA, CRC. Each servo's CRC is the running CRC of everything before it on the wire,
    header and the earlier servos' CRC bytes included, so the last one is the packet CRC.
    Should the body need byte stuffing, it is stuffed like any status packet and the packet CRC is
    taken over the stuffed bytes; the intermediate CRCs then cover the unstuffed bytes (the
    e-Manual leaves this case open, and receivers check only the packet CRC).
    """
    if not entries:
        raise ValueError("a fast read answer needs at least one servo entry")
    length = 1 + sum(4 + len(data) for _, _, data in entries)
    body = bytearray((STATUS,))
    crc = crc16(HEADER + bytes((BROADCAST_ID, length & 0xFF, length >> 8, STATUS)))
    last = len(entries) - 1
    for index, (servo_id, error, data) in enumerate(entries):
        _check_id(servo_id, allow_broadcast=False)
        entry = bytes((error & 0xFF, servo_id)) + bytes(data)
        body += entry
        if index < last:
            crc = crc16(entry, crc)
            body += bytes((crc & 0xFF, crc >> 8))
            crc = crc16(body[-2:], crc)
    return _frame(BROADCAST_ID, bytes(body))


def split_fast_read(
    packet: StatusPacket, lengths: list[int] | tuple[int, ...], ids: list[int] | tuple[int, ...] | None = None
) -> dict[int, tuple[int, bytes]]:
    """Split the parameters of a fast read answer into {id: (error byte, data)}.

    `lengths` gives the data length of each servo in the order the request named them; with `ids`
    (that order), an entry from another servo raises ValueError.
    """
    if packet.servo_id != BROADCAST_ID:
        raise ValueError(f"a fast read answer comes from id {BROADCAST_ID}, this one from {packet.servo_id}")
    raw = bytes((packet.error,)) + packet.params
    expected = sum(lengths) + 4 * len(lengths) - 2
    if len(raw) != expected:
        raise ValueError(
            f"fast read answer has {len(raw)} bytes of entries, expected {expected} for data lengths {list(lengths)}"
        )
    result: dict[int, tuple[int, bytes]] = {}
    pos = 0
    for index, length in enumerate(lengths):
        error, servo_id = raw[pos], raw[pos + 1]
        if ids is not None and servo_id != ids[index]:
            raise ValueError(f"fast read entry {index} comes from id {servo_id}, expected id {ids[index]}")
        result[servo_id] = (error, raw[pos + 2 : pos + 2 + length])
        pos += 4 + length
    return result


# --- parsing ----------------------------------------------------------------------------------


class StatusPacket(NamedTuple):
    """A decoded status packet (a named tuple: cheap to build on the hot path)."""

    servo_id: int
    error: int
    params: bytes

    @property
    def error_number(self) -> StatusError:
        """The error number (low 7 bits of the error byte)."""
        code = self.error & 0x7F
        # An undefined number is reported as a generic failure rather than raising in the parser.
        return StatusError(code) if code <= StatusError.ACCESS_ERROR else StatusError.RESULT_FAIL

    @property
    def alert(self) -> bool:
        """True when the servo flags a hardware error (read Hardware Error Status to learn which)."""
        return bool(self.error & ALERT_BIT)


class InstructionPacket(NamedTuple):
    """A decoded instruction packet (what a servo receives)."""

    servo_id: int
    instruction: int
    params: bytes


class DropReason(StrEnum):
    """Why the parser skipped bytes."""

    GARBAGE = "garbage"
    IMPOSSIBLE_HEADER = "impossible length or id"
    TRUNCATED = "truncated packet"
    BAD_CRC = "bad crc"
    INSTRUCTION_ECHO = "instruction echo"
    STATUS_WITHOUT_ERROR = "status without error byte"


@dataclass(frozen=True, slots=True)
class DroppedBytes:
    """Bytes the parser skipped, and why (garbage, bad CRC, impossible length, echo)."""

    reason: DropReason
    servo_id: int | None
    data: bytes


_INVALID_IDS = frozenset((0xFD, 0xFF))
_STUFFED = b"\xff\xff\xfd\xfd"


class _PacketScanner:
    """Finds complete packets in a byte stream; shared by the status and instruction parsers."""

    def __init__(self, max_length: int = MAX_PACKET_LENGTH, history: int = 64) -> None:
        self._buffer = bytearray()
        self._max_length = max_length
        self.dropped: deque[DroppedBytes] = deque(maxlen=history)
        self.crc_errors = 0

    def reset(self) -> None:
        """Forget buffered bytes (after a timeout, so a late reply cannot pass for the next one)."""
        self._buffer.clear()

    @property
    def wanted(self) -> int:
        """Bytes still missing from the packet at the front of the buffer (at least 1)."""
        buf = self._buffer
        if len(buf) >= 7 and buf.startswith(HEADER):
            return max(1, 7 + (buf[5] | (buf[6] << 8)) - len(buf))
        return max(1, 7 - len(buf))

    @property
    def pending(self) -> int:
        """Bytes held while waiting for the rest of a packet."""
        return len(self._buffer)

    def _scan(self, data: bytes) -> list[tuple[int, bytes]]:
        """Append `data`; return (id, stuffed INST+PARAMS) of each complete, valid packet."""
        buf = self._buffer
        buf += data
        found: list[tuple[int, bytes]] = []
        size = len(buf)
        pos = 0
        while True:
            start = buf.find(HEADER, pos)
            if start < 0:
                # Keep a tail that might be the start of a header split across reads.
                keep = (
                    3
                    if buf.endswith(b"\xff\xff\xfd")
                    else 2
                    if buf.endswith(b"\xff\xff")
                    else 1
                    if buf.endswith(b"\xff")
                    else 0
                )
                if size - keep > pos:
                    self.dropped.append(DroppedBytes(DropReason.GARBAGE, None, bytes(buf[pos : size - keep])))
                    pos = size - keep
                break
            if start > pos:
                self.dropped.append(DroppedBytes(DropReason.GARBAGE, None, bytes(buf[pos:start])))
                pos = start
            if size - pos < 7:
                break
            servo_id = buf[pos + 4]
            length = buf[pos + 5] | (buf[pos + 6] << 8)
            if length < 3 or length > self._max_length or servo_id in _INVALID_IDS:
                self.dropped.append(DroppedBytes(DropReason.IMPOSSIBLE_HEADER, servo_id, bytes(buf[pos : pos + 7])))
                pos += 1
                continue
            end = pos + 7 + length
            if size < end:
                # Stuffing keeps a header out of a genuine packet's body, so a complete valid
                # packet starting inside the claimed length proves this one truncated or corrupt.
                nested = self._nested_packet(pos + 7)
                if nested < 0:
                    break
                self.dropped.append(DroppedBytes(DropReason.TRUNCATED, servo_id, bytes(buf[pos:nested])))
                pos = nested
                continue
            if _crc16_umts(buf[pos : end - 2]) != (buf[end - 2] | (buf[end - 1] << 8)):
                self.crc_errors += 1
                self.dropped.append(DroppedBytes(DropReason.BAD_CRC, servo_id, bytes(buf[pos:end])))
                pos += 1
                continue
            found.append((servo_id, bytes(buf[pos + 7 : end - 2])))
            pos = end
        if pos:
            del buf[:pos]
        return found

    def _nested_packet(self, start: int) -> int:
        """Offset of the first complete, CRC-valid packet beginning at or after `start`, or -1."""
        buf = self._buffer
        pos = buf.find(HEADER, start)
        while pos >= 0 and pos + 10 <= len(buf):
            length = buf[pos + 5] | (buf[pos + 6] << 8)
            end = pos + 7 + length
            if (
                3 <= length <= self._max_length
                and buf[pos + 4] not in _INVALID_IDS
                and end <= len(buf)
                and _crc16_umts(buf[pos : end - 2]) == (buf[end - 2] | (buf[end - 1] << 8))
            ):
                return pos
            pos = buf.find(HEADER, pos + 1)
        return -1


class StatusParser(_PacketScanner):
    """Streaming parser of status packets.

    Feed it whatever the port returned; it returns the status packets completed so far and keeps
    the rest. It resynchronises after garbage, split and merged reads, bad CRCs and impossible
    lengths, and skips instruction packets (the echo of our own request on RS-485 adapters).
    What it skipped is kept in `dropped` with the reason.
    """

    def feed(self, data: bytes) -> list[StatusPacket]:
        """Add received bytes; return the complete status packets among them."""
        packets = []
        for servo_id, body in self._scan(data):
            if body[0] != STATUS:
                self.dropped.append(DroppedBytes(DropReason.INSTRUCTION_ECHO, servo_id, body))
                continue
            if len(body) < 2:
                self.dropped.append(DroppedBytes(DropReason.STATUS_WITHOUT_ERROR, servo_id, body))
                continue
            if _STUFFED in body:
                body = unstuff(body)
            packets.append(StatusPacket(servo_id, body[1], body[2:]))
        return packets


class InstructionParser(_PacketScanner):
    """Streaming parser of instruction packets, for the servo side of the bus.

    Status packets of other servos on the same bus are skipped.
    """

    def feed(self, data: bytes) -> list[InstructionPacket]:
        """Add received bytes; return the complete instruction packets among them."""
        packets = []
        for servo_id, body in self._scan(data):
            if body[0] == STATUS:
                continue
            if _STUFFED in body:
                body = unstuff(body)
            packets.append(InstructionPacket(servo_id, body[0], body[1:]))
        return packets


__all__ = [
    "ALERT_BIT",
    "BROADCAST_ID",
    "MAX_ID",
    "STATUS_OVERHEAD",
    "DropReason",
    "DroppedBytes",
    "HardwareError",
    "Instruction",
    "InstructionPacket",
    "InstructionParser",
    "StatusError",
    "StatusPacket",
    "StatusParser",
    "action",
    "bulk_read",
    "bulk_write",
    "clear",
    "crc16",
    "encode_fast_read_status",
    "encode_instruction",
    "encode_status",
    "factory_reset",
    "ping",
    "read",
    "reboot",
    "reg_write",
    "split_fast_read",
    "stuff",
    "sync_read",
    "sync_write",
    "unstuff",
    "write",
]
