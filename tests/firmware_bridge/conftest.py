"""A pseudo-terminal with scripted servos on its far end, for testing the bus on a real port.

`PtyServos` answers instruction packets from a small control-table memory per servo; tests
replace `respond` to misbehave (bad CRC, wrong id, silence, echo, overlong replies, hang-up).
"""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Callable, Iterator

import pytest

from firmware_bridge import protocol
from firmware_bridge.protocol import BROADCAST_ID, Instruction, InstructionPacket

XM430_MODEL = 1020


class PtyServos:
    """Servos with a 256-byte memory each, answering on the master side of a pty."""

    def __init__(self, ids: tuple[int, ...] = (1, 2, 3, 4, 5)) -> None:
        self.master, slave = os.openpty()
        self.path = os.ttyname(slave)
        self._slave = slave  # keep open so the pty stays up until the bus opens it
        self.memory = {i: bytearray(256) for i in ids}
        for i, mem in self.memory.items():
            mem[0:2] = XM430_MODEL.to_bytes(2, "little")
            mem[6] = 45  # firmware version
            mem[7] = i
        self.received: list[InstructionPacket] = []
        self.respond: Callable[[InstructionPacket], bytes | None] = self.answer
        self._stop_r, self._stop_w = os.pipe()
        self._parser = protocol.InstructionParser()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    # -- the faithful behaviour ----------------------------------------------------------

    def answer(self, packet: InstructionPacket) -> bytes | None:
        """What well-behaved servos send back for `packet`."""
        inst, params = packet.instruction, packet.params
        if inst in (Instruction.SYNC_READ, Instruction.FAST_SYNC_READ):
            address, length = int.from_bytes(params[0:2], "little"), int.from_bytes(params[2:4], "little")
            ids = [i for i in params[4:] if i in self.memory]
            if inst == Instruction.SYNC_READ:
                return b"".join(
                    protocol.encode_status(i, 0, bytes(self.memory[i][address : address + length])) for i in ids
                )
            return protocol.encode_fast_read_status(
                [(i, 0, bytes(self.memory[i][address : address + length])) for i in ids]
            )
        if inst in (Instruction.BULK_READ, Instruction.FAST_BULK_READ):
            entries = []
            for k in range(0, len(params), 5):
                i = params[k]
                address, length = (
                    int.from_bytes(params[k + 1 : k + 3], "little"),
                    int.from_bytes(params[k + 3 : k + 5], "little"),
                )
                entries.append((i, 0, bytes(self.memory[i][address : address + length])))
            if inst == Instruction.BULK_READ:
                return b"".join(protocol.encode_status(i, e, d) for i, e, d in entries)
            return protocol.encode_fast_read_status(entries)
        if inst == Instruction.SYNC_WRITE:
            address, length = int.from_bytes(params[0:2], "little"), int.from_bytes(params[2:4], "little")
            for k in range(4, len(params), 1 + length):
                i = params[k]
                if i in self.memory:
                    self.memory[i][address : address + length] = params[k + 1 : k + 1 + length]
            return None
        if inst == Instruction.BULK_WRITE:
            k = 0
            while k < len(params):
                i = params[k]
                address, length = (
                    int.from_bytes(params[k + 1 : k + 3], "little"),
                    int.from_bytes(params[k + 3 : k + 5], "little"),
                )
                self.memory[i][address : address + length] = params[k + 5 : k + 5 + length]
                k += 5 + length
            return None
        if packet.servo_id == BROADCAST_ID:
            if inst == Instruction.PING:
                return b"".join(
                    protocol.encode_status(i, 0, bytes(m[0:2]) + bytes((m[6],))) for i, m in sorted(self.memory.items())
                )
            return None
        if packet.servo_id not in self.memory:
            return None
        mem = self.memory[packet.servo_id]
        if inst == Instruction.PING:
            return protocol.encode_status(packet.servo_id, 0, bytes(mem[0:2]) + bytes((mem[6],)))
        if inst == Instruction.READ:
            address, length = int.from_bytes(params[0:2], "little"), int.from_bytes(params[2:4], "little")
            return protocol.encode_status(packet.servo_id, 0, bytes(mem[address : address + length]))
        if inst == Instruction.WRITE:
            address = int.from_bytes(params[0:2], "little")
            mem[address : address + len(params) - 2] = params[2:]
        return protocol.encode_status(packet.servo_id, 0)

    # -- plumbing ------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.master, self._stop_r], [], [])
            except (OSError, ValueError):
                return
            if self._stop_r in ready:
                return
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            for packet in self._parser.feed(data):
                self.received.append(packet)
                reply = self.respond(packet)
                if reply:
                    try:
                        os.write(self.master, reply)
                    except OSError:
                        return

    def hang_up(self) -> None:
        """Close the far end, as when the adapter is unplugged."""
        os.close(self.master)
        self.master = -1

    def close(self) -> None:
        os.write(self._stop_w, b"x")
        self._thread.join(timeout=5)
        for fd in (self.master, self._slave, self._stop_r, self._stop_w):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass


@pytest.fixture
def servos() -> Iterator[PtyServos]:
    far = PtyServos()
    yield far
    far.close()


@pytest.fixture
def bus(servos: PtyServos):
    from firmware_bridge import DynamixelBus

    # A generous allowance: the responder is a Python thread on a shared, loaded machine.
    with DynamixelBus(servos.path, timeout=0.5) as b:
        yield b
