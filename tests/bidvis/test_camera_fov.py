"""Camera intrinsics without a checkerboard: from a stated field of view or the default, the error
they imply, and the claim behind it (with the face size measured, the focal length cancels out of
the mouth's depth)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fastapi.testclient import TestClient

from bidvis.robot_ui.app import create_app
from bidvis.robot_ui.camera_fov import (
    DEFAULT_HFOV_DEG,
    FovKind,
    horizontal_fov_deg,
    implied_error,
    intrinsics_from_fov,
)
from careplan_api.schemas import UsageEventType
from tests.bidvis.conftest import ROBOT_URL
from vision import CameraIntrinsics
from vision.head_pose import CANONICAL_RIGID_MM, RIGID_POINTS, face_scale_from_depth, mouth_position_m


def test_a_diagonal_field_of_view_becomes_the_horizontal_one():
    # a 78 degree diagonal camera (Logitech C920's datasheet) at 16:9 is about 70.4 degrees across
    assert horizontal_fov_deg(78.0, FovKind.DIAGONAL, 1920, 1080) == pytest.approx(70.43, abs=0.01)
    assert horizontal_fov_deg(70.0, FovKind.HORIZONTAL, 640, 480) == 70.0
    intrinsics = intrinsics_from_fov(640, 480, 70.0)
    assert intrinsics.fx == pytest.approx(320 / math.tan(math.radians(35))) and (intrinsics.cx, intrinsics.cy) == (
        320,
        240,
    )


@pytest.mark.parametrize("fov", [0.0, 19.9, 150.1, float("nan"), float("inf"), -70.0])
def test_implausible_fields_of_view_are_refused(fov):
    with pytest.raises(ValueError, match="field of view"):
        horizontal_fov_deg(fov, FovKind.HORIZONTAL, 640, 480)


def test_the_implied_error_grows_with_the_uncertainty_and_from_the_middle_to_the_edge():
    stated, default = implied_error(70.0, 3.0), implied_error(DEFAULT_HFOV_DEG, 15.0)
    assert stated.focal_length_error == pytest.approx(0.058, abs=0.001)
    assert default.focal_length_error == pytest.approx(0.345, abs=0.001)  # 55 degrees is 35 % longer
    assert default.sideways_error_at_edge_m > default.sideways_error_off_centre_m > stated.sideways_error_off_centre_m
    assert "focal length within ±35%" in default.summary()


def _landmarks(intrinsics: CameraIntrinsics, depth_m: float, face_scale: float) -> np.ndarray:
    """The face mesh points (468, only the rigid ones set) of a face of `face_scale` seen straight
    on, its model's origin `depth_m` in front of the camera."""
    points = CANONICAL_RIGID_MM * face_scale / 1000.0 + np.array([0.02, 0.01, depth_m])
    mesh = np.zeros((468, 2))
    mesh[list(RIGID_POINTS)] = np.stack(
        [
            intrinsics.fx * points[:, 0] / points[:, 2] + intrinsics.cx,
            intrinsics.fy * points[:, 1] / points[:, 2] + intrinsics.cy,
        ],
        axis=1,
    )
    return mesh


def test_with_the_face_size_measured_a_wrong_focal_length_does_not_move_the_mouths_depth():
    truth = CameraIntrinsics.from_fov(640, 480, 62.0)  # the real camera
    assumed = CameraIntrinsics.from_fov(640, 480, DEFAULT_HFOV_DEG)  # the default: focal length 13 % short
    citizen_scale = 1.1
    measured_at = _landmarks(truth, 0.45, citizen_scale)
    true_depth = float(mouth_position_m(measured_at, (320.0, 260.0), truth, citizen_scale)[2])
    scale = face_scale_from_depth(measured_at, assumed, true_depth)  # staff page step 7, with the wrong intrinsics
    for depth in (0.30, 0.60):
        seen = _landmarks(truth, depth, citizen_scale)
        right = float(mouth_position_m(seen, (320.0, 260.0), truth, citizen_scale)[2])
        estimated = float(mouth_position_m(seen, (320.0, 260.0), assumed, scale)[2])
        unmeasured = float(mouth_position_m(seen, (320.0, 260.0), assumed, citizen_scale)[2])
        assert abs(unmeasured - right) > 0.1 * right  # without the face size: off by about the focal length's error
        assert abs(estimated - right) < 0.015 * right, (depth, estimated, right)  # with it: the face's relief only


def test_staff_set_the_intrinsics_from_the_field_of_view_and_the_journal_says_how(
    robot, tmp_path, make_staff_login, log_in
):
    with TestClient(create_app(robot.session, make_staff_login(tmp_path)), base_url=ROBOT_URL) as staff:
        log_in(staff)
        answer = staff.post("/api/camera/field-of-view", json={"fov_deg": None})
        assert answer.status_code == 200 and "focal length within ±35%" in answer.json()["message"]
        saved = CameraIntrinsics.load(robot.session.documents.intrinsics_path())
        assert (saved.width, saved.height) == (640, 480) and saved.fx == pytest.approx(320 / math.tan(math.radians(35)))
        stated = staff.post("/api/camera/field-of-view", json={"fov_deg": 78, "kind": "diagonal"})
        assert stated.status_code == 200 and "±" in stated.json()["message"]
        for body in ({"fov_deg": 5}, {"fov_deg": "wide"}, {"kind": "round"}, {"fov_deg": 70, "x": 1}):
            assert staff.post("/api/camera/field-of-view", json=body).status_code == 422
    events = [e.data for e, _ in robot.journal.events() if e.type is UsageEventType.CALIBRATION_CHANGED]
    assert [e["intrinsics_from"] for e in events] == ["default field of view", "stated field of view"]
    assert events[0]["implied_error"]["focal_length_error"] == pytest.approx(0.345, abs=0.001)
    assert events[1]["fov_kind"] == "diagonal" and "camera.intrinsics" in events[1]["fields"]


def test_without_a_camera_the_field_of_view_step_is_refused(robot, tmp_path, make_staff_login, log_in):
    robot.session.camera = None
    with TestClient(create_app(robot.session, make_staff_login(tmp_path)), base_url=ROBOT_URL) as staff:
        log_in(staff)
        answer = staff.post("/api/camera/field-of-view", json={"fov_deg": 70})
        assert answer.status_code == 409 and "no camera" in answer.json()["detail"]
