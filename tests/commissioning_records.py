"""The commissioning record of a healthy arm, as `bidvis commission` writes it, for tests that
start `bidvis run` (which refuses an arm without one)."""

from __future__ import annotations

from datetime import UTC, datetime


def commissioned_arm_measurements(servo_ids=(11, 12, 13, 14, 15), model_number: int = 1020) -> dict:
    """What `bidvis commission` measures on a healthy XM430 arm at the demo safety limits' settings
    (figures of a run on `bidvis sim-bus --flaws typical`), for `controller.commissioning.judge`."""
    from controller.commissioning import demo_commissioning_limits
    from controller.config import demo_safety_limits

    limits = demo_safety_limits()
    joint = {
        "model_number": model_number,
        "model_name": "XM430-W350",
        "firmware_version": 48,
        "rise_time_s": 0.048,
        "overshoot_rad": 0.002,
        "current_noise_rest_ma": 39.0,
        "current_noise_moving_ma": 41.0,
        "current_noise_ma": 41.0,
        "stop_after_host_silence_s": 0.027,
        "return_delay_time_us": 0.0,
    }
    return {
        "commissioned_at": datetime(2026, 12, 4, 12, 0, tzinfo=UTC),
        "port": "/dev/ttyUSB0",
        "baudrate": 1_000_000,
        "joints": dict.fromkeys(servo_ids, joint),
        "stop_after_host_silence_s": 0.027,
        "bus_round_trip_ms": 2.0,
        "bus_round_trip_median_ms": 2.0,
        "latency_timer_ms": 1.0,
        "latency_timer_source": "sysfs",
        "position_p_gain": limits.position_p_gain,
        "position_d_gain": limits.position_d_gain,
        "watchdog_ms": limits.watchdog_ms,
        "limits": demo_commissioning_limits(),
    }


def write_commissioning_record(directory, **measured_changes) -> None:
    """A commissioning record in `directory` (next to its robot_calibration.toml)."""
    from controller.commissioning import RECORD_FILE_NAME, judge, save_record

    save_record(judge(commissioned_arm_measurements() | measured_changes), directory / RECORD_FILE_NAME)
