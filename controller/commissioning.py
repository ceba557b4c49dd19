"""The commissioning record: what `bidvis commission` measured on this robot's servos, and its verdict.

Nobody may feed a citizen on an arm that has not been measured: `bidvis commission` measures what
the simulator and the safety limits assume (step response at the configured gains, stop after the
host falls silent, current noise at rest and along the taught paths, bus round trip, USB latency
timer, Return Delay Time) and writes a `CommissioningRecord` as `commissioning.json` next to the
robot calibration (`record_path`). `bidvis run` refuses to start without a record that passed for
the servos on the bus (`check_record_fits`), and the controller reads each joint's current noise
from it, at rest and moving (`CommissioningRecord.joint_noise`), to set its contact thresholds.

The file is JSON (format: docs/commissioning.md); its top-level keys `joints` (per servo id:
`rise_time_s`, `overshoot_rad`, `current_noise_ma`), `stop_after_host_silence_s`,
`bus_round_trip_ms`, `latency_timer_ms` and `passed` are DESIGN.md's `bidvis commission --json`
keys. `verdict` is a pure function from the measurements and `CommissioningLimits` to the list of
failures; a record is valid only when `passed` says the same as its failures.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, Field, model_validator

from controller.config import (
    DYNAMIXEL_BAUDRATES,
    MAX_SERVO_ID,
    POSITION_GAIN_MAX,
    ConfigError,
    SafetyLimits,
    _demo,
    _Document,
    load_config,
    save_config,
)
from controller.safety import JointNoise

RECORD_FILE_NAME = "commissioning.json"
FORMAT_VERSION = 1


class CommissioningError(ConfigError):
    """The commissioning record is missing, did not pass, or was made for other servos or settings."""


class LatencySource(StrEnum):
    """Where `latency_timer_ms` came from."""

    SYSFS = "sysfs"  # the FTDI adapter's latency timer, read from Linux
    ESTIMATED = "estimated"  # from the spread of ping round trips (no adapter to ask: a pty, another OS)


class CommissioningLimits(_Document):
    """The limits the verdict holds the measurements to (docs/commissioning.md says why each)."""

    max_rise_time_s: float = Field(gt=0.0, le=1.0)
    max_overshoot_rad: float = Field(ge=0.0, le=0.5)
    max_current_noise_ma: float = Field(gt=0.0, le=1000.0)
    max_stop_after_host_silence_s: float = Field(gt=0.0, le=1.0)
    max_bus_round_trip_ms: float = Field(gt=0.0, le=100.0)
    max_latency_timer_ms: float = Field(gt=0.0, le=100.0)
    max_return_delay_time_us: float = Field(ge=0.0, le=508.0)


class JointMeasurement(_Document):
    """One servo, as measured. Current noise is the standard deviation of Present Current about
    its trend, in mA; `current_noise_ma` is the larger of at rest and along the taught paths."""

    model_number: int = Field(ge=0, le=0xFFFF)
    model_name: str = Field(min_length=1, max_length=40)
    firmware_version: int = Field(ge=0, le=255)
    rise_time_s: float = Field(ge=0.0, le=10.0)
    overshoot_rad: float = Field(ge=0.0, le=10.0)
    current_noise_rest_ma: float = Field(ge=0.0, le=10_000.0)
    current_noise_moving_ma: float = Field(ge=0.0, le=10_000.0)
    current_noise_ma: float = Field(ge=0.0, le=10_000.0)
    stop_after_host_silence_s: float = Field(ge=0.0, le=10.0)
    return_delay_time_us: float = Field(ge=0.0, le=508.0)

    @model_validator(mode="after")
    def _noise_is_the_larger(self) -> JointMeasurement:
        if not math.isclose(
            self.current_noise_ma, max(self.current_noise_rest_ma, self.current_noise_moving_ma), abs_tol=1e-6
        ):
            raise ValueError("current_noise_ma must be the larger of current_noise_rest_ma and current_noise_moving_ma")
        return self


class CommissioningRecord(_Document):
    """What `bidvis commission` measured, at which settings, and the verdict (see the module docstring)."""

    format_version: Literal[1] = 1
    commissioned_at: AwareDatetime
    port: str = Field(min_length=1)
    baudrate: int
    joints: dict[int, JointMeasurement] = Field(min_length=1, max_length=8)
    stop_after_host_silence_s: float = Field(ge=0.0, le=10.0)
    bus_round_trip_ms: float = Field(ge=0.0, le=10_000.0)  # 99th percentile of the loop's sync read
    bus_round_trip_median_ms: float = Field(ge=0.0, le=10_000.0)
    latency_timer_ms: float = Field(ge=0.0, le=1000.0)
    latency_timer_source: LatencySource
    # The settings the measurements hold for (from the safety limits in force when commissioned).
    position_p_gain: int = Field(ge=0, le=POSITION_GAIN_MAX)
    position_d_gain: int = Field(ge=0, le=POSITION_GAIN_MAX)
    watchdog_ms: int = Field(ge=0, le=2540)
    limits: CommissioningLimits
    failures: list[str]
    passed: bool

    @model_validator(mode="after")
    def _consistent(self) -> CommissioningRecord:
        if self.baudrate not in DYNAMIXEL_BAUDRATES:
            raise ValueError(f"baudrate {self.baudrate} is not a Dynamixel baud rate")
        if any(not 0 <= servo_id <= MAX_SERVO_ID for servo_id in self.joints):
            raise ValueError(f"servo ids must be 0..{MAX_SERVO_ID}, got {sorted(self.joints)}")
        if self.passed != (not self.failures):
            raise ValueError("passed must be true exactly when there are no failures")
        if self.failures != verdict(self):
            raise ValueError("failures do not follow from the measurements and the limits")
        return self

    @property
    def servos(self) -> dict[int, int]:
        """Servo id -> model number, as commissioned."""
        return {servo_id: joint.model_number for servo_id, joint in self.joints.items()}

    def joint_noise(self, joint_ids: Sequence[int]) -> JointNoise:
        """The current noise of joints 1-4 (servo ids in joint order), at rest and along the taught
        paths, for the contact detector's per-joint thresholds."""
        if len(joint_ids) != 4 or any(servo_id not in self.joints for servo_id in joint_ids):
            raise CommissioningError(
                f"the commissioning record has no current noise for joint servos {list(joint_ids)} "
                f"(commissioned: {sorted(self.joints)}); commission this arm with `bidvis commission`"
            )
        rest = tuple(self.joints[servo_id].current_noise_rest_ma / 1e3 for servo_id in joint_ids)
        moving = tuple(self.joints[servo_id].current_noise_moving_ma / 1e3 for servo_id in joint_ids)
        return JointNoise(rest, moving)  # type: ignore[arg-type]  # four values, checked above


