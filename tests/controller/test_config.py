"""Configuration: typed documents, TOML/JSON files, atomic save, embedded demo defaults."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from importlib import resources

import numpy as np
import pytest

from controller.config import (
    CitizenProfile,
    ConfigFileError,
    ConfigValidationError,
    ControllerSettings,
    RobotCalibration,
    SafetyLimits,
    TriggerKind,
    calibration_change,
    check_profile_fits,
    demo_calibration,
    demo_profile,
    demo_safety_limits,
    load_calibration,
    load_config,
    load_profile,
    load_safety_limits,
    save_config,
)
from controller.kinematics import JOINT_LIMITS_RAD, forward, forward_spoon, inverse

DOCUMENTS = [
    pytest.param(demo_profile, CitizenProfile, id="profile"),
    pytest.param(demo_calibration, RobotCalibration, id="calibration"),
    pytest.param(demo_safety_limits, SafetyLimits, id="safety"),
]


def test_demo_profile_has_the_documented_defaults():
    profile = demo_profile()
    assert profile.speed_m_s == 0.15
    assert profile.speed_near_mouth_m_s == 0.06
    assert profile.near_mouth_radius_m == 0.10
    assert profile.standoff_m == 0.02
    assert profile.trigger_kind is TriggerKind.SWITCH
    assert profile.gesture.close_threshold < profile.gesture.open_threshold
    assert profile.face_scale is None  # the demo citizen's face size is not calibrated


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_a_calibrated_face_scale_is_kept_and_an_absent_one_stays_uncalibrated(tmp_path, suffix):
    calibrated = demo_profile().model_copy(update={"face_scale": 0.87})
    save_config(calibrated, tmp_path / f"calibrated{suffix}")
    assert load_profile(tmp_path / f"calibrated{suffix}").face_scale == 0.87
    save_config(demo_profile(), tmp_path / f"plain{suffix}")
    assert "face_scale" not in (tmp_path / f"plain{suffix}").read_text()  # absent, not a made-up 1.0
    assert load_profile(tmp_path / f"plain{suffix}").face_scale is None


def test_demo_safety_limits_match_the_issue():
    limits = demo_safety_limits()
    assert (limits.stale_after_s, limits.lost_after_s) == (0.2, 0.5)
    # The servos must stop within 100 ms of host silence, and a lost reply or a late tick must not
    # trip them (docs/controller.md, "Timing budget"; tests/controller/test_timing.py).
    assert limits.watchdog_ms == 60
    assert limits.watchdog_steps == 3


def test_demo_calibration_is_a_rigid_camera_and_known_servos():
    calibration = demo_calibration()
    assert calibration.servo_ids == (11, 12, 13, 14, 15)
    assert calibration.rate_hz == 200.0
    matrix = calibration.camera.matrix()
    assert matrix.shape == (4, 4)
    assert np.isclose(np.linalg.det(matrix[:3, :3]), 1.0)
    check_profile_fits(demo_profile(), calibration)


@pytest.mark.parametrize("factory, model", DOCUMENTS)
@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_save_then_load_round_trips(tmp_path, factory, model, suffix):
    document = factory()
    path = tmp_path / f"doc{suffix}"
    save_config(document, path)
    assert load_config(path, model) == document


def test_save_replaces_atomically_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "profile.toml"
    save_config(demo_profile(), path)
    faster = demo_profile().model_copy(update={"speed_m_s": 0.2})
    save_config(faster, path)
    assert load_profile(path).speed_m_s == 0.2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["profile.toml"]


def test_save_into_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigFileError, match="cannot write"):
        save_config(demo_profile(), tmp_path / "nowhere" / "profile.toml")


def test_saved_toml_is_readable_by_staff(tmp_path):
    path = tmp_path / "profile.toml"
    save_config(demo_profile(), path)
    text = path.read_text()
    assert "speed_near_mouth_m_s = 0.06" in text
    assert 'trigger_kind = "switch"' in text


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    path = tmp_path / "p.toml"
    save_config(demo_profile().model_copy(update={"standoff_m": 0.03}), path)
    monkeypatch.setenv("BIDVIS_PROFILE_PATH", str(path))
    monkeypatch.setenv("BIDVIS_DEVICE_TOKEN", "secret-token")
    settings = ControllerSettings()
    assert settings.load_profile().standoff_m == 0.03
    assert settings.load_calibration() == demo_calibration()
    assert settings.device_token is not None
    assert "secret-token" not in repr(settings)


def test_calibration_change_names_who_and_what():
    old = demo_calibration()
    new = old.model_copy(
        update={
            "spoon": old.spoon.model_copy(update={"x_m": 0.06}),
            "changed_by": "staff:anna",
            "changed_at": datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
        }
    )
    change = calibration_change(old, new)
    assert change == {
        "changed_by": "staff:anna",
        "changed_at": "2026-11-23T12:00:00+00:00",
        "fields": ["spoon"],
    }


def test_demo_poses_are_within_joint_limits():
    calibration = demo_calibration()
    poses = [calibration.ready_pose_rad] + [q for b in calibration.bowls for q in b.waypoints_rad]
    for q in poses:
        for angle, (low, high) in zip(q, JOINT_LIMITS_RAD, strict=True):
            assert low <= angle <= high


def test_json_file_written_by_another_tool_loads(tmp_path):
    path = tmp_path / "limits.json"
    path.write_text(json.dumps(demo_safety_limits().model_dump()))
    assert load_safety_limits(path) == demo_safety_limits()


def test_calibration_file_keeps_its_own_values(tmp_path):
    path = tmp_path / "cal.toml"
    changed = demo_calibration().model_copy(update={"port": "/dev/ttyACM3", "baudrate": 57_600})
    save_config(changed, path)
    loaded = load_calibration(path)
    assert (loaded.port, loaded.baudrate) == ("/dev/ttyACM3", 57_600)


def test_rest_pose_beyond_a_joint_limit_is_refused_naming_the_joint(tmp_path):
    path = tmp_path / "cal.toml"
    path.write_text(
        (resources.files("controller.defaults") / "robot_calibration.toml")
        .read_text(encoding="utf-8")
        .replace("rest_pose_rad = [0.0, -1.45, 1.35, -1.65]", "rest_pose_rad = [0.0, -1.45, 1.55, -1.65]")
    )
    with pytest.raises(ConfigValidationError) as caught:
        load_calibration(path)
    assert caught.value.fields == ["rest_pose_rad"] and "joint3 would need 1.550 rad" in str(caught.value)


def test_a_calibration_without_a_rest_pose_rests_where_the_embedded_one_does(tmp_path):
    path = tmp_path / "cal.toml"
    save_config(demo_calibration().model_copy(update={"rest_pose_rad": None}), path)
    assert "rest_pose_rad" not in path.read_text()
    assert load_calibration(path).rest_pose == demo_calibration().rest_pose_rad
    own = (0.3, -1.4, 1.3, -1.6)  # a robot mounted otherwise rests elsewhere
    save_config(demo_calibration().model_copy(update={"rest_pose_rad": own}), path)
    assert load_calibration(path).rest_pose == own


def test_demo_rest_pose_is_reached_clear_of_the_table_and_holds_with_the_torque_off():
    """From the ready pose to the rest pose no moving part of the arm (beyond joint 2) comes within
    1 cm of the table or a bowl, and with every joint limp the folded arm only settles onto its
    stops (MuJoCo world)."""
    mujoco = pytest.importorskip("mujoco")
    from sim.world import World

    world = World()
    model = world.model
    moving = {"link3", "link4", "link5", "spoon"}
    robot = [g for g in range(model.ngeom) if model.body(model.geom_bodyid[g]).name in moving]
    scenery = [g for g in range(model.ngeom) if model.geom(g).name == "table"] + [
        g for g in range(model.ngeom) if model.body(model.geom_bodyid[g]).name.startswith("bowl")
    ]
    scratch = np.zeros(6)
    calibration = demo_calibration()
    ready, rest = np.array(calibration.ready_pose_rad), np.array(calibration.rest_pose)
    for s in np.linspace(0.0, 1.0, 21):
        world.set_arm_pose(ready + (rest - ready) * s)
        clearance = min(mujoco.mj_geomDistance(model, world.data, r, g, 0.05, scratch) for r in robot for g in scenery)
        assert clearance > 0.01, s
    world.set_arm_pose(rest)
    for joint in range(4):
        world.set_torque_enabled(joint, False)
    world.advance_to(world.time_s + 2.0)
    assert np.all(np.abs(world.arm_positions()[:4] - rest) <= 0.06)


def _all_taught_poses(calibration):
    return [calibration.ready_pose_rad] + [q for bowl in calibration.bowls for q in bowl.waypoints_rad]


def test_demo_poses_are_reachable_on_the_elbow_up_branch():
    calibration = demo_calibration()
    for q in _all_taught_poses(calibration):
        assert np.allclose(inverse(forward(q), elbow_up=True), q, atol=1e-6)


def test_demo_ready_pose_holds_the_spoon_level_in_front_of_the_face():
    calibration = demo_calibration()
    spoon = forward_spoon(calibration.ready_pose_rad, calibration.spoon)
    mouth = np.array([0.36, 0.0, 0.25])  # the simulated citizen's mouth at rest
    assert spoon[3] == pytest.approx(0.0, abs=1e-3)  # level: food stays on the spoon
    assert 0.10 < np.linalg.norm(spoon[:3] - mouth) < 0.20  # outside the near-mouth zone, close by
    assert spoon[0] < mouth[0] and spoon[2] > 0.15


@pytest.mark.parametrize("bowl, centre_y", [(0, 0.10), (1, -0.10)])
def test_demo_scoop_goes_into_its_bowl_and_comes_out_level(bowl, centre_y):
    calibration = demo_calibration()
    points = [forward_spoon(q, calibration.spoon) for q in calibration.bowls[bowl].waypoints_rad]
    centre = np.array([0.23, centre_y])
    for point in points:
        assert np.linalg.norm(point[:2] - centre) < 0.03  # within the bowl's 0.06 m radius
    assert min(p[2] for p in points) < 0.035  # down into the food
    assert points[0][3] == pytest.approx(0.0, abs=1e-3) and points[-1][3] == pytest.approx(0.0, abs=1e-3)


def test_demo_camera_matches_the_simulated_camera():
    from sim.camera import CameraMount as SimCameraMount

    mount = SimCameraMount()
    matrix = demo_calibration().camera.matrix()
    assert np.allclose(matrix[:3, :3], mount.rotation_world_from_camera(), atol=1e-6)
    assert np.allclose(matrix[:3, 3], mount.position_m)


def test_demo_scoop_clears_the_simulated_bowls():
    """Along the joint-space path from ready through every waypoint and back, no part of the arm
    comes within 5 mm of a bowl (MuJoCo's geometry distance in the simulator's world)."""
    mujoco = pytest.importorskip("mujoco")
    from sim.world import World

    world = World()
    model = world.model
    robot = [g for g in range(model.ngeom) if world._is_robot_geom[g]]
    bowls = [g for g in range(model.ngeom) if model.body(model.geom_bodyid[g]).name.startswith("bowl")]
    scratch = np.zeros(6)
    calibration = demo_calibration()
    ready = np.array(calibration.ready_pose_rad)
    for bowl in calibration.bowls:
        path = [ready, *map(np.array, bowl.waypoints_rad), ready]
        for start, end in itertools.pairwise(path):
            for s in np.linspace(0.0, 1.0, 11):
                world.set_arm_pose(start + (end - start) * s)
                clearance = min(
                    mujoco.mj_geomDistance(model, world.data, r, b, 0.05, scratch) for r in robot for b in bowls
                )
                assert clearance > 0.005, (bowl.name, s)
