"""The one table of servo facts: each model's control table, units, power-on values and limits.

Callers name a register (`Register.GOAL_POSITION`) instead of a raw address; the table of the
servo's model gives its address, size, EEPROM/RAM area, access, signedness, raw range, power-on
value and the conversion between raw units and SI (rad, rad/s, rad/s^2, A, V, degC, s). The
table also carries the model's motor facts: stall torque and current, no-load speed, which
register reports the motor's effort (`effort`: Present Current on the XM430-W350, Present Load on
the XL430-W250) and how many N m one unit of it stands for, the operating modes it accepts.

Addresses, ranges and power-on values follow the ROBOTIS e-Manual control tables of the
XM430-W350 (model 1020) and the XL430-W250 (model 1060), Protocol 2.0, indirect addresses
included. Positions are centred: raw 2048 (the middle of one turn, 4096 ticks) is 0 rad. Profile
acceleration uses the velocity-based profile unit (214.577 rev/min^2), which is what Drive Mode 0
selects.

Everything here is immutable data built at import without I/O: the host (`firmware_bridge`), the
controller, the tools and the virtual servos of `sim` all read this one table (DESIGN.md's import
rule lets `sim` import this module, which is pure data).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import Any


class Area(Enum):
    """Where a register lives: EEPROM is writable only while torque is off."""

    EEPROM = "EEPROM"
    RAM = "RAM"


class Access(Enum):
    """Read-only or read-write."""

    R = "R"
    RW = "RW"


class Register(StrEnum):
    """Names of the control-table registers."""

    MODEL_NUMBER = "MODEL_NUMBER"
    MODEL_INFORMATION = "MODEL_INFORMATION"
    FIRMWARE_VERSION = "FIRMWARE_VERSION"
    ID = "ID"
    BAUD_RATE = "BAUD_RATE"
    RETURN_DELAY_TIME = "RETURN_DELAY_TIME"
    DRIVE_MODE = "DRIVE_MODE"
    OPERATING_MODE = "OPERATING_MODE"
    SECONDARY_ID = "SECONDARY_ID"
    PROTOCOL_TYPE = "PROTOCOL_TYPE"
    HOMING_OFFSET = "HOMING_OFFSET"
    MOVING_THRESHOLD = "MOVING_THRESHOLD"
    TEMPERATURE_LIMIT = "TEMPERATURE_LIMIT"
    MAX_VOLTAGE_LIMIT = "MAX_VOLTAGE_LIMIT"
    MIN_VOLTAGE_LIMIT = "MIN_VOLTAGE_LIMIT"
    PWM_LIMIT = "PWM_LIMIT"
    CURRENT_LIMIT = "CURRENT_LIMIT"
    VELOCITY_LIMIT = "VELOCITY_LIMIT"
    MAX_POSITION_LIMIT = "MAX_POSITION_LIMIT"
    MIN_POSITION_LIMIT = "MIN_POSITION_LIMIT"
    STARTUP_CONFIGURATION = "STARTUP_CONFIGURATION"
    SHUTDOWN = "SHUTDOWN"
    TORQUE_ENABLE = "TORQUE_ENABLE"
    LED = "LED"
    STATUS_RETURN_LEVEL = "STATUS_RETURN_LEVEL"
    REGISTERED_INSTRUCTION = "REGISTERED_INSTRUCTION"
    HARDWARE_ERROR_STATUS = "HARDWARE_ERROR_STATUS"
    VELOCITY_I_GAIN = "VELOCITY_I_GAIN"
    VELOCITY_P_GAIN = "VELOCITY_P_GAIN"
    POSITION_D_GAIN = "POSITION_D_GAIN"
    POSITION_I_GAIN = "POSITION_I_GAIN"
    POSITION_P_GAIN = "POSITION_P_GAIN"
    FEEDFORWARD_2ND_GAIN = "FEEDFORWARD_2ND_GAIN"
    FEEDFORWARD_1ST_GAIN = "FEEDFORWARD_1ST_GAIN"
    BUS_WATCHDOG = "BUS_WATCHDOG"
    GOAL_PWM = "GOAL_PWM"
    GOAL_CURRENT = "GOAL_CURRENT"
    GOAL_VELOCITY = "GOAL_VELOCITY"
    PROFILE_ACCELERATION = "PROFILE_ACCELERATION"
    PROFILE_VELOCITY = "PROFILE_VELOCITY"
    GOAL_POSITION = "GOAL_POSITION"
    REALTIME_TICK = "REALTIME_TICK"
    MOVING = "MOVING"
    MOVING_STATUS = "MOVING_STATUS"
    PRESENT_PWM = "PRESENT_PWM"
    PRESENT_CURRENT = "PRESENT_CURRENT"
    PRESENT_LOAD = "PRESENT_LOAD"
    PRESENT_VELOCITY = "PRESENT_VELOCITY"
    PRESENT_POSITION = "PRESENT_POSITION"
    VELOCITY_TRAJECTORY = "VELOCITY_TRAJECTORY"
    POSITION_TRAJECTORY = "POSITION_TRAJECTORY"
    PRESENT_INPUT_VOLTAGE = "PRESENT_INPUT_VOLTAGE"
    PRESENT_TEMPERATURE = "PRESENT_TEMPERATURE"
    BACKUP_READY = "BACKUP_READY"
    INDIRECT_ADDRESS_1 = "INDIRECT_ADDRESS_1"
    INDIRECT_DATA_1 = "INDIRECT_DATA_1"
    # Indirect Address n / Indirect Data n (n = 1..56) are named `indirect_address(n)` / `indirect_data(n)`.


INDIRECT_COUNT = 56  # Indirect Address/Data 1..56 (1..28 at 168/224, 29..56 at 578/634)


def indirect_address(n: int) -> str:
    """The register name of Indirect Address `n` (1..56)."""
    return f"INDIRECT_ADDRESS_{n}"


def indirect_data(n: int) -> str:
    """The register name of Indirect Data `n` (1..56)."""
    return f"INDIRECT_DATA_{n}"


class OperatingMode(int, Enum):
    """Values of Operating Mode (11)."""

    CURRENT = 0
    VELOCITY = 1
    POSITION = 3
    EXTENDED_POSITION = 4
    CURRENT_BASED_POSITION = 5
    PWM = 16


# Raw-unit sizes, as the e-Manual gives them, in SI per raw unit.
TICKS_PER_REV = 4096
POSITION_CENTER = 2048
RAD_PER_TICK = 2.0 * math.pi / TICKS_PER_REV
RAD_S_PER_VELOCITY_UNIT = 0.229 * 2.0 * math.pi / 60.0  # 0.229 rev/min
RAD_S2_PER_ACCELERATION_UNIT = 214.577 * 2.0 * math.pi / 3600.0  # 214.577 rev/min^2
AMPERE_PER_CURRENT_UNIT = 2.69e-3  # XM430-W350
FRACTION_PER_PWM_UNIT = 0.00113  # 0.113 %
FRACTION_PER_LOAD_UNIT = 0.001  # 0.1 % of the maximum torque (XL430 Present Load)
VOLT_PER_UNIT = 0.1
SECOND_PER_RETURN_DELAY_UNIT = 2e-6
SECOND_PER_WATCHDOG_UNIT = 0.02
SECOND_PER_TICK_MS = 1e-3
RAD_S_PER_REV_MIN = 2.0 * math.pi / 60.0


@dataclass(frozen=True, slots=True)
class Field:
    """One register: where it is, how big, who may write it, and its unit conversion.

    SI value = (raw - offset) * scale. `minimum`/`maximum` bound the raw value a write may carry.
    `default` is the power-on (factory) raw value; None where the servo measures it (present values).
    `name` is a `Register`, or the name of an indirect address/data slot (`indirect_address(n)`).
    """

    name: str
    address: int
    size: int
    area: Area
    access: Access
    signed: bool = False
    minimum: int = 0
    maximum: int = 0
    scale: float = 1.0
    offset: int = 0
    unit: str = ""
    default: int | None = None

    @property
    def end(self) -> int:
        """The address just past this register."""
        return self.address + self.size

    def to_si(self, raw: int) -> float:
        """Convert a raw register value to SI units."""
        return (raw - self.offset) * self.scale

    def from_si(self, value: float) -> int:
        """Convert an SI value to the nearest raw value; ValueError when it is outside the range."""
        raw = round(value / self.scale) + self.offset
        if not self.minimum <= raw <= self.maximum:
            raise ValueError(
                f"{self.name} = {value} {self.unit} is raw {raw}, outside {self.minimum}..{self.maximum} "
                f"({self.to_si(self.minimum):g}..{self.to_si(self.maximum):g} {self.unit})"
            )
        return raw

    def encode_raw(self, raw: int) -> bytes:
        """Little-endian bytes of a raw value, range-checked."""
        if not self.minimum <= raw <= self.maximum:
            raise ValueError(f"{self.name} raw value {raw} is outside {self.minimum}..{self.maximum}")
        return raw.to_bytes(self.size, "little", signed=self.signed)

    def decode_raw(self, data: bytes) -> int:
        """The raw value of this register's bytes."""
        if len(data) != self.size:
            raise ValueError(f"{self.name} has {self.size} byte(s), got {len(data)}")
        return int.from_bytes(data, "little", signed=self.signed)


