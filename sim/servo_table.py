"""The control table of the virtual XM430-W350, as the ROBOTIS e-Manual lists it.

This is the servo's own view (addresses, sizes, access, power-on values, fixed ranges), kept in
`sim` because `sim` may not import `firmware_bridge.control_table`; the host side has its own typed
model there. Ranges that depend on other fields (goal values against the limits) are checked by
`sim.servo.VirtualServo`.

Units used by the virtual servo (e-Manual, XM430-W350): position 4096 pulses per turn with 2048 at
0 rad; velocity 0.229 rev/min; profile acceleration 214.577 rev/min^2; current 2.69 mA; input
voltage 0.1 V; temperature 1 degC; return delay 2 us; bus watchdog 20 ms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

MODEL_NUMBER = 1020  # XM430-W350
FIRMWARE_VERSION = 48
TABLE_SIZE = 662  # addresses 0..661 (Indirect Data 56 is the last)
EEPROM_END = 64  # addresses below are EEPROM, locked while Torque Enable is 1

PULSES_PER_REV = 4096
CENTER_PULSE = 2048
RAD_PER_PULSE = 2 * math.pi / PULSES_PER_REV
RAD_S_PER_VELOCITY_UNIT = 0.229 * 2 * math.pi / 60
AMPERE_PER_CURRENT_UNIT = 0.00269
SECONDS_PER_RETURN_DELAY_UNIT = 2e-6
SECONDS_PER_WATCHDOG_UNIT = 0.020

# Baud Rate(8) values and the rates they select.
BAUD_RATES = {0: 9_600, 1: 57_600, 2: 115_200, 3: 1_000_000, 4: 2_000_000, 5: 3_000_000, 6: 4_000_000, 7: 4_500_000}

OPERATING_MODES = frozenset({0, 1, 3, 4, 5, 16})  # current, velocity, position, extended, current-based, PWM
DRIVE_MODE_BITS = 0x0D  # reverse (0x01), time-based profile (0x04), torque on by goal update (0x08)
SHUTDOWN_BITS = 0x3D  # input voltage, overheating, encoder, electrical shock, overload


class Access(Enum):
    """Whether the host may write a field."""

    R = "R"
    RW = "RW"


@dataclass(frozen=True, slots=True)
class Field:
    """One item of the control table."""

    name: str
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


def _fields() -> tuple[Field, ...]:
    r, rw = Access.R, Access.RW
    items = [
        Field("model_number", 0, 2, r, MODEL_NUMBER),
        Field("model_information", 2, 4, r, 0),
        Field("firmware_version", 6, 1, r, FIRMWARE_VERSION),
        Field("id", 7, 1, rw, 1, 0, 252),
        Field("baud_rate", 8, 1, rw, 1, 0, 7),
        Field("return_delay_time", 9, 1, rw, 250, 0, 254),
        Field("drive_mode", 10, 1, rw, 0, 0, 0x0D),
        Field("operating_mode", 11, 1, rw, 3, 0, 16),
        Field("secondary_id", 12, 1, rw, 255, 0, 255),
        Field("protocol_type", 13, 1, rw, 2, 1, 2),
        Field("homing_offset", 20, 4, rw, 0, -1_044_479, 1_044_479, signed=True),
        Field("moving_threshold", 24, 4, rw, 10, 0, 1023),
        Field("temperature_limit", 31, 1, rw, 80, 0, 100),
        Field("max_voltage_limit", 32, 2, rw, 160, 95, 160),
        Field("min_voltage_limit", 34, 2, rw, 95, 95, 160),
        Field("pwm_limit", 36, 2, rw, 885, 0, 885),
        Field("current_limit", 38, 2, rw, 1193, 0, 1193),
        Field("velocity_limit", 44, 4, rw, 200, 0, 1023),
        Field("max_position_limit", 48, 4, rw, 4095, 0, 4095),
        Field("min_position_limit", 52, 4, rw, 0, 0, 4095),
        Field("startup_configuration", 60, 1, rw, 0, 0, 3),
        Field("shutdown", 63, 1, rw, 52, 0, 0x3D),
        Field("torque_enable", 64, 1, rw, 0, 0, 1),
        Field("led", 65, 1, rw, 0, 0, 1),
        Field("status_return_level", 68, 1, rw, 2, 0, 2),
        Field("registered_instruction", 69, 1, r, 0),
        Field("hardware_error_status", 70, 1, r, 0),
        Field("velocity_i_gain", 76, 2, rw, 1920, 0, 16383),
        Field("velocity_p_gain", 78, 2, rw, 100, 0, 16383),
        Field("position_d_gain", 80, 2, rw, 0, 0, 16383),
        Field("position_i_gain", 82, 2, rw, 0, 0, 16383),
        Field("position_p_gain", 84, 2, rw, 800, 0, 16383),
        Field("feedforward_2nd_gain", 88, 2, rw, 0, 0, 16383),
        Field("feedforward_1st_gain", 90, 2, rw, 0, 0, 16383),
        Field("bus_watchdog", 98, 1, rw, 0, 0, 127, signed=True),
        # Goal ranges depend on the limits; VirtualServo checks them.
        Field("goal_pwm", 100, 2, rw, 885, signed=True),
        Field("goal_current", 102, 2, rw, 1193, signed=True),
        Field("goal_velocity", 104, 4, rw, 0, signed=True),
        Field("profile_acceleration", 108, 4, rw, 0, 0, 32767),
        Field("profile_velocity", 112, 4, rw, 0, 0, 32767),
        Field("goal_position", 116, 4, rw, CENTER_PULSE, signed=True),
        Field("realtime_tick", 120, 2, r, 0),
        Field("moving", 122, 1, r, 0),
        Field("moving_status", 123, 1, r, 0),
        Field("present_pwm", 124, 2, r, 0, signed=True),
        Field("present_current", 126, 2, r, 0, signed=True),
        Field("present_velocity", 128, 4, r, 0, signed=True),
        Field("present_position", 132, 4, r, CENTER_PULSE, signed=True),
        Field("velocity_trajectory", 136, 4, r, 0, signed=True),
        Field("position_trajectory", 140, 4, r, CENTER_PULSE, signed=True),
        Field("present_input_voltage", 144, 2, r, 120),
        Field("present_temperature", 146, 1, r, 30),
        Field("backup_ready", 147, 1, r, 0),
    ]
    for n in range(56):
        # Indirect Address n+1 defaults to its own Indirect Data address.
        addr_base, data_base, k = (168, 224, n) if n < 28 else (578, 634, n - 28)
        items.append(Field(f"indirect_address_{n + 1}", addr_base + 2 * k, 2, rw, data_base + k, 64, 661))
        items.append(Field(f"indirect_data_{n + 1}", data_base + k, 1, rw, 0, 0, 255))
    return tuple(sorted(items, key=lambda f: f.address))


FIELDS: tuple[Field, ...] = _fields()
FIELD_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}


# The field each address belongs to (None for the gaps between fields).
def _field_at() -> tuple[Field | None, ...]:
    at: list[Field | None] = [None] * TABLE_SIZE
    for f in FIELDS:
        at[f.address : f.end] = [f] * f.size
    return tuple(at)


FIELD_AT: tuple[Field | None, ...] = _field_at()

# Indirect Data address -> the Indirect Address field that says which address it stands for.
INDIRECT_DATA = {
    FIELD_BY_NAME[f"indirect_data_{n}"].address: FIELD_BY_NAME[f"indirect_address_{n}"] for n in range(1, 57)
}
