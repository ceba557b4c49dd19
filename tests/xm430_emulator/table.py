"""The XM430-W350's control table (ROBOTIS e-Manual, "XM430-W350", protocol 2.0 firmware): each
item's address, size, access, area, range and factory value, and a memory that reads and writes
them with the servo's rules.

Rules kept (status error numbers of the Protocol 2.0 page): a write must cover whole items
(0x05 Data Length Error), only RW items (0x07 Access Error), EEPROM items only with torque off
(0x07), values within the item's range (0x04 Data Range Error) and within the limits other items
set (0x06 Data Limit Error: Goal Position within the Position Limits in position control, within
+-1,048,575 in current-based position control; Goal Current within the Current Limit...). A write that breaks a rule changes nothing. Reads may span the gaps between
items (they read 0), not the end of the table (0x07). Indirect Data 1-56 read and write the items
their Indirect Address points at.
"""

from __future__ import annotations

from dataclasses import dataclass

R, RW = "R", "RW"
SIZE = 662  # Indirect Data 56 is the last byte
ACCESS_ERROR, DATA_RANGE_ERROR, DATA_LENGTH_ERROR, DATA_LIMIT_ERROR = 0x07, 0x04, 0x05, 0x06
MODEL_NUMBER, FIRMWARE_VERSION = 1020, 48
I32 = (-(2**31), 2**31 - 1)


@dataclass(frozen=True)
class Item:
    name: str
    address: int
    size: int
    access: str
    initial: int
    low: int
    high: int

    @property
    def eeprom(self) -> bool:
        return self.address < 64

    @property
    def signed(self) -> bool:
        return self.low < 0


def _item(name: str, address: int, size: int, access: str, initial: int, low: int = 0, high: int | None = None) -> Item:
    return Item(name, address, size, access, initial, low, (1 << (8 * size)) - 1 if high is None else high)


ITEMS = (
    _item("model_number", 0, 2, R, MODEL_NUMBER),
    _item("model_information", 2, 4, R, 0),
    _item("firmware_version", 6, 1, R, FIRMWARE_VERSION),
    _item("id", 7, 1, RW, 1, 0, 252),
    _item("baud_rate", 8, 1, RW, 1, 0, 7),
    _item("return_delay_time", 9, 1, RW, 250, 0, 254),  # 2 us units
    _item("drive_mode", 10, 1, RW, 0, 0, 0),  # reverse mode and time-based profiles are not emulated
    _item("operating_mode", 11, 1, RW, 3, 3, 5),  # position (3) and current-based position (5) only, not 4
    _item("secondary_id", 12, 1, RW, 255, 0, 255),
    _item("protocol_type", 13, 1, RW, 2, 2, 2),
    _item("homing_offset", 20, 4, RW, 0, -1_044_479, 1_044_479),
    _item("moving_threshold", 24, 4, RW, 10, 0, 1023),
    _item("temperature_limit", 31, 1, RW, 80, 0, 100),
    _item("max_voltage_limit", 32, 2, RW, 160, 95, 160),
    _item("min_voltage_limit", 34, 2, RW, 95, 95, 160),
    _item("pwm_limit", 36, 2, RW, 885, 0, 885),
    _item("current_limit", 38, 2, RW, 1193, 0, 1193),
    _item("acceleration_limit", 40, 4, RW, 32767, 0, 32767),
    _item("velocity_limit", 44, 4, RW, 350, 0, 1023),
    _item("max_position_limit", 48, 4, RW, 4095, 0, 4095),
    _item("min_position_limit", 52, 4, RW, 0, 0, 4095),
    _item("shutdown", 63, 1, RW, 0x34, 0, 0x3F),
    _item("torque_enable", 64, 1, RW, 0, 0, 1),
    _item("led", 65, 1, RW, 0, 0, 1),
    _item("status_return_level", 68, 1, RW, 2, 0, 2),
    _item("registered_instruction", 69, 1, R, 0),
    _item("hardware_error_status", 70, 1, R, 0),
    _item("velocity_i_gain", 76, 2, RW, 1920, 0, 16383),
    _item("velocity_p_gain", 78, 2, RW, 100, 0, 16383),
    _item("position_d_gain", 80, 2, RW, 0, 0, 16383),
    _item("position_i_gain", 82, 2, RW, 0, 0, 16383),
    _item("position_p_gain", 84, 2, RW, 800, 0, 16383),
    _item("feedforward_2nd_gain", 88, 2, RW, 0, 0, 16383),
    _item("feedforward_1st_gain", 90, 2, RW, 0, 0, 16383),
    _item("bus_watchdog", 98, 1, RW, 0, -1, 127),  # 20 ms units; -1 (read only) once tripped
    _item("goal_pwm", 100, 2, RW, 0, -885, 885),
    _item("goal_current", 102, 2, RW, 1193, -1193, 1193),
    _item("goal_velocity", 104, 4, RW, 0, -1023, 1023),
    _item("profile_acceleration", 108, 4, RW, 0, 0, 32767),
    _item("profile_velocity", 112, 4, RW, 0, 0, 32767),
    _item("goal_position", 116, 4, RW, 2048, *I32),
    _item("realtime_tick", 120, 2, R, 0),
    _item("moving", 122, 1, R, 0),
    _item("moving_status", 123, 1, R, 0),
    _item("present_pwm", 124, 2, R, 0, -885, 885),
    _item("present_current", 126, 2, R, 0, -32768, 32767),
    _item("present_velocity", 128, 4, R, 0, *I32),
    _item("present_position", 132, 4, R, 2048, *I32),
    _item("velocity_trajectory", 136, 4, R, 0, *I32),
    _item("position_trajectory", 140, 4, R, 2048, *I32),
    _item("present_input_voltage", 144, 2, R, 120),
    _item("present_temperature", 146, 1, R, 30),
    *(_item(f"indirect_address_{k + 1}", 168 + 2 * k, 2, RW, 224 + k, 64, SIZE - 1) for k in range(28)),
    *(_item(f"indirect_data_{k + 1}", 224 + k, 1, RW, 0) for k in range(28)),
    *(_item(f"indirect_address_{k + 29}", 578 + 2 * k, 2, RW, 634 + k, 64, SIZE - 1) for k in range(28)),
    *(_item(f"indirect_data_{k + 29}", 634 + k, 1, RW, 0) for k in range(28)),
)
BY_NAME = {item.name: item for item in ITEMS}
_AT: list[Item | None] = [None] * SIZE  # byte address -> the item it belongs to
for _it in ITEMS:
    for _a in range(_it.address, _it.address + _it.size):
        _AT[_a] = _it
