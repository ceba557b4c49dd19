"""The commissioning record: its verdict, its file, and refusals of records that do not fit."""

from __future__ import annotations

import json

import pytest

from controller.commissioning import (
    CommissioningError,
    check_record_fits,
    judge,
    load_record,
    record_path,
    save_record,
)
from controller.config import ConfigError, ConfigFileError, ConfigValidationError, demo_safety_limits
from tests.commissioning_records import commissioned_arm_measurements

XM430 = 1020
IDS = (11, 12, 13, 14)


def joint(**changes):
    return commissioned_arm_measurements(IDS)["joints"][11] | changes


def measured(**changes):
    return commissioned_arm_measurements(IDS) | changes


SERVOS = {11: XM430, 12: XM430, 13: XM430, 14: XM430}


def test_a_record_within_the_limits_passes_and_fits_its_servos():
    record = judge(measured())
    assert record.passed and record.failures == []
    check_record_fits(record, SERVOS, demo_safety_limits())
    noise = record.joint_noise((12, 11, 13, 14))
    assert noise.rest_a == (0.039,) * 4 and noise.moving_a == (0.041,) * 4


def test_the_verdict_names_each_measurement_beyond_its_limit():
    joints = {11: joint(), 12: joint(current_noise_rest_ma=80.0, current_noise_ma=80.0), 13: joint(), 14: joint()}
    record = judge(measured(joints=joints, latency_timer_ms=16.0, bus_round_trip_ms=9.0))
    assert not record.passed
    assert record.failures == [
        "servo 12: current noise 80 mA is above the limit 60 mA",
        "bus round trip (99th percentile) 9 ms is above the limit 2.5 ms",
        "USB latency timer 16 ms (sysfs) is above the limit 2 ms",
    ]


def test_the_file_is_json_with_the_keys_design_md_fixes(tmp_path):
    path = tmp_path / "commissioning.json"
    save_record(judge(measured()), path)
    data = json.loads(path.read_text())
    for key in ("joints", "stop_after_host_silence_s", "bus_round_trip_ms", "latency_timer_ms", "passed"):
        assert key in data
    assert set(data["joints"]["11"]) >= {"rise_time_s", "overshoot_rad", "current_noise_ma"}
    assert load_record(path) == judge(measured())


def test_the_record_lives_next_to_the_calibration(tmp_path):
    assert record_path(tmp_path / "robot_calibration.toml") == tmp_path / "commissioning.json"


@pytest.mark.parametrize(
    ("content", "error", "phrase"),
    [
        (b"\x00\xff\xfe", ConfigFileError, "not UTF-8"),
        (b'{"joints": {"11": ', ConfigFileError, "not valid JSON"),
        (b"[]", ConfigFileError, "expected a table/object"),
        (b'{"passed": true}', ConfigValidationError, "joints: required value is missing"),
    ],
)
def test_a_corrupt_record_file_is_one_clear_error(tmp_path, content, error, phrase):
    path = tmp_path / "commissioning.json"
    path.write_bytes(content)
    with pytest.raises(error, match=phrase):
        load_record(path)


def test_a_record_edited_to_pass_is_refused(tmp_path):
    """A failed record whose `passed` was set to true by hand does not validate."""
    failed = judge(measured(latency_timer_ms=16.0))
    data = json.loads(failed.model_dump_json())
    data["passed"], data["failures"] = True, []
    path = tmp_path / "commissioning.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigValidationError, match="failures do not follow from the measurements"):
        load_record(path)


def test_a_missing_record_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigFileError, match="cannot read"):
        load_record(tmp_path / "commissioning.json")


def test_a_failed_record_does_not_fit():
    record = judge(measured(latency_timer_ms=16.0))
    with pytest.raises(CommissioningError, match="failed commissioning: USB latency timer 16 ms"):
        check_record_fits(record, SERVOS, demo_safety_limits())


@pytest.mark.parametrize(
    "servos",
    [
        {11: XM430, 12: XM430, 13: XM430},  # a servo missing
        {11: XM430, 12: XM430, 13: XM430, 14: 1060},  # another model at id 14
        {11: XM430, 12: XM430, 13: XM430, 15: XM430},  # another id
    ],
)
def test_a_record_for_other_servos_does_not_fit(servos):
    with pytest.raises(CommissioningError, match="record is for other servos"):
        check_record_fits(judge(measured()), servos, demo_safety_limits())


def test_a_record_made_at_other_gains_does_not_fit():
    limits = demo_safety_limits().model_copy(update={"position_p_gain": 900})
    with pytest.raises(CommissioningError, match="commissioned at Position P/D Gain 1400/600"):
        check_record_fits(judge(measured()), SERVOS, limits)


def test_errors_are_configuration_errors():
    assert issubclass(CommissioningError, ConfigError)
