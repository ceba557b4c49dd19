"""Hostile configuration files: each gives a clear error naming the field, never a silent default."""

from __future__ import annotations

import json
import math

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.config import (
    CitizenProfile,
    ConfigFileError,
    ConfigValidationError,
    ControllerSettings,
    RobotCalibration,
    SafetyLimits,
    check_profile_fits,
    demo_calibration,
    demo_profile,
    demo_safety_limits,
    dump_config,
    load_calibration,
    load_profile,
    load_safety_limits,
    parse_config,
)


def _profile_dict() -> dict:
    return demo_profile().model_dump(mode="json", exclude_none=True)


def _write_toml(path, data):
    path.write_text(tomli_w.dumps(data))
    return path


@pytest.mark.parametrize(
    "field, value",
    [
        ("speed_m_s", 0.5),
        ("speed_m_s", 0.0),
        ("speed_m_s", -0.1),
        ("speed_near_mouth_m_s", 0.09),
        ("standoff_m", 0.0),
        ("near_mouth_radius_m", 2.0),
        ("bite_timeout_s", 0.5),
        ("auto_pace_s", 0.0),
        ("face_scale", 0.59),
        ("face_scale", 1.61),
        ("face_scale", 0.0),
        ("face_scale", -1.0),
        ("face_scale", "large"),
        ("face_scale", [1.0]),
    ],
)
def test_out_of_range_value_names_the_field(tmp_path, field, value):
    data = _profile_dict() | {field: value}
    with pytest.raises(ConfigValidationError) as caught:
        load_profile(_write_toml(tmp_path / "p.toml", data))
    assert caught.value.fields == [field]
    assert field in str(caught.value)
    assert str(tmp_path / "p.toml") in str(caught.value)


@pytest.mark.parametrize(
    "field", ["speed_m_s", "speed_near_mouth_m_s", "standoff_m", "near_mouth_radius_m", "bite_timeout_s"]
)
def test_missing_safety_value_is_an_error_not_a_default(tmp_path, field):
    data = _profile_dict()
    del data[field]
    with pytest.raises(ConfigValidationError, match=f"{field}: required value is missing") as caught:
        load_profile(_write_toml(tmp_path / "p.toml", data))
    assert caught.value.fields == [field]


@pytest.mark.parametrize("field", sorted(SafetyLimits.model_fields))
def test_every_safety_limit_is_required(tmp_path, field):
    data = demo_safety_limits().model_dump()
    del data[field]
    with pytest.raises(ConfigValidationError) as caught:
        load_safety_limits(_write_toml(tmp_path / "s.toml", data))
    assert caught.value.fields == [field]


@pytest.mark.parametrize(
    "field", ["spoon", "ready_pose_rad", "bowls", "camera", "port", "baudrate", "rate_hz", "changed_by"]
)
def test_calibration_values_are_required(tmp_path, field):
    data = demo_calibration().model_dump(mode="json", exclude_none=True)
    del data[field]
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigValidationError) as caught:
        load_calibration(path)
    assert caught.value.fields == [field]


def test_wrong_types_name_the_field():
    text = dump_config(demo_profile(), "toml").replace("speed_m_s = 0.15", 'speed_m_s = "fast"')
    with pytest.raises(ConfigValidationError) as caught:
        parse_config(text, CitizenProfile, fmt="toml")
    assert caught.value.fields == ["speed_m_s"]
    assert "'fast'" in str(caught.value)


def test_unknown_key_is_an_error_so_typos_are_caught():
    data = _profile_dict() | {"speed_near_mouht_m_s": 0.02}
    with pytest.raises(ConfigValidationError) as caught:
        parse_config(tomli_w.dumps(data), CitizenProfile, fmt="toml")
    assert caught.value.fields == ["speed_near_mouht_m_s"]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("field", ["speed_m_s", "face_scale"])
def test_nan_and_infinite_values_are_rejected(bad, field):
    data = _profile_dict() | {field: bad}
    with pytest.raises(ConfigValidationError) as caught:
        parse_config(json.dumps(data), CitizenProfile, fmt="json")
    assert caught.value.fields == [field]


def test_near_mouth_faster_than_free_space_is_rejected():
    data = _profile_dict() | {"speed_m_s": 0.05, "speed_near_mouth_m_s": 0.06}
    with pytest.raises(ConfigValidationError, match="must be at most speed_m_s") as caught:
        parse_config(tomli_w.dumps(data), CitizenProfile, fmt="toml")
    assert caught.value.fields == ["speed_near_mouth_m_s"]


def test_gesture_thresholds_without_hysteresis_are_rejected():
    data = _profile_dict()
    data["gesture"] |= {"open_threshold": 0.2, "close_threshold": 0.3}
    with pytest.raises(ConfigValidationError, match="hysteresis") as caught:
        parse_config(tomli_w.dumps(data), CitizenProfile, fmt="toml")
    assert caught.value.fields == ["gesture.close_threshold"]


