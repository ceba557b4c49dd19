"""Configuration of the controller as typed, validated data.

Three documents, each its own file that staff tools write and the controller loads once at start:

- `CitizenProfile`: how the robot feeds this citizen (speeds, stand-off, trigger, pace, bowls).
- `RobotCalibration`: this robot's spoon offset, taught poses, camera mount and servo bus.
- `SafetyLimits`: watchdog and limit values of the safety supervisor.

Files are TOML (`.toml`) or JSON (`.json`); `load_*` reads and validates one, `save_config`
writes one atomically (temporary file, fsync, rename). Every value that bears on safety is
*required* in a file: a missing speed or limit is an error naming the field, never a silent
default. The embedded demo defaults (`demo_profile()`, `demo_calibration()`,
`demo_safety_limits()`) are TOML files shipped in `controller/defaults/` and go through the same
loader. See docs/configuration.md for every field, its unit, default and bounds.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import tomllib
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar

import numpy as np
import tomli_w
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from controller.invalid_values import InvalidValue, refusal
from controller.kinematics import (
    JOINT_LIMITS_RAD,
    LIMIT_ROUNDING_RAD,
    Unreachable,
    UnreachableReason,
    check_joint_limits,
)
from controller.messages import Message

# Staff may adjust speeds only within these bounds (m/s).
SPEED_MIN_M_S, SPEED_MAX_M_S = 0.02, 0.25
SPEED_NEAR_MOUTH_MIN_M_S, SPEED_NEAR_MOUTH_MAX_M_S = 0.01, 0.08

# A citizen's face size relative to the mean face of vision's face model (1.0 = the mean face).
FACE_SCALE_MIN, FACE_SCALE_MAX = 0.6, 1.6

MAX_SERVO_ID = 252  # Dynamixel ids 0..252 (253 and up are reserved or broadcast)

# Baud rates a Dynamixel X-series servo can be set to (control table address 8).
DYNAMIXEL_BAUDRATES = frozenset({9_600, 57_600, 115_200, 1_000_000, 2_000_000, 3_000_000, 4_000_000, 4_500_000})

# The servos' Bus Watchdog (address 98) counts in 20 ms steps, 1..127.
BUS_WATCHDOG_STEP_MS = 20
BUS_WATCHDOG_MAX_STEPS = 127
MAX_CAMERA_DISTANCE_M = 2.0  # from the robot's base
POSITION_GAIN_MAX = 16383  # XM430-W350 Position P/I/D Gain register range is 0..16383


class ConfigError(Exception):
    """Base of every configuration error."""


class ConfigFileError(ConfigError):
    """A configuration file cannot be read or written, or is not TOML/JSON."""


class ConfigValidationError(ConfigError, ValueError):
    """A configuration document has wrong, missing or out-of-range values.

    `fields` lists the dotted names of the offending fields (e.g. `speed_near_mouth_m_s`,
    `bowls.1.waypoints_rad`), in the order pydantic reported them; `message` says every problem
    to a person, in their language (`refusal.invalid_value`); str() is the English, for logs.
    """

    def __init__(self, source: str, errors: Sequence[Mapping[str, Any]]) -> None:
        self.source = source
        self.fields = [_dotted(e["loc"]) for e in errors]
        self.message = refusal(errors)
        lines = [str(Message("invalid.document", source=source, count=len(errors)))]
        for error, name in zip(errors, self.fields, strict=True):
            if error["type"] == "missing":
                lines.append(f"  {name}: required value is missing (no default for this field)")
            else:
                got = error.get("input")
                shown = "" if isinstance(got, dict | list) else f" (got {_short(repr(got))})"
                lines.append(f"  {name}: {error['msg'].removeprefix('Value error, ')}{shown}")
        super().__init__("\n".join(lines))


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "<document>"


def _require_below(
    value: float,
    info: ValidationInfo,
    other: str,
    relation: Callable[[float], Message],
    *,
    or_equal: bool = False,
    above: bool = False,
) -> None:
    """Cross-field check on the later field, so that the error names it. `other` was validated
    first (declared earlier); when it failed, its own error is reported and this check is skipped."""
    reference = info.data.get(other)
    if reference is None:
        return
    low, high = (reference, value) if above else (value, reference)
    if not (low <= high if or_equal else low < high):
        raise InvalidValue(relation(reference))


class TriggerKind(StrEnum):
    """How the citizen asks for the next bite (also the `kind` of a journalled trigger)."""

    SWITCH = "switch"
    PANEL = "panel"
    MOUTH_GESTURE = "mouth_gesture"
    AUTO_PACE = "auto_pace"


class _Document(BaseModel):
    """Common model settings: unknown keys are errors, NaN/inf are rejected, values are frozen."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class GestureSettings(_Document):
    """Open-and-hold mouth gesture: thresholds on `MouthObservation.open_ratio` and timings (s).

    The ratio is the one `vision.MouthTracker` reports (inner-lip gap over inner mouth width, its
    OpenCV backend), on which the shared face photos read: closed mouths 0.004-0.07, speech
    0.10-0.49, yawns 0.24-0.86; the backend calls a mouth open above 0.091. The defaults put the
    gesture's band (open from 0.15, closed again at 0.10) just above that, so that a mouth open
    for the gesture is always `is_open` and the lips meeting in speech end a run; speech and a
    deliberate opening reach the same ratios, so the dwell tells them apart (docs/configuration.md).
    """

    open_threshold: float = Field(0.15, gt=0.0, lt=1.5)
    close_threshold: float = Field(0.10, ge=0.0, lt=1.5)
    dwell_s: float = Field(1.0, ge=0.3, le=5.0)
    misfire_min_s: float = Field(0.5, ge=0.1, le=5.0)
    refractory_s: float = Field(1.0, ge=0.0, le=10.0)
    debounce_s: float = Field(0.1, ge=0.0, le=1.0)
    min_confidence: float = Field(0.5, ge=0.0, le=1.0)

    @field_validator("close_threshold")
    @classmethod
    def _hysteresis(cls, close: float, info: ValidationInfo) -> float:
        _require_below(
            close, info, "open_threshold", lambda ref: Message("invalid.below_open_threshold", reference=ref)
        )
        return close

    @field_validator("misfire_min_s")
    @classmethod
    def _shorter_than_dwell(cls, misfire_min_s: float, info: ValidationInfo) -> float:
        _require_below(misfire_min_s, info, "dwell_s", lambda ref: Message("invalid.shorter_than_dwell", reference=ref))
        return misfire_min_s


