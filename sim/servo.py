"""One virtual XM430-W350: its control table, the instructions it answers, and its motion.

A `VirtualServo` is the servo's firmware, without the wire: `sim.virtual_bus.VirtualServoBus`
feeds it instructions and ticks its clock; the servo answers with (error, data) and tells the
plant where its joint should be. What it emulates, following the ROBOTIS e-Manual:

- Control table (`sim.servo_table`): reads of any range inside the table (gaps read 0); writes
  only of whole RW fields (Access Error 7 for read-only or undefined addresses and for EEPROM while
  torque is on, Data Length Error 5 for a partial field, Data Range Error 4 for values outside the
  field's range, Data Limit Error 6 for goal values beyond Position/Velocity/Current/PWM Limit).
  Nothing is written when any part of a write is refused.
- Motion in position, extended position and current-based position mode: the velocity-based
  profile (trapezoidal; triangular when the move is too short to reach Profile Velocity;
  rectangular when Profile Acceleration is 0; Profile Velocity 0 moves at Velocity Limit), with
  velocity override when a new goal arrives mid-move, and the time-based profile (Drive Mode bit
  2). Velocity mode ramps to Goal Velocity with Profile Acceleration. Current and PWM mode are
  accepted but drive no plant torque (the joint is left free).
- Current-based position control (Operating Mode 5): the position loop's current is capped at
  |Goal Current(102)| (never above Current Limit(38)); the servo hands the cap, as output torque,
  to the plant (`torque_limit_changed`), which limits the joint's position loop to it, so a joint
  pushed harder than the cap gives way and comes back no harder than the cap. Goal Current can be
  written with torque on; Operating Mode, like all EEPROM, only with torque off. In every other
  mode only the motor limits the torque (its stall torque).
- Torque on sets Goal Position to Present Position (the servo does not jump).
- Position P/I/D Gain(84/82/80): the servo hands changed values to the plant
  (`position_gains_changed`); how stiff a gain makes the joint is the plant's model
  (`sim.world_plant`).
- Present current = plant torque / torque constant, clipped to Current Limit.
- Hardware errors: a condition is reported in Hardware Error Status only when its bit is set in
  Shutdown(63); it then clears Torque Enable, sets the Alert bit of every status packet, and only
  a REBOOT clears it (a condition that persists, like a low supply, is detected again).
  A load beyond Current Limit for 1 s raises the overload condition.
- Bus Watchdog(98): while torque is on and the value is 1..127, an instruction gap longer than
  value x 20 ms stops the servo at once, sets the value to -1 and makes goal writes answer Data
  Range Error until the host writes 0.
- Fault injection for tests: `inject_hardware_error`, `set_input_voltage`, `set_temperature`,
  and `reply_faults` (drop, corrupt or delay this servo's replies; see `ReplyFaults`).
"""

from __future__ import annotations

import functools
import math
import struct
from dataclasses import dataclass

from firmware_bridge.control_table import XM430_W350, ControlTable, Register
from firmware_bridge.protocol import ALERT_BIT, HardwareError, Instruction, StatusError
from sim import servo_table as table
from sim.flaws import IDEAL, ArmFlaws
from sim.servo_plant import JointReading
from sim.servo_table import Access, Field, ServoTable, servo_table

_GOALS = frozenset({"goal_pwm", "goal_current", "goal_velocity", "goal_position"})
_POSITION_GAINS = frozenset({"position_p_gain", "position_i_gain", "position_d_gain"})
_POSITION_MODES = frozenset({3, 4, 5})
_CURRENT_BASED_POSITION_MODE = 5
# Writes that change the torque the position loop may command (`VirtualServo.torque_limit_changed`).
_TORQUE_LIMIT_FIELDS = frozenset({"operating_mode", "current_limit", "goal_current"})
_VELOCITY_MODE = 1
_EXTENDED_RANGE = 1_048_575
_PULSES_PER_S_PER_VELOCITY_UNIT = 0.229 * table.PULSES_PER_REV / 60
_PULSES_PER_S2_PER_ACCELERATION_UNIT = 214.577 * table.PULSES_PER_REV / 3600
_OVERLOAD_AFTER_S = 1.0
_SUPPLY_V = 12.0  # the e-Manual's stall and no-load figures are at 12 V
_POWER_ON_TEMPERATURE_C = 30.0  # and the ambient the flaws' heating model relaxes to
_EFFORT = struct.Struct("<h")  # Present Current / Present Load (126)
_EFFORT_ADDRESS = 126
_POSITION = struct.Struct("<i")  # Present Position (132)
_POSITION_ADDRESS = 132
_SENSORS_END = 136  # Present Current .. Present Position: what the flaws' sensor noise touches
_CLEAR_KEY = bytes((0x44, 0x58, 0x4C, 0x22))
_FORMATS = {1: "B", 2: "H", 4: "I"}


@functools.cache
def _accessors(view: ServoTable) -> tuple[dict, dict]:
    """Per field name, precompiled: how to read it (signed or not) and how to store a value (masked
    to the field's width, so -1 in a signed byte is stored as 0xFF)."""
    readers = {
        f.name: (
            struct.Struct("<" + (_FORMATS[f.size].lower() if f.signed else _FORMATS[f.size])).unpack_from,
            f.address,
        )
        for f in view.fields
    }
    writers = {
        f.name: (struct.Struct("<" + _FORMATS[f.size]).pack_into, f.address, (1 << (8 * f.size)) - 1)
        for f in view.fields
    }
    return readers, writers