def encode(field: Field, value_si: float) -> bytes:
    """The bytes to write to `field` for an SI value."""
    return field.encode_raw(field.from_si(value_si))


def decode(field: Field, raw: bytes) -> float:
    """The SI value of `field`'s bytes."""
    return field.to_si(field.decode_raw(raw))


@dataclass(frozen=True, slots=True)
class Block:
    """A contiguous address range covering several registers, read in one (sync) read."""

    address: int
    length: int
    fields: tuple[Field, ...]
    _layout: tuple[tuple[str, int, int, bool, float, int], ...] = field(repr=False, compare=False)

    def decode(self, data: bytes) -> dict[str, float]:
        """SI values of every register of the block from the bytes read at `address`."""
        if len(data) != self.length:
            raise ValueError(f"block at {self.address} has {self.length} bytes, got {len(data)}")
        from_bytes = int.from_bytes
        return {
            name: (from_bytes(data[start:stop], "little", signed=signed) - offset) * scale
            for name, start, stop, signed, scale, offset in self._layout
        }


@dataclass(frozen=True, slots=True)
class IndirectBlock:
    """Registers mapped into consecutive Indirect Data slots (`ControlTable.indirect_block`): write
    `pointers` at `pointers_address` (Indirect Address n..; RAM, lost at power-off, and writable
    on a real servo only while its torque is off), then read `block` in one go."""

    pointers_address: int
    pointers: bytes
    block: Block


