"""Which faces may be used: size, position and head turn, on synthetic landmarks of the canonical face."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vision import CameraIntrinsics, MouthStatus
from vision.calibration import pose_matrix
from vision.face_checks import FaceChecks, head_yaw_deg
from vision.face_detector import FaceDetection
from vision.head_pose import CANONICAL_RIGID_MM, RIGID_POINTS

CAMERA = CameraIntrinsics.from_fov(640, 480, 60.0)


def face_points(yaw_deg: float = 0.0, distance_m: float = 0.45, x_m: float = 0.0) -> np.ndarray:
    rotation, _ = cv2.Rodrigues(np.array([0.0, np.radians(yaw_deg), 0.0]))
    T = pose_matrix(rotation, (x_m, 0.0, distance_m))
    camera = CANONICAL_RIGID_MM / 1000.0 @ T[:3, :3].T + T[:3, 3]
    image, _ = cv2.projectPoints(camera, np.zeros(3), np.zeros(3), CAMERA.matrix, None)
    points = np.zeros((468, 3))
    points[list(RIGID_POINTS), :2] = image.reshape(-1, 2)
    return points


@pytest.mark.parametrize("yaw", [-30.0, 0.0, 20.0, 40.0])
def test_yaw_is_measured_from_the_landmarks(yaw):
    assert abs(head_yaw_deg(face_points(yaw), (480, 640))) == pytest.approx(abs(yaw), abs=2.0)


def test_frontal_face_at_the_seat_is_usable():
    assert FaceChecks().status(face_points(), (480, 640)) is MouthStatus.TRACKED


def test_head_turned_past_the_limit_is_turned_away():
    assert FaceChecks().status(face_points(60.0), (480, 640)) is MouthStatus.TURNED_AWAY
    assert FaceChecks(max_yaw_deg=70.0).status(face_points(60.0), (480, 640)) is MouthStatus.TRACKED


def test_far_face_is_too_small_and_side_face_is_off_center():
    assert FaceChecks().status(face_points(distance_m=2.5), (480, 640)) is MouthStatus.TOO_SMALL
    assert FaceChecks().status(face_points(x_m=0.25), (480, 640)) is MouthStatus.OFF_CENTER


def test_limits_are_validated():
    with pytest.raises(ValueError):
        FaceChecks(min_face_width_fraction=0.0)
    with pytest.raises(ValueError):
        FaceChecks(max_yaw_deg=120.0)


def detection(x: float, width: float) -> FaceDetection:
    return FaceDetection(0.9, (x - width / 2, 200.0, x + width / 2, 200.0 + width), np.zeros((6, 2)))


def test_user_is_the_large_face_near_the_seat():
    checks = FaceChecks()
    user, poster, passer_by = detection(330, 200), detection(320, 60), detection(560, 180)
    assert checks.pick_user([poster, passer_by, user], (480, 640)) is user
    assert checks.pick_user([], (480, 640)) is None