class CitizenProfile(_Document):
    """How the robot feeds one citizen. Speeds and distances are required in a file.

    `face_scale` is the citizen's face size over the mean face of vision's face model, measured
    on the robot (staff page, step "face size"); None means not calibrated: the mouth's depth then
    assumes the mean face and may be off by several cm, and `bidvis run` says so at start.
    """

    speed_m_s: float = Field(ge=SPEED_MIN_M_S, le=SPEED_MAX_M_S)
    speed_near_mouth_m_s: float = Field(ge=SPEED_NEAR_MOUTH_MIN_M_S, le=SPEED_NEAR_MOUTH_MAX_M_S)
    near_mouth_radius_m: float = Field(ge=0.05, le=0.30)
    standoff_m: float = Field(ge=0.01, le=0.05)
    bite_timeout_s: float = Field(ge=2.0, le=120.0)
    trigger_kind: TriggerKind
    auto_pace_s: float = Field(6.0, ge=1.0, le=120.0)
    gesture: GestureSettings = GestureSettings()
    bowls_used: tuple[int, ...] = Field((0, 1), min_length=1)
    face_scale: float | None = Field(None, ge=FACE_SCALE_MIN, le=FACE_SCALE_MAX)

    @field_validator("bowls_used")
    @classmethod
    def _distinct_bowls(cls, bowls: tuple[int, ...]) -> tuple[int, ...]:
        if any(b < 0 for b in bowls) or len(set(bowls)) != len(bowls):
            raise InvalidValue(Message("invalid.bowls_distinct", bowls=str(list(bowls))))
        return bowls

    @field_validator("speed_near_mouth_m_s")
    @classmethod
    def _near_mouth_not_faster(cls, speed: float, info: ValidationInfo) -> float:
        _require_below(
            speed, info, "speed_m_s", lambda ref: Message("invalid.at_most_speed", reference=ref), or_equal=True
        )
        return speed


JointAngles = Annotated[tuple[float, float, float, float], Field(description="joints 1-4, rad")]