@dataclass(frozen=True, eq=False)  # one per model, compared and hashed by identity
class ControlTable:
    """The control table of one servo model, with the model's motor facts.

    `effort` is the register that reports the motor's effort (Present Current or Present Load);
    one raw unit of it stands for `effort_nm_per_unit` N m at the output shaft (current units
    through the torque constant stall torque / stall current; load units as 0.1 % of the stall
    torque). Stall torque, stall current and no-load speed are the e-Manual's figures at 12 V.
    """

    model_number: int
    model_name: str
    fields: Mapping[str, Field]
    firmware_version: int
    stall_torque_nm: float
    stall_current_a: float
    no_load_speed_rad_s: float
    effort: Register
    operating_modes: frozenset[int]
    drive_mode_bits: int

    def __getitem__(self, name: Register | str) -> Field:
        try:
            return self.fields[name]
        except KeyError:
            raise KeyError(f"{self.model_name} has no register {name!r}") from None

    @property
    def torque_constant_nm_per_a(self) -> float:
        """Output torque per ampere of motor current (stall torque / stall current)."""
        return self.stall_torque_nm / self.stall_current_a

    @property
    def effort_nm_per_unit(self) -> float:
        """N m of output torque per raw unit of the `effort` register."""
        if self.effort is Register.PRESENT_CURRENT:
            return self[Register.PRESENT_CURRENT].scale * self.torque_constant_nm_per_a
        return self[Register.PRESENT_LOAD].scale * self.stall_torque_nm

    @property
    def reports_current(self) -> bool:
        """True when the servo measures its motor current (Present Current), not only a load estimate."""
        return self.effort is Register.PRESENT_CURRENT

    @property
    def size(self) -> int:
        """Bytes in the table: the address after the last register."""
        return max(f.end for f in self.fields.values())

    def __contains__(self, name: object) -> bool:
        return name in self.fields

    def at(self, address: int) -> Field | None:
        """The register starting at `address`, if any."""
        for candidate in self.fields.values():
            if candidate.address == address:
                return candidate
        return None

    def indirect_block(self, *names: Register | str, first: int = 1) -> IndirectBlock:
        """`names` gathered, in the order given, into consecutive Indirect Data slots from `first` on,
        so that one (sync) read of `IndirectBlock.block` brings registers that lie far apart.

        The slots must stay within one bank (Indirect Data 1..28 or 29..56, each contiguous)."""
        if not names:
            raise ValueError("an indirect block needs at least one register")
        members = tuple(self[name] for name in names)
        size = sum(f.size for f in members)
        last = first + size - 1
        if not (first >= 1 and last <= INDIRECT_COUNT and (first > 28 or last <= 28)):
            raise ValueError(f"Indirect Data {first}..{last} does not fit in one bank (1..28 or 29..56)")
        targets = [f.address + byte for f in members for byte in range(f.size)]
        layout, offset = [], 0
        for f in members:
            layout.append((f.name, offset, offset + f.size, f.signed, f.scale, f.offset))
            offset += f.size
        pointer = self[indirect_address(first)]
        pointers = b"".join(self[indirect_address(first + k)].encode_raw(t) for k, t in enumerate(targets))
        data = self[indirect_data(first)]
        return IndirectBlock(pointer.address, pointers, Block(data.address, size, members, tuple(layout)))

    def block(self, *names: Register | str) -> Block:
        """The smallest address range covering `names`, with a decoder for it.

        Registers need not be adjacent; the bytes in between are read and ignored.
        """
        if not names:
            raise ValueError("a block needs at least one register")
        members = tuple(sorted((self[name] for name in names), key=lambda f: f.address))
        start = members[0].address
        stop = max(f.end for f in members)
        layout = tuple((f.name, f.address - start, f.end - start, f.signed, f.scale, f.offset) for f in members)
        return Block(start, stop - start, members, layout)


