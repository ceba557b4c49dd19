"""`DynamixelBus`: Protocol 2.0 transactions over a pyserial port.

The port is opened with `serial.serial_for_url`, so a device path, a pty path, `loop://` and any
URL handler registered in `serial.protocol_handler_packages` work alike.

Every transaction holds one lock, drops stale input, writes the request and reads until each
expected status packet has arrived or the reply deadline passed. The deadline is computed from the
baud rate, the bytes on the wire both ways, the servos' return delay and an allowance for the OS and
USB (`timeout`, plus the FTDI latency timer when Linux reports one above 1 ms); see
docs/firmware_bridge.md.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping

import serial

from firmware_bridge import protocol
from firmware_bridge.errors import BusTimeout, CRCError, PortError, ProtocolError, ServoError
from firmware_bridge.latency import check_latency_timer
from firmware_bridge.protocol import (
    BROADCAST_ID,
    MAX_ID,
    STATUS_OVERHEAD,
    DropReason,
    HardwareError,
    Instruction,
    StatusPacket,
    StatusParser,
)

try:
    import termios

    _PORT_ERRORS: tuple[type[BaseException], ...] = (serial.SerialException, OSError, termios.error)
except ImportError:  # pragma: no cover - not POSIX
    _PORT_ERRORS = (serial.SerialException, OSError)
_OPEN_ERRORS: tuple[type[BaseException], ...] = (ValueError, *_PORT_ERRORS)

BITS_PER_BYTE = 10  # start bit, 8 data bits, stop bit
DEFAULT_ALLOWANCE_S = 0.005  # OS scheduling and USB transfer on top of the wire time
# Servos answer a broadcast PING one after another in ID order; the official SDK reserves 3 ms per
# possible ID for it, and so do we.
BROADCAST_PING_SLOT_S = 0.003
PING_STATUS_BYTES = STATUS_OVERHEAD + 3
HARDWARE_ERROR_STATUS_ADDRESS = 70
_PLAN_CACHE_SIZE = 64  # encoded sync-read requests kept; a control loop reuses one or two
# Instructions whose answer with the Alert bit alone (error number 0) still raises ServoError: the
# servo did what was asked but has switched its torque off, which a control loop must not miss.
# PING, REBOOT, FACTORY RESET and CLEAR are how one diagnoses and recovers, so they do not raise.
_ALERT_RAISES = frozenset(
    {
        Instruction.READ,
        Instruction.WRITE,
        Instruction.REG_WRITE,
        Instruction.ACTION,
        Instruction.SYNC_READ,
        Instruction.FAST_SYNC_READ,
        Instruction.BULK_READ,
        Instruction.FAST_BULK_READ,
    }
)


def wire_time_s(n_bytes: int, baudrate: int) -> float:
    """Seconds `n_bytes` take on the wire at `baudrate` (8N1)."""
    return n_bytes * BITS_PER_BYTE / baudrate


class DynamixelBus:
    """A Dynamixel Protocol 2.0 bus on one serial port.

    `timeout` is the allowance in seconds added to the computed wire time of every reply for OS
    scheduling and USB transfer (default 5 ms); `return_delay_s` is the servos' Return Delay Time.
    `clock` is the time (seconds) that reply deadlines are kept on: the wall clock by default, the
    port's own clock when the port has one (a simulated port on simulated time, whose reads advance
    it), so that how long a transaction waits never depends on how busy the machine is.
    Methods raise `BusTimeout`, `CRCError`, `ServoError`, `ProtocolError` or `PortError`, all
    `BridgeError`s. Safe to share between threads: each transaction holds the bus lock.
    """

    def __init__(
        self,
        port: str,
        baudrate: int = 1_000_000,
        timeout: float | None = None,
        return_delay_s: float = 0.0,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if baudrate <= 0:
            raise ValueError(f"baud rate must be positive, got {baudrate}")
        if return_delay_s < 0 or (timeout is not None and timeout < 0):
            raise ValueError("timeout and return delay must not be negative")
        self.port = port
        self.baudrate = baudrate
        self.return_delay_s = return_delay_s
        self._clock = clock if clock is not None else time.perf_counter
        self.allowance_s = DEFAULT_ALLOWANCE_S if timeout is None else timeout
        latency_ms = check_latency_timer(port)
        if latency_ms is not None:
            self.allowance_s += latency_ms / 1000.0
        try:
            self._serial = serial.serial_for_url(port, baudrate=baudrate, timeout=self.allowance_s, write_timeout=1.0)
        except _OPEN_ERRORS as exc:
            raise PortError(
                f"cannot open serial port {port!r} at {baudrate} baud: {exc}. Check that the adapter is plugged "
                "in, the path is right (ls /dev/serial/by-id) and you may use it (group dialout)"
            ) from exc
        self._byte_s = BITS_PER_BYTE / baudrate
        self._port_timeout = self.allowance_s
        self._parser = StatusParser()
        self._lock = threading.Lock()
        self._wire_free_at = 0.0
        self._sync_read_cache: dict[
            tuple[int, int, tuple[int, ...], bool], tuple[bytes, tuple[int, ...], int, float]
        ] = {}
        self.stray_statuses = 0

    # --- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Close the port; later calls raise PortError."""
        with self._lock:
            self._serial.close()

    def __enter__(self) -> DynamixelBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def last_dropped(self) -> list[protocol.DroppedBytes]:
        """What the parser skipped during the last transaction, with reasons (for diagnostics)."""
        return list(self._parser.dropped)

    # --- timing ---------------------------------------------------------------------------

    def reply_timeout_s(self, request_bytes: int, reply_bytes: int, repliers: int = 1) -> float:
        """Time from writing a request until its last reply byte must have arrived."""
        return (request_bytes + reply_bytes) * self._byte_s + repliers * self.return_delay_s + self.allowance_s

    # --- single servo ---------------------------------------------------------------------

    def ping(self, servo_id: int) -> int:
        """PING one servo; returns its model number."""
        return self.ping_details(servo_id)[0]

    def ping_details(self, servo_id: int) -> tuple[int, int]:
        """PING one servo; returns (model number, firmware version)."""
        status = self._single(protocol.ping(servo_id), Instruction.PING, servo_id, 3)
        return status.params[0] | (status.params[1] << 8), status.params[2]

    def broadcast_ping(self, max_id: int = MAX_ID) -> dict[int, tuple[int, int]]:
        """PING every servo; returns {id: (model number, firmware version)} of those that answered.

        Waits the whole answer window, which grows with `max_id` (the highest ID expected).
        """
        if not 0 <= max_id <= MAX_ID:
            raise ValueError(f"max_id must be 0..{MAX_ID}, got {max_id}")
        packet = protocol.ping(BROADCAST_ID)
        slot = PING_STATUS_BYTES * self._byte_s + self.return_delay_s + BROADCAST_PING_SLOT_S
        window = len(packet) * self._byte_s + (max_id + 1) * slot + self.allowance_s
        found: dict[int, tuple[int, int]] = {}
        with self._lock:
            deadline = self._send(packet, window)
            try:
                while (left := deadline - self._clock()) > 0:
                    self._set_timeout(left)
                    chunk = self._serial.read(PING_STATUS_BYTES)
                    for status in self._parser.feed(chunk):
                        if len(status.params) >= 3 and status.servo_id <= MAX_ID:
                            found[status.servo_id] = (status.params[0] | (status.params[1] << 8), status.params[2])
                        else:
                            self.stray_statuses += 1
            except _PORT_ERRORS as exc:
                raise self._port_error("broadcast PING", exc) from exc
        return found

    def hardware_error(self, servo_id: int) -> HardwareError:
        """Read Hardware Error Status (address 70) without raising for the Alert bit."""
        packet = protocol.read(servo_id, HARDWARE_ERROR_STATUS_ADDRESS, 1)
        status = self._single(packet, Instruction.READ, servo_id, 1, alert_raises=False)
        return HardwareError(status.params[0])

    def read(self, servo_id: int, address: int, length: int) -> bytes:
        """READ `length` bytes at `address` of one servo."""
        status = self._single(protocol.read(servo_id, address, length), Instruction.READ, servo_id, length)
        return status.params

    def write(self, servo_id: int, address: int, data: bytes) -> None:
        """WRITE `data` at `address`; to BROADCAST_ID it is sent without waiting for answers."""
        self._command(protocol.write(servo_id, address, data), Instruction.WRITE, servo_id)

    def reg_write(self, servo_id: int, address: int, data: bytes) -> None:
        """REG WRITE: register `data` for `address`, applied by `action`."""
        self._command(protocol.reg_write(servo_id, address, data), Instruction.REG_WRITE, servo_id)

    def action(self, servo_id: int = BROADCAST_ID) -> None:
        """ACTION: apply registered writes (all servos by default, without answers)."""
        self._command(protocol.action(servo_id), Instruction.ACTION, servo_id)

    def reboot(self, servo_id: int) -> None:
        """REBOOT a servo (clears its hardware error; torque comes back off)."""
        self._command(protocol.reboot(servo_id), Instruction.REBOOT, servo_id)

    def factory_reset(self, servo_id: int, mode: int = 0x02) -> None:
        """FACTORY RESET: 0xFF everything, 0x01 all but ID, 0x02 all but ID and baud rate."""
        if mode not in (0x01, 0x02, 0xFF):
            raise ValueError(f"factory reset mode must be 0x01, 0x02 or 0xFF, got 0x{mode:02X}")
        self._command(protocol.factory_reset(servo_id, mode), Instruction.FACTORY_RESET, servo_id)

    def clear(self, servo_id: int) -> None:
        """CLEAR the multi-turn revolution count (the servo must be at rest)."""
        self._command(protocol.clear(servo_id), Instruction.CLEAR, servo_id)

    # --- several servos -------------------------------------------------------------------

    def sync_read(self, address: int, length: int, ids: Iterable[int]) -> dict[int, bytes]:
        """SYNC READ `length` bytes at `address` from each of `ids`; {id: data}."""
        packet, ids_t, reply_bytes, timeout = self._sync_read_plan(address, length, ids, fast=False)
        with self._lock:
            statuses = self._exchange(packet, Instruction.SYNC_READ, ids_t, reply_bytes, timeout)
            result = {}
            for servo_id in ids_t:
                status = statuses[servo_id]
                if status.error:
                    self._raise_servo_error(status, Instruction.SYNC_READ)
                if len(status.params) != length:
                    raise self._length_error(status, Instruction.SYNC_READ, length)
                result[servo_id] = status.params
            return result

    def sync_read_timeout_s(self, address: int, length: int, ids: Iterable[int]) -> float:
        """How long `sync_read(address, length, ids)` waits for its replies before `BusTimeout`:
        what one lost reply costs (wire time both ways, return delays, the allowance)."""
        return self._sync_read_plan(address, length, ids, fast=False)[3]

    def fast_sync_read(self, address: int, length: int, ids: Iterable[int]) -> dict[int, bytes]:
        """FAST SYNC READ: like `sync_read`, but the servos answer in one packet (fewer bytes)."""
        packet, ids_t, reply_bytes, timeout = self._sync_read_plan(address, length, ids, fast=True)
        with self._lock:
            return self._fast_read(
                packet, Instruction.FAST_SYNC_READ, ids_t, (length,) * len(ids_t), reply_bytes, timeout
            )

    def bulk_read(self, requests: Mapping[int, tuple[int, int]]) -> dict[int, bytes]:
        """BULK READ: per servo its own (address, length); {id: data}."""
        packet = protocol.bulk_read(dict(requests))
        ids = tuple(requests)
        lengths = tuple(length for _, length in requests.values())
        reply_bytes = sum(lengths) + STATUS_OVERHEAD * len(ids)
        timeout = self.reply_timeout_s(len(packet), reply_bytes, len(ids))
        with self._lock:
            statuses = self._exchange(packet, Instruction.BULK_READ, ids, reply_bytes, timeout)
            result = {}
            for servo_id, length in zip(ids, lengths, strict=True):
                status = statuses[servo_id]
                if status.error:
                    self._raise_servo_error(status, Instruction.BULK_READ)
                if len(status.params) != length:
                    raise self._length_error(status, Instruction.BULK_READ, length)
                result[servo_id] = status.params
            return result

    def fast_bulk_read(self, requests: Mapping[int, tuple[int, int]]) -> dict[int, bytes]:
        """FAST BULK READ: like `bulk_read`, answered in one packet."""
        packet = protocol.bulk_read(dict(requests), fast=True)
        ids = tuple(requests)
        lengths = tuple(length for _, length in requests.values())
        reply_bytes = _fast_reply_bytes(lengths)
        timeout = self.reply_timeout_s(len(packet), reply_bytes, len(ids))
        with self._lock:
            return self._fast_read(packet, Instruction.FAST_BULK_READ, ids, lengths, reply_bytes, timeout)

    def sync_write(self, address: int, data_by_id: Mapping[int, bytes]) -> None:
        """SYNC WRITE the same range on several servos (no answers)."""
        packet = protocol.sync_write(address, data_by_id)  # type: ignore[arg-type]
        with self._lock:
            self._write_only(packet, "SYNC WRITE")

    def bulk_write(self, writes: Mapping[int, tuple[int, bytes]]) -> None:
        """BULK WRITE: per servo its own (address, data) (no answers)."""
        packet = protocol.bulk_write(dict(writes))
        with self._lock:
            self._write_only(packet, "BULK WRITE")

    # --- internals ------------------------------------------------------------------------

    def _sync_read_plan(
        self, address: int, length: int, ids: Iterable[int], *, fast: bool
    ) -> tuple[bytes, tuple[int, ...], int, float]:
        ids_t = ids if type(ids) is tuple else tuple(ids)
        key = (address, length, ids_t, fast)
        plan = self._sync_read_cache.get(key)
        if plan is None:
            if not ids_t or len(set(ids_t)) != len(ids_t):
                raise ValueError(f"sync read needs distinct servo ids, got {list(ids_t)}")
            for servo_id in ids_t:
                if not 0 <= servo_id <= MAX_ID:
                    raise ValueError(f"servo id must be 0..{MAX_ID}, got {servo_id}")
            if fast:
                packet = protocol.fast_sync_read(address, length, ids_t)
                reply_bytes = _fast_reply_bytes((length,) * len(ids_t))
            else:
                packet = protocol.sync_read(address, length, ids_t)
                reply_bytes = (STATUS_OVERHEAD + length) * len(ids_t)
            plan = (packet, ids_t, reply_bytes, self.reply_timeout_s(len(packet), reply_bytes, len(ids_t)))
            if len(self._sync_read_cache) >= _PLAN_CACHE_SIZE:
                self._sync_read_cache.clear()
            self._sync_read_cache[key] = plan
        return plan

    def _single(
        self, packet: bytes, instruction: Instruction, servo_id: int, length: int, *, alert_raises: bool | None = None
    ) -> StatusPacket:
        """Send a request to one servo and return its checked status with `length` data bytes.

        An error number always raises ServoError; the Alert bit alone raises when `alert_raises`
        (by default: when the instruction is in _ALERT_RAISES).
        """
        if not 0 <= servo_id <= MAX_ID:
            raise ValueError(f"{instruction.name} needs one servo id 0..{MAX_ID}, got {servo_id}")
        if alert_raises is None:
            alert_raises = instruction in _ALERT_RAISES
        reply_bytes = STATUS_OVERHEAD + length
        timeout = self.reply_timeout_s(len(packet), reply_bytes)
        with self._lock:
            status = self._exchange(packet, instruction, (servo_id,), reply_bytes, timeout)[servo_id]
            if status.error & 0x7F or (status.error and alert_raises):
                self._raise_servo_error(status, instruction)
            if len(status.params) != length:
                raise self._length_error(status, instruction, length)
            return status

    def _command(self, packet: bytes, instruction: Instruction, servo_id: int) -> None:
        """Send a request that answers with a bare status, or nothing when broadcast."""
        if servo_id == BROADCAST_ID:
            with self._lock:
                self._write_only(packet, instruction.name)
            return
        self._single(packet, instruction, servo_id, 0)

    def _set_timeout(self, seconds: float) -> None:
        if seconds != self._port_timeout:
            self._serial.timeout = seconds
            self._port_timeout = seconds

    def _send(self, packet: bytes, timeout: float) -> float:
        """Drop stale input, write `packet`; return the reply deadline. Caller holds the lock."""
        try:
            self._serial.reset_input_buffer()
            self._parser.reset()
            self._parser.dropped.clear()
            now = self._clock()
            self._serial.write(packet)
        except _PORT_ERRORS as exc:
            raise self._port_error("write", exc) from exc
        # Bytes of an earlier unanswered request may still be on the wire ahead of this one.
        return now + timeout + max(0.0, self._wire_free_at - now)

    def _write_only(self, packet: bytes, what: str) -> None:
        now = self._clock()
        try:
            self._serial.reset_input_buffer()
            self._serial.write(packet)
        except _PORT_ERRORS as exc:
            raise self._port_error(what, exc) from exc
        self._wire_free_at = max(now, self._wire_free_at) + len(packet) * self._byte_s

    def _exchange(
        self, packet: bytes, instruction: Instruction, ids: tuple[int, ...], reply_bytes: int, timeout: float
    ) -> dict[int, StatusPacket]:
        """Write `packet`; read until a status from each of `ids` came. Caller holds the lock."""
        deadline = self._send(packet, timeout)
        # What the port may wait in all. A short read means the port waited out its whole timeout,
        # so the waits are counted too: a port on another clock (a simulated one) then ends at the
        # same budget instead of waiting once per pass of this loop until the wall clock catches up.
        budget = deadline - self._clock()
        waited = 0.0
        read = self._serial.read
        feed = self._parser.feed
        got: dict[int, StatusPacket] = {}
        want = len(ids)
        received = 0
        need = reply_bytes
        expired = False
        try:
            # The planned timeout, not the time left: it is the same every control cycle, so the
            # port is not reconfigured on the hot path.
            self._set_timeout(timeout)
            while True:
                chunk = read(need)
                if len(chunk) < need:
                    waited += self._port_timeout
                if chunk:
                    received += len(chunk)
                    for status in feed(chunk):
                        servo_id = status.servo_id
                        if servo_id in ids and servo_id not in got:
                            got[servo_id] = status
                        else:
                            self.stray_statuses += 1
                    if len(got) == want:
                        return got
                if expired or len(chunk) < need:
                    # A short read: the port waited its whole timeout, so the deadline has passed
                    # (on a simulated port, on its clock; this process's clock may say otherwise).
                    break
                left = min(deadline - self._clock(), budget - waited)
                if left <= 0:
                    # Past the deadline (this process may have lost the CPU meanwhile): take what
                    # has already arrived, without waiting, before calling it a timeout.
                    expired, left = True, 0.0
                self._set_timeout(left)
                need = reply_bytes - received
                if need <= 0:  # more came than planned (echo, garbage, an overlong reply)
                    need = min(self._parser.wanted, STATUS_OVERHEAD)
        except _PORT_ERRORS as exc:
            raise self._port_error(f"reading the answer to {instruction.name} from id {ids}", exc) from exc
        missing = tuple(i for i in ids if i not in got)
        corrupt = sum(
            1 for d in self._parser.dropped if d.reason is DropReason.BAD_CRC and d.servo_id in (*missing, BROADCAST_ID)
        )
        if corrupt:
            raise CRCError(instruction, missing, corrupt)
        raise BusTimeout(instruction, missing, timeout, received)

    def _fast_read(
        self,
        packet: bytes,
        instruction: Instruction,
        ids: tuple[int, ...],
        lengths: tuple[int, ...],
        reply_bytes: int,
        timeout: float,
    ) -> dict[int, bytes]:
        """One FAST SYNC/BULK READ transaction. Caller holds the lock."""
        try:
            status = self._exchange(packet, instruction, (BROADCAST_ID,), reply_bytes, timeout)[BROADCAST_ID]
        except BusTimeout as exc:
            raise BusTimeout(instruction, ids, exc.timeout_s, exc.received) from None
        except CRCError as exc:
            raise CRCError(instruction, ids, exc.count) from None
        try:
            entries = protocol.split_fast_read(status, lengths, ids)
        except ValueError as exc:
            raise ProtocolError(instruction, ids, f"is malformed ({exc})") from exc
        result = {}
        for servo_id, (error, data) in entries.items():
            if error:
                self._raise_servo_error(StatusPacket(servo_id, error, data), instruction)
            result[servo_id] = data
        return result

    def _raise_servo_error(self, status: StatusPacket, instruction: Instruction) -> None:
        """Raise ServoError for `status`, decoding Hardware Error Status when the Alert bit is set."""
        hardware: HardwareError | None = None
        if status.alert:
            packet = protocol.read(status.servo_id, HARDWARE_ERROR_STATUS_ADDRESS, 1)
            try:
                reply = self._exchange(
                    packet,
                    Instruction.READ,
                    (status.servo_id,),
                    STATUS_OVERHEAD + 1,
                    self.reply_timeout_s(len(packet), STATUS_OVERHEAD + 1),
                )[status.servo_id]
                if len(reply.params) == 1:
                    hardware = HardwareError(reply.params[0])
            except (BusTimeout, CRCError):
                hardware = None
        raise ServoError(status.servo_id, instruction, status.error_number, status.alert, hardware)

    @staticmethod
    def _length_error(status: StatusPacket, instruction: Instruction, length: int) -> ProtocolError:
        return ProtocolError(
            instruction, (status.servo_id,), f"has {len(status.params)} data byte(s), expected {length}"
        )

    def _port_error(self, doing: str, exc: BaseException) -> PortError:
        return PortError(
            f"serial port {self.port!r} failed during {doing}: {exc}. The adapter was unplugged or the port "
            "closed; reconnect it and open a new DynamixelBus"
        )


def _fast_reply_bytes(lengths: tuple[int, ...] | list[int]) -> int:
    """Bytes of a fast read answer: header 4, id, LEN 2, INST, then ERR, ID, data, CRC per servo."""
    return 8 + sum(lengths) + 4 * len(lengths)


__all__ = ["DynamixelBus", "wire_time_s"]
