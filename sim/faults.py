"""Faults of the servos, the bus and the host, injected into the simulated arm at a chosen moment.

One way in for each fault of the safety fault table (docs/safety.md), as code and as data:

    undo = inject(bus, FaultKind.WATCHDOG_TRIP, servo_id=12)   # now; `undo()` ends a lasting fault
    undo = inject(bus, FaultKind.USB_LATENCY, value=16.0)      # 16 ms latency timer until undone

A scenario lists them (`servo_faults`, docs/scenarios.md) at a time or at a phase of a bite, and
`FaultInjector.update(now)` (called by the simulated meal every control tick) injects each when
it is due: `at_s`, or during bite N's approach (the spoon closing in, within `APPROACH_WITHIN_M`
of the mouth) or at the mouth (within `AT_MOUTH_WITHIN_M`, the spoon still for `AT_MOUTH_FOR_S`),
and ends it after `duration_s`. `FaultKind.XL430` is a bus built with an XL430-W250 at `servo` (`xl430_models`).

What each does to the simulated arm (as the real one would do it):

| kind | effect | `value` (default) |
|---|---|---|
| `watchdog_trip` | the servo's Bus Watchdog fires: it stops, holds, and locks its goals (reads -1) | |
| `overload`, `encoder_error`, `electrical_shock` | hardware error: torque off, Alert bit, until REBOOT | |
| `overheating` | the temperature jumps past Temperature Limit: overheating error | degC (limit + 5) |
| `input_voltage` | every servo's supply drops (a sagging power supply): input voltage error | V (8.0) |
| `silent_servo` | the servo obeys but answers nothing | |
| `corrupt_replies` | the servo's replies arrive with wrong CRCs | fraction of replies (1.0) |
| `cable_pulled` | the servo cable is out: nothing reaches the servos (their watchdogs trip), nothing comes back | |
| `usb_unplugged` | the U2D2 is gone: the host's port raises; the servos go on alone | |
| `usb_latency` | the adapter's latency timer | ms (16) |
| `current_noise` | Present Current noise | mA (40) |
| `host_stall` | the host stops for a while (a simulated clock jumps; nothing is sent meanwhile) | ms (50) |
| `power_loss` | every servo loses its supply: torque off, silent; back (rebooted, torque off) after `duration_s` | |
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from enum import StrEnum

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from firmware_bridge.control_table import XL430_W250, ControlTable
from firmware_bridge.protocol import HardwareError
from sim.flaws import ArmFlaws
from sim.virtual_bus import SimulatedClock, VirtualServoBus

APPROACH_WITHIN_M = 0.10  # "during the approach": the spoon tip closing in, this near the mouth
AT_MOUTH_WITHIN_M = 0.035  # "at the mouth": the spoon tip this near the mouth centre ...
AT_MOUTH_BELOW_M_S = 0.005  # ... and still (slower than this) ...
AT_MOUTH_FOR_S = 0.2  # ... for this long: it has arrived and waits


class FaultKind(StrEnum):
    """The faults the simulator injects (see the module docstring)."""

    WATCHDOG_TRIP = "watchdog_trip"
    OVERLOAD = "overload"
    OVERHEATING = "overheating"
    INPUT_VOLTAGE = "input_voltage"
    ENCODER_ERROR = "encoder_error"
    ELECTRICAL_SHOCK = "electrical_shock"
    SILENT_SERVO = "silent_servo"
    CORRUPT_REPLIES = "corrupt_replies"
    CABLE_PULLED = "cable_pulled"
    USB_UNPLUGGED = "usb_unplugged"
    USB_LATENCY = "usb_latency"
    CURRENT_NOISE = "current_noise"
    HOST_STALL = "host_stall"
    POWER_LOSS = "power_loss"
    XL430 = "xl430"


class FaultPhase(StrEnum):
    """Where in a bite a fault is injected."""

    APPROACH = "approach"
    AT_MOUTH = "at_mouth"


_HARDWARE_ERRORS = {
    FaultKind.OVERLOAD: HardwareError.OVERLOAD,
    FaultKind.ENCODER_ERROR: HardwareError.MOTOR_ENCODER,
    FaultKind.ELECTRICAL_SHOCK: HardwareError.ELECTRICAL_SHOCK,
}
_PER_SERVO = frozenset(
    {
        FaultKind.WATCHDOG_TRIP,
        FaultKind.OVERHEATING,
        FaultKind.SILENT_SERVO,
        FaultKind.CORRUPT_REPLIES,
        FaultKind.XL430,
        *_HARDWARE_ERRORS,
    }
)


class FaultError(ValueError):
    """A fault that cannot be injected as asked (no such servo, a missing servo id)."""


def _servos(bus: VirtualServoBus, kind: FaultKind, servo_id: int | None):
    if servo_id is None:
        if kind in _PER_SERVO:
            raise FaultError(f"{kind.value} needs the id of the servo it happens to")
        return list(bus.servos)
    try:
        return [bus.servo(servo_id)]
    except KeyError as exc:
        raise FaultError(str(exc.args[0])) from None


def inject(
    bus: VirtualServoBus, kind: FaultKind, *, servo_id: int | None = None, value: float | None = None
) -> Callable[[], None]:
    """Inject `kind` now (into servo `servo_id`, or every servo where that makes sense); returns
    what ends it (latched hardware errors and watchdog trips end only as on a real servo: REBOOT,
    or writing 0 to Bus Watchdog; calling it then does nothing)."""
    if kind is FaultKind.XL430:
        raise FaultError("an XL430 on the bus is built in: VirtualServoBus(models=xl430_models(...))")
    servos = _servos(bus, kind, servo_id)
    with bus.lock:  # a fault lands between two instructions, even while a pty thread serves the bus
        bus.advance_to(bus.clock.now())
        return _inject(bus, kind, servos, value)


def _nothing() -> None:
    """Undo of a fault that only the servo's own recovery ends."""