def _table(
    model_number: int,
    model_name: str,
    fields: list[Field],
    *,
    defaults: Mapping[str, int],
    **facts,
) -> ControlTable:
    """A model's table; `defaults` are its power-on values (model number and firmware included)."""
    by_name = {f.name: f for f in fields}
    if len(by_name) != len(fields):
        raise ValueError(f"{model_name}: duplicate register names")
    unknown = set(defaults) - set(by_name)
    if unknown:
        raise ValueError(f"{model_name}: defaults for registers it has not: {sorted(unknown)}")
    by_name = {name: replace(f, default=defaults.get(name, f.default)) for name, f in by_name.items()}
    return ControlTable(model_number, model_name, MappingProxyType(by_name), **facts)


E, M = Area.EEPROM, Area.RAM
R, RW = Access.R, Access.RW
I32_MIN, I32_MAX = -(2**31), 2**31 - 1


def _common(*, max_voltage: tuple[int, int], velocity_limit_max: int, temperature_max: int) -> list[Field]:
    """Registers the XM430-W350 and XL430-W250 share (same address, size and unit)."""
    pos: dict[str, Any] = {"scale": RAD_PER_TICK, "offset": POSITION_CENTER, "unit": "rad"}
    vel: dict[str, Any] = {"scale": RAD_S_PER_VELOCITY_UNIT, "unit": "rad/s"}
    volt: dict[str, Any] = {"scale": VOLT_PER_UNIT, "unit": "V", "minimum": max_voltage[0], "maximum": max_voltage[1]}
    return [
        Field(Register.MODEL_NUMBER, 0, 2, E, R, maximum=0xFFFF),
        Field(Register.MODEL_INFORMATION, 2, 4, E, R, maximum=2**32 - 1),
        Field(Register.FIRMWARE_VERSION, 6, 1, E, R, maximum=0xFF),
        Field(Register.ID, 7, 1, E, RW, maximum=252),
        Field(Register.BAUD_RATE, 8, 1, E, RW, maximum=7),
        Field(Register.RETURN_DELAY_TIME, 9, 1, E, RW, maximum=254, scale=SECOND_PER_RETURN_DELAY_UNIT, unit="s"),
        Field(Register.DRIVE_MODE, 10, 1, E, RW, maximum=13),
        Field(Register.OPERATING_MODE, 11, 1, E, RW, maximum=16),
        Field(Register.SECONDARY_ID, 12, 1, E, RW, maximum=255),
        Field(Register.PROTOCOL_TYPE, 13, 1, E, RW, minimum=1, maximum=2),
        Field(Register.HOMING_OFFSET, 20, 4, E, RW, True, -1_044_479, 1_044_479, RAD_PER_TICK, 0, "rad"),
        Field(Register.MOVING_THRESHOLD, 24, 4, E, RW, maximum=1023, **vel),
        Field(Register.TEMPERATURE_LIMIT, 31, 1, E, RW, maximum=temperature_max, unit="degC"),
        Field(Register.MAX_VOLTAGE_LIMIT, 32, 2, E, RW, **volt),
        Field(Register.MIN_VOLTAGE_LIMIT, 34, 2, E, RW, **volt),
        Field(Register.PWM_LIMIT, 36, 2, E, RW, maximum=885, scale=FRACTION_PER_PWM_UNIT, unit="1"),
        Field(Register.VELOCITY_LIMIT, 44, 4, E, RW, maximum=velocity_limit_max, **vel),
        Field(Register.MAX_POSITION_LIMIT, 48, 4, E, RW, maximum=4095, **pos),
        Field(Register.MIN_POSITION_LIMIT, 52, 4, E, RW, maximum=4095, **pos),
        Field(Register.STARTUP_CONFIGURATION, 60, 1, E, RW, maximum=3),  # firmware v45 and later
        Field(Register.SHUTDOWN, 63, 1, E, RW, maximum=0x3D),
        Field(Register.TORQUE_ENABLE, 64, 1, M, RW, maximum=1),
        Field(Register.LED, 65, 1, M, RW, maximum=1),
        Field(Register.STATUS_RETURN_LEVEL, 68, 1, M, RW, maximum=2),
        Field(Register.REGISTERED_INSTRUCTION, 69, 1, M, R, maximum=1),
        Field(Register.HARDWARE_ERROR_STATUS, 70, 1, M, R, maximum=0xFF),
        Field(Register.VELOCITY_I_GAIN, 76, 2, M, RW, maximum=16383),
        Field(Register.VELOCITY_P_GAIN, 78, 2, M, RW, maximum=16383),
        Field(Register.POSITION_D_GAIN, 80, 2, M, RW, maximum=16383),
        Field(Register.POSITION_I_GAIN, 82, 2, M, RW, maximum=16383),
        Field(Register.POSITION_P_GAIN, 84, 2, M, RW, maximum=16383),
        Field(Register.FEEDFORWARD_2ND_GAIN, 88, 2, M, RW, maximum=16383),
        Field(Register.FEEDFORWARD_1ST_GAIN, 90, 2, M, RW, maximum=16383),
        # -1 reports a watchdog stop; writable range is 0 (off) .. 127 (x 20 ms).
        Field(Register.BUS_WATCHDOG, 98, 1, M, RW, True, 0, 127, SECOND_PER_WATCHDOG_UNIT, 0, "s"),
        Field(Register.GOAL_PWM, 100, 2, M, RW, True, -885, 885, FRACTION_PER_PWM_UNIT, 0, "1"),
        Field(
            Register.GOAL_VELOCITY,
            104,
            4,
            M,
            RW,
            True,
            -velocity_limit_max,
            velocity_limit_max,
            RAD_S_PER_VELOCITY_UNIT,
            0,
            "rad/s",
        ),
        Field(
            Register.PROFILE_ACCELERATION, 108, 4, M, RW, False, 0, 32767, RAD_S2_PER_ACCELERATION_UNIT, 0, "rad/s^2"
        ),
        Field(Register.PROFILE_VELOCITY, 112, 4, M, RW, maximum=32767, **vel),
        # Position mode accepts 0..4095 (limited further by the position limits); extended
        # position mode accepts +-1,048,575. The wider range is the one the register holds.
        Field(Register.GOAL_POSITION, 116, 4, M, RW, True, -1_048_575, 1_048_575, **pos),
        Field(Register.REALTIME_TICK, 120, 2, M, R, maximum=32767, scale=SECOND_PER_TICK_MS, unit="s"),
        Field(Register.MOVING, 122, 1, M, R, maximum=1),
        Field(Register.MOVING_STATUS, 123, 1, M, R, maximum=0xFF),
        Field(Register.PRESENT_PWM, 124, 2, M, R, True, -885, 885, FRACTION_PER_PWM_UNIT, 0, "1"),
        Field(Register.PRESENT_VELOCITY, 128, 4, M, R, True, I32_MIN, I32_MAX, **vel),
        Field(Register.PRESENT_POSITION, 132, 4, M, R, True, I32_MIN, I32_MAX, **pos),
        Field(Register.VELOCITY_TRAJECTORY, 136, 4, M, R, True, I32_MIN, I32_MAX, **vel),
        Field(Register.POSITION_TRAJECTORY, 140, 4, M, R, True, I32_MIN, I32_MAX, **pos),
        Field(Register.PRESENT_INPUT_VOLTAGE, 144, 2, M, R, maximum=0xFFFF, scale=VOLT_PER_UNIT, unit="V"),
        Field(Register.PRESENT_TEMPERATURE, 146, 1, M, R, maximum=0xFF, unit="degC"),
        Field(Register.BACKUP_READY, 147, 1, M, R, maximum=1),
        *_indirect(),
    ]