# Present PWM, Present Current, Present Velocity, Present Position, Velocity and Position Trajectory.
_PRESENT_BLOCK = struct.Struct("<hhiiii")
_PRESENT_ADDRESS = 124
# PWM Limit(36), Current Limit(38) (XM430; a gap that reads 0 on the XL430); Realtime Tick(120).
_PWM_CURRENT_LIMITS = struct.Struct("<HH")
_PWM_CURRENT_LIMITS_ADDRESS = 36
_REALTIME_TICK = struct.Struct("<H")
_REALTIME_TICK_ADDRESS = 120
# Max Position Limit(48) and Min Position Limit(52), read together on the hot path.
_POSITION_LIMITS = struct.Struct("<II")
_POSITION_LIMITS_ADDRESS = 48
# Fields the tick reads directly: Homing Offset(20), Moving Threshold(24), Goal Position(116).
_HOMING_OFFSET = struct.Struct("<i").unpack_from
_MOVING_THRESHOLD = struct.Struct("<I").unpack_from
_GOAL_POSITION = struct.Struct("<i").unpack_from
# Profile Acceleration(108) and Profile Velocity(112), read together when a profile starts.
_PROFILE = struct.Struct("<II").unpack_from
_VELOCITY_LIMIT = struct.Struct("<I").unpack_from  # Velocity Limit(44)
_BUS_WATCHDOG = struct.Struct("<b").unpack_from  # Bus Watchdog(98), -1 once tripped
_RAD_PER_PULSE = table.RAD_PER_PULSE
_CENTER_PULSE = table.CENTER_PULSE
_RAD_S_PER_VELOCITY_UNIT = table.RAD_S_PER_VELOCITY_UNIT

# Moving Status(123) bits.
_IN_POSITION = 0x01
_PROFILE_ONGOING = 0x02
_PROFILE_RECTANGULAR, _PROFILE_TRIANGULAR, _PROFILE_TRAPEZOIDAL = 0x10, 0x20, 0x30


def _spans(addresses) -> tuple[tuple[int, int], ...]:
    """Runs of consecutive addresses as (first, after-last) pairs."""
    spans: list[list[int]] = []
    for a in sorted(addresses):
        if spans and spans[-1][1] == a:
            spans[-1][1] = a + 1
        else:
            spans.append([a, a + 1])
    return tuple((first, end) for first, end in spans)


@functools.lru_cache(maxsize=1024)
def _indirect_pointers(view: ServoTable, address: int, end: int) -> tuple[tuple[int, int], ...]:
    """The spans of the Indirect Address bytes behind the Indirect Data bytes of `address`..`end-1`
    (empty when the range has none: then every byte means itself)."""
    pointers = (view.indirect_data.get(a) for a in range(address, end))
    return _spans(b for f in pointers if f is not None for b in range(f.address, f.end))


@functools.lru_cache(maxsize=1024)
def _direct_layout(view: ServoTable, address: int, end: int) -> tuple[tuple[int, Field | None, bool], ...]:
    """The fields and gaps `address`..`end-1` meets, in address order: (first address met, field
    or None for a gap, whether the range covers the field only partly)."""
    field_at = view.at
    layout: list[tuple[int, Field | None, bool]] = []
    a = address
    while a < end:
        f = field_at[a]
        if f is None:
            layout.append((a, None, False))
            a += 1
            while a < end and field_at[a] is None:
                a += 1
            continue
        layout.append((a, f, f.address < address or f.end > end))
        a = f.end
    return tuple(layout)


class TableError(Exception):
    """A refused read or write; `error` is the status error number to answer with."""

    def __init__(self, error: StatusError, message: str) -> None:
        super().__init__(message)
        self.error = error


@dataclass
class ReplyFaults:
    """Faults on this servo's replies, set by tests. Counts are used up one reply at a time."""

    drop: int = 0  # the next `drop` replies are never sent
    corrupt: int = 0  # the next `corrupt` replies are sent with a wrong CRC
    delay_s: float = 0.0  # every reply comes this much later than the wire allows
    silent: bool = False  # the servo hears everything and answers nothing


@dataclass(frozen=True, slots=True)
class Reply:
    """What a servo answers to one instruction: status error byte and parameters."""

    error: int
    params: bytes = b""


