"""The virtual servo's view of its control table, derived from the one table of servo facts.

`firmware_bridge.control_table` holds every model's registers, units, ranges, power-on values and
motor facts (DESIGN.md's import rule lets `sim` import that module: it is pure data). This module
turns one model's table into what the servo's firmware needs on its hot path: fields by lower-case
name (`"goal_position"`), the field at each address, and the Indirect Data -> Indirect Address map.
Ranges that depend on other fields (goal values against the limits) are left open here and checked
by `sim.servo.VirtualServo`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from firmware_bridge.control_table import (
    INDIRECT_COUNT,
    RAD_PER_TICK,
    RAD_S_PER_VELOCITY_UNIT,
    SECOND_PER_RETURN_DELAY_UNIT,
    SECOND_PER_WATCHDOG_UNIT,
    TICKS_PER_REV,
    XM430_W350,
    Access,
    Area,
    ControlTable,
    Register,
    indirect_address,
    indirect_data,
)
from firmware_bridge.control_table import POSITION_CENTER as CENTER_PULSE

PULSES_PER_REV = TICKS_PER_REV
RAD_PER_PULSE = RAD_PER_TICK
SECONDS_PER_RETURN_DELAY_UNIT = SECOND_PER_RETURN_DELAY_UNIT
SECONDS_PER_WATCHDOG_UNIT = SECOND_PER_WATCHDOG_UNIT
EEPROM_END = 64  # addresses below are EEPROM, locked while Torque Enable is 1

# Baud Rate(8) values and the rates they select.
BAUD_RATES = {0: 9_600, 1: 57_600, 2: 115_200, 3: 1_000_000, 4: 2_000_000, 5: 3_000_000, 6: 4_000_000, 7: 4_500_000}
SHUTDOWN_BITS = 0x3D  # input voltage, overheating, encoder, electrical shock, overload

# Goal registers: their range is the servo's limits (Position/Velocity/Current/PWM Limit), checked
# by the servo, not a fixed range.
_GOALS = frozenset({Register.GOAL_PWM, Register.GOAL_CURRENT, Register.GOAL_VELOCITY, Register.GOAL_POSITION})

__all__ = [
    "BAUD_RATES",
    "CENTER_PULSE",
    "EEPROM_END",
    "PULSES_PER_REV",
    "RAD_PER_PULSE",
    "RAD_S_PER_VELOCITY_UNIT",
    "SECONDS_PER_RETURN_DELAY_UNIT",
    "SECONDS_PER_WATCHDOG_UNIT",
    "SHUTDOWN_BITS",
    "Access",
    "Field",
    "ServoTable",
    "servo_table",
]


@dataclass(frozen=True, slots=True)
class Field:
    """One item of the control table, as the servo's firmware sees it."""

    name: str  # lower case: "goal_position", "indirect_data_3"
    address: int
    size: int
    access: Access
    default: int = 0
    low: int | None = None
    high: int | None = None
    signed: bool = False

    @property
    def eeprom(self) -> bool:
        """True for the EEPROM area (written only while torque is off)."""
        return self.address < EEPROM_END

    @property
    def end(self) -> int:
        """The address after the field's last byte."""
        return self.address + self.size


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one per model (`servo_table`)
class ServoTable:
    """One model's control table for the virtual servo (see the module docstring)."""

    model: ControlTable
    fields: tuple[Field, ...]
    by_name: Mapping[str, Field]
    at: tuple[Field | None, ...]  # the field each address belongs to (None in the gaps)
    indirect_data: Mapping[int, Field]  # Indirect Data address -> its Indirect Address field

    @property
    def size(self) -> int:
        """Bytes in the table (addresses 0..size-1)."""
        return len(self.at)


def _servo_field(f) -> Field:
    open_range = f.name in _GOALS
    if f.area is Area.EEPROM and f.address >= EEPROM_END:  # pragma: no cover - a table error
        raise ValueError(f"{f.name} at {f.address} is EEPROM beyond address {EEPROM_END}")
    return Field(
        name=str(f.name).lower(),
        address=f.address,
        size=f.size,
        access=f.access,
        default=0 if f.default is None else f.default,
        low=None if open_range else f.minimum,
        high=None if open_range else f.maximum,
        signed=f.signed,
    )


@functools.cache
def servo_table(model: ControlTable = XM430_W350) -> ServoTable:
    """The virtual servo's view of `model`'s control table (built once per model)."""
    fields = tuple(sorted((_servo_field(f) for f in model.fields.values()), key=lambda f: f.address))
    by_name = {f.name: f for f in fields}
    at: list[Field | None] = [None] * model.size
    for f in fields:
        at[f.address : f.end] = [f] * f.size
    indirect = {
        by_name[indirect_data(n).lower()].address: by_name[indirect_address(n).lower()]
        for n in range(1, INDIRECT_COUNT + 1)
    }
    return ServoTable(model, fields, MappingProxyType(by_name), tuple(at), MappingProxyType(indirect))
