"""A half-duplex Dynamixel bus of virtual servos, with wire time, and the clock it runs on.

`VirtualServoBus` is the wire plus the servos on it. The host side writes instruction bytes with
`transmit(data, baudrate)` and takes reply bytes with `pop_ready()`; transports put a serial port
on top of that: `sim.serial_url` (in-process, `serial.serial_for_url("bidvis-sim://<name>")`) and
`sim.virtual_bus_pty` (a pseudo-terminal for any Dynamixel client).

    bus = VirtualServoBus.start(ids=(11, 12, 13, 14))     # registered under a name
    with firmware_bridge.DynamixelBus(bus.url) as host:    # "bidvis-sim://bus-1"
        host.ping(11)
    bus.close()

Time. Every byte takes 10 bit times at the host's baud rate (start, 8 data, stop). An instruction
is processed when its last byte has crossed the wire (after the line is free of earlier traffic);
each reply starts after the servo's Return Delay Time and after the previous reply ended (replies
to a broadcast ping come in ID order, to a sync/bulk read in the order asked), and its bytes are
readable only from the moment its last byte would have arrived. Servos whose Baud Rate differs from
the host's hear nothing. Two servos with the same ID answer at once and collide (the line carries
the AND of their bytes, as an open line driven low by either would).

The clock is injected. `RealClock` (the default) is `time.monotonic`; the serial port then sleeps
until bytes are due. With a `SimulatedClock` nothing sleeps: whoever waits for a reply (the serial
port's `read`) advances the simulated clock to the moment the bytes are due, so wire time and
return delays consume simulated time deterministically, and the controller or simulator advances
the clock for everything else. Either way, the servos' motion and watchdogs are integrated lazily
in fixed ticks (`tick_s`, 1 ms) up to the time of each instruction or of `advance_to(t)`, calling
the plant (`sim.servo_plant.ServoPlant`) once per tick for all servos.
"""

from __future__ import annotations

import bisect
import itertools
import math
import threading
import time
from collections.abc import Iterable, Mapping
from typing import NamedTuple, Protocol

from firmware_bridge.control_table import XM430_W350, ControlTable, Register
from firmware_bridge.protocol import (
    BROADCAST_ID,
    DropReason,
    Instruction,
    InstructionPacket,
    InstructionParser,
    StatusError,
    encode_fast_read_status,
    encode_status,
)
from sim.flaws import ArmFlaws, default_flaws
from sim.servo import Reply, VirtualServo
from sim.servo_plant import CompliantPlant, IdealPlant, JointReading, ServoPlant
from sim.servo_table import BAUD_RATES

URL_SCHEME = "bidvis-sim"
_BUS_RANDOM_STREAM = 1_000  # the bus's own random draws (the servos use their ids)
BITS_PER_BYTE = 10
DEFAULT_IDS = (11, 12, 13, 14)
_GROUP_READS = frozenset(
    (Instruction.SYNC_READ, Instruction.FAST_SYNC_READ, Instruction.BULK_READ, Instruction.FAST_BULK_READ)
)

_buses: dict[str, VirtualServoBus] = {}  # buses reachable by URL; filled by start(), emptied by close()
_bus_names = itertools.count(1)
_registry_lock = threading.Lock()


