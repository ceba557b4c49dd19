"""Camera intrinsics from checkerboard or ChArUco images, pinhole projection, and hand-eye calibration.

Frames: the camera frame is OpenCV's (x right, y down, z forward, metres). A pose is a 4x4
homogeneous matrix `T_a_b` that maps points of frame b into frame a.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

from vision.errors import CalibrationError, CalibrationProblem


@dataclass(frozen=True, slots=True)
class CameraIntrinsics:
    """Pinhole intrinsics (pixels) of one camera at one resolution, with OpenCV distortion terms."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    distortion: tuple[float, ...] = field(default=(0.0, 0.0, 0.0, 0.0, 0.0))

    def __post_init__(self) -> None:
        if not (self.fx > 0 and self.fy > 0 and self.width > 0 and self.height > 0):
            raise CalibrationError(f"intrinsics need positive focal lengths and size, got {self}")

    @classmethod
    def from_fov(cls, width: int, height: int, horizontal_fov_deg: float) -> CameraIntrinsics:
        """An ideal camera (square pixels, centred principal point) with the given field of view."""
        f = (width / 2.0) / np.tan(np.radians(horizontal_fov_deg) / 2.0)
        return cls(float(f), float(f), width / 2.0, height / 2.0, width, height)

    @property
    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def dist_coeffs(self) -> np.ndarray:
        return np.asarray(self.distortion, dtype=np.float64)

    def to_json(self) -> str:
        return json.dumps(
            {
                "fx": self.fx,
                "fy": self.fy,
                "cx": self.cx,
                "cy": self.cy,
                "width": self.width,
                "height": self.height,
                "distortion": list(self.distortion),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> CameraIntrinsics:
        try:
            data = json.loads(text)
            return cls(
                float(data["fx"]),
                float(data["fy"]),
                float(data["cx"]),
                float(data["cy"]),
                int(data["width"]),
                int(data["height"]),
                tuple(float(d) for d in data.get("distortion", ())),
            )
        except (ValueError, KeyError, TypeError, CalibrationError) as error:
            raise CalibrationError(
                f"not a camera calibration file ({error!r}); expected the JSON "
                "that `bidvis vision calibrate-camera` writes",
                CalibrationProblem.FILE_UNREADABLE,
            ) from error

    def save(self, path: Path) -> None:
        Path(path).write_text(self.to_json() + "\n")

    @classmethod
    def load(cls, path: Path) -> CameraIntrinsics:
        try:
            return cls.from_json(Path(path).read_text())
        except (OSError, UnicodeDecodeError) as error:  # missing, unreadable, or not text
            raise CalibrationError(
                f"cannot read camera calibration {path}: {error}", CalibrationProblem.FILE_UNREADABLE
            ) from error


def project(point_cam_m: Sequence[float], intrinsics: CameraIntrinsics) -> tuple[float, float]:
    """Pixel of a camera-frame point by the ideal pinhole model (no distortion): u = fx x/z + cx.

    This is the model the simulator renders with; raises `ValueError` for points at or behind
    the camera (z <= 0).
    """
    x, y, z = (float(v) for v in point_cam_m)
    if z <= 0.0:
        raise ValueError(f"point {point_cam_m} is not in front of the camera (z must be > 0)")
    return intrinsics.fx * x / z + intrinsics.cx, intrinsics.fy * y / z + intrinsics.cy


def back_project(pixel: Sequence[float], depth_m: float, intrinsics: CameraIntrinsics) -> np.ndarray:
    """Camera-frame point (m) at depth `depth_m` along the pinhole ray of `pixel` (inverse of `project`)."""
    u, v = pixel
    return np.array(
        [(u - intrinsics.cx) / intrinsics.fx * depth_m, (v - intrinsics.cy) / intrinsics.fy * depth_m, depth_m]
    )


@dataclass(frozen=True, slots=True)
class CheckerboardCalibration:
    intrinsics: CameraIntrinsics
    rms_error_px: float
    images_used: int
    images_rejected: int


def checkerboard_points(board: tuple[int, int], square_m: float) -> np.ndarray:
    """3-D inner-corner positions (m, z = 0) of a board with `board` = (columns, rows) inner corners."""
    cols, rows = board
    grid = np.zeros((rows * cols, 3), np.float32)
    grid[:, :2] = np.mgrid[0:cols, 0:rows].T.reshape(-1, 2) * square_m
    return grid


def calibrate_checkerboard(
    images: Iterable[np.ndarray], board: tuple[int, int], square_m: float
) -> CheckerboardCalibration:
    """Intrinsics from views of a checkerboard with `board` = (columns, rows) inner corners.

    Raises `CalibrationError` when fewer than 3 images show the whole board or sizes differ.
    """
    template = checkerboard_points(board, square_m)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 1e-3)

    def find(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        found, corners = cv2.findChessboardCorners(
            gray, board, flags=cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
        )
        if not found:
            return None
        return template, cv2.cornerSubPix(gray, corners, (5, 5), (-1, -1), criteria)

    return _calibrate(
        images, find, f"the {board[0]}x{board[1]} checkerboard", "check --board (inner corners) and lighting"
    )


def charuco_board(squares: tuple[int, int], square_m: float, marker_m: float, dictionary: str = "DICT_5X5_100"):
    """An OpenCV ChArUco board of `squares` = (columns, rows) squares with ArUco markers of `dictionary`."""
    if not 0.0 < marker_m < square_m:
        raise CalibrationError(
            f"ChArUco markers must be smaller than the squares, got marker {marker_m} m, square {square_m} m"
        )
    try:
        words = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, dictionary))
    except AttributeError:
        raise CalibrationError(
            f"unknown ArUco dictionary {dictionary!r}; use a cv2.aruco name such as DICT_5X5_100"
        ) from None
    return cv2.aruco.CharucoBoard(squares, square_m, marker_m, words)