def _inject(bus: VirtualServoBus, kind: FaultKind, servos, value: float | None) -> Callable[[], None]:
    if kind is FaultKind.WATCHDOG_TRIP:
        for servo in servos:
            if servo.torque_on:
                servo.trip_watchdog()
        return _nothing
    if kind in _HARDWARE_ERRORS:
        for servo in servos:
            servo.inject_hardware_error(_HARDWARE_ERRORS[kind])
        return _nothing
    if kind is FaultKind.OVERHEATING:
        for servo in servos:
            servo.set_temperature(servo.get("temperature_limit") + 5 if value is None else value)
        return _nothing
    if kind is FaultKind.INPUT_VOLTAGE:
        return _set_supply(servos, 8.0 if value is None else value)
    if kind is FaultKind.SILENT_SERVO:
        return _set_reply_faults(servos, silent=True)
    if kind is FaultKind.CORRUPT_REPLIES:
        rate = 1.0 if value is None else value
        if rate >= 1.0:
            return _set_reply_faults(servos, corrupt=10**9)
        return _change_flaws(bus, corrupt_reply_rate=rate)
    if kind is FaultKind.CABLE_PULLED:
        return _set_bus(bus, "cable_pulled")
    if kind is FaultKind.USB_UNPLUGGED:
        return _set_bus(bus, "usb_unplugged")
    if kind is FaultKind.USB_LATENCY:
        return _change_flaws(bus, usb_latency_timer_ms=16.0 if value is None else value)
    if kind is FaultKind.CURRENT_NOISE:
        return _change_flaws(bus, current_noise_ma=40.0 if value is None else value)
    if kind is FaultKind.HOST_STALL:
        if not isinstance(bus.clock, SimulatedClock):
            raise FaultError("a host stall is injected on a simulated clock (a real host stalls by itself)")
        bus.clock.sleep((50.0 if value is None else value) / 1000.0)
        return _nothing
    if kind is FaultKind.POWER_LOSS:
        bus.power_off()
        return bus.power_on
    raise FaultError(f"unknown fault {kind!r}")  # pragma: no cover - every kind is handled above


def _set_reply_faults(servos, **faults) -> Callable[[], None]:
    before = [(servo.reply_faults.silent, servo.reply_faults.corrupt) for servo in servos]
    for servo in servos:
        for name, setting in faults.items():
            setattr(servo.reply_faults, name, setting)

    def undo() -> None:
        for servo, (silent, corrupt) in zip(servos, before, strict=True):
            servo.reply_faults.silent, servo.reply_faults.corrupt = silent, corrupt

    return undo


def _set_supply(servos, volts: float) -> Callable[[], None]:
    for servo in servos:
        servo.set_input_voltage(volts)

    def undo() -> None:
        for servo in servos:
            servo.set_input_voltage(12.0)

    return undo


def _set_bus(bus: VirtualServoBus, flag: str) -> Callable[[], None]:
    setattr(bus, flag, True)
    return lambda: setattr(bus, flag, False)


def _change_flaws(bus: VirtualServoBus, **changes: float) -> Callable[[], None]:
    before = bus.flaws
    bus.apply_flaws(ArmFlaws.model_validate(before.model_dump() | changes))
    return lambda: bus.apply_flaws(before)


