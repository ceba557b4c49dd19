"""Scenarios as data: how the simulated citizen behaves during a meal, and what goes wrong.

A scenario file is TOML with one `[[scenario]]` table per scenario (format: docs/scenarios.md). It
is validated with pydantic on load; a bad value raises `ScenarioError` whose message names the
field (`scenario[2].events[0].duration_s: ...`). The built-in scenarios live in
`sim/assets/scenarios.toml`.
"""

from __future__ import annotations

import tomllib
from enum import Enum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sim.faults import ServoFault
from sim.flaws import FlawsSetting
from sim.world import SimError

BUILTIN_SCENARIOS = Path(__file__).resolve().parent / "assets" / "scenarios.toml"


class ScenarioError(SimError):
    """A scenario file that cannot be read or has invalid values."""


class EventKind(str, Enum):
    """Things a citizen does besides eating."""

    TALK = "talk"
    TURN_AWAY = "turn_away"
    LEAN_IN = "lean_in"
    SNEEZE = "sneeze"
    FALL_ASLEEP = "fall_asleep"
    LEAVE_TABLE = "leave_table"
    KEEP_MOUTH_CLOSED = "keep_mouth_closed"
    NOD = "nod"
    COUGH = "cough"
    SLUMP = "slump"


class CameraFaultKind(str, Enum):
    """Ways the camera fails."""

    FROZEN_FRAME = "frozen_frame"
    NOISY_FROZEN_FRAME = "noisy_frozen_frame"  # the same picture under fresh sensor noise: a stuck image pipeline
    BLACK_FRAME = "black_frame"
    WHITE_FRAME = "white_frame"
    COVERED_LENS = "covered_lens"
    DROPPED_FRAMES = "dropped_frames"
    SECOND_FACE = "second_face"
    HAND_IN_VIEW = "hand_in_view"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CitizenEvent(_Strict):
    """One behaviour, started at a time (`at_s`) or when the spoon comes near (`bite` +
    `when_spoon_within_m`: during that bite's approach, once the spoon tip is that close; with
    `while_spoon_waits`, only while the spoon waits at the ready pose for the citizen's trigger)."""

    kind: EventKind
    at_s: float | None = Field(default=None, ge=0.0, le=3600.0)
    bite: int | None = Field(default=None, ge=1, le=200)
    when_spoon_within_m: float | None = Field(default=None, gt=0.0, le=0.5)
    while_spoon_waits: bool = False
    duration_s: float = Field(default=1.0, gt=0.0, le=3600.0)
    distance_m: float = Field(default=0.05, ge=0.0, le=0.25)
    angle_rad: float = Field(default=1.2, ge=-1.6, le=1.6)
    speed_m_s: float = Field(default=0.3, gt=0.0, le=3.0)

    @model_validator(mode="after")
    def _one_trigger(self) -> CitizenEvent:
        timed = self.at_s is not None
        proximity = self.bite is not None or self.when_spoon_within_m is not None
        if timed == proximity:
            raise ValueError("give either at_s, or bite together with when_spoon_within_m")
        if proximity and (self.bite is None or self.when_spoon_within_m is None):
            raise ValueError("bite and when_spoon_within_m go together")
        if self.while_spoon_waits and not proximity:
            raise ValueError("while_spoon_waits needs bite and when_spoon_within_m")
        return self


class CameraFault(_Strict):
    """A camera fault from `at_s` for `duration_s`."""

    kind: CameraFaultKind
    at_s: float = Field(ge=0.0, le=3600.0)
    duration_s: float = Field(gt=0.0, le=3600.0)


Vector3 = tuple[float, float, float]


class CameraVision(str, Enum):
    """Where a scenario's mouth observations come from (see `CameraSettings.vision`)."""

    FACES = "faces"  # rendered face frames through the real tracker
    GROUND_TRUTH = "ground_truth"  # the true mouth with noise, latency and dropouts


class CameraSettings(_Strict):
    """How the simulated camera sees this citizen (docs/scenarios.md, `camera`).

    `vision` None leaves the choice to the command (`--camera`). The ground-truth source adds
    `noise_px` of pixel noise and `depth_noise` (relative) to the mouth's distance (fresh every
    frame, or drifting with the correlation time `depth_noise_time_s` when that is above 0), delivers after
    `latency_s` and drops `dropout_probability` of the frames; `light` below 1 (dimmer) scales
    its noise up by 1/light. Face frames are darkened or brightened by `light` and get
    `sensor_noise` grey levels of Gaussian noise; the real tracker then does what it can.
    `vision_within_m` (face frames only) renders and tracks frames only while the spoon is that
    near the mouth, where the arm acts on it; farther away (the scoop) the ground-truth source
    stands in, to save the rendering. None: frames all the time.
    """

    vision: CameraVision | None = None
    noise_px: float = Field(default=1.5, ge=0.0, le=30.0)
    depth_noise: float = Field(default=0.01, ge=0.0, le=0.3)
    depth_noise_time_s: float = Field(default=0.0, ge=0.0, le=10.0)
    latency_s: float = Field(default=0.06, ge=0.0, le=0.5)
    dropout_probability: float = Field(default=0.03, ge=0.0, le=0.95)
    light: float = Field(default=1.0, ge=0.2, le=2.0)
    sensor_noise: float = Field(default=0.0, ge=0.0, le=40.0)
    vision_within_m: float | None = Field(default=None, gt=0.05, le=1.0)