def _indirect() -> list[Field]:
    """Indirect Address 1..56 (power-on value: its own Indirect Data's address) and Indirect Data 1..56."""
    fields = []
    for n in range(1, INDIRECT_COUNT + 1):
        address_base, data_base, k = (168, 224, n - 1) if n <= 28 else (578, 634, n - 29)
        data_address = data_base + k
        fields.append(Field(indirect_address(n), address_base + 2 * k, 2, M, RW, False, 64, 661, default=data_address))
        fields.append(Field(indirect_data(n), data_address, 1, M, RW, maximum=255, default=0))
    return fields


# Power-on values both models share (e-Manual "Default Value" column); each model adds its own.
_COMMON_DEFAULTS: dict[str, int] = {
    Register.MODEL_INFORMATION: 0,
    Register.ID: 1,
    Register.BAUD_RATE: 1,
    Register.RETURN_DELAY_TIME: 250,
    Register.DRIVE_MODE: 0,
    Register.OPERATING_MODE: int(OperatingMode.POSITION),
    Register.SECONDARY_ID: 255,
    Register.PROTOCOL_TYPE: 2,
    Register.HOMING_OFFSET: 0,
    Register.MOVING_THRESHOLD: 10,
    Register.PWM_LIMIT: 885,
    Register.MAX_POSITION_LIMIT: 4095,
    Register.MIN_POSITION_LIMIT: 0,
    Register.STARTUP_CONFIGURATION: 0,
    Register.SHUTDOWN: 52,
    Register.TORQUE_ENABLE: 0,
    Register.LED: 0,
    Register.STATUS_RETURN_LEVEL: 2,
    Register.REGISTERED_INSTRUCTION: 0,
    Register.HARDWARE_ERROR_STATUS: 0,
    Register.VELOCITY_P_GAIN: 100,
    Register.POSITION_I_GAIN: 0,
    Register.FEEDFORWARD_2ND_GAIN: 0,
    Register.FEEDFORWARD_1ST_GAIN: 0,
    Register.BUS_WATCHDOG: 0,
    Register.GOAL_PWM: 885,
    Register.GOAL_VELOCITY: 0,
    Register.PROFILE_ACCELERATION: 0,
    Register.PROFILE_VELOCITY: 0,
    Register.GOAL_POSITION: POSITION_CENTER,
    Register.REALTIME_TICK: 0,
    Register.MOVING: 0,
    Register.MOVING_STATUS: 0,
    Register.PRESENT_PWM: 0,
    Register.PRESENT_VELOCITY: 0,
    Register.PRESENT_POSITION: POSITION_CENTER,
    Register.VELOCITY_TRAJECTORY: 0,
    Register.POSITION_TRAJECTORY: POSITION_CENTER,
    Register.PRESENT_INPUT_VOLTAGE: 120,
    Register.PRESENT_TEMPERATURE: 30,
    Register.BACKUP_READY: 0,
}


