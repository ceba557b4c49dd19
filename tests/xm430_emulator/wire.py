"""Protocol 2.0 on the wire (ROBOTIS e-Manual, "Protocol 2.0"): CRC-16, byte stuffing, the status
packet, and a reader that cuts a byte stream into instruction packets.

A packet is FF FF FD 00, ID, LEN_L LEN_H, INST, params, CRC_L CRC_H; LEN counts INST, the
(stuffed) params and the CRC. Stuffing adds FD after every FF FF FD inside INST + params; the CRC
(polynomial 0x8005, initial value 0, not reflected) covers the stuffed packet from the header on.
"""

from __future__ import annotations

from dataclasses import dataclass

HEADER = b"\xff\xff\xfd\x00"
BROADCAST_ID = 0xFE
STATUS = 0x55
MAX_LENGTH = 1024  # a LEN above this is taken for noise: the reader looks for the next header
_STUFFED = b"\xff\xff\xfd\xfd"


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return tuple(table)


_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """The packet CRC of `data` (CRC-16/BUYPASS: poly 0x8005, init 0)."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) ^ _TABLE[((crc >> 8) ^ byte) & 0xFF]) & 0xFFFF
    return crc


def stuff(body: bytes) -> bytes:
    """FF FF FD -> FF FF FD FD."""
    return body.replace(b"\xff\xff\xfd", _STUFFED)


def unstuff(body: bytes) -> bytes:
    """FF FF FD FD -> FF FF FD."""
    return body.replace(_STUFFED, b"\xff\xff\xfd")


def packet(servo_id: int, instruction: int, params: bytes = b"") -> bytes:
    """A whole packet (instruction or status) with stuffing, length and CRC."""
    body = stuff(bytes((instruction,)) + params)
    head = HEADER + bytes((servo_id,)) + (len(body) + 2).to_bytes(2, "little")
    without_crc = head + body
    return without_crc + crc16(without_crc).to_bytes(2, "little")


def status(servo_id: int, error: int, params: bytes = b"") -> bytes:
    """A status packet: INST 0x55, the error byte (bit 7 Alert, bits 0-6 the error number), params."""
    return packet(servo_id, STATUS, bytes((error,)) + params)


@dataclass(frozen=True)
class Instruction:
    """A packet read off the wire; `crc_ok` False when its CRC did not match (its params unchecked)."""

    servo_id: int
    instruction: int
    params: bytes
    crc_ok: bool = True


class PacketReader:
    """Feed it bytes as they come; it returns the whole packets found (a partial one waits for
    more bytes, or is dropped with `drop_partial` after a silence on the line)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending(self) -> bool:
        """Bytes of an unfinished packet are waiting."""
        return bool(self._buffer)

    def drop_partial(self) -> None:
        """Forget an unfinished packet (its sender went silent)."""
        self._buffer.clear()

    def feed(self, data: bytes) -> list[Instruction]:
        self._buffer += data
        found: list[Instruction] = []
        while True:
            start = self._buffer.find(HEADER[:3])
            if start < 0:
                del self._buffer[: max(0, len(self._buffer) - 2)]  # keep a header's beginning
                return found
            del self._buffer[:start]
            if len(self._buffer) < 7:
                return found
            length = int.from_bytes(self._buffer[5:7], "little")
            if self._buffer[3] != 0 or not 3 <= length <= MAX_LENGTH:
                del self._buffer[:3]  # not a packet's header after all
                continue
            total = 7 + length
            if len(self._buffer) < total:
                return found
            raw = bytes(self._buffer[:total])
            del self._buffer[:total]
            ok = crc16(raw[:-2]) == int.from_bytes(raw[-2:], "little")
            body = unstuff(raw[7:-2])
            found.append(Instruction(raw[4], body[0], body[1:], ok))