def _check_joint_limits(q: tuple[float, ...]) -> tuple[float, ...]:
    """`q`, or `InvalidValue` naming the first joint outside its limits (`check_joint_limits`)."""
    try:
        check_joint_limits(q)
    except Unreachable as exc:
        assert exc.joint is not None, "a joint limit names its joint"
        if exc.reason is UnreachableReason.NOT_FINITE:
            raise InvalidValue(Message("invalid.joint_not_finite", joint=exc.joint)) from None
        low, high = JOINT_LIMITS_RAD[exc.joint - 1]
        outside = Message(
            "invalid.joint_outside",
            joint=exc.joint,
            value_rad=q[exc.joint - 1],
            low_rad=low - LIMIT_ROUNDING_RAD,
            high_rad=high + LIMIT_ROUNDING_RAD,
        )
        raise InvalidValue(outside) from None
    return q


class SpoonOffset(_Document):
    """Where the spoon's bowl sits relative to the arm's tool tip (tool frame, x forward, z up)."""

    x_m: float = Field(ge=-0.05, le=0.20)
    z_m: float = Field(ge=-0.10, le=0.10)
    pitch_rad: float = Field(ge=-math.pi / 2, le=math.pi / 2)


class BowlScoop(_Document):
    """A bowl on the table and the taught scoop motion for it (joint waypoints, rad)."""

    name: str = Field(min_length=1, max_length=40)
    waypoints_rad: list[JointAngles] = Field(min_length=1, max_length=32)

    @field_validator("waypoints_rad")
    @classmethod
    def _within_limits(cls, waypoints: list[tuple[float, ...]]) -> list[tuple[float, ...]]:
        for index, q in enumerate(waypoints):
            try:
                _check_joint_limits(q)
            except InvalidValue as exc:
                raise InvalidValue(Message("invalid.waypoint", waypoint=index, cause=exc.message)) from None
        return waypoints


class CameraMount(_Document):
    """The camera: a reference to its intrinsics file and its pose in the robot base frame."""

    intrinsics_ref: str = Field(min_length=1)
    camera_to_base: tuple[
        tuple[float, float, float, float],
        tuple[float, float, float, float],
        tuple[float, float, float, float],
        tuple[float, float, float, float],
    ]

    @field_validator("camera_to_base")
    @classmethod
    def _rigid(cls, rows: tuple[tuple[float, ...], ...]) -> tuple[tuple[float, ...], ...]:
        matrix = np.asarray(rows, dtype=float)
        if not np.allclose(matrix[3], (0.0, 0.0, 0.0, 1.0), atol=1e-9):
            raise InvalidValue(Message("invalid.last_row", row=str(matrix[3].tolist())))
        rotation = matrix[:3, :3]
        if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-3):
            raise InvalidValue(Message("invalid.not_orthonormal"))
        if np.linalg.det(rotation) < 0.0:
            raise InvalidValue(Message("invalid.reflection"))
        if (distance := float(np.linalg.norm(matrix[:3, 3]))) > MAX_CAMERA_DISTANCE_M:
            raise InvalidValue(Message("invalid.camera_far", distance_m=distance, max_m=MAX_CAMERA_DISTANCE_M))
        return rows

    def matrix(self) -> np.ndarray:
        """The camera-to-base transform as a 4x4 array."""
        return np.asarray(self.camera_to_base, dtype=float)