class VirtualServo:
    """A virtual XM430-W350 (or another model of `firmware_bridge.control_table`) with its control
    table; see the module docstring for what it emulates."""

    def __init__(
        self, servo_id: int = 1, *, eeprom: dict[str, int] | None = None, model: ControlTable = XM430_W350
    ) -> None:
        """A servo with this ID; `eeprom` overrides factory EEPROM values by field name, as a
        technician would have set them (e.g. {"baud_rate": 3} for 1 Mbps, {"return_delay_time": 0})."""
        self.model = model
        self._view = view = servo_table(model)
        self._readers, self._writers = _accessors(view)
        # The model's facts the tick path needs, looked up (and computed: torque constant) once.
        self._effort_nm_per_unit = model.effort_nm_per_unit
        self._torque_constant_nm_per_a = model.torque_constant_nm_per_a
        self._stall_torque_nm = model.stall_torque_nm
        self._reports_current = model.reports_current
        self._ohms = _SUPPLY_V / model.stall_current_a
        self._volt_s_per_rad = _SUPPLY_V / model.no_load_speed_rad_s  # back-EMF
        self._table = bytearray(view.size)
        self._indirect_read: tuple[tuple[int, int, bytes], tuple[int, ...]] = ((0, 0, b""), ())
        self._indirect_reads_sensors = False  # whether the last range's sources touch the sensors
        self._eeprom_defaults = {f.name: f.default for f in view.fields if f.eeprom}
        self._eeprom_defaults["id"] = servo_id
        self._eeprom_defaults.update(eeprom or {})
        self.reply_faults = ReplyFaults()
        self.time_s = 0.0
        self._latched_errors = HardwareError.NONE
        self._input_voltage_v = _SUPPLY_V
        self._temperature_c = _POWER_ON_TEMPERATURE_C
        self._clean_effort = 0.0  # Present Current/Load and Present Position before the sensor flaws
        self._clean_position = float(table.CENTER_PULSE)
        self._effort_limit = 0
        self.apply_flaws(IDEAL)
        self._overload_s = 0.0
        self._registered: tuple[int, bytes] | None = None
        self._reset_pending = False
        self._last_instruction_s = 0.0
        self._reading = JointReading(0.0, 0.0, 0.0)
        self._settled = False  # True while nothing moves and nothing changed: ticks then skip the work
        self._command: float | None = None
        self.powered = True
        self._gains_changed = False
        self._torque_limit_changed = False
        # The servo's own time when it last stopped driving its joint: its Bus Watchdog tripped or
        # its torque went off (a judge's stop time: the meal's clock may lag the servo's, since a
        # packet held up by a USB stall moves the servos and the plant on to when it arrives).
        self.stopped_s: float | None = None
        self._power_on(reset_eeprom=True)

    def apply_flaws(self, flaws: ArmFlaws) -> None:
        """Give this servo the sensor and heat flaws of `flaws` (see `sim.flaws`); its random draws
        come from their own stream, by the servo's ID."""
        self.flaws = flaws
        self._rng = flaws.rng(self._eeprom_defaults["id"])
        model = self.model
        self._noise_units = flaws.current_noise_ma * 1e-3 * model.torque_constant_nm_per_a / model.effort_nm_per_unit
        self._noise_ticks = flaws.encoder_noise_ticks
        self._position_step = flaws.position_step_ticks
        self._noisy = flaws.sensor_noise
        self._heats = flaws.heats
        self._sample_sensors()  # the readings as these flaws give them (clean when there are none)

    # --- control table ----------------------------------------------------------------------

    def get(self, name: str) -> int:
        """The value of a control table field."""
        unpack_from, address = self._readers[name]
        return unpack_from(self._table, address)[0]

    def _set(self, name: str, value: int) -> None:
        pack_into, address, mask = self._writers[name]
        pack_into(self._table, address, value & mask)

    @property
    def servo_id(self) -> int:
        """The servo's current ID (the host can change it)."""
        return self._table[7]

    @property
    def baudrate(self) -> int:
        """The serial rate this servo listens at, from Baud Rate(8)."""
        return table.BAUD_RATES[self._table[8]]

    @property
    def return_delay_s(self) -> float:
        """Return Delay Time(9) in seconds."""
        return self._table[9] * table.SECONDS_PER_RETURN_DELAY_UNIT

    @property
    def torque_on(self) -> bool:
        """Torque Enable(64)."""
        return self._table[64] == 1

    @property
    def hardware_errors(self) -> HardwareError:
        """Hardware Error Status(70)."""
        return HardwareError(self._table[70])

    @property
    def joint(self) -> JointReading:
        """The joint as the plant last reported it."""
        return self._reading

    def position_gains_changed(self) -> tuple[int, int, int] | None:
        """Position (P, I, D) Gain once after they change (writes, power-on, reboot), else None."""
        if not self._gains_changed:
            return None
        self._gains_changed = False
        return self.get("position_p_gain"), self.get("position_i_gain"), self.get("position_d_gain")

    def torque_limit_changed(self) -> float | None:
        """The most torque (N m at the output) the position loop may command, once after it may
        have changed (writes to Operating Mode, Current Limit or Goal Current; power-on, reboot),
        else None. In Operating Mode 5 that is |Goal Current| (at most Current Limit) through the
        torque constant; in every other mode the stall torque."""
        if not self._torque_limit_changed:
            return None
        self._torque_limit_changed = False
        model = self.model
        if self._table[11] != _CURRENT_BASED_POSITION_MODE:
            return model.stall_torque_nm
        units = min(abs(self.get("goal_current")), self.get("current_limit"))
        amperes = units * model[Register.GOAL_CURRENT].scale
        return min(model.stall_torque_nm, amperes * model.torque_constant_nm_per_a)

    def _power_on(self, *, reset_eeprom: bool) -> None:
        if self._table[64] == 1:
            self.stopped_s = self.time_s  # a reboot turns the torque off
        self._settled = False
        for f in self._view.fields:
            if f.eeprom and not reset_eeprom:
                continue
            self._set(f.name, self._eeprom_defaults.get(f.name, f.default))
        self._registered = None
        self._latched_errors = HardwareError.NONE
        self._overload_s = 0.0
        self._gains_changed = True  # RAM back to the default gains: the plant must hear of it
        self._torque_limit_changed = True  # and to the default Goal Current
        self._traj_pos = float(self._position_to_pulses(self._reading.position_rad))
        self._traj_vel = 0.0
        self._profile = (0.0, math.inf)
        self._update_present(self._reading, 0.0)
        self._set("goal_position", round(self._traj_pos))
        self._set("position_trajectory", round(self._traj_pos))
        self._detect_conditions()

    def read_table(self, address: int, length: int) -> bytes:
        """Bytes `address`..`address+length-1`; raises TableError outside the table."""
        size = self._view.size
        end = address + length
        if length < 1 or end > size:
            raise TableError(StatusError.ACCESS_ERROR, f"read {address}+{length} is outside the table (0..{size - 1})")
        table_ = self._table
        pointers = _indirect_pointers(self._view, address, end)
        if not pointers:
            return bytes(table_[address:end])
        return bytes(map(table_.__getitem__, self._indirect_sources(address, end, pointers)))

    def _reads_sensors(self, address: int, end: int) -> bool:
        """Whether reading `address`..`end-1` reads any byte the sensor noise touches (Present
        Current/Load .. Present Position), itself or through Indirect Data."""
        if address < _SENSORS_END and end > _EFFORT_ADDRESS:
            return True
        pointers = _indirect_pointers(self._view, address, end)
        if not pointers:
            return False
        self._indirect_sources(address, end, pointers)
        return self._indirect_reads_sensors

    def _indirect_sources(self, address: int, end: int, pointers: tuple[tuple[int, int], ...]) -> tuple[int, ...]:
        """The address each byte of `address`..`end-1` is read from: an Indirect Data byte's target,
        any other byte itself. The last range's answer is kept while the Indirect Address bytes
        behind it (`pointers`) are unchanged: a tick's sync read asks for the same range each time."""
        table_ = self._table
        key = (address, end, b"".join([table_[low:high] for low, high in pointers]))
        if self._indirect_read[0] != key:
            targets = (self._indirect_target(a) for a in range(address, end))
            sources = tuple(a if t is None else t for a, t in zip(range(address, end), targets, strict=True))
            self._indirect_read = (key, sources)
            self._indirect_reads_sensors = any(_EFFORT_ADDRESS <= a < _SENSORS_END for a in sources)
        return self._indirect_read[1]

    def _indirect_target(self, address: int) -> int | None:
        """The address an Indirect Data byte stands for (None if `address` is not Indirect Data)."""
        pointer = self._view.indirect_data.get(address)
        if pointer is None:
            return None
        target = int.from_bytes(self._table[pointer.address : pointer.end], "little")
        return None if target == address else target

    def check_write(self, address: int, data: bytes) -> list[tuple[Field, int]]:
        """Validate a write; return the (field, value) pairs it would set, or raise TableError.

        Bytes written to Indirect Data go to the addresses their Indirect Address names; those
        bytes must then make up whole fields, as if written there directly.
        """
        if not data:
            raise TableError(StatusError.DATA_LENGTH_ERROR, "write without data")
        end = address + len(data)
        if end > self._view.size:
            raise TableError(StatusError.ACCESS_ERROR, f"write {address}+{len(data)} is outside the table")
        if not _indirect_pointers(self._view, address, end):
            return self._check_direct_write(address, data)
        by_address: dict[int, int] = {}
        for offset, a in enumerate(range(address, end)):
            target = self._indirect_target(a)
            by_address[a if target is None else target] = data[offset]
        changes: list[tuple[Field, int]] = []
        for a in sorted(by_address):
            f = self._view.at[a]
            if f is None:
                raise TableError(StatusError.ACCESS_ERROR, f"address {a} is not defined")
            if f.access is Access.R:
                raise TableError(StatusError.ACCESS_ERROR, f"{f.name} ({f.address}) is read-only")
            if f.eeprom and self.torque_on:
                raise TableError(
                    StatusError.ACCESS_ERROR, f"{f.name} ({f.address}) is EEPROM, locked while torque is on"
                )
            if any(b not in by_address for b in range(f.address, f.end)):
                raise TableError(StatusError.DATA_LENGTH_ERROR, f"{f.name} takes {f.size} bytes at {f.address}")
            if a == f.address:
                raw = bytes(by_address[b] for b in range(f.address, f.end))
                changes.append((f, int.from_bytes(raw, "little", signed=f.signed)))
        self._check_values(changes)
        return changes

    def _check_direct_write(self, address: int, data: bytes) -> list[tuple[Field, int]]:
        """`check_write` for a range without Indirect Data: the same checks, in the same order,
        from the range's precomputed layout."""
        torque_on = self._table[64] == 1
        changes: list[tuple[Field, int]] = []
        for a, f, partial in _direct_layout(self._view, address, address + len(data)):
            if f is None:
                raise TableError(StatusError.ACCESS_ERROR, f"address {a} is not defined")
            if f.access is Access.R:
                raise TableError(StatusError.ACCESS_ERROR, f"{f.name} ({f.address}) is read-only")
            if torque_on and f.address < table.EEPROM_END:
                raise TableError(
                    StatusError.ACCESS_ERROR, f"{f.name} ({f.address}) is EEPROM, locked while torque is on"
                )
            if partial:
                raise TableError(StatusError.DATA_LENGTH_ERROR, f"{f.name} takes {f.size} bytes at {f.address}")
            offset = f.address - address
            changes.append((f, int.from_bytes(data[offset : offset + f.size], "little", signed=f.signed)))
        self._check_values(changes)
        return changes

    def _check_values(self, changes: list[tuple[Field, int]]) -> None:
        pending = {f.name: value for f, value in changes}
        for f, value in changes:
            self._check_value(f, value, pending)

    def _limit(self, name: str, pending: dict[str, int]) -> int:
        value = pending.get(name)
        return self.get(name) if value is None else value

    def _check_value(self, f: Field, value: int, pending: dict[str, int]) -> None:
        name = f.name
        if name == "bus_watchdog":
            # After a watchdog error (-1) only 0 is accepted: it clears the error.
            ok = 0 <= value <= 127 and (value == 0 or self.get("bus_watchdog") != -1)
        elif name == "operating_mode":
            ok = value in self.model.operating_modes
        elif name == "drive_mode":
            ok = value & ~self.model.drive_mode_bits == 0
        elif name == "shutdown":
            ok = value & ~table.SHUTDOWN_BITS == 0
        elif f.low is not None and f.high is not None:
            ok = f.low <= value <= f.high
        else:
            ok = True
        if not ok:
            raise TableError(StatusError.DATA_RANGE_ERROR, f"{name} cannot be {value}")
        if name in _GOALS:
            if self._table[98] == 0xFF:  # Bus Watchdog -1: tripped
                raise TableError(
                    StatusError.DATA_RANGE_ERROR,
                    f"{name} is read-only after a bus watchdog error; write 0 to bus_watchdog",
                )
            self._check_goal_limit(name, value, pending)

    def _check_goal_limit(self, name: str, value: int, pending: dict[str, int]) -> None:
        if name == "goal_position":
            if self._table[11] == 3:  # Operating Mode position: the limits as stored, or as this write sets them
                high, low = _POSITION_LIMITS.unpack_from(self._table, _POSITION_LIMITS_ADDRESS)
                low, high = pending.get("min_position_limit", low), pending.get("max_position_limit", high)
            else:
                low, high = -_EXTENDED_RANGE, _EXTENDED_RANGE
        else:
            limit_name = {"goal_pwm": "pwm_limit", "goal_current": "current_limit", "goal_velocity": "velocity_limit"}[
                name
            ]
            high = self._limit(limit_name, pending)
            low = -high
        if not low <= value <= high:
            raise TableError(StatusError.DATA_LIMIT_ERROR, f"{name} {value} is outside {low}..{high}")

    def apply_write(self, changes: list[tuple[Field, int]]) -> None:
        """Store a checked write and act on it (torque, goals, watchdog)."""
        self._settled = False
        if self._table[10] & 0x08 and any(f.name in _GOALS for f, _ in changes):
            self._set_torque(True)  # Drive Mode bit 3: torque on by goal update, then the goal applies
        for f, value in changes:
            name = f.name
            if name == "torque_enable":
                self._set_torque(value == 1)
                continue
            self._set(name, value)
            if name == "goal_position":
                self._start_profile()
            elif name in _POSITION_GAINS:
                self._gains_changed = True
            elif name in _TORQUE_LIMIT_FIELDS:
                self._torque_limit_changed = True
            elif name in ("min_voltage_limit", "max_voltage_limit", "temperature_limit", "shutdown"):
                self._detect_conditions()

    def _set_torque(self, on: bool) -> None:
        self._settled = False
        if on and self.hardware_errors & self.get("shutdown"):
            return  # after a shutdown only REBOOT brings torque back
        if on and not self.torque_on:
            self._traj_pos = self._own_position()
            self._traj_vel = 0.0
            self._set("goal_position", round(self._traj_pos))
            self._set("goal_velocity", 0)
            self._profile = (0.0, math.inf)
            self._last_instruction_s = self.time_s
        if not on:
            if self.torque_on:
                self.stopped_s = self.time_s
            self._table[123] = 0  # no profile runs without torque
        self._table[64] = 1 if on else 0

    # --- instructions -----------------------------------------------------------------------

    def status_error(self, error: StatusError | int = StatusError.NONE) -> int:
        """The error byte of a status packet: the number plus the Alert bit when a hardware error is set."""
        return int(error) | (ALERT_BIT if self._table[70] else 0)

    def heard_instruction(self) -> None:
        """Any instruction packet on the bus: resets the bus watchdog's interval."""
        self._last_instruction_s = self.time_s

    def ping_reply(self) -> Reply:
        """Model number and firmware version."""
        return Reply(self.status_error(), bytes(self._table[0:2]) + bytes((self._table[6],)))

    def read(self, address: int, length: int) -> Reply:
        """Answer a READ (also one servo's share of a sync/bulk read)."""
        if self._noisy and self._reads_sensors(address, address + length):
            self._sample_sensors()
        try:
            return Reply(self.status_error(), self.read_table(address, length))
        except TableError as exc:
            return Reply(self.status_error(exc.error))

    def write(self, address: int, data: bytes) -> Reply:
        """Answer a WRITE (also one servo's share of a sync/bulk write)."""
        try:
            self.apply_write(self.check_write(address, data))
        except TableError as exc:
            return Reply(self.status_error(exc.error))
        return Reply(self.status_error())

    def execute(self, instruction: int, params: bytes) -> Reply | None:
        """Run an instruction addressed to this servo (by its ID or broadcast); the reply, if any."""
        if instruction == Instruction.PING:
            return self.ping_reply()
        if instruction == Instruction.READ:
            if len(params) != 4:
                return Reply(self.status_error(StatusError.DATA_LENGTH_ERROR))
            return self.read(int.from_bytes(params[0:2], "little"), int.from_bytes(params[2:4], "little"))
        if instruction in (Instruction.WRITE, Instruction.REG_WRITE) and len(params) < 3:
            return Reply(self.status_error(StatusError.DATA_LENGTH_ERROR))
        if instruction == Instruction.WRITE:
            return self.write(int.from_bytes(params[0:2], "little"), params[2:])
        if instruction == Instruction.REG_WRITE:
            address = int.from_bytes(params[0:2], "little")
            try:
                self.check_write(address, params[2:])
            except TableError as exc:
                return Reply(self.status_error(exc.error))
            self._registered = (address, params[2:])
            self._table[69] = 1
            return Reply(self.status_error())
        if instruction == Instruction.ACTION:
            if self._registered is None:
                return Reply(self.status_error(StatusError.INSTRUCTION_ERROR))
            address, data = self._registered
            self._registered = None
            self._table[69] = 0
            return self.write(address, data)
        if instruction == Instruction.FACTORY_RESET:
            return self._factory_reset(params)
        if instruction == Instruction.REBOOT:
            return Reply(self.status_error())  # the bus reboots the servo after the reply is sent
        if instruction == Instruction.CLEAR:
            return self._clear(params)
        return Reply(self.status_error(StatusError.INSTRUCTION_ERROR))

    def _factory_reset(self, params: bytes) -> Reply:
        if len(params) != 1 or params[0] not in (0x01, 0x02, 0xFF):
            return Reply(self.status_error(StatusError.DATA_RANGE_ERROR))
        if self.torque_on:
            return Reply(self.status_error(StatusError.ACCESS_ERROR))
        keep = {0x01: ("id",), 0x02: ("id", "baud_rate"), 0xFF: ()}[params[0]]
        kept = {name: self.get(name) for name in keep}
        self._eeprom_defaults = {f.name: f.default for f in self._view.fields if f.eeprom} | kept
        if params[0] == 0xFF:
            self._eeprom_defaults["id"] = 1
        self._reset_pending = True
        return Reply(self.status_error())

    def finish_factory_reset(self) -> None:
        """Apply an accepted factory reset after its reply went out (the servo restarts with defaults)."""
        if self._reset_pending:
            self._reset_pending = False
            self._power_on(reset_eeprom=True)

    def reboot(self) -> None:
        """Restart: RAM back to power-on values, latched hardware errors cleared, torque off."""
        self._power_on(reset_eeprom=False)

    def _clear(self, params: bytes) -> Reply:
        if len(params) != 5 or params[0] != 0x01 or params[1:] != _CLEAR_KEY:
            return Reply(self.status_error(StatusError.DATA_RANGE_ERROR))
        if self._table[122]:
            return Reply(self.status_error(StatusError.RESULT_FAIL))
        return Reply(self.status_error())  # multi-turn count: our joints never pass a full turn

    # --- faults -----------------------------------------------------------------------------

    def power_off(self) -> None:
        """The supply is gone: torque off, the servo hears and answers nothing until `power_on`."""
        self._set_torque(False)
        self.powered = False

    def power_on(self) -> None:
        """The supply is back: the servo starts as after a reboot (RAM at power-on values, torque off)."""
        self.powered = True
        self.reboot()

    def inject_hardware_error(self, errors: HardwareError) -> None:
        """Raise latched conditions (overload, electrical shock, encoder) as if detected now."""
        self._latched_errors |= errors
        self._detect_conditions()

    def set_input_voltage(self, volts: float) -> None:
        """Change the supply the servo measures (0.1 V resolution); limits in EEPROM apply."""
        self._input_voltage_v = volts
        self._detect_conditions()

    def set_temperature(self, celsius: float) -> None:
        """Change the internal temperature; beyond Temperature Limit it is an overheating condition."""
        self._temperature_c = celsius
        self._detect_conditions()

    def _detect_conditions(self) -> None:
        self._set("present_input_voltage", round(self._input_voltage_v * 10))
        self._set("present_temperature", max(0, min(255, round(self._temperature_c))))
        conditions = self._latched_errors
        voltage = self.get("present_input_voltage")
        if not self.get("min_voltage_limit") <= voltage <= self.get("max_voltage_limit"):
            conditions |= HardwareError.INPUT_VOLTAGE
        if self.get("present_temperature") > self.get("temperature_limit"):
            conditions |= HardwareError.OVERHEATING
        detected = HardwareError(int(conditions) & self.get("shutdown"))
        if detected & ~self.hardware_errors:
            self._table[70] |= int(detected)
            self._set_torque(False)

    # --- motion -----------------------------------------------------------------------------

    def _reverse(self) -> int:
        return -1 if self._table[10] & 0x01 else 1

    def _position_to_pulses(self, rad: float) -> float:
        return self._reverse() * rad / table.RAD_PER_PULSE + table.CENTER_PULSE + _HOMING_OFFSET(self._table, 20)[0]

    def _pulses_to_rad(self, pulses: float) -> float:
        homing_offset = _HOMING_OFFSET(self._table, 20)[0]
        return self._reverse() * (pulses - table.CENTER_PULSE - homing_offset) * table.RAD_PER_PULSE

    def _goal_pulses(self) -> int:
        table_ = self._table
        goal = _GOAL_POSITION(table_, 116)[0]
        if table_[11] == 3:  # Operating Mode position: the position limits apply
            high, low = _POSITION_LIMITS.unpack_from(table_, _POSITION_LIMITS_ADDRESS)
            if goal > high:
                goal = high
            if goal < low:
                goal = low
        return goal

    def _max_velocity(self) -> float:
        """Speed cap in pulses/s: Velocity Limit (also what Profile Velocity 0 means)."""
        return max(_VELOCITY_LIMIT(self._table, 44)[0], 1) * _PULSES_PER_S_PER_VELOCITY_UNIT

    def _start_profile(self) -> None:
        """Plan the profile for a new Goal Position: its velocity/acceleration caps and type."""
        distance = abs(self._goal_pulses() - self._traj_pos)
        a_unit, v_unit = _PROFILE(self._table, 108)
        if self._table[10] & 0x04:  # time-based: Profile Velocity = total ms, Profile Acceleration = ramp ms
            total_s = v_unit / 1000
            ramp_s = min(a_unit, v_unit // 2) / 1000
            if total_s <= 0:
                self._profile = (self._max_velocity(), math.inf)
                kind = 0
            elif ramp_s <= 0:
                self._profile = (max(distance / total_s, 1e-9), math.inf)
                kind = _PROFILE_RECTANGULAR
            else:
                v = max(distance / (total_s - ramp_s), 1e-9)
                self._profile = (v, v / ramp_s)
                kind = _PROFILE_TRAPEZOIDAL
        else:
            cap = self._max_velocity()
            v = min(v_unit * _PULSES_PER_S_PER_VELOCITY_UNIT, cap) if v_unit else cap
            a = a_unit * _PULSES_PER_S2_PER_ACCELERATION_UNIT if a_unit and v_unit else math.inf
            self._profile = (v, a)
            if not v_unit:
                kind = 0
            elif math.isinf(a):
                kind = _PROFILE_RECTANGULAR
            else:
                kind = _PROFILE_TRIANGULAR if distance < v * v / a else _PROFILE_TRAPEZOIDAL
        self._table[123] = kind | _PROFILE_ONGOING

    def command_rad(self) -> float | None:
        """Where the joint should be now (the profile's output), or None while torque is off."""
        if self._settled:
            return self._command  # unchanged since the servo settled
        mode = self._table[11]  # Operating Mode
        if self._table[64] != 1 or (mode not in _POSITION_MODES and mode != _VELOCITY_MODE):  # torque off
            self._command = None
        else:
            self._command = self._pulses_to_rad(self._traj_pos)
        return self._command

    def advance_profile(self, dt: float) -> None:
        """Move the profile on by `dt` seconds (before the plant step)."""
        self.time_s += dt
        if self._heats:
            self._heat(dt)
        table = self._table
        if self._settled:
            if table[64] == 1 and table[98]:
                self._check_watchdog()
            return
        if table[64] != 1:  # torque off
            self._traj_pos = float(self._position_to_pulses(self._reading.position_rad))
            self._traj_vel = 0.0
            return
        if table[98]:  # Bus Watchdog set (0 is off)
            self._check_watchdog()
        mode = table[11]  # Operating Mode
        if mode in _POSITION_MODES:
            self._step_position(dt)
        elif mode == _VELOCITY_MODE:
            self._step_velocity(dt)

    def _step_position(self, dt: float) -> None:
        goal = float(self._goal_pulses())
        p, v = self._traj_pos, self._traj_vel
        v_max, a_max = self._profile
        d = goal - p
        if d == 0 and v == 0:
            return
        direction = 1.0 if d > 0 else -1.0
        along = v * direction
        if math.isinf(a_max):
            along_new = min(v_max, abs(d) / dt)
        else:
            allowed = min(v_max, math.sqrt(2 * a_max * abs(d)))
            along_new = max(allowed, along - a_max * dt) if along > allowed else min(allowed, along + a_max * dt)
        p_new = p + direction * along_new * dt
        if (goal - p_new) * direction <= 0 or abs(goal - p_new) < 1e-6:
            p_new, along_new = goal, 0.0
        self._traj_pos, self._traj_vel = p_new, direction * along_new

    def _step_velocity(self, dt: float) -> None:
        target = self.get("goal_velocity") * _PULSES_PER_S_PER_VELOCITY_UNIT
        a_unit = self.get("profile_acceleration")
        if a_unit:
            step = a_unit * _PULSES_PER_S2_PER_ACCELERATION_UNIT * dt
            self._traj_vel += max(-step, min(step, target - self._traj_vel))
        else:
            self._traj_vel = target
        self._traj_pos += self._traj_vel * dt

    def _check_watchdog(self) -> None:
        watchdog = _BUS_WATCHDOG(self._table, 98)[0]
        if watchdog <= 0 or self.time_s - self._last_instruction_s <= watchdog * table.SECONDS_PER_WATCHDOG_UNIT:
            return
        self.trip_watchdog()

    def trip_watchdog(self) -> None:
        """What the Bus Watchdog does when it fires: stop at once (profile acceleration and velocity
        taken as 0), hold, and lock the goals (Bus Watchdog reads -1) until the host writes 0."""
        self._traj_pos = self._own_position()
        self._traj_vel = 0.0
        self._set("goal_position", round(self._traj_pos))
        self._set("goal_velocity", 0)
        self._set("bus_watchdog", -1)
        self._table[123] = 0
        self._settled = False
        self.stopped_s = self.time_s

    def _own_position(self) -> float:
        """Where the servo's own position loop knows its joint to be (in pulses): what it holds when
        torque comes on or its watchdog trips. The sensor flaws' noise is in what it reports, not
        in what it holds, else every hold would twitch by the noise."""
        return float(round(self._clean_position))

    def observe(self, reading: JointReading, dt: float) -> None:
        """Take the plant's reading after a step: present values, current, moving, overload."""
        if self._settled and reading == self._reading and not self._overload_s:
            self._set_realtime_tick()
            return
        self._reading = reading
        self._update_present(reading, dt)
        table = self._table
        self._settled = self._traj_vel == 0 and (
            table[64] != 1 or table[11] not in _POSITION_MODES or round(self._traj_pos) == self._goal_pulses()
        )

    def _set_realtime_tick(self) -> None:
        _REALTIME_TICK.pack_into(self._table, _REALTIME_TICK_ADDRESS, int(self.time_s * 1000) % 32768)

    def _sample_sensors(self) -> None:
        """Present Current/Load and Present Position as the flawed servo measures them now: the
        clean values plus noise, the position in steps of `position_step_ticks`."""
        table_, rng = self._table, self._rng
        effort = self._clean_effort
        if self._noise_units:
            effort += rng.gauss(0.0, self._noise_units)
        limit = self._effort_limit
        _EFFORT.pack_into(table_, _EFFORT_ADDRESS, max(-limit, min(limit, round(effort))))
        position = self._clean_position
        if self._noise_ticks:
            position += rng.gauss(0.0, self._noise_ticks)
        step = self._position_step
        _POSITION.pack_into(table_, _POSITION_ADDRESS, round(position / step) * step)

    def _heat(self, dt: float) -> None:
        """The winding's I^2 R loss warms the servo toward its steady temperature; an overheating
        servo (`ArmFlaws.overheating_servo_id`) climbs on top of that."""
        flaws = self.flaws
        amperes = self._clean_effort * self._effort_nm_per_unit / self._torque_constant_nm_per_a
        target = _POWER_ON_TEMPERATURE_C + flaws.heating_c_per_w * amperes * amperes * self._ohms
        celsius = self._temperature_c + (target - self._temperature_c) * min(1.0, dt / flaws.heating_time_constant_s)
        if flaws.overheating_servo_id == self._table[7] and self.time_s >= flaws.overheating_from_s:
            celsius += flaws.overheating_c_per_s * dt
        self._temperature_c = celsius
        if round(celsius) != self._table[146]:  # Present Temperature moves in whole degrees
            self._detect_conditions()

    def _update_present(self, reading: JointReading, dt: float) -> None:
        table_ = self._table
        reverse = -1 if table_[10] & 0x01 else 1
        torque_on = table_[64] == 1
        position_rad, velocity_rad_s, torque_nm = reading
        self._clean_position = reverse * position_rad / _RAD_PER_PULSE + _CENTER_PULSE + _HOMING_OFFSET(table_, 20)[0]
        present = round(self._clean_position)
        velocity = round(reverse * velocity_rad_s / _RAD_S_PER_VELOCITY_UNIT)
        pwm_limit, limit = _PWM_CURRENT_LIMITS.unpack_from(table_, _PWM_CURRENT_LIMITS_ADDRESS)
        if not self._reports_current:
            limit = 1000  # Present Load: 0.1 % units of the stall torque, +-100 %
        raw_effort = torque_nm / self._effort_nm_per_unit  # Present Current (XM430) or Present Load (XL430)
        current = max(-limit, min(limit, round(reverse * raw_effort))) if torque_on else 0
        self._clean_effort = reverse * raw_effort if torque_on else 0.0
        self._effort_limit = limit
        overloaded = abs(raw_effort) > limit or abs(torque_nm) > self._stall_torque_nm
        self._overload_s = self._overload_s + dt if overloaded else 0.0
        if self._overload_s >= _OVERLOAD_AFTER_S:
            self.inject_hardware_error(HardwareError.OVERLOAD)
        pwm = 0
        if torque_on:
            # PWM needed: resistive drop plus back-EMF (the model's stall current and no-load speed at 12 V).
            volts = max(self._input_voltage_v, 1.0)
            amperes = abs(torque_nm) / self._torque_constant_nm_per_a
            duty = (amperes * self._ohms + abs(velocity_rad_s) * self._volt_s_per_rad) / volts
            pwm = round(math.copysign(min(duty, 1.0) * pwm_limit, raw_effort))
        trajectory = round(self._traj_pos)
        _PRESENT_BLOCK.pack_into(
            table_,
            _PRESENT_ADDRESS,
            pwm,
            current,
            velocity,
            present,
            round(self._traj_vel / _PULSES_PER_S_PER_VELOCITY_UNIT),
            trajectory,
        )
        _REALTIME_TICK.pack_into(table_, _REALTIME_TICK_ADDRESS, int(self.time_s * 1000) % 32768)
        status = table_[123]
        if status & _PROFILE_ONGOING and self._traj_vel == 0 and trajectory == self._goal_pulses():
            status = (status & ~_PROFILE_ONGOING) | _IN_POSITION
        table_[123] = status
        moving = abs(velocity) > _MOVING_THRESHOLD(table_, 24)[0] or bool(status & _PROFILE_ONGOING and torque_on)
        table_[122] = 1 if moving else 0