def verdict(record: CommissioningRecord | _Measured) -> list[str]:
    """The failures of a record's measurements against its limits, in plain words (empty = passed)."""
    limits = record.limits
    failures = []
    for servo_id, joint in sorted(record.joints.items()):
        checks = (
            ("step response rise time", joint.rise_time_s, limits.max_rise_time_s, "s"),
            ("step response overshoot", joint.overshoot_rad, limits.max_overshoot_rad, "rad"),
            ("current noise", joint.current_noise_ma, limits.max_current_noise_ma, "mA"),
            ("stop after host silence", joint.stop_after_host_silence_s, limits.max_stop_after_host_silence_s, "s"),
            ("Return Delay Time", joint.return_delay_time_us, limits.max_return_delay_time_us, "us"),
        )
        failures += [
            f"servo {servo_id}: {what} {value:.4g} {unit} is above the limit {limit:.4g} {unit}"
            for what, value, limit, unit in checks
            if value > limit
        ]
    if record.bus_round_trip_ms > limits.max_bus_round_trip_ms:
        failures.append(
            f"bus round trip (99th percentile) {record.bus_round_trip_ms:.3g} ms is above the limit "
            f"{limits.max_bus_round_trip_ms:.3g} ms"
        )
    if record.latency_timer_ms > limits.max_latency_timer_ms:
        failures.append(
            f"USB latency timer {record.latency_timer_ms:.3g} ms ({record.latency_timer_source}) is above the limit "
            f"{limits.max_latency_timer_ms:.3g} ms"
        )
    return failures


class _Measured(_Document):
    """The measurements of a record before its verdict (what `bidvis commission` fills in)."""

    joints: dict[int, JointMeasurement]
    bus_round_trip_ms: float
    latency_timer_ms: float
    latency_timer_source: LatencySource
    limits: CommissioningLimits


def judge(measured: Mapping[str, object]) -> CommissioningRecord:
    """A complete, validated record from measurements (the `CommissioningRecord` fields except
    `failures` and `passed`, which the verdict sets)."""
    failures = verdict(_Measured.model_validate({key: measured[key] for key in _Measured.model_fields}))
    return CommissioningRecord.model_validate({**measured, "failures": failures, "passed": not failures})


def record_path(calibration_path: str | os.PathLike[str]) -> Path:
    """Where the commissioning record of a robot lives: next to its calibration file."""
    return Path(calibration_path).parent / RECORD_FILE_NAME


def load_record(path: str | os.PathLike[str]) -> CommissioningRecord:
    """Read and validate a commissioning record (`ConfigError` with one clear message otherwise)."""
    return load_config(path, CommissioningRecord)


def save_record(record: CommissioningRecord, path: str | os.PathLike[str]) -> None:
    """Write a commissioning record atomically."""
    save_config(record, path)


def demo_commissioning_limits() -> CommissioningLimits:
    """The embedded default limits (controller/defaults/commissioning_limits.toml)."""
    return _demo("commissioning_limits.toml", CommissioningLimits)


def check_record_fits(record: CommissioningRecord, servos: Mapping[int, int], limits: SafetyLimits) -> None:
    """Raise `CommissioningError` unless `record` passed for exactly these servos (id -> model
    number, as pinged) at the gains and Bus Watchdog of `limits`."""
    if not record.passed:
        raise CommissioningError(
            "the servos failed commissioning: " + "; ".join(record.failures) + "; see docs/commissioning.md"
        )
    if dict(record.servos) != dict(servos):
        raise CommissioningError(
            f"the commissioning record is for other servos (commissioned: {_servo_list(record.servos)}; "
            f"on the bus: {_servo_list(servos)}); commission this arm with `bidvis commission`"
        )
    settings = (record.position_p_gain, record.position_d_gain, record.watchdog_ms)
    wanted = (limits.position_p_gain, limits.position_d_gain, limits.watchdog_ms)
    if settings != wanted:
        raise CommissioningError(
            "the servos were commissioned at Position P/D Gain {}/{} and a {} ms Bus Watchdog, the safety limits now "
            "say {}/{} and {} ms; commission again with `bidvis commission`".format(*settings, *wanted)
        )


def _servo_list(servos: Mapping[int, int]) -> str:
    return ", ".join(f"{servo_id} (model {model})" for servo_id, model in sorted(servos.items())) or "none"


__all__ = [
    "FORMAT_VERSION",
    "RECORD_FILE_NAME",
    "CommissioningError",
    "CommissioningLimits",
    "CommissioningRecord",
    "JointMeasurement",
    "LatencySource",
    "check_record_fits",
    "demo_commissioning_limits",
    "judge",
    "load_record",
    "record_path",
    "save_record",
    "verdict",
]
