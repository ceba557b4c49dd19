"""The robot's calibration off from the simulated truth: the camera pose the controller believes,
the intrinsics and the face size vision is given, and where a mouth then lands."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from bidvis.simulation.camera_feed import sim_calibration
from controller.config import demo_calibration
from sim.calibration_error import believed_face_scale, believed_intrinsics, seen_position_m
from sim.camera import PinholeCamera
from sim.scenario import CalibrationError, ScenarioError, parse_scenarios

K = (520.0, 520.0, 320.0, 240.0)


def to_base(camera_to_base: np.ndarray, point_cam_m) -> np.ndarray:
    return camera_to_base[:3, :3] @ np.asarray(point_cam_m) + camera_to_base[:3, 3]


def believed_pose(error: CalibrationError) -> np.ndarray:
    return sim_calibration(demo_calibration(), PinholeCamera(), error).camera.matrix()


def test_no_error_tells_the_truth():
    exact = CalibrationError()
    camera = PinholeCamera()
    mouth = camera.to_camera(np.array([0.36, 0.0, 0.25]))
    np.testing.assert_allclose(to_base(believed_pose(exact), mouth), (0.36, 0.0, 0.25), atol=1e-12)
    assert believed_intrinsics(*K, exact) == K
    assert believed_face_scale(0.93, exact) == 0.93
    np.testing.assert_allclose(seen_position_m((0.03, -0.02, 0.4), *K, exact), (0.03, -0.02, 0.4))


def test_a_turned_and_shifted_camera_puts_the_mouth_off_by_what_the_error_says():
    camera = PinholeCamera()
    mouth_base = np.array([0.36, 0.0, 0.25])
    mouth = camera.to_camera(mouth_base)
    turned = CalibrationError(camera_rotation_rad=(0.0, 0.0, 0.02))
    off = np.linalg.norm(to_base(believed_pose(turned), mouth) - mouth_base)
    lever = np.linalg.norm((mouth_base - np.asarray(camera.mount.position_m))[:2])  # distance from the z axis
    assert off == pytest.approx(lever * 0.02, rel=1e-3)
    shifted = CalibrationError(camera_translation_m=(0.004, -0.002, 0.001))
    np.testing.assert_allclose(to_base(believed_pose(shifted), mouth) - mouth_base, (0.004, -0.002, 0.001), atol=1e-12)


def test_a_longer_focal_length_or_larger_face_puts_the_mouth_farther():
    error = CalibrationError(focal_length_fraction=0.05, face_scale_fraction=0.1)
    seen = np.array(seen_position_m((0.04, 0.01, 0.40), *K, error))
    assert seen[2] == pytest.approx(0.40 * 1.05 * 1.1)
    # the same pixel read with a longer focal length: a ray nearer the optical axis
    np.testing.assert_allclose(seen[:2] / seen[2], np.array((0.04, 0.01)) / 0.40 / 1.05, atol=1e-12)
    assert believed_intrinsics(*K, error)[0] == pytest.approx(546.0)
    assert believed_face_scale(1.0, error) == pytest.approx(1.1)


def test_a_shifted_principal_point_turns_the_ray():
    x, _, z = seen_position_m((0.0, 0.0, 0.40), *K, CalibrationError(principal_point_px=(10.4, 0.0)))
    assert x == pytest.approx(-10.4 / 520.0 * 0.40) and z == pytest.approx(0.40)
    assert math.isclose(z, 0.40)


@pytest.mark.parametrize(
    ("error", "field"),
    [
        ("{ focal_length_fraction = 0.5 }", "calibration_error.focal_length_fraction"),
        ("{ face_scale_fraction = -0.4 }", "calibration_error.face_scale_fraction"),
        ("{ principal_point_px = [0.0, 55.0] }", "principal_point_px"),
        ("{ principal_point_px = [1.0] }", "calibration_error.principal_point_px"),
        ("{ skew = 1.0 }", "calibration_error.skew"),
    ],
)
def test_errors_out_of_range_in_a_scenario_file_are_refused_naming_the_field(error, field):
    text = f'[[scenario]]\nname = "off"\ncalibration_error = {error}\n'
    with pytest.raises(ScenarioError, match=re.escape(field)):
        parse_scenarios(text)


def test_the_errors_are_read_from_a_scenario_file():
    text = (
        '[[scenario]]\nname = "off"\n'
        "calibration_error = { camera_rotation_rad = [0.01, -0.02, 0.005], focal_length_fraction = 0.03, "
        "principal_point_px = [4.0, -2.0], face_scale_fraction = -0.05 }\n"
    )
    (scenario,) = parse_scenarios(text)
    assert scenario.calibration_error == CalibrationError(
        camera_rotation_rad=(0.01, -0.02, 0.005),
        focal_length_fraction=0.03,
        principal_point_px=(4.0, -2.0),
        face_scale_fraction=-0.05,
    )


def trusted_mouth_error(tmp_path, error: CalibrationError) -> np.ndarray:
    """How far the controller's first trusted mouth is from the simulated truth (base frame, m)."""
    from bidvis.simulation import CameraMode, SimulatedMeal
    from controller.journal import UsageJournal
    from sim.scenario import Scenario

    scenario = Scenario(name="off", bites=1, max_duration_s=20.0, calibration_error=error, probe_host_silence=False)
    journal = UsageJournal(tmp_path / f"journal-{id(error)}.sqlite3")
    found: list[np.ndarray] = []
    try:
        with SimulatedMeal(scenario, journal, camera_mode=CameraMode.GROUND_TRUTH) as meal:

            def trusted(controller) -> bool:
                mouth = controller.supervisor.trusted_mouth_m
                if mouth is not None:
                    found.append(mouth - meal.world.mouth_position())
                return bool(found)

            meal.run(stop_when=trusted)
    finally:
        journal.close()
    return found[0]


def test_the_meal_controller_works_with_the_mouth_the_erroneous_calibration_gives(tmp_path):
    """The ground-truth camera stands for vision: with a face measured 10 % too large, the mouth
    the controller trusts is about 10 % of its distance farther from the camera."""
    exact = np.linalg.norm(trusted_mouth_error(tmp_path, CalibrationError()))
    assert exact < 0.015  # detection noise only
    camera = PinholeCamera()
    depth = float(camera.to_camera(np.array([0.36, 0.0, 0.25]))[2])
    off = np.linalg.norm(trusted_mouth_error(tmp_path, CalibrationError(face_scale_fraction=0.1)))
    assert off == pytest.approx(0.1 * depth, abs=0.015)