XM430_W350 = _table(
    1020,
    "XM430-W350",
    [
        *_common(max_voltage=(95, 160), velocity_limit_max=1023, temperature_max=100),
        Field(Register.CURRENT_LIMIT, 38, 2, E, RW, maximum=1193, scale=AMPERE_PER_CURRENT_UNIT, unit="A"),
        Field(Register.GOAL_CURRENT, 102, 2, M, RW, True, -1193, 1193, AMPERE_PER_CURRENT_UNIT, 0, "A"),
        Field(Register.PRESENT_CURRENT, 126, 2, M, R, True, -32768, 32767, AMPERE_PER_CURRENT_UNIT, 0, "A"),
    ],
    defaults={
        **_COMMON_DEFAULTS,
        Register.MODEL_NUMBER: 1020,
        Register.FIRMWARE_VERSION: 48,
        Register.TEMPERATURE_LIMIT: 80,
        Register.MAX_VOLTAGE_LIMIT: 160,
        Register.MIN_VOLTAGE_LIMIT: 95,
        Register.CURRENT_LIMIT: 1193,
        Register.VELOCITY_LIMIT: 200,
        Register.VELOCITY_I_GAIN: 1920,
        Register.POSITION_D_GAIN: 0,
        Register.POSITION_P_GAIN: 800,
        Register.GOAL_CURRENT: 1193,
        Register.PRESENT_CURRENT: 0,
    },
    firmware_version=48,
    stall_torque_nm=4.1,  # at 12 V, 2.3 A
    stall_current_a=2.3,
    no_load_speed_rad_s=46 * RAD_S_PER_REV_MIN,
    effort=Register.PRESENT_CURRENT,
    # current, velocity, position, extended position, current-based position, PWM
    operating_modes=frozenset({0, 1, 3, 4, 5, 16}),
    drive_mode_bits=0x0D,  # reverse (0x01), time-based profile (0x04), torque on by goal update (0x08)
)

