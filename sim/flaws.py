"""The flaws of the simulated arm: one typed, documented configuration, with named presets.

A real arm is not the ideal plant: its servos report noisy currents and positions counted in
encoder ticks, its gears have play and friction, its joints sag under load, replies get lost or
garbled on the wire, the USB adapter holds replies back until its latency timer ticks, the USB link
now and then stalls (and the servos' Bus Watchdog trips), and a servo can overheat and shut down.
`ArmFlaws` says how much of each the simulated arm has; the virtual servos (`sim.servo`), the
virtual bus (`sim.virtual_bus`) and the plants (`sim.servo_plant.CompliantPlant`,
`sim.world_plant.MujocoPlant`) apply them. Every random draw comes from `seed`, so a run is
reproducible, and a scenario, a test or a safety campaign can pick or randomise each value.

Presets (`FLAW_PRESETS`, `flaws_preset(name)`):

- `typical`: an OpenManipulator-X-class arm of XM430-W350 servos on a U2D2 whose latency timer
  was set to 1 ms, as commissioning demands (docs/commissioning.md); the default of
  `bidvis sim-bus` and of the MuJoCo world.
- `harsh`: everything worse (noisier, more play, more lost replies, longer and more frequent USB
  stalls): for margins.
- `factory_adapter`: `typical` with the U2D2's factory 16 ms latency timer.
- `ideal`: no flaw at all: the ideal plant, only on request (unit tests of the servo firmware).

Figures are documented per field, with their source where there is one (ROBOTIS e-Manual, FTDI
AN232B-04 for the latency timer); the rest are stated assumptions (docs/simulator.md, "Flaws").
"""

from __future__ import annotations

import json
import math
import random
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError


class ArmFlaws(BaseModel):
    """How flawed the simulated arm is (all zero / False = the ideal arm). Units are in the names."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, use_attribute_docstrings=True)

    # -- what the servos report ------------------------------------------------------------------
    current_noise_ma: float = Field(default=0.0, ge=0.0, le=500.0)
    """Standard deviation of the Gaussian noise on the measured motor current, Present Current (an
    XL430 shows the noise of that current, through its torque constant, in Present Load). A real
    XM430 holding still reads tens of mA of noise."""
    encoder_noise_ticks: float = Field(default=0.0, ge=0.0, le=20.0)
    """Standard deviation of the noise on Present Position, in encoder ticks (before rounding)."""
    position_step_ticks: int = Field(default=1, ge=1, le=64)
    """Present Position is a multiple of this many ticks (1: the encoder's 4096 per turn)."""

    # -- mechanics (the plant) ---------------------------------------------------------------------
    compliant_joints: bool = False
    """Joints held by a finite position stiffness from the servos' gains (as in the MuJoCo world):
    they sag under load, lag and brake in finite time. False: joints follow commands exactly."""
    backlash_rad: float = Field(default=0.0, ge=0.0, le=0.05)
    """Play in each gearbox: the joint follows the motor only once the motor pushes on a flank."""
    friction_nm: float = Field(default=0.0, ge=0.0, le=1.0)
    """Coulomb friction added at each joint (stiction included), on top of the plant's own."""

    # -- the wire and the USB adapter ------------------------------------------------------------
    lost_reply_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    """Fraction of status packets that never reach the host."""
    corrupt_reply_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    """Fraction of status packets that arrive with a wrong CRC."""
    usb_latency_timer_ms: float = Field(default=0.0, ge=0.0, le=255.0)
    """The adapter hands received bytes to the host only when its latency timer fires: a reply
    waits up to this long (16 ms factory default of the FTDI chip, 1 ms once set; 0: no adapter)."""
    usb_stalls_per_hour: float = Field(default=0.0, ge=0.0, le=3600.0)
    """How often the USB link stalls (bytes neither sent nor received), on average."""
    usb_stall_ms: float = Field(default=0.0, ge=0.0, le=1000.0)
    """How long each stall lasts; longer than the Bus Watchdog, it trips the servos' watchdog."""

    # -- heat --------------------------------------------------------------------------------------
    heating_c_per_w: float = Field(default=0.0, ge=0.0, le=200.0)
    """Steady temperature rise per watt of winding loss (I^2 R); 0: the servos stay at 30 degC."""
    heating_time_constant_s: float = Field(default=600.0, gt=0.0, le=36_000.0)
    """Thermal time constant of a servo."""
    overheating_servo_id: int | None = Field(default=None, ge=0, le=252)
    """A servo whose temperature climbs by itself (a stalled fan, a failing motor) until it
    passes its Temperature Limit and shuts down with an overheating error."""
    overheating_from_s: float = Field(default=0.0, ge=0.0, le=36_000.0)
    """When that servo starts to climb (seconds of bus time)."""
    overheating_c_per_s: float = Field(default=1.0, gt=0.0, le=100.0)
    """How fast it climbs."""

    seed: int = Field(default=0, ge=0)
    """Seed of every random draw of these flaws."""

    @property
    def sensor_noise(self) -> bool:
        """True when the servos' readings carry noise or coarser steps."""
        return self.current_noise_ma > 0.0 or self.encoder_noise_ticks > 0.0 or self.position_step_ticks > 1

    @property
    def heats(self) -> bool:
        """True when some servo's temperature moves."""
        return self.heating_c_per_w > 0.0 or self.overheating_servo_id is not None

    def summary(self) -> str:
        """The flaws that are on, in one line ("ideal" when none is)."""
        changed = [
            f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}"
            for name, value in self.model_dump(exclude={"seed"}).items()
            if value != IDEAL_VALUES[name]
        ]
        return ", ".join(changed) or "ideal"

    def rng(self, stream: int) -> random.Random:
        """An independent random stream of these flaws (one per servo, one for the bus...)."""
        return random.Random(self.seed * 1_000_003 + stream)

    def next_usb_stall_s(self, after_s: float, rng: random.Random) -> float:
        """When the next USB stall starts after `after_s` (inf when the link never stalls)."""
        if self.usb_stalls_per_hour <= 0.0 or self.usb_stall_ms <= 0.0:
            return math.inf
        return after_s + rng.expovariate(self.usb_stalls_per_hour / 3600.0)