# Indirect Data byte address -> the address of its Indirect Address item
_POINTER = {224 + k: 168 + 2 * k for k in range(28)} | {634 + k: 578 + 2 * k for k in range(28)}
GOALS = ("goal_pwm", "goal_current", "goal_velocity", "goal_position")
# Goal items whose range (+-) another item limits
_LIMITED = {
    "goal_pwm": "pwm_limit",
    "goal_current": "current_limit",
    "goal_velocity": "velocity_limit",
}


class WriteRefused(Exception):
    """A write broke one of the table's rules; `error` is the status error number."""

    def __init__(self, error: int) -> None:
        super().__init__(error)
        self.error = error


class Memory:
    """One servo's control table. `tripped` (the Bus Watchdog's) makes the goals read only."""

    def __init__(self) -> None:
        self.data = bytearray(SIZE)
        for item in ITEMS:
            self.set(item.name, item.initial)

    def get(self, name: str) -> int:
        item = BY_NAME[name]
        return int.from_bytes(self.data[item.address : item.address + item.size], "little", signed=item.signed)

    def set(self, name: str, value: int) -> None:
        """Store a value as the servo itself does (no rules: present values, the watchdog's -1)."""
        item = BY_NAME[name]
        self.data[item.address : item.address + item.size] = (value & ((1 << 8 * item.size) - 1)).to_bytes(
            item.size, "little"
        )

    def _target(self, address: int) -> int:
        """The byte an address stands for (Indirect Data: the byte its Indirect Address names)."""
        pointer = _POINTER.get(address)
        return address if pointer is None else int.from_bytes(self.data[pointer : pointer + 2], "little")

    def read(self, address: int, length: int) -> bytes:
        """`length` bytes from `address` (raises WriteRefused(0x07) past the table's end)."""
        if length < 1 or address + length > SIZE:
            raise WriteRefused(ACCESS_ERROR)
        return bytes(self.data[self._target(a)] for a in range(address, address + length))

    def write(self, address: int, data: bytes, *, torque_on: bool, tripped: bool) -> list[str]:
        """Write `data` at `address` by the rules (module docstring); returns the names of the
        items written, in address order; raises WriteRefused with the error number."""
        if not data or address + len(data) > SIZE:
            raise WriteRefused(ACCESS_ERROR)
        staged = {self._target(a): byte for a, byte in zip(range(address, address + len(data)), data, strict=True)}
        touched = {_AT[a] for a in staged}
        if None in touched:
            raise WriteRefused(ACCESS_ERROR)
        items = sorted((it for it in touched if it is not None), key=lambda it: it.address)
        values = {}
        for item in items:
            if any(a not in staged for a in range(item.address, item.address + item.size)):
                raise WriteRefused(DATA_LENGTH_ERROR)
            if item.access != RW or (item.eeprom and torque_on):
                raise WriteRefused(ACCESS_ERROR)
            raw = bytes(staged[a] for a in range(item.address, item.address + item.size))
            value = int.from_bytes(raw, "little", signed=item.signed)
            if not item.low <= value <= item.high or (tripped and item.name in GOALS):
                raise WriteRefused(DATA_RANGE_ERROR)
            values[item.name] = value
        for name, value in values.items():
            self._check_limit(name, value, values)
        for name, value in values.items():
            self.set(name, value)
        return list(values)

    def _check_limit(self, name: str, value: int, values: dict[str, int]) -> None:
        def now(item: str) -> int:
            return values.get(item, self.get(item))

        if name in _LIMITED:
            if abs(value) > now(_LIMITED[name]):
                raise WriteRefused(DATA_LIMIT_ERROR)
        elif name == "goal_position":
            if now("operating_mode") == 5:  # current-based position: multi-turn, the limits unused
                low, high = -1_048_575, 1_048_575
            else:
                low, high = now("min_position_limit"), now("max_position_limit")
            if not low <= value <= high:
                raise WriteRefused(DATA_LIMIT_ERROR)
        elif (name == "bus_watchdog" and value < 0) or (name == "operating_mode" and value == 4):
            raise WriteRefused(DATA_RANGE_ERROR)  # -1 is the servo's to set; extended position is not emulated