XL430_W250 = _table(
    1060,
    "XL430-W250",
    [
        *_common(max_voltage=(60, 140), velocity_limit_max=1023, temperature_max=100),
        Field(Register.PRESENT_LOAD, 126, 2, M, R, True, -1000, 1000, FRACTION_PER_LOAD_UNIT, 0, "1"),
    ],
    defaults={
        **_COMMON_DEFAULTS,
        Register.MODEL_NUMBER: 1060,
        Register.FIRMWARE_VERSION: 46,
        Register.TEMPERATURE_LIMIT: 72,
        Register.MAX_VOLTAGE_LIMIT: 140,
        Register.MIN_VOLTAGE_LIMIT: 60,
        Register.VELOCITY_LIMIT: 265,
        Register.VELOCITY_I_GAIN: 1000,
        Register.POSITION_D_GAIN: 4000,
        Register.POSITION_P_GAIN: 640,
        Register.PRESENT_LOAD: 0,
    },
    firmware_version=46,
    stall_torque_nm=1.5,  # at 12 V, 1.4 A
    stall_current_a=1.4,
    no_load_speed_rad_s=61 * RAD_S_PER_REV_MIN,
    effort=Register.PRESENT_LOAD,
    operating_modes=frozenset({1, 3, 4, 16}),  # velocity, position, extended position, PWM
    drive_mode_bits=0x05,  # reverse (0x01), time-based profile (0x04)
)