IDEAL = ArmFlaws()
IDEAL_VALUES = IDEAL.model_dump()

TYPICAL = ArmFlaws(
    current_noise_ma=40.0,  # issue 13: 40 mA is ordinary on a real XM430
    encoder_noise_ticks=0.5,
    compliant_joints=True,
    backlash_rad=math.radians(0.25),  # 15 arcmin, the X series' stated backlash (XM540 e-Manual)
    friction_nm=0.03,
    lost_reply_rate=0.002,
    corrupt_reply_rate=0.001,
    usb_latency_timer_ms=1.0,  # set to 1 ms as commissioning demands
    usb_stalls_per_hour=6.0,
    usb_stall_ms=30.0,
    heating_c_per_w=20.0,
)

HARSH = TYPICAL.model_copy(
    update={
        "current_noise_ma": 60.0,
        "encoder_noise_ticks": 1.0,
        "backlash_rad": math.radians(0.5),
        "friction_nm": 0.06,
        "lost_reply_rate": 0.01,
        "corrupt_reply_rate": 0.005,
        "usb_stalls_per_hour": 60.0,
        "usb_stall_ms": 60.0,
        "heating_c_per_w": 30.0,
    }
)

FACTORY_ADAPTER = TYPICAL.model_copy(update={"usb_latency_timer_ms": 16.0})

FLAW_PRESETS: Mapping[str, ArmFlaws] = MappingProxyType(
    {"typical": TYPICAL, "harsh": HARSH, "factory_adapter": FACTORY_ADAPTER, "ideal": IDEAL}
)
DEFAULT_PRESET = "typical"  # the flawed arm; the ideal plant only on request (issue 13)


class FlawsError(ValueError):
    """Flaws that cannot be had: an unknown preset, an unreadable or invalid flaws file."""


class UnknownPreset(FlawsError):
    """A flaw preset name that does not exist."""


def flaws_preset(name: str) -> ArmFlaws:
    """The flaws of a named preset; `UnknownPreset` lists the names."""
    try:
        return FLAW_PRESETS[name]
    except KeyError:
        raise UnknownPreset(f"no flaw preset {name!r}; choose one of {', '.join(FLAW_PRESETS)}") from None


def default_flaws() -> ArmFlaws:
    """The flaws of the simulated arm when nobody chooses (`DEFAULT_PRESET`)."""
    return FLAW_PRESETS[DEFAULT_PRESET]


def _preset_with_overrides(value: Any) -> Any:
    """A preset name, or a table with an optional `preset` (default `DEFAULT_PRESET`) and fields
    that override it, as data files give the flaws."""
    if isinstance(value, str):
        return flaws_preset(value)
    if isinstance(value, Mapping):
        fields = dict(value)
        base = flaws_preset(str(fields.pop("preset", DEFAULT_PRESET)))
        return base.model_dump() | fields
    return value


FlawsSetting = Annotated[ArmFlaws, BeforeValidator(_preset_with_overrides)]
"""`ArmFlaws` in a data file (a scenario's `flaws`): `"harsh"`, or `{preset = "typical",
current_noise_ma = 80}`."""


class _FlawsFile(BaseModel):
    flaws: FlawsSetting


def load_flaws(choice: str) -> ArmFlaws:
    """A preset by name, or the flaws of a `.json`/`.toml` file (a table with an optional `preset`
    and fields that override it); `FlawsError` says what is wrong."""
    if choice in FLAW_PRESETS:
        return FLAW_PRESETS[choice]
    path = Path(choice)
    if path.suffix.lower() not in (".json", ".toml"):
        raise UnknownPreset(
            f"no flaw preset {choice!r}; choose one of {', '.join(FLAW_PRESETS)}, or a .json/.toml file"
        )
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # JSON and TOML errors are ValueErrors
        raise FlawsError(f"cannot read flaws file {path}: {exc}") from None
    try:
        return _FlawsFile.model_validate({"flaws": data}).flaws
    except (ValidationError, FlawsError) as exc:
        raise FlawsError(f"invalid flaws file {path}: {_one_line(exc)}") from None


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'][1:])) or 'flaws'}: {e['msg']}" for e in exc.errors())
    return str(exc)


__all__ = [
    "DEFAULT_PRESET",
    "FACTORY_ADAPTER",
    "FLAW_PRESETS",
    "HARSH",
    "IDEAL",
    "TYPICAL",
    "ArmFlaws",
    "FlawsError",
    "FlawsSetting",
    "UnknownPreset",
    "default_flaws",
    "flaws_preset",
    "load_flaws",
]