class Clock(Protocol):
    """Time source of a bus: `now()` in seconds, and `sleep(seconds)`."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class RealClock:
    """Wall-clock time (`time.monotonic`); sleeping really waits."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class SimulatedClock:
    """Simulated time that only moves when someone advances it; sleeping advances it."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now = start_s
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        """Advance by `seconds` (never backwards)."""
        self.advance_to(self._now + max(seconds, 0.0))

    def advance_to(self, t: float) -> None:
        """Move to time `t` if it is later than now."""
        with self._lock:
            if t > self._now:
                self._now = t


class UnknownBusError(LookupError):
    """No virtual bus is registered under the name of a `bidvis-sim://` URL."""


def wire_time_s(n_bytes: int, baudrate: int) -> float:
    """Seconds that `n_bytes` take on the wire at `baudrate` (10 bits per byte)."""
    return n_bytes * BITS_PER_BYTE / baudrate


class _Pending(NamedTuple):
    """Reply bytes on the wire, readable from `ready_s`; ordered by (ready_s, seq) in C."""

    ready_s: float
    seq: int  # unique, so `data` is never compared
    data: bytes


class _Answer(NamedTuple):
    servo: VirtualServo
    reply: Reply
    servo_id: int


class VirtualServoBus:
    """Virtual XM430-W350 servos on one bus; see the module docstring for timing and clocks.

    `models` puts another model (`firmware_bridge.control_table`, e.g. XL430_W250) at some ids.
    `flaws` (`sim.flaws.ArmFlaws`; the default preset when None) are applied by the servos (sensor
    noise, heat), by the bus (lost and corrupted replies, the USB adapter's latency timer and
    stalls) and, when no `plant` is given, by the plant it builds: a `CompliantPlant` with the
    flaws' backlash and friction, or the `IdealPlant` when the flaws ask for rigid joints. A given
    `plant` is used as it is (give it the mechanical flaws yourself, as `bidvis.simulation` does).
    """

    def __init__(
        self,
        ids: Iterable[int] = DEFAULT_IDS,
        *,
        baudrate: int = 1_000_000,
        clock: Clock | None = None,
        plant: ServoPlant | None = None,
        tick_s: float = 0.001,
        eeprom: dict[str, int] | None = None,
        models: Mapping[int, ControlTable] | None = None,
        flaws: ArmFlaws | None = None,
    ) -> None:
        baud_index = {rate: index for index, rate in BAUD_RATES.items()}.get(baudrate)
        if baud_index is None:
            raise ValueError(f"baudrate {baudrate} is not a Dynamixel X rate; use one of {sorted(BAUD_RATES.values())}")
        self.clock: Clock = clock or RealClock()
        flaws = default_flaws() if flaws is None else flaws
        self.plant: ServoPlant = plant or plant_for(flaws)
        self._rng = flaws.rng(_BUS_RANDOM_STREAM)
        self._stall_rng = flaws.rng(_BUS_RANDOM_STREAM + 1)
        self._set_bus_flaws(flaws)
        self.cable_pulled = False  # the servo cable is out: nothing reaches the servos, nothing comes back
        self.usb_unplugged = False  # the adapter is gone: the host's port fails (`sim.serial_url`)
        self.tick_s = tick_s
        self.baudrate = baudrate
        self.name: str | None = None
        self._registered = False  # between start() and close(); read by ports on every call
        self.servos: list[VirtualServo] = []
        self._lock = threading.RLock()
        self._parser = InstructionParser()
        self._pending: list[_Pending] = []
        self._seq = itertools.count()
        self._line_free_s = self.clock.now()
        self._physics_s = self.clock.now()
        self._host_done_s = self.clock.now()
        models = models or {}
        for servo_id in ids:
            model = models.get(servo_id, XM430_W350)
            self.add_servo(VirtualServo(servo_id, eeprom={"baud_rate": baud_index, **(eeprom or {})}, model=model))

    # --- set-up -----------------------------------------------------------------------------

    @classmethod
    def start(cls, ids: Iterable[int] = DEFAULT_IDS, *, name: str | None = None, **kwargs) -> VirtualServoBus:
        """Create a bus and make it reachable as `bus.url` (registers the `bidvis-sim://` handler)."""
        from sim.serial_url import register_url_handler

        register_url_handler()
        bus = cls(ids, **kwargs)
        with _registry_lock:
            bus.name = name or f"bus-{next(_bus_names)}"
            if bus.name in _buses:
                raise ValueError(f"a virtual bus named {bus.name!r} is already running; close it or pick another name")
            _buses[bus.name] = bus
            bus._registered = True
        return bus

    @property
    def url(self) -> str:
        """The `serial_for_url` URL of this bus (only after `start`)."""
        if self.name is None:
            raise RuntimeError("this bus is not registered; create it with VirtualServoBus.start(...)")
        return f"{URL_SCHEME}://{self.name}"

    @property
    def lock(self) -> threading.RLock:
        """The bus's lock, held by every instruction: hold it to change servos from another thread."""
        return self._lock

    @property
    def running(self) -> bool:
        """True between `start` and `close` (while its URL opens)."""
        return self._registered

    def close(self) -> None:
        """Unregister the bus; ports opened on its URL stop working."""
        with _registry_lock:
            if self.name is not None and _buses.get(self.name) is self:
                del _buses[self.name]
            self._registered = False

    def __enter__(self) -> VirtualServoBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_servo(self, servo: VirtualServo) -> VirtualServo:
        """Put another servo on the bus (its joint starts where the plant says)."""
        with self._lock:
            reading = self.plant.step({servo.servo_id: None}, 0.0).get(servo.servo_id)
            if reading is not None:
                servo.observe(reading, 0.0)
                servo.reboot()  # power on at the plant's position
            servo.time_s = self._physics_s
            servo.apply_flaws(self.flaws)
            self.servos.append(servo)
        return servo

    def apply_flaws(self, flaws: ArmFlaws) -> None:
        """Change the bus's and the servos' flaws from now on (the plant keeps its own)."""
        with self._lock:
            self._set_bus_flaws(flaws)
            for servo in self.servos:
                servo.apply_flaws(flaws)

    def _set_bus_flaws(self, flaws: ArmFlaws) -> None:
        self.flaws = flaws
        self._latency_s = flaws.usb_latency_timer_ms / 1000.0
        self._latency_phase_s = self._rng.uniform(0.0, self._latency_s)
        self._stall_s = flaws.usb_stall_ms / 1000.0
        self._stall_start_s = flaws.next_usb_stall_s(self.clock.now(), self._stall_rng)

    def stall_usb(self, length_s: float) -> None:
        """Stall the USB link from now for `length_s`, as the flawed adapter does now and then:
        bytes neither way until it ends (the flaws' own stalls go on after it)."""
        with self._lock:
            self._stall_start_s, self._stall_s = self.clock.now(), length_s

    def power_off(self) -> None:
        """Every servo loses its supply (see `VirtualServo.power_off`)."""
        with self._lock:
            self.advance_to(self.clock.now())
            for servo in self.servos:
                servo.power_off()

    def power_on(self) -> None:
        """The supply is back: every servo restarts with torque off."""
        with self._lock:
            self.advance_to(self.clock.now())
            for servo in self.servos:
                servo.power_on()

    def hold(self) -> None:
        """Every servo turns its torque on where its joint stands (goal = present position), as
        staff leave the arm holding between meals; a real servo powers on with torque off. A joint
        placed on the plant since the last tick is held where the servo last read it: let one
        tick pass first."""
        with self._lock:
            self.advance_to(self.clock.now())
            for servo in self.servos:
                servo.write(servo.model[Register.TORQUE_ENABLE].address, b"\x01")

    def servo(self, servo_id: int) -> VirtualServo:
        """The (first) servo with this ID."""
        for servo in self.servos:
            if servo.servo_id == servo_id:
                return servo
        raise KeyError(f"no virtual servo with id {servo_id} on this bus (ids: {[s.servo_id for s in self.servos]})")

    def joint_states(self) -> dict[int, JointReading]:
        """Each servo's joint as the plant last reported it, by servo ID (for displays and checks)."""
        with self._lock:
            return {servo.servo_id: servo.joint for servo in self.servos}

    # --- physics ----------------------------------------------------------------------------

    def advance_to(self, t: float) -> None:
        """Integrate motion, plant and watchdogs in whole ticks up to time `t`."""
        with self._lock:
            tick = self.tick_s
            servos = self.servos
            plant_step = self.plant.step
            self._hand_settings_to_plant()
            while self._physics_s + tick <= t + 1e-12:
                self._physics_s += tick
                for servo in servos:
                    servo.advance_profile(tick)
                # The plant sees one command per joint; a duplicated ID drives the joint once.
                commands = {servo.servo_id: servo.command_rad() for servo in reversed(servos)}
                readings = plant_step(commands, tick)
                for servo in servos:
                    reading = readings.get(servo.servo_id)
                    if reading is not None:
                        servo.observe(reading, tick)

    def _hand_settings_to_plant(self) -> None:
        """Changed Position Gains and torque limits (Goal Current in current-based position
        control) to a plant that models them."""
        set_gains = getattr(self.plant, "set_position_gains", None)
        set_limit = getattr(self.plant, "set_torque_limit", None)
        for servo in self.servos:
            if set_gains is not None and (gains := servo.position_gains_changed()) is not None:
                set_gains(servo.servo_id, *gains)
            if set_limit is not None and (limit := servo.torque_limit_changed()) is not None:
                set_limit(servo.servo_id, limit)

    # --- host side --------------------------------------------------------------------------

    def transmit(self, data: bytes, baudrate: int | None = None) -> None:
        """The host sends `data` now at `baudrate` (default: the bus's); replies are scheduled."""
        baudrate = baudrate or self.baudrate
        with self._lock:
            start = self._usb_free_at(max(self.clock.now(), self._line_free_s))
            arrived = start + wire_time_s(len(data), baudrate)
            self._line_free_s = arrived
            self._host_done_s = arrived
            dropped = self._parser.dropped
            dropped.clear()
            packets = self._parser.feed(data if type(data) is bytes else bytes(data))
            corrupted = [d.servo_id for d in dropped if d.reason == DropReason.BAD_CRC] if dropped else []
            if not packets and not corrupted:
                return
            self.advance_to(arrived)
            if self.cable_pulled:
                return  # the instruction never reaches the servos (physics ran up to its end)
            listeners = [s for s in self.servos if s.baudrate == baudrate and s.powered]
            if corrupted:
                # A servo that recognises its ID in a packet with a bad CRC answers CRC Error (3).
                # Such a packet (a cut-off one whose length swallowed what followed) ends before
                # any good packet found inside it, so its answer goes first.
                answers = [
                    _Answer(servo, Reply(servo.status_error(StatusError.CRC_ERROR)), servo.servo_id)
                    for servo_id in corrupted
                    for servo in listeners
                    if servo.servo_id == servo_id and servo.get("status_return_level") >= 2
                ]
                self._schedule([(a, encode_status(a.servo_id, a.reply.error)) for a in answers], arrived, baudrate)
            for packet in packets:
                for servo in listeners:
                    servo.heard_instruction()
                self._dispatch(packet, listeners, arrived, baudrate)

    def pop_ready(self, now: float | None = None) -> bytes:
        """Reply bytes that have fully arrived by `now` (default: the clock's now)."""
        now = self.clock.now() if now is None else now
        with self._lock:
            pending = self._pending
            split = 0
            while split < len(pending) and pending[split].ready_s <= now:
                split += 1
            if not split:
                return b""
            ready, self._pending = pending[:split], pending[split:]
        return b"".join(p.data for p in ready)

    def next_ready_s(self) -> float | None:
        """When the next reply bytes become readable, or None if none are on the way."""
        with self._lock:
            return self._pending[0].ready_s if self._pending else None

    def ready_s_for(self, n_bytes: int, by_s: float | None = None) -> float | None:
        """When `n_bytes` more reply bytes will have become readable, or, if fewer arrive by `by_s`
        (None: ever), when the last of those does; None if none arrive by then."""
        with self._lock:
            last = None
            for pending in self._pending:
                if by_s is not None and pending.ready_s > by_s:
                    break
                last = pending.ready_s
                n_bytes -= len(pending.data)
                if n_bytes <= 0:
                    break
            return last

    @property
    def line_free_s(self) -> float:
        """When the line is quiet again (host transmission and scheduled replies done)."""
        return self._line_free_s

    @property
    def transmit_done_s(self) -> float:
        """When the host's last transmission has fully left (what `flush` waits for)."""
        return self._host_done_s

    # --- instructions -----------------------------------------------------------------------

    def _dispatch(
        self, packet: InstructionPacket, listeners: list[VirtualServo], arrived: float, baudrate: int
    ) -> None:
        instruction, params, target = packet.instruction, packet.params, packet.servo_id
        if instruction in _GROUP_READS:
            if target == BROADCAST_ID:
                self._group_read(instruction, params, listeners, arrived, baudrate)
            return
        if instruction in (Instruction.SYNC_WRITE, Instruction.BULK_WRITE):
            if target == BROADCAST_ID:
                self._group_write(instruction, params, listeners)
            return
        addressed = [s for s in listeners if target in (BROADCAST_ID, s.servo_id)]
        if instruction == Instruction.PING:
            addressed.sort(key=lambda s: s.servo_id)
        elif instruction == Instruction.FACTORY_RESET and target == BROADCAST_ID and params[:1] == b"\xff":
            return  # firmware 42+: a broadcast reset of everything is refused
        answers = []
        for servo in addressed:
            servo_id = servo.servo_id
            reply = servo.execute(instruction, params)
            if reply is not None and self._answers(servo, instruction, target):
                answers.append(_Answer(servo, reply, servo_id))
        self._schedule(
            [(a, encode_status(a.servo_id, a.reply.error, a.reply.params)) for a in answers], arrived, baudrate
        )
        for servo in addressed:
            if instruction == Instruction.REBOOT:
                servo.reboot()
            elif instruction == Instruction.FACTORY_RESET:
                servo.finish_factory_reset()

    @staticmethod
    def _answers(servo: VirtualServo, instruction: int, target: int) -> bool:
        """Whether a status packet goes out (broadcast and Status Return Level rules)."""
        if instruction == Instruction.PING:
            return True
        if target == BROADCAST_ID:
            return False
        level = servo.get("status_return_level")
        return level >= 2 or (level == 1 and instruction == Instruction.READ)

    def _group_read(
        self, instruction: int, params: bytes, listeners: list[VirtualServo], arrived: float, baudrate: int
    ) -> None:
        if instruction in (Instruction.SYNC_READ, Instruction.FAST_SYNC_READ):
            if len(params) < 5:
                return
            address, length = int.from_bytes(params[0:2], "little"), int.from_bytes(params[2:4], "little")
            requests = [(servo_id, address, length) for servo_id in params[4:]]
        else:
            if len(params) < 5 or len(params) % 5:
                return
            requests = [
                (
                    params[i],
                    int.from_bytes(params[i + 1 : i + 3], "little"),
                    int.from_bytes(params[i + 3 : i + 5], "little"),
                )
                for i in range(0, len(params), 5)
            ]
        by_id = _by_id(listeners)
        if instruction in (Instruction.SYNC_READ, Instruction.BULK_READ):
            packets = []
            for servo_id, address, length in requests:
                for servo in by_id.get(servo_id, ()):
                    if servo.get("status_return_level") >= 1:
                        reply = servo.read(address, length)
                        packets.append(
                            (_Answer(servo, reply, servo_id), encode_status(servo_id, reply.error, reply.params))
                        )
            self._schedule(packets, arrived, baudrate)
            return
        answers: list[tuple[_Answer, int]] = []
        for servo_id, address, length in requests:
            for servo in by_id.get(servo_id, ()):
                if servo.get("status_return_level") >= 1:
                    answers.append((_Answer(servo, servo.read(address, length), servo_id), length))
        # Fast read: the servos fill one packet together, each appending its part in turn.
        entries, delay = [], 0.0
        corrupt = False
        for answer, length in answers:
            faults = answer.servo.reply_faults
            if faults.silent:
                break  # the chain stops at a servo that does not answer
            if faults.drop:
                faults.drop -= 1
                break
            if self._lost():
                break
            if faults.corrupt:
                faults.corrupt -= 1
                corrupt = True
            elif self._corrupted():
                corrupt = True
            delay = max(delay, faults.delay_s)
            data = answer.reply.params if len(answer.reply.params) == length else bytes(length)
            entries.append((answer.servo_id, answer.reply.error, data))
        if not entries:
            return
        packet = encode_fast_read_status(entries)
        if corrupt:
            packet = _corrupt(packet)
        start = max(arrived + answers[0][0].servo.return_delay_s, self._line_free_s)
        self._emit(packet, start, delay, baudrate)

    def _group_write(self, instruction: int, params: bytes, listeners: list[VirtualServo]) -> None:
        writes: list[tuple[int, int, bytes]] = []
        if instruction == Instruction.SYNC_WRITE:
            if len(params) < 4:
                return
            address, length = int.from_bytes(params[0:2], "little"), int.from_bytes(params[2:4], "little")
            body = params[4:]
            if length == 0 or len(body) % (length + 1):
                return  # malformed: real servos cannot find their share either
            for i in range(0, len(body), length + 1):
                writes.append((body[i], address, body[i + 1 : i + 1 + length]))
        else:
            i = 0
            while i < len(params):
                if i + 5 > len(params):
                    return
                servo_id = params[i]
                address = int.from_bytes(params[i + 1 : i + 3], "little")
                length = int.from_bytes(params[i + 3 : i + 5], "little")
                if i + 5 + length > len(params):
                    return
                writes.append((servo_id, address, params[i + 5 : i + 5 + length]))
                i += 5 + length
        by_id = _by_id(listeners)
        for servo_id, address, data in writes:
            for servo in by_id.get(servo_id, ()):
                servo.write(address, data)

    def _schedule(self, replies: list[tuple[_Answer, bytes]], arrived: float, baudrate: int) -> None:
        """Put status packets on the line one after another; same-ID answers collide."""
        if len({answer.servo_id for answer, _ in replies}) == len(replies):
            for answer, packet in replies:  # no collision: each reply goes out on its own
                servo = answer.servo
                sent_packet = self._let_out(servo, packet)
                if sent_packet is not None:
                    start = max(arrived + servo.return_delay_s, self._line_free_s)
                    self._emit(sent_packet, start, servo.reply_faults.delay_s, baudrate)
            return
        by_id: dict[int, list[tuple[_Answer, bytes]]] = {}
        for answer, packet in replies:
            by_id.setdefault(answer.servo_id, []).append((answer, packet))
        for group in by_id.values():
            sent = []
            for answer, packet in group:
                sent_packet = self._let_out(answer.servo, packet)
                if sent_packet is not None:
                    sent.append((answer, sent_packet))
            if not sent:
                continue
            packet = sent[0][1]
            for _, other in sent[1:]:
                width = max(len(packet), len(other))
                packet = bytes(
                    a & b for a, b in zip(packet.ljust(width, b"\xff"), other.ljust(width, b"\xff"), strict=False)
                )
            servo = sent[0][0].servo
            start = max(arrived + servo.return_delay_s, self._line_free_s)
            self._emit(packet, start, max(a.servo.reply_faults.delay_s for a, _ in sent), baudrate)

    def _emit(self, packet: bytes, start: float, delay_s: float, baudrate: int) -> None:
        end = start + len(packet) * BITS_PER_BYTE / baudrate  # wire_time_s, inline on the hot path
        self._line_free_s = max(self._line_free_s, end + delay_s)
        ready = end + delay_s
        latency = self._latency_s
        if latency:  # the adapter hands the bytes on when its latency timer next fires
            phase = self._latency_phase_s
            ready = phase + math.ceil((ready - phase) / latency) * latency
        bisect.insort(self._pending, _Pending(self._usb_free_at(ready), next(self._seq), packet))

    def _usb_free_at(self, t: float) -> float:
        """`t`, or the end of the USB stall going on at `t` (bytes wait for the link)."""
        while t >= self._stall_start_s + self._stall_s:
            self._stall_start_s = self.flaws.next_usb_stall_s(self._stall_start_s + self._stall_s, self._stall_rng)
            self._stall_s = self.flaws.usb_stall_ms / 1000.0
        return self._stall_start_s + self._stall_s if t >= self._stall_start_s else t

    def _lost(self) -> bool:
        rate = self.flaws.lost_reply_rate
        return rate > 0.0 and self._rng.random() < rate

    def _corrupted(self) -> bool:
        rate = self.flaws.corrupt_reply_rate
        return rate > 0.0 and self._rng.random() < rate

    def _let_out(self, servo: VirtualServo, packet: bytes) -> bytes | None:
        """The reply as the servo's faults and the bus's flaws let it out: None when silent or
        lost, else the packet (with a wrong CRC when corrupted). Uses up one drop or one corruption."""
        faults = servo.reply_faults
        if faults.silent:
            return None
        if faults.drop:
            faults.drop -= 1
            return None
        if self._lost():
            return None
        if faults.corrupt:
            faults.corrupt -= 1
            return _corrupt(packet)
        if self._corrupted():
            return _corrupt(packet)
        return packet