class RobotCalibration(_Document):
    """One robot's calibration: spoon, taught poses, camera mount, servo bus. All required."""

    spoon: SpoonOffset
    ready_pose_rad: JointAngles
    # Where the arm rests on its own stops with its torque off (staff's "park and power down");
    # None: the embedded default's (controller/defaults/robot_calibration.toml), see `rest_pose`.
    rest_pose_rad: JointAngles | None = None
    bowls: list[BowlScoop] = Field(min_length=1, max_length=8)
    camera: CameraMount
    joint_servo_ids: tuple[int, int, int, int]
    tool_servo_id: int | None = None
    port: str = Field(min_length=1)
    baudrate: int
    rate_hz: float = Field(ge=50.0, le=1000.0)
    changed_by: str = Field(min_length=1, max_length=80)
    changed_at: AwareDatetime

    @field_validator("ready_pose_rad")
    @classmethod
    def _ready_within_limits(cls, q: tuple[float, ...]) -> tuple[float, ...]:
        return _check_joint_limits(q)

    @field_validator("rest_pose_rad")
    @classmethod
    def _rest_within_limits(cls, q: tuple[float, ...] | None) -> tuple[float, ...] | None:
        return None if q is None else _check_joint_limits(q)

    @field_validator("baudrate")
    @classmethod
    def _dynamixel_baudrate(cls, baudrate: int) -> int:
        if baudrate not in DYNAMIXEL_BAUDRATES:
            raise InvalidValue(Message("invalid.baudrate", baudrate=baudrate, rates=str(sorted(DYNAMIXEL_BAUDRATES))))
        return baudrate

    @field_validator("joint_servo_ids")
    @classmethod
    def _joint_ids(cls, ids: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 0 <= i <= MAX_SERVO_ID for i in ids) or len(set(ids)) != len(ids):
            raise InvalidValue(Message("invalid.servo_ids", max=MAX_SERVO_ID, ids=str(list(ids))))
        return ids

    @field_validator("tool_servo_id")
    @classmethod
    def _tool_id(cls, tool: int | None, info: ValidationInfo) -> int | None:
        if tool is None:
            return None
        if not 0 <= tool <= MAX_SERVO_ID:
            raise InvalidValue(Message("invalid.servo_id", max=MAX_SERVO_ID, id=tool))
        if tool in info.data.get("joint_servo_ids", ()):
            raise InvalidValue(Message("invalid.servo_id_taken", id=tool))
        return tool

    @property
    def rest_pose(self) -> tuple[float, ...]:
        """The rest pose (rad): this robot's `rest_pose_rad`, else the embedded default's."""
        if self.rest_pose_rad is not None:
            return self.rest_pose_rad
        default = demo_calibration().rest_pose_rad
        assert default is not None, "the embedded calibration names its rest pose"
        return default

    @property
    def servo_ids(self) -> tuple[int, ...]:
        """Every servo on the bus: joints 1-4, then the tool servo when fitted."""
        tool = () if self.tool_servo_id is None else (self.tool_servo_id,)
        return (*self.joint_servo_ids, *tool)


class SafetyLimits(_Document):
    """Limits and watchdogs of the safety supervisor. All required: none may default silently."""

    stale_after_s: float = Field(gt=0.0, le=1.0)
    lost_after_s: float = Field(gt=0.0, le=5.0)
    max_mouth_jump_m: float = Field(gt=0.0, le=0.5)
    # A mouth observation steers the spoon only at this confidence or above (and when vision calls it
    # usable); below it counts as no observation: hold after stale_after_s, retract after lost_after_s.
    min_mouth_confidence: float = Field(gt=0.0, le=1.0)
    max_lean_in_speed_m_s: float = Field(gt=0.0, le=2.0)
    lean_in_min_closing_m: float = Field(gt=0.0, le=0.1)
    # Contact: a joint's current this many times its commissioned noise off the expected current
    # (docs/controller.md, "Contact detection", says how it was tuned) ...
    contact_noise_sigmas: float = Field(gt=0.0, le=20.0)
    # ... and, on an arm with no commissioning record yet (set-up before `bidvis commission`, the
    # simulator), the noise assumed for every joint: the largest that commissioning passes.
    uncommissioned_current_noise_ma: float = Field(gt=0.0, le=1000.0)
    max_consecutive_bus_errors: int = Field(ge=1, le=100)
    watchdog_ms: int = Field(ge=BUS_WATCHDOG_STEP_MS, le=BUS_WATCHDOG_STEP_MS * BUS_WATCHDOG_MAX_STEPS)
    max_joint_speed_rad_s: float = Field(gt=0.0, le=6.0)
    # A measured joint further than max_following_error_rad + following_lag_s x its commanded speed
    # from its command (two ticks in a row) is a safe stop, `following_error` (docs/controller.md).
    max_following_error_rad: float = Field(gt=0.0, le=0.5)
    following_lag_s: float = Field(ge=0.0, le=0.5)
    max_temperature_c: float = Field(ge=30.0, le=80.0)
    min_voltage_v: float = Field(ge=9.5, le=16.0)
    max_voltage_v: float = Field(ge=9.5, le=16.0)
    # The joint servos' Position P / D Gain registers (84 / 80; raw, 0..16383; XM430 defaults 800 / 0),
    # written at start-up: how hard the servos brake when the Bus Watchdog stops them.
    position_p_gain: int = Field(ge=0, le=POSITION_GAIN_MAX)
    position_d_gain: int = Field(ge=0, le=POSITION_GAIN_MAX)
    # Current-limited position control near the face (controller.face_current; 0 = off, position
    # control): above 0 the joint servos run in current-based position control, and near the face
    # each joint's Goal Current is its expected current plus this margin (mA), which must stay above
    # the contact threshold.
    face_current_margin_ma: float = Field(ge=0.0, le=3000.0)

    @field_validator("watchdog_ms")
    @classmethod
    def _watchdog_step(cls, watchdog_ms: int) -> int:
        if watchdog_ms % BUS_WATCHDOG_STEP_MS:
            raise InvalidValue(Message("invalid.watchdog_step", ms=watchdog_ms, step_ms=BUS_WATCHDOG_STEP_MS))
        return watchdog_ms

    @field_validator("lost_after_s")
    @classmethod
    def _lost_after_stale(cls, lost_after_s: float, info: ValidationInfo) -> float:
        _require_below(
            lost_after_s,
            info,
            "stale_after_s",
            lambda ref: Message("invalid.longer_than_stale", reference=ref),
            above=True,
        )
        return lost_after_s

    @field_validator("max_voltage_v")
    @classmethod
    def _voltage_window(cls, max_voltage_v: float, info: ValidationInfo) -> float:
        _require_below(
            max_voltage_v,
            info,
            "min_voltage_v",
            lambda ref: Message("invalid.above_min_voltage", reference=ref),
            above=True,
        )
        return max_voltage_v

    @property
    def watchdog_steps(self) -> int:
        """The value to write to the servos' Bus Watchdog register (20 ms units)."""
        return self.watchdog_ms // BUS_WATCHDOG_STEP_MS


