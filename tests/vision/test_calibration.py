"""Camera intrinsics from rendered checkerboards, pinhole projection, head pose and hand-eye on synthetic truth."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vision import CalibrationError, CameraIntrinsics, project
from vision.calibration import (
    CameraMount,
    back_project,
    calibrate_checkerboard,
    calibrate_hand_eye,
    checkerboard_points,
    pose_matrix,
    rotation_axis_spread_deg,
    to_frame,
)
from vision.errors import CalibrationProblem
from vision.head_pose import CANONICAL_MOUTH_MM, CANONICAL_RIGID_MM, RIGID_POINTS, estimate_head_pose

TRUE = CameraIntrinsics(fx=610.0, fy=605.0, cx=322.0, cy=236.0, width=640, height=480)
BOARD, SQUARE_M = (9, 6), 0.024


VIEWS = [
    ((0.3, -0.2, 0.05), (-0.10, -0.06, 0.45)),
    ((-0.25, 0.3, -0.1), (-0.08, -0.07, 0.50)),
    ((0.1, 0.4, 0.2), (-0.12, -0.05, 0.55)),
    ((-0.35, -0.25, 0.0), (-0.09, -0.04, 0.42)),
    ((0.0, 0.0, 0.3), (-0.06, -0.09, 0.48)),
    ((0.2, 0.2, -0.2), (-0.11, -0.06, 0.52)),
]


@pytest.fixture(scope="module")
def board_images(render_checkerboard) -> list[np.ndarray]:
    return [render_checkerboard(r, t, TRUE) for r, t in VIEWS]


def test_checkerboard_calibration_recovers_known_intrinsics(board_images):
    result = calibrate_checkerboard(board_images, BOARD, SQUARE_M)
    found = result.intrinsics
    assert result.images_used == len(VIEWS) and result.rms_error_px < 0.5
    assert found.fx == pytest.approx(TRUE.fx, rel=0.01) and found.fy == pytest.approx(TRUE.fy, rel=0.01)
    assert found.cx == pytest.approx(TRUE.cx, abs=4) and found.cy == pytest.approx(TRUE.cy, abs=4)


def test_calibration_needs_three_views_of_the_board(board_images):
    blank = np.full((480, 640), 255, np.uint8)
    with pytest.raises(CalibrationError, match="found in 2 image") as caught:
        calibrate_checkerboard([board_images[0], board_images[1], blank, blank], BOARD, SQUARE_M)
    assert caught.value.problem is CalibrationProblem.NO_BOARD


def test_calibration_refuses_images_of_different_sizes(board_images):
    with pytest.raises(CalibrationError, match="one size") as caught:
        calibrate_checkerboard([board_images[0], cv2.resize(board_images[1], (320, 240))], BOARD, SQUARE_M)
    assert caught.value.problem is CalibrationProblem.SIZE_CHANGED


def test_intrinsics_round_trip_through_json_and_bad_files_are_named(tmp_path):
    path = tmp_path / "camera.json"
    TRUE.save(path)
    assert CameraIntrinsics.load(path) == TRUE
    (tmp_path / "bad.json").write_text('{"fx": "wide"}')
    (tmp_path / "zero.json").write_text(TRUE.to_json().replace('"fx": ', '"fx": 0.0, "_": '))
    (tmp_path / "binary.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    for name, match in [
        ("bad.json", "not a camera calibration"),
        ("zero.json", "not a camera calibration.*positive focal lengths"),
        ("binary.json", "cannot read.*can't decode"),
        ("missing.json", "cannot read"),
    ]:
        with pytest.raises(CalibrationError, match=match) as caught:
            CameraIntrinsics.load(tmp_path / name)
        assert caught.value.problem is CalibrationProblem.FILE_UNREADABLE, name
    with pytest.raises(CalibrationError) as caught:
        CameraIntrinsics(fx=0.0, fy=1.0, cx=0.0, cy=0.0, width=640, height=480)
    assert caught.value.problem is None  # a bad argument, no person's mistake


def test_project_is_the_pinhole_model_and_back_project_inverts_it():
    point = (0.05, -0.02, 0.4)
    u, v = project(point, TRUE)
    assert (u, v) == pytest.approx((610.0 * 0.05 / 0.4 + 322.0, 605.0 * -0.02 / 0.4 + 236.0))
    expected, _ = cv2.projectPoints(np.array([point]), np.zeros(3), np.zeros(3), TRUE.matrix, None)
    assert (u, v) == pytest.approx(tuple(expected.reshape(2)))
    assert back_project((u, v), 0.4, TRUE) == pytest.approx(point)
    with pytest.raises(ValueError, match="in front"):
        project((0.0, 0.0, -0.1), TRUE)


def synthetic_landmarks(T_camera_face: np.ndarray, noise_px: float, rng) -> np.ndarray:
    """468 mesh points where only the rigid points the pose uses are filled, projected with noise."""
    points = np.zeros((468, 2))
    model = CANONICAL_RIGID_MM / 1000.0
    camera = model @ T_camera_face[:3, :3].T + T_camera_face[:3, 3]
    pixels = np.array([project(p, TRUE) for p in camera])
    points[list(RIGID_POINTS)] = pixels + rng.normal(0.0, noise_px, pixels.shape)
    return points


@pytest.mark.parametrize("distance_m", [0.30, 0.40, 0.50, 0.60])
def test_mouth_position_within_a_centimetre_at_30_to_60_cm(distance_m):
    rng = np.random.default_rng(int(distance_m * 100))
    worst = 0.0
    for _ in range(20):
        yaw, pitch, roll = rng.uniform(-0.35, 0.35), rng.uniform(-0.25, 0.25), rng.uniform(-0.15, 0.15)
        rotation, _ = cv2.Rodrigues(np.array([pitch, yaw, roll]))
        offset = rng.uniform(-0.06, 0.06, 2)
        T = pose_matrix(rotation, (offset[0], offset[1], distance_m))
        truth = to_frame(T, CANONICAL_MOUTH_MM / 1000.0)
        pose = estimate_head_pose(synthetic_landmarks(T, 0.5, rng), TRUE)
        assert pose is not None and pose.reprojection_error_px < 2.0
        worst = max(worst, float(np.linalg.norm(pose.mouth_position_m() - truth)))
    assert worst <= 0.01


def random_pose(rng) -> np.ndarray:
    rotation, _ = cv2.Rodrigues(rng.uniform(-0.6, 0.6, 3))
    return pose_matrix(rotation, rng.uniform(-0.2, 0.2, 3))


def hand_eye_views(mount: CameraMount, views: int = 10, seed: int = 3, marker_noise_m: float = 0.0):
    """(hidden pose, arm poses, marker poses seen) of a synthetic calibration with random arm poses."""
    rng = np.random.default_rng(seed)
    hidden = random_pose(rng)  # T_gripper_camera (on arm) or T_base_camera (fixed)
    world_marker = random_pose(rng)  # T_base_target (on arm) or T_gripper_target (fixed)
    arm, seen = [], []
    for _ in range(views):
        T_base_gripper = random_pose(rng)
        if mount is CameraMount.ON_ARM:
            T_camera_target = np.linalg.inv(T_base_gripper @ hidden) @ world_marker
        else:
            T_camera_target = np.linalg.inv(hidden) @ T_base_gripper @ world_marker
        T_camera_target[:3, 3] += rng.normal(0.0, marker_noise_m, 3)
        arm.append(T_base_gripper)
        seen.append(T_camera_target)
    return hidden, arm, seen


@pytest.mark.parametrize("mount", list(CameraMount))
def test_hand_eye_recovers_the_camera_mount_with_no_residual(mount):
    hidden, arm, seen = hand_eye_views(mount)
    found = calibrate_hand_eye(arm, seen, mount)
    assert np.allclose(found.pose[:3, :3], hidden[:3, :3], atol=1e-4)
    assert np.allclose(found.pose[:3, 3], hidden[:3, 3], atol=1e-4)
    assert found.residual_mm < 0.01 and found.rotation_residual_deg < 0.01
    assert found.views == 10 and found.axis_spread_deg > 45.0


@pytest.mark.parametrize("mount", list(CameraMount))
def test_hand_eye_residual_reports_the_marker_noise_in_millimetres(mount):
    _, arm, seen = hand_eye_views(mount, views=20, marker_noise_m=0.001)
    found = calibrate_hand_eye(arm, seen, mount)
    assert 0.5 < found.residual_mm < 3.0  # 1 mm per axis of noise on the seen marker


def test_a_hand_eye_calibration_whose_marker_moved_is_refused_saying_what_to_do():
    _, arm, seen = hand_eye_views(CameraMount.FIXED)
    seen[4] = seen[4].copy()
    seen[4][:3, 3] += (0.03, 0.0, 0.0)  # the board slipped on the tool before one view
    with pytest.raises(CalibrationError, match=r"scatters by \d+\.\d mm.*fixed rigidly") as caught:
        calibrate_hand_eye(arm, seen, CameraMount.FIXED)
    assert caught.value.problem is CalibrationProblem.POOR_FIT


def test_hand_eye_needs_paired_poses():
    for arm, seen in [([np.eye(4)] * 2, [np.eye(4)] * 2), ([np.eye(4)] * 4, [np.eye(4)] * 3)]:
        with pytest.raises(CalibrationError, match="at least 3 paired") as caught:
            calibrate_hand_eye(arm, seen)
        assert caught.value.problem is CalibrationProblem.TOO_FEW_VIEWS


def test_checkerboard_points_follow_columns_then_rows():
    points = checkerboard_points((3, 2), 0.5)
    assert points[:4].tolist() == [[0, 0, 0], [0.5, 0, 0], [1.0, 0, 0], [0, 0.5, 0]]


@pytest.mark.parametrize("mount", list(CameraMount))
def test_hand_eye_refuses_arm_poses_about_one_axis_only(mount):
    arm = [pose_matrix(np.array([0.0, 0.0, angle]), (0.1 * angle, 0.0, 0.0)) for angle in (0.1, 0.4, 0.8, 1.2)]
    with pytest.raises(CalibrationError, match="one axis only.*joint 1 turned left and right") as caught:
        calibrate_hand_eye(arm, [np.linalg.inv(p) for p in arm], mount)
    assert caught.value.problem is CalibrationProblem.ONE_AXIS


def test_hand_eye_refuses_arm_poses_that_hardly_turn():
    rng = np.random.default_rng(5)
    arm = [pose_matrix(rng.uniform(-0.02, 0.02, 3), rng.uniform(-0.2, 0.2, 3)) for _ in range(6)]  # ~1 degree
    with pytest.raises(CalibrationError, match="one axis only"):
        calibrate_hand_eye(arm, [np.linalg.inv(p) for p in arm])


def test_rotation_axis_spread_of_two_perpendicular_turns_is_90_degrees():
    poses = [
        np.eye(4),
        pose_matrix(np.array([0.0, 0.0, 0.3]), (0, 0, 0)),
        pose_matrix(np.array([0.0, 0.3, 0.0]), (0, 0, 0)),
    ]
    assert rotation_axis_spread_deg(poses, 5.0) == pytest.approx(90.0, abs=1e-6)
    assert rotation_axis_spread_deg(poses[:2], 5.0) == 0.0


def render_charuco(board, rvec, tvec, square_px: int = 60, margin_px: int = 30) -> np.ndarray:
    cols, rows = board.getChessboardSize()
    square_m = board.getSquareLength()
    texture = board.generateImage(
        (cols * square_px + 2 * margin_px, rows * square_px + 2 * margin_px), marginSize=margin_px
    )
    board_to_texture = np.array(
        [[square_px / square_m, 0, margin_px], [0, square_px / square_m, margin_px], [0, 0, 1.0]]
    )
    rotation, _ = cv2.Rodrigues(np.asarray(rvec, float))
    board_to_image = TRUE.matrix @ np.column_stack([rotation[:, 0], rotation[:, 1], np.asarray(tvec, float)])
    return cv2.warpPerspective(
        texture,
        board_to_image @ np.linalg.inv(board_to_texture),
        (TRUE.width, TRUE.height),
        flags=cv2.INTER_AREA,
        borderValue=255,
    )


def test_charuco_calibration_recovers_known_intrinsics():
    from vision.calibration import calibrate_charuco, charuco_board

    board = charuco_board((7, 5), 0.03, 0.022)
    views = [
        ((0.3, -0.2, 0.05), (-0.10, -0.07, 0.45)),
        ((-0.25, 0.3, -0.1), (-0.09, -0.08, 0.50)),
        ((0.1, 0.4, 0.2), (-0.12, -0.06, 0.55)),
        ((-0.35, -0.25, 0.0), (-0.10, -0.05, 0.42)),
        ((0.2, 0.2, -0.2), (-0.11, -0.07, 0.52)),
    ]
    result = calibrate_charuco([render_charuco(board, r, t) for r, t in views], (7, 5), 0.03, 0.022)
    assert result.images_used == len(views) and result.rms_error_px < 0.5
    assert result.intrinsics.fx == pytest.approx(TRUE.fx, rel=0.01) and result.intrinsics.fy == pytest.approx(
        TRUE.fy, rel=0.01
    )


def test_charuco_board_refuses_bad_dimensions_and_dictionaries():
    from vision.calibration import charuco_board

    with pytest.raises(CalibrationError, match="smaller than the squares"):
        charuco_board((7, 5), 0.03, 0.04)
    with pytest.raises(CalibrationError, match="unknown ArUco dictionary"):
        charuco_board((7, 5), 0.03, 0.02, "DICT_NOPE")


def test_mouth_position_puts_the_seen_mouth_on_its_ray_at_the_pose_depth():
    from vision.head_pose import mouth_position_m

    rng = np.random.default_rng(1)
    rotation, _ = cv2.Rodrigues(np.array([0.1, -0.2, 0.05]))
    T = pose_matrix(rotation, (0.02, 0.03, 0.45))
    truth = to_frame(T, CANONICAL_MOUTH_MM / 1000.0)
    seen = project(truth + np.array([0.0, 0.006, 0.0]), TRUE)  # this user's mouth sits 6 mm lower
    position = mouth_position_m(synthetic_landmarks(T, 0.3, rng), seen, TRUE)
    assert position[2] == pytest.approx(truth[2], abs=0.01)
    assert project(position, TRUE) == pytest.approx(seen, abs=1e-6)


def test_face_scale_from_one_view_at_a_known_depth():
    from vision.head_pose import estimate_head_pose, face_scale_from_depth

    rng = np.random.default_rng(2)
    T = pose_matrix(np.eye(3), (0.0, 0.0, 0.40))
    big_face = synthetic_landmarks(T, 0.0, rng)  # the mean face at 40 cm ...
    scale = face_scale_from_depth(big_face, TRUE, true_mouth_depth_m=0.44 + CANONICAL_MOUTH_MM[2] / 1000.0 * 1.1)
    assert scale == pytest.approx(1.1, rel=0.01)  # ... is a 10 % larger face at 44 cm
    pose = estimate_head_pose(big_face, TRUE, face_scale=scale)
    assert pose.mouth_position_m(scale)[2] == pytest.approx(0.44 + CANONICAL_MOUTH_MM[2] / 1000.0 * 1.1, abs=0.002)
    with pytest.raises(ValueError, match="positive"):
        face_scale_from_depth(big_face, TRUE, 0.0)