def calibrate_charuco(
    images: Iterable[np.ndarray],
    squares: tuple[int, int],
    square_m: float,
    marker_m: float,
    dictionary: str = "DICT_5X5_100",
) -> CheckerboardCalibration:
    """Intrinsics from views of a ChArUco board (partial views count, with at least 6 corners)."""
    board = charuco_board(squares, square_m, marker_m, dictionary)
    detector = cv2.aruco.CharucoDetector(board)

    def find(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        corners, ids, _, _ = detector.detectBoard(gray)
        if ids is None or len(ids) < 6:
            return None
        object_points, image_points = board.matchImagePoints(corners, ids)
        return object_points.reshape(-1, 3).astype(np.float32), image_points.reshape(-1, 1, 2).astype(np.float32)

    return _calibrate(
        images,
        find,
        f"the {squares[0]}x{squares[1]} ChArUco board",
        "check --board (squares), --dictionary and lighting",
    )


def _calibrate(images: Iterable[np.ndarray], find, what: str, hint: str) -> CheckerboardCalibration:
    object_points: list[np.ndarray] = []
    image_points: list[np.ndarray] = []
    size: tuple[int, int] | None = None
    rejected = 0
    for image in images:
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        shape = (int(gray.shape[1]), int(gray.shape[0]))
        if size is not None and shape != size:
            raise CalibrationError(
                f"all images must have one size; got {shape} after {size}", CalibrationProblem.SIZE_CHANGED
            )
        size = shape
        found = find(gray)
        if found is None:
            rejected += 1
            continue
        object_points.append(found[0])
        image_points.append(found[1])
    if len(image_points) < 3:
        raise CalibrationError(
            f"{what} was found in {len(image_points)} image(s), need at least 3 (rejected {rejected}); {hint}",
            CalibrationProblem.NO_BOARD,
        )
    assert size is not None  # at least 3 images were read
    rms, matrix, dist, _, _ = cv2.calibrateCamera(object_points, image_points, size, None, None)
    intrinsics = CameraIntrinsics(
        float(matrix[0, 0]),
        float(matrix[1, 1]),
        float(matrix[0, 2]),
        float(matrix[1, 2]),
        int(size[0]),
        int(size[1]),
        tuple(float(d) for d in dist.reshape(-1)),
    )
    return CheckerboardCalibration(intrinsics, float(rms), len(image_points), rejected)


class CameraMount(StrEnum):
    ON_ARM = "on_arm"  # eye-in-hand: the camera rides on the arm; result is T_gripper_camera
    FIXED = "fixed"  # eye-to-hand: the camera is fixed; result is T_base_camera


def pose_matrix(rotation: np.ndarray, translation: Sequence[float]) -> np.ndarray:
    """4x4 pose from a 3x3 rotation matrix or a Rodrigues vector and a translation."""
    rotation = np.asarray(rotation, dtype=np.float64)
    if rotation.shape != (3, 3):
        rotation, _ = cv2.Rodrigues(rotation.reshape(3))
    pose = np.eye(4)
    pose[:3, :3] = rotation
    pose[:3, 3] = np.asarray(translation, dtype=np.float64).reshape(3)
    return pose


@dataclass(frozen=True, slots=True)
class HandEyeLimits:
    """What a hand-eye calibration must meet to be used.

    The arm's motions between views must turn the tool by at least `min_motion_deg` about at least
    two axes `min_axis_spread_deg` apart (one axis leaves the camera's position along it unknown).
    The marker, fixed in the world (or on the tool), must then come out in one place from every
    view: its positions may scatter by at most `max_residual_mm` (RMS) and its orientations by
    `max_rotation_residual_deg` (RMS).
    """

    min_motion_deg: float = 5.0
    min_axis_spread_deg: float = 20.0
    max_residual_mm: float = 5.0
    max_rotation_residual_deg: float = 1.0


@dataclass(frozen=True, slots=True)
class HandEyeCalibration:
    """A checked hand-eye calibration: `pose` (`T_gripper_camera` on the arm, `T_base_camera` fixed),
    the marker's scatter over the views (`residual_mm`, `rotation_residual_deg`, RMS), the largest
    angle between two rotation axes of the arm's motions (`axis_spread_deg`) and the number of views."""

    pose: np.ndarray
    residual_mm: float
    rotation_residual_deg: float
    axis_spread_deg: float
    views: int


def calibrate_hand_eye(
    T_base_gripper: Sequence[np.ndarray],
    T_camera_target: Sequence[np.ndarray],
    mount: CameraMount = CameraMount.ON_ARM,
    limits: HandEyeLimits = HandEyeLimits(),
) -> HandEyeCalibration:
    """Camera pose from arm poses and views of a marker (solves AX = XB), checked.

    `T_base_gripper[i]` is the arm's tool pose (forward kinematics) and `T_camera_target[i]` the
    marker pose seen by the camera (e.g. from solvePnP) at the same moment. For `ON_ARM` the
    marker is fixed in the world and the result is `T_gripper_camera`; for `FIXED` the marker is
    held by the arm and the result is `T_base_camera`. Uses OpenCV's `calibrateHandEye` (Park's
    method) when the installed build exposes it; OpenCV 5.0.0's Python bindings do not
    (opencv/opencv#29565), and then the same closed-form method of Park and Martin (1994) runs here.

    Raises `CalibrationError` saying what to do when the poses are too few or degenerate
    (`limits`), or when the marker does not come out in one place (a residual over the limits).
    """
    if len(T_base_gripper) != len(T_camera_target) or len(T_base_gripper) < 3:
        raise CalibrationError(
            f"need at least 3 paired poses, got {len(T_base_gripper)} arm and {len(T_camera_target)} marker poses",
            CalibrationProblem.TOO_FEW_VIEWS,
        )
    arm = [np.asarray(p, dtype=np.float64) for p in T_base_gripper]
    seen = [np.asarray(p, dtype=np.float64) for p in T_camera_target]
    if mount is CameraMount.FIXED:
        arm = [np.asarray(np.linalg.inv(p), dtype=np.float64) for p in arm]
    spread = rotation_axis_spread_deg(arm, limits.min_motion_deg)
    if spread < limits.min_axis_spread_deg:
        raise CalibrationError(
            f"the arm's poses turn the tool about one axis only (rotation axes at most {spread:.0f} degrees apart, "
            f"need {limits.min_axis_spread_deg:.0f}, counting motions of {limits.min_motion_deg:.0f} degrees or "
            "more): take views with joint 1 turned left and right and with the tool tipped up and down",
            CalibrationProblem.ONE_AXIS,
        )
    opencv = getattr(cv2, "calibrateHandEye", None)
    if opencv is not None:
        rotation, translation = opencv(
            [p[:3, :3] for p in arm],
            [p[:3, 3] for p in arm],
            [p[:3, :3] for p in seen],
            [p[:3, 3] for p in seen],
            method=cv2.CALIB_HAND_EYE_PARK,
        )
        pose = pose_matrix(rotation, translation.reshape(3))
    else:
        pose = _park_martin(arm, seen)
    residual_mm, rotation_deg = _marker_scatter([a @ pose @ b for a, b in zip(arm, seen, strict=True)])
    if residual_mm > limits.max_residual_mm or rotation_deg > limits.max_rotation_residual_deg:
        raise CalibrationError(
            f"the marker does not come out in one place: it scatters by {residual_mm:.1f} mm and "
            f"{rotation_deg:.2f} degrees (RMS) over the views, allowed {limits.max_residual_mm:g} mm and "
            f"{limits.max_rotation_residual_deg:g} degrees; check that the board is fixed rigidly and flat, "
            "calibrate the camera again, and take the views again with the whole board sharp in the picture",
            CalibrationProblem.POOR_FIT,
        )
    return HandEyeCalibration(pose, residual_mm, rotation_deg, spread, len(arm))


def rotation_axis_spread_deg(poses: Sequence[np.ndarray], min_motion_deg: float) -> float:
    """The largest angle (0-90 degrees) between the rotation axes of two motions between `poses` that
    each turn by at least `min_motion_deg`; 0 when fewer than two such motions exist."""
    axes = []
    for i in range(len(poses)):
        for j in range(i + 1, len(poses)):
            vector, _ = cv2.Rodrigues(poses[i][:3, :3].T @ poses[j][:3, :3])
            angle = float(np.linalg.norm(vector))
            if np.degrees(angle) >= min_motion_deg:
                axes.append(vector.reshape(3) / angle)
    spread = 0.0
    for i in range(len(axes)):
        for j in range(i + 1, len(axes)):
            spread = max(spread, float(np.degrees(np.arccos(min(1.0, abs(float(axes[i] @ axes[j])))))))
    return spread


def _marker_scatter(markers: Sequence[np.ndarray]) -> tuple[float, float]:
    """RMS scatter of poses that should be one: position (mm) about their mean, angle (degrees) to their mean rotation."""
    positions = np.array([m[:3, 3] for m in markers])
    residual_mm = 1000.0 * float(np.sqrt(np.mean(np.sum((positions - positions.mean(axis=0)) ** 2, axis=1))))
    u, _, vt = np.linalg.svd(sum(m[:3, :3] for m in markers))
    mean = u @ np.diag([1.0, 1.0, float(np.linalg.det(u @ vt))]) @ vt
    angles = [float(np.linalg.norm(cv2.Rodrigues(m[:3, :3] @ mean.T)[0])) for m in markers]
    return residual_mm, float(np.degrees(np.sqrt(np.mean(np.square(angles)))))


def _park_martin(arm: list[np.ndarray], seen: list[np.ndarray]) -> np.ndarray:
    """X with A X = X B for the relative motions A (gripper) and B (camera) between all pose pairs."""
    motions = []
    for i in range(len(arm)):
        for j in range(i + 1, len(arm)):
            motions.append((np.linalg.inv(arm[j]) @ arm[i], seen[j] @ np.linalg.inv(seen[i])))
    m = np.zeros((3, 3))
    for a, b in motions:
        alpha, _ = cv2.Rodrigues(a[:3, :3])
        beta, _ = cv2.Rodrigues(b[:3, :3])
        m += beta @ alpha.T
    eigenvalues, eigenvectors = np.linalg.eigh(m.T @ m)
    if eigenvalues.min() < 1e-9:
        raise CalibrationError(
            "the arm poses rotate about fewer than two distinct axes; move the wrist in two directions",
            CalibrationProblem.ONE_AXIS,
        )
    rotation = eigenvectors @ np.diag(eigenvalues**-0.5) @ eigenvectors.T @ m.T
    lhs = np.vstack([a[:3, :3] - np.eye(3) for a, _ in motions])
    rhs = np.concatenate([rotation @ b[:3, 3] - a[:3, 3] for a, b in motions])
    translation, *_ = np.linalg.lstsq(lhs, rhs, rcond=None)
    return pose_matrix(rotation, translation)


def to_frame(T_a_b: np.ndarray, point_b: Sequence[float]) -> np.ndarray:
    """Point of frame b expressed in frame a (e.g. the mouth from camera to robot base)."""
    return (np.asarray(T_a_b) @ np.append(np.asarray(point_b, dtype=np.float64), 1.0))[:3]