def _corrupt(packet: bytes) -> bytes:
    """The packet with a wrong CRC."""
    return packet[:-1] + bytes((packet[-1] ^ 0xFF,))


def _by_id(servos: list[VirtualServo]) -> dict[int, list[VirtualServo]]:
    """The servos under each ID, in bus order (two servos may share an ID)."""
    by_id: dict[int, list[VirtualServo]] = {}
    for servo in servos:
        by_id.setdefault(servo.servo_id, []).append(servo)
    return by_id


def lookup_bus(name: str) -> VirtualServoBus:
    """The running bus registered under `name` (the host part of a `bidvis-sim://` URL)."""
    with _registry_lock:
        bus = _buses.get(name)
        running = sorted(_buses)
    if bus is None:
        raise UnknownBusError(
            f"no virtual servo bus named {name!r} is running (running: {running or 'none'}); "
            f"start one with VirtualServoBus.start(name={name!r})"
        )
    return bus


def register_url_handler() -> None:
    """Make `serial.serial_for_url("bidvis-sim://<name>")` open running virtual buses."""
    from sim.serial_url import register_url_handler as register

    register()


def plant_for(flaws: ArmFlaws) -> CompliantPlant | IdealPlant:
    """The plant a bus builds for itself: compliant joints with the flaws' gear play and friction,
    or ideal ones."""
    if flaws.compliant_joints:
        return CompliantPlant(backlash_rad=flaws.backlash_rad, friction_nm=flaws.friction_nm)
    return IdealPlant()
