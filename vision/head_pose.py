"""Head pose by solvePnP of face-mesh landmarks against a canonical 3-D face, and the mouth in metres.

The canonical face is MediaPipe's `canonical_face_model.obj` (Apache-2.0, metric, a mean adult
face) for a few mesh points, converted from its centimetres (y up, z towards the viewer) to
millimetres in OpenCV's convention (x to the image right, y down, z away from the camera):

| point | mesh index | x, y, z (mm) |
|---|---|---|
| outer eye corners | 33, 263 | (-44.5, -26.6, -31.7), (44.5, -26.6, -31.7) |
| inner eye corners | 133, 362 | (-18.6, -25.9, -37.6), (18.6, -25.9, -37.6) |
| nose bridge | 168, 6 | (0, -32.7, -52.4), (0, -24.7, -57.9) |
| nose tip | 1 | (0, 11.3, -74.8) |
| cheeks at the ears | 234, 454 | (-76.6, -6.7, 24.4), (76.6, -6.7, 24.4) |
| mouth centre (middle of 13 and 14) | - | (0, 42.7, -53.1) |

Only points that do not move when the mouth opens (or when a spoon covers it) are used for the
pose; `mouth_position_m` puts the seen mouth centre on its camera ray at the depth of the pose. A real face differs from the mean: `face_scale` (1.0 = mean face) scales the model, and
distance errors scale with it (a face 5 % larger than the mean reads 5 % nearer).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vision.calibration import CameraIntrinsics

RIGID_POINTS = (33, 263, 133, 362, 168, 6, 1, 234, 454)
CANONICAL_RIGID_MM = np.array(
    [
        (-44.5, -26.6, -31.7),
        (44.5, -26.6, -31.7),
        (-18.6, -25.9, -37.6),
        (18.6, -25.9, -37.6),
        (0.0, -32.7, -52.4),
        (0.0, -24.7, -57.9),
        (0.0, 11.3, -74.8),
        (-76.6, -6.7, 24.4),
        (76.6, -6.7, 24.4),
    ]
)
CANONICAL_MOUTH_MM = np.array((0.0, 42.7, -53.1))


@dataclass(frozen=True, slots=True)
class HeadPose:
    """Pose of the canonical face in the camera frame: `T_camera_face` maps face metres to camera metres."""

    T_camera_face: np.ndarray
    reprojection_error_px: float

    def mouth_position_m(self, face_scale: float = 1.0) -> np.ndarray:
        return self.T_camera_face[:3, :3] @ (CANONICAL_MOUTH_MM * face_scale / 1000.0) + self.T_camera_face[:3, 3]


def estimate_head_pose(points_px: np.ndarray, intrinsics: CameraIntrinsics, face_scale: float = 1.0) -> HeadPose | None:
    """Head pose from the 468 mesh points (frame px), or None when solvePnP finds no pose in front of the camera."""
    model = CANONICAL_RIGID_MM * (face_scale / 1000.0)
    image = np.ascontiguousarray(points_px[list(RIGID_POINTS), :2], dtype=np.float64)
    ok, rvec, tvec = cv2.solvePnP(model, image, intrinsics.matrix, intrinsics.dist_coeffs, flags=cv2.SOLVEPNP_SQPNP)
    if not ok or tvec[2, 0] <= 0.0:
        return None
    projected, _ = cv2.projectPoints(model, rvec, tvec, intrinsics.matrix, intrinsics.dist_coeffs)
    error = float(np.sqrt(np.mean(np.sum((projected.reshape(-1, 2) - image) ** 2, axis=1))))
    rotation, _ = cv2.Rodrigues(rvec)
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = rotation, tvec.reshape(3)
    return HeadPose(pose, error)


def mouth_position_m(
    points_px: np.ndarray, mouth_center_px: tuple[float, float], intrinsics: CameraIntrinsics, face_scale: float = 1.0
) -> tuple[float, float, float] | None:
    """The mouth in the camera frame (m): the seen mouth centre on its camera ray, at the depth the
    head pose gives the canonical mouth.

    The pixel carries what the mean face cannot know (where this person's mouth sits, how far the
    jaw has dropped); the pose carries the depth. None when no pose is found.
    """
    pose = estimate_head_pose(points_px, intrinsics, face_scale)
    if pose is None:
        return None
    depth = float(pose.mouth_position_m(face_scale)[2])
    pixel = np.array([[mouth_center_px]], dtype=np.float64)
    x, y = cv2.undistortPoints(pixel, intrinsics.matrix, intrinsics.dist_coeffs).reshape(2)
    return float(x * depth), float(y * depth), depth


def face_scale_from_depth(points_px: np.ndarray, intrinsics: CameraIntrinsics, true_mouth_depth_m: float) -> float:
    """This user's `face_scale` from one view at a known mouth depth (e.g. with the spoon at the lips).

    Depth from a pose is proportional to the size of the model face, so the scale is the true
    depth over the depth the mean face gives. Raises `ValueError` when no pose is found or the
    depth is not positive.
    """
    if not true_mouth_depth_m > 0.0:
        raise ValueError(f"the true mouth depth must be positive, got {true_mouth_depth_m}")
    pose = estimate_head_pose(points_px, intrinsics)
    if pose is None:
        raise ValueError("no head pose in these landmarks")
    return true_mouth_depth_m / float(pose.mouth_position_m()[2])