def xl430_models(faults: Sequence[ServoFault]) -> dict[int, ControlTable]:
    """The `models` of a bus with the XL430s that `faults` put on it."""
    return {fault.servo: XL430_W250 for fault in faults if fault.kind is FaultKind.XL430 and fault.servo is not None}


class ServoFault(BaseModel):
    """One fault of a scenario: what, to which servo, when (`at_s`, or `bite` and `phase`), for how long."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FaultKind
    servo: int | None = Field(default=None, ge=0, le=252)
    at_s: float | None = Field(default=None, ge=0.0, le=36_000.0)
    bite: int | None = Field(default=None, ge=1, le=200)
    phase: FaultPhase | None = None
    duration_s: float | None = Field(default=None, gt=0.0, le=36_000.0)
    value: float | None = Field(default=None, ge=0.0, le=10_000.0)

    @model_validator(mode="after")
    def _when(self) -> ServoFault:
        if self.kind is FaultKind.XL430:
            if self.servo is None:
                raise ValueError("an xl430 fault names the servo id that is an XL430-W250")
            return self
        if (self.at_s is None) == (self.bite is None and self.phase is None):
            raise ValueError("give either at_s, or bite together with phase")
        if (self.bite is None) != (self.phase is None):
            raise ValueError("bite and phase go together")
        if self.kind in _PER_SERVO and self.servo is None:
            raise ValueError(f"{self.kind.value} needs servo (the id it happens to)")
        return self


class FaultInjector:
    """Injects a scenario's servo faults when each is due, and ends them after their duration.

    `spoon_and_mouth()` gives the spoon tip's and the mouth's positions (m, world frame) and
    `bite_number()` the bite the citizen is waiting for; `update(now_s)` runs once per control tick.
    """

    def __init__(
        self,
        bus: VirtualServoBus,
        faults: Sequence[ServoFault],
        spoon_and_mouth: Callable[[], tuple[np.ndarray, np.ndarray]],
        bite_number: Callable[[], int],
    ) -> None:
        self.bus = bus
        self._pending = [fault for fault in faults if fault.kind is not FaultKind.XL430]
        self._spoon_and_mouth = spoon_and_mouth
        self._bite_number = bite_number
        self._ends: list[tuple[float, Callable[[], None]]] = []
        self._last: tuple[float, np.ndarray, float] | None = None  # (time, spoon, spoon-mouth distance)
        self._still_since = math.inf  # since when the spoon has stood still
        self.injected: list[tuple[float, FaultKind, int | None]] = []  # (time, kind, servo) as injected

    def update(self, now_s: float) -> None:
        """Inject what is due now, end what has lasted its duration."""
        if not self._pending and not self._ends:
            return  # nothing left to inject or end (most runs: no servo fault at all)
        lasting = []
        for end_s, undo in self._ends:
            if now_s >= end_s:
                undo()
            else:
                lasting.append((end_s, undo))
        self._ends = lasting
        spoon, mouth = self._spoon_and_mouth()
        distance = float(np.linalg.norm(spoon - mouth))
        last, self._last = self._last, (now_s, spoon, distance)
        closing = last is not None and distance < last[2]
        still = (
            last is not None
            and now_s > last[0]
            and float(np.linalg.norm(spoon - last[1])) < AT_MOUTH_BELOW_M_S * (now_s - last[0])
        )
        self._still_since = min(self._still_since, now_s) if still else math.inf
        arrived = distance <= AT_MOUTH_WITHIN_M and now_s - self._still_since >= AT_MOUTH_FOR_S
        pending = []
        for fault in self._pending:
            if self._due(fault, now_s, closing and distance <= APPROACH_WITHIN_M, arrived):
                undo = inject(self.bus, fault.kind, servo_id=fault.servo, value=fault.value)
                self.injected.append((now_s, fault.kind, fault.servo))
                if fault.duration_s is not None:
                    self._ends.append((now_s + fault.duration_s, undo))
            else:
                pending.append(fault)
        self._pending = pending

    def _due(self, fault: ServoFault, now_s: float, approaching: bool, arrived: bool) -> bool:
        if fault.at_s is not None:
            return now_s >= fault.at_s
        if fault.bite != self._bite_number():
            return False
        return approaching if fault.phase is FaultPhase.APPROACH else arrived


__all__ = [
    "APPROACH_WITHIN_M",
    "AT_MOUTH_WITHIN_M",
    "FaultError",
    "FaultInjector",
    "FaultKind",
    "FaultPhase",
    "ServoFault",
    "inject",
    "xl430_models",
]