class CalibrationError(_Strict):
    """How wrong the robot's calibration is. The camera pose: the controller believes the camera
    sits `camera_translation_m` off and turned by `camera_rotation_rad` (a rotation vector, base
    frame) from where the simulator has it, so every mouth position it computes is off too. What
    vision is told: the camera's focal lengths off by `focal_length_fraction` (fx, fy times 1 +
    fraction) and its principal point by `principal_point_px`; the citizen's measured face size off
    by `face_scale_fraction`, which puts every mouth depth off by about as much
    (`sim.calibration_error`)."""

    camera_translation_m: Vector3 = (0.0, 0.0, 0.0)
    camera_rotation_rad: Vector3 = (0.0, 0.0, 0.0)
    focal_length_fraction: float = Field(default=0.0, ge=-0.2, le=0.2)
    principal_point_px: tuple[float, float] = (0.0, 0.0)
    face_scale_fraction: float = Field(default=0.0, ge=-0.3, le=0.3)

    @model_validator(mode="after")
    def _plausible(self) -> CalibrationError:
        if max(abs(v) for v in self.camera_translation_m) > 0.05:
            raise ValueError("camera_translation_m: each component must be within 0.05 m")
        if max(abs(v) for v in self.camera_rotation_rad) > 0.2:
            raise ValueError("camera_rotation_rad: each component must be within 0.2 rad")
        if max(abs(v) for v in self.principal_point_px) > 40.0:
            raise ValueError("principal_point_px: each component must be within 40 px")
        return self


class HostStall(_Strict):
    """The host (the controller's process) stops talking to the servos at `at_s` for `duration_s`,
    as a stalled computer does; the servos' Bus Watchdog may stop the arm meanwhile."""

    at_s: float = Field(ge=0.0, le=3600.0)
    duration_s: float = Field(gt=0.0, le=5.0)


class CitizenProfile(_Strict):
    """How this citizen eats (SI units)."""

    open_mouth_when_spoon_within_m: float = Field(default=0.07, gt=0.0, le=0.5)
    mouth_open_m: float = Field(default=0.026, gt=0.005, le=0.035)
    bite_reach_m: float = Field(default=0.05, gt=0.0, le=0.12)
    reaction_s: float = Field(default=0.3, ge=0.0, le=10.0)
    bite_lean_speed_m_s: float = Field(default=0.06, gt=0.0, le=0.5)
    bite_hold_s: float = Field(default=0.4, ge=0.0, le=10.0)
    head_back_m: float = Field(default=0.05, ge=0.0, le=0.15)
    chew_s: float = Field(default=3.0, ge=0.0, le=120.0)
    sway_m: float = Field(default=0.003, ge=0.0, le=0.03)


class Scenario(_Strict):
    """One safety scenario: a citizen, a number of bites and the things that happen."""

    name: str = Field(pattern=r"^[a-z0-9_]+$", max_length=64)
    description: str = ""
    bites: int = Field(default=3, ge=1, le=200)
    seed: int = Field(default=0, ge=0)
    max_duration_s: float = Field(default=120.0, gt=0.0, le=7200.0)
    citizen: CitizenProfile = CitizenProfile()
    events: tuple[CitizenEvent, ...] = ()
    camera_faults: tuple[CameraFault, ...] = ()
    camera: CameraSettings = CameraSettings()
    calibration_error: CalibrationError = CalibrationError()
    seating_offset_m: Vector3 = (0.0, 0.0, 0.0)
    face_size: float = Field(default=1.0, ge=0.7, le=1.3)
    host_stalls: tuple[HostStall, ...] = ()
    probe_host_silence: bool = True
    flaws: FlawsSetting | None = None  # the simulated arm's flaws (sim.flaws); None: the default preset
    servo_faults: tuple[ServoFault, ...] = ()  # faults of servos, bus and host (sim.faults)

    @model_validator(mode="after")
    def _seated_at_the_table(self) -> Scenario:
        if max(abs(v) for v in self.seating_offset_m) > 0.1:
            raise ValueError("seating_offset_m: each component must be within 0.1 m of the usual seat")
        return self


class ScenarioFile(_Strict):
    """A scenario file: a list of scenarios with distinct names."""

    scenario: tuple[Scenario, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_names(self) -> ScenarioFile:
        names = [s.name for s in self.scenario]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"scenario names must be distinct; repeated: {', '.join(duplicates)}")
        return self


def _field_path(location: tuple) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(file)"


def parse_scenarios(text: str, source: str = "<text>") -> list[Scenario]:
    """Parse and validate scenario TOML; raises `ScenarioError` naming the bad field."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not valid TOML: {exc}") from exc
    try:
        return list(ScenarioFile.model_validate(raw).scenario)
    except ValidationError as exc:
        problems = "; ".join(
            f"{_field_path(err['loc'])}: {err['msg']} (got {err.get('input')!r})" for err in exc.errors()
        )
        raise ScenarioError(f"{source}: invalid scenario file: {problems}") from exc


def load_scenarios(path: Path | str = BUILTIN_SCENARIOS) -> list[Scenario]:
    """Read the scenarios of a file (the built-in ones by default)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"scenario file {path} is not UTF-8 text: {exc}") from exc
    return parse_scenarios(text, source=str(path))