MODELS: Mapping[int, ControlTable] = MappingProxyType({t.model_number: t for t in (XM430_W350, XL430_W250)})

# Model numbers of the X series as PING reports them (e-Manual), for naming what a scan finds;
# only the models in `MODELS` have a table here.
X_SERIES_MODEL_NAMES: Mapping[int, str] = MappingProxyType(
    {
        1000: "XH430-W350",
        1010: "XH430-W210",
        1020: "XM430-W350",
        1030: "XM430-W210",
        1040: "XH430-V350",
        1050: "XH430-V210",
        1060: "XL430-W250",
        1070: "XC430-W150",
        1080: "XC430-W240",
        1090: "2XL430-W250",
        1120: "XM540-W270",
        1130: "XM540-W150",
        1190: "XL330-M077",
        1200: "XL330-M288",
    }
)


class UnknownModel(KeyError):
    """A model number without a control table here."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0])


def model_name(model_number: int) -> str:
    """The name of a model number ("XM430-W350"), or "model N" when it is not an X-series number we know."""
    return X_SERIES_MODEL_NAMES.get(model_number, f"model {model_number}")


def unsupported_reason(model_number: int) -> str | None:
    """Why bidvis cannot drive a servo of this model number (None when it can): no table for it
    here, or it does not measure its motor current (the controller's contact detection reads
    Present Current; the XL430-W250's Present Load is an estimate in 0.1 % of its stall torque)."""
    table = MODELS.get(model_number)
    if table is None:
        return f"{model_name(model_number)} (model {model_number}), which bidvis has no control table for"
    if not table.reports_current:
        return (
            f"{table.model_name} (model {model_number}), which reports Present Load (an estimate in 0.1 % of its "
            "stall torque) instead of Present Current; contact detection needs the motor current"
        )
    return None


def driven_models() -> str:
    """The models bidvis drives, for messages: "XM430-W350 (1020)"."""
    return ", ".join(f"{t.model_name} ({n})" for n, t in MODELS.items() if t.reports_current)


def table_for_model(model_number: int) -> ControlTable:
    """The control table of a model number as PING reports it; `UnknownModel` (a KeyError) names it."""
    try:
        return MODELS[model_number]
    except KeyError:
        known = ", ".join(f"{t.model_name} ({n})" for n, t in MODELS.items())
        raise UnknownModel(
            f"no control table for {model_name(model_number)} (model number {model_number}); known models: {known}"
        ) from None


__all__ = [
    "INDIRECT_COUNT",
    "MODELS",
    "XL430_W250",
    "XM430_W350",
    "X_SERIES_MODEL_NAMES",
    "Access",
    "Area",
    "Block",
    "ControlTable",
    "Field",
    "IndirectBlock",
    "OperatingMode",
    "Register",
    "UnknownModel",
    "decode",
    "driven_models",
    "encode",
    "indirect_address",
    "indirect_data",
    "model_name",
    "table_for_model",
    "unsupported_reason",
]