@pytest.mark.parametrize(
    "content",
    [b"speed_m_s = = 0.1\n", b"\x00\x01\x02\xff\xfe garbage", b"[gesture\n", b""],
    ids=["syntax", "binary", "unclosed-table", "empty"],
)
def test_corrupt_profile_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "p.toml"
    path.write_bytes(content)
    with pytest.raises((ConfigFileError, ConfigValidationError)) as caught:
        load_profile(path)
    assert str(path) in str(caught.value)


def test_truncated_json_is_a_file_error(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(dump_config(demo_profile(), "json")[:40])
    with pytest.raises(ConfigFileError, match="not valid JSON"):
        load_profile(path)


def test_json_list_at_top_level_is_a_file_error(tmp_path):
    path = tmp_path / "p.json"
    path.write_text("[1, 2, 3]")
    with pytest.raises(ConfigFileError, match="top level"):
        load_profile(path)


def test_missing_file_and_unknown_format_are_clear_errors(tmp_path):
    with pytest.raises(ConfigFileError, match="cannot read"):
        load_profile(tmp_path / "absent.toml")
    (tmp_path / "p.yaml").write_text("speed_m_s: 0.1")
    with pytest.raises(ConfigFileError, match="unknown configuration format"):
        load_profile(tmp_path / "p.yaml")
    (tmp_path / "dir.toml").mkdir()
    with pytest.raises(ConfigFileError, match="cannot read"):
        load_profile(tmp_path / "dir.toml")


def test_pose_outside_joint_limits_names_the_waypoint(tmp_path):
    data = demo_calibration().model_dump(mode="json", exclude_none=True)
    data["bowls"][1]["waypoints_rad"][2][2] = 2.5
    with pytest.raises(ConfigValidationError, match="joint3") as caught:
        parse_config(tomli_w.dumps(data), RobotCalibration, fmt="toml")
    assert caught.value.fields == ["bowls.1.waypoints_rad"]
    assert "waypoint 2" in str(caught.value)


@pytest.mark.parametrize(
    "update, field",
    [
        ({"baudrate": 1_000_001}, "baudrate"),
        ({"joint_servo_ids": [11, 12, 12, 14]}, "joint_servo_ids"),
        ({"tool_servo_id": 300}, "tool_servo_id"),
        ({"tool_servo_id": 14}, "tool_servo_id"),
        ({"rate_hz": 5000}, "rate_hz"),
        ({"ready_pose_rad": [0.0, 0.0, 0.0]}, "ready_pose_rad.3"),
        ({"rest_pose_rad": [0.0, -1.6, 1.35, -1.65]}, "rest_pose_rad"),  # joint 2 beyond its limit
        ({"rest_pose_rad": [0.0, -1.45, 1.35]}, "rest_pose_rad.3"),
        ({"rest_pose_rad": ["folded", -1.45, 1.35, -1.65]}, "rest_pose_rad.0"),
        ({"changed_at": "2026-11-23T12:00:00"}, "changed_at"),
    ],
)
def test_bad_calibration_values_name_the_field(update, field):
    data = demo_calibration().model_dump(mode="json", exclude_none=True) | update
    with pytest.raises(ConfigValidationError) as caught:
        parse_config(json.dumps(data), RobotCalibration, fmt="json")
    assert caught.value.fields == [field]


@pytest.mark.parametrize(
    "matrix, reason",
    [
        ([[2, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], "orthonormal"),
        ([[-1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], "reflection"),
        ([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]], "last row"),
        ([[1, 0, 0, 9], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], "from the base"),
    ],
)
def test_camera_transform_must_be_rigid_and_near(matrix, reason):
    data = demo_calibration().model_dump(mode="json", exclude_none=True)
    data["camera"]["camera_to_base"] = matrix
    with pytest.raises(ConfigValidationError, match=reason) as caught:
        parse_config(tomli_w.dumps(data), RobotCalibration, fmt="toml")
    assert caught.value.fields == ["camera.camera_to_base"]


@pytest.mark.parametrize(
    "update, field, match",
    [
        ({"watchdog_ms": 90}, "watchdog_ms", "multiple of the servo watchdog step"),
        ({"watchdog_ms": 0}, "watchdog_ms", "greater than or equal to 20"),
        ({"lost_after_s": 0.1}, "lost_after_s", "longer than stale_after_s"),
        ({"min_voltage_v": 15.0}, "max_voltage_v", "above min_voltage_v"),
        ({"max_consecutive_bus_errors": 0}, "max_consecutive_bus_errors", "greater than or equal to 1"),
        ({"max_lean_in_speed_m_s": 0.0}, "max_lean_in_speed_m_s", "greater than 0"),
        ({"max_lean_in_speed_m_s": math.inf}, "max_lean_in_speed_m_s", "finite number"),
        ({"max_lean_in_speed_m_s": 3.0}, "max_lean_in_speed_m_s", "less than or equal to 2"),
        ({"lean_in_min_closing_m": -0.01}, "lean_in_min_closing_m", "greater than 0"),
        ({"lean_in_min_closing_m": 0.5}, "lean_in_min_closing_m", "less than or equal to 0.1"),
        ({"min_mouth_confidence": 0.0}, "min_mouth_confidence", "greater than 0"),
        ({"min_mouth_confidence": 1.5}, "min_mouth_confidence", "less than or equal to 1"),
        ({"min_mouth_confidence": math.nan}, "min_mouth_confidence", "finite number"),
        ({"position_p_gain": 16384}, "position_p_gain", "less than or equal to 16383"),
        ({"position_p_gain": -1}, "position_p_gain", "greater than or equal to 0"),
        ({"position_d_gain": 20000}, "position_d_gain", "less than or equal to 16383"),
        ({"position_d_gain": 1.5}, "position_d_gain", "integer"),
        ({"position_p_gain": "stiff"}, "position_p_gain", "integer"),
        ({"face_current_margin_ma": -1.0}, "face_current_margin_ma", "greater than or equal to 0"),
        ({"face_current_margin_ma": 5000.0}, "face_current_margin_ma", "less than or equal to 3000"),
        ({"face_current_margin_ma": math.nan}, "face_current_margin_ma", "finite number"),
        ({"face_current_margin_ma": "soft"}, "face_current_margin_ma", "number"),
    ],
)
def test_inconsistent_safety_limits_are_rejected(update, field, match):
    data = demo_safety_limits().model_dump() | update
    with pytest.raises(ConfigValidationError, match=match) as caught:
        parse_config(tomli_w.dumps(data), SafetyLimits, fmt="toml")
    assert caught.value.fields == [field]


@pytest.mark.parametrize("field", ["max_lean_in_speed_m_s", "lean_in_min_closing_m", "min_mouth_confidence"])
def test_a_limits_file_without_the_lean_in_or_confidence_limits_is_refused_naming_them(field):
    data = demo_safety_limits().model_dump()
    del data[field]
    with pytest.raises(ConfigValidationError, match="required value is missing") as caught:
        parse_config(tomli_w.dumps(data), SafetyLimits, fmt="toml")
    assert caught.value.fields == [field]


def test_profile_using_an_untaught_bowl_is_rejected():
    profile = demo_profile().model_copy(update={"bowls_used": (0, 1, 2)})
    with pytest.raises(ConfigValidationError, match="bowls not taught: \\[2\\]; the calibration has 2 bowls") as caught:
        check_profile_fits(profile, demo_calibration())
    assert caught.value.fields == ["bowls_used"]
    assert "1 problem)" in str(caught.value)


def test_duplicate_bowls_are_rejected():
    with pytest.raises(ConfigValidationError) as caught:
        parse_config(tomli_w.dumps(_profile_dict() | {"bowls_used": [1, 1]}), CitizenProfile, fmt="toml")
    assert caught.value.fields == ["bowls_used"]


def test_unknown_trigger_kind_is_rejected():
    with pytest.raises(ConfigValidationError, match="trigger_kind"):
        parse_config(tomli_w.dumps(_profile_dict() | {"trigger_kind": "telepathy"}), CitizenProfile, fmt="toml")


def test_loaded_documents_are_immutable():
    profile = demo_profile()
    with pytest.raises(Exception, match="frozen"):
        profile.speed_m_s = 0.2  # type: ignore[misc]


def test_settings_pointing_at_a_corrupt_profile_fail_clearly(monkeypatch, tmp_path):
    path = tmp_path / "anna.toml"
    path.write_text("speed_m_s = [")
    monkeypatch.setenv("BIDVIS_PROFILE_PATH", str(path))
    with pytest.raises(ConfigFileError, match="anna.toml: not valid TOML"):
        ControllerSettings().load_profile()


# field: (low, high, low included)
_PROFILE_BOUNDS = {
    "speed_m_s": (0.02, 0.25, True),
    "speed_near_mouth_m_s": (0.01, 0.08, True),
    "near_mouth_radius_m": (0.05, 0.30, True),
    "standoff_m": (0.01, 0.05, True),
    "bite_timeout_s": (2.0, 120.0, True),
    "face_scale": (0.6, 1.6, True),
}


@settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(sorted(_PROFILE_BOUNDS)), value=st.floats(allow_nan=True, allow_infinity=True))
def test_any_profile_value_is_either_within_its_bounds_or_an_error_naming_it(field, value):
    # the two speeds are also ordered; keep the other one out of the way
    others = {"speed_m_s": {"speed_near_mouth_m_s": 0.01}, "speed_near_mouth_m_s": {"speed_m_s": 0.25}}
    data = _profile_dict() | others.get(field, {}) | {field: value}
    low, high, low_included = _PROFILE_BOUNDS[field]
    within = math.isfinite(value) and (low <= value if low_included else low < value) and value <= high
    try:
        profile = parse_config(json.dumps(data), CitizenProfile, fmt="json")
    except ConfigValidationError as exc:
        assert not within
        assert exc.fields == [field]
    else:
        assert within and getattr(profile, field) == value