class ControllerSettings(BaseSettings):
    """Where the controller finds its files and the care-plan service (environment `BIDVIS_*`).

    A path left unset means "use the embedded demo default" for that document.
    """

    model_config = SettingsConfigDict(env_prefix="BIDVIS_", extra="forbid")

    profile_path: Path | None = None
    calibration_path: Path | None = None
    safety_path: Path | None = None
    journal_path: Path = Path("bidvis-journal.sqlite3")
    careplan_url: str | None = None
    device_token: SecretStr | None = None

    def load_profile(self) -> CitizenProfile:
        """The citizen profile from `profile_path`, or the demo default."""
        return demo_profile() if self.profile_path is None else load_profile(self.profile_path)

    def load_calibration(self) -> RobotCalibration:
        """The robot calibration from `calibration_path`, or the demo default."""
        if self.calibration_path is None:
            return demo_calibration()
        return load_calibration(self.calibration_path)

    def load_safety_limits(self) -> SafetyLimits:
        """The safety limits from `safety_path`, or the demo default."""
        if self.safety_path is None:
            return demo_safety_limits()
        return load_safety_limits(self.safety_path)


Document = TypeVar("Document", bound=BaseModel)

_FORMATS = (".toml", ".json")


def parse_config(text: str, model: type[Document], *, fmt: str, source: str = "<text>") -> Document:
    """Parse TOML or JSON text (`fmt` is "toml" or "json") into `model`, validating every field."""
    try:
        raw = tomllib.loads(text) if fmt == "toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"{source}: not valid {fmt.upper()}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigFileError(f"{source}: expected a table/object at top level, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigValidationError(source, exc.errors()) from exc


def load_config(path: str | os.PathLike[str], model: type[Document]) -> Document:
    """Load and validate one configuration file (`.toml` or `.json`)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        raise ConfigFileError(f"{path}: unknown configuration format {suffix!r}; use .toml or .json")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot read configuration: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    return parse_config(text, model, fmt=suffix[1:], source=str(path))


def load_profile(path: str | os.PathLike[str]) -> CitizenProfile:
    """Load a `CitizenProfile` file."""
    return load_config(path, CitizenProfile)


def load_calibration(path: str | os.PathLike[str]) -> RobotCalibration:
    """Load a `RobotCalibration` file."""
    return load_config(path, RobotCalibration)


def load_safety_limits(path: str | os.PathLike[str]) -> SafetyLimits:
    """Load a `SafetyLimits` file."""
    return load_config(path, SafetyLimits)


def dump_config(document: BaseModel, fmt: str) -> str:
    """Serialize a configuration document as TOML or JSON text (fields unset to None left out)."""
    plain = document.model_dump(mode="python", exclude_none=True)
    if fmt == "toml":
        return tomli_w.dumps(_toml_ready(plain))
    if fmt == "json":
        return document.model_dump_json(indent=2, exclude_none=True) + "\n"
    raise ConfigFileError(f"unknown configuration format {fmt!r}; use toml or json")


def _toml_ready(value: Any) -> Any:
    """Tuples to lists, enums to their values: the shapes tomli_w writes."""
    if isinstance(value, dict):
        return {key: _toml_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_toml_ready(item) for item in value]
    if isinstance(value, StrEnum):
        return value.value
    return value


def save_config(document: BaseModel, path: str | os.PathLike[str]) -> None:
    """Write `document` to `path` atomically: a reader sees the old file or the new, never half.

    The format follows the suffix (`.toml` or `.json`). The text is written to a temporary file
    in the same directory, flushed to disk, then renamed over `path`.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        raise ConfigFileError(f"{path}: unknown configuration format {suffix!r}; use .toml or .json")
    text = dump_config(document, suffix[1:])
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot write configuration: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise ConfigFileError(f"{path}: cannot write configuration: {exc.strerror or exc}") from exc


def _demo(name: str, model: type[Document]) -> Document:
    text = resources.files("controller.defaults").joinpath(name).read_text(encoding="utf-8")
    return parse_config(text, model, fmt="toml", source=f"controller/defaults/{name}")


def demo_profile() -> CitizenProfile:
    """The embedded demo citizen profile (controller/defaults/citizen_profile.toml)."""
    return _demo("citizen_profile.toml", CitizenProfile)


def demo_calibration() -> RobotCalibration:
    """The embedded demo calibration (controller/defaults/robot_calibration.toml)."""
    return _demo("robot_calibration.toml", RobotCalibration)


def demo_safety_limits() -> SafetyLimits:
    """The embedded demo safety limits (controller/defaults/safety_limits.toml)."""
    return _demo("safety_limits.toml", SafetyLimits)


def check_profile_fits(profile: CitizenProfile, calibration: RobotCalibration) -> None:
    """Raise `ConfigValidationError` (field `bowls_used`) if the profile uses a bowl not taught."""
    missing = [b for b in profile.bowls_used if b >= len(calibration.bowls)]
    if missing:
        taught = Message("invalid.bowls_taught", count=len(calibration.bowls))
        error = InvalidValue(Message("invalid.bowls_not_taught", bowls=str(missing), taught=taught))
        raise ConfigValidationError(
            "profile against calibration",
            [
                {
                    "loc": ("bowls_used",),
                    "type": "value_error",
                    "msg": str(error),
                    "input": list(profile.bowls_used),
                    "ctx": {"error": error},
                }
            ],
        )


def calibration_change(old: RobotCalibration, new: RobotCalibration) -> dict[str, Any]:
    """The `data` of a `calibration_changed` journal event: who, when, and which fields changed."""
    before = old.model_dump(mode="json", exclude={"changed_by", "changed_at"})
    after = new.model_dump(mode="json", exclude={"changed_by", "changed_at"})
    changed = sorted(key for key in after if before.get(key) != after[key])
    return {
        "changed_by": new.changed_by,
        "changed_at": new.changed_at.isoformat(),
        "fields": changed,
    }


__all__ = [
    "DYNAMIXEL_BAUDRATES",
    "SPEED_MAX_M_S",
    "SPEED_MIN_M_S",
    "SPEED_NEAR_MOUTH_MAX_M_S",
    "SPEED_NEAR_MOUTH_MIN_M_S",
    "BowlScoop",
    "CameraMount",
    "CitizenProfile",
    "ConfigError",
    "ConfigFileError",
    "ConfigValidationError",
    "ControllerSettings",
    "GestureSettings",
    "RobotCalibration",
    "SafetyLimits",
    "SpoonOffset",
    "TriggerKind",
    "calibration_change",
    "check_profile_fits",
    "demo_calibration",
    "demo_profile",
    "demo_safety_limits",
    "dump_config",
    "load_calibration",
    "load_config",
    "load_profile",
    "load_safety_limits",
    "parse_config",
    "save_config",
]
