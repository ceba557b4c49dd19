"""Guided camera calibration for staff: checkerboard intrinsics, then hand-eye (camera to robot base).

Both collect views one button press at a time and say what to do next:

- `CheckerboardViews`: each view must show the whole board; the guidance walks staff through
  the poses that make a good calibration (centre, corners, tilts). `solve()` runs
  `vision.calibrate_checkerboard`.
- `HandEyeViews`: the board is fixed to the arm's tool (eye-to-hand: the camera stands still);
  each view pairs the arm's tool pose (forward kinematics of the measured joints) with the board
  pose the camera sees (`cv2.solvePnP` with the intrinsics). `solve()` runs
  `vision.calibrate_hand_eye` and gives the camera's pose in the robot base frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from controller.kinematics import forward
from controller.messages import Message
from vision import CameraIntrinsics
from vision.calibration import (
    CameraMount,
    HandEyeCalibration,
    calibrate_checkerboard,
    calibrate_hand_eye,
    checkerboard_points,
)
from vision.errors import CalibrationError, CalibrationProblem

MIN_VIEWS = 3
GOOD_VIEWS = 8
MAX_VIEWS = 30
MAX_GOOD_RMS_PX = 1.0

# The steps staff are walked through, in order (texts: `guide.*` of controller/locale/).
CHECKERBOARD_GUIDANCE = tuple(Message(f"guide.board_{i}") for i in range(1, 11))
HAND_EYE_GUIDANCE = tuple(Message(f"guide.hand_eye_{i}") for i in range(1, 9))


def _check_board(board: tuple[int, int], square_m: float) -> None:
    cols, rows = board
    if not (2 <= cols <= 30 and 2 <= rows <= 30):
        raise ValueError(f"a board has 2..30 inner corners each way, got {cols}x{rows}")
    if not (0.002 <= square_m <= 0.2):
        raise ValueError(f"board squares must be 2..200 mm, got {square_m * 1000:g} mm")


def tool_pose(q_rad: np.ndarray) -> np.ndarray:
    """4x4 pose of the tool tip in the base frame (x along the tool, pitch about y, yaw about z)."""
    x, y, z, pitch = forward(q_rad)
    yaw = float(q_rad[0])
    rz = np.array([[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[np.cos(pitch), 0.0, np.sin(pitch)], [0.0, 1.0, 0.0], [-np.sin(pitch), 0.0, np.cos(pitch)]])
    pose = np.eye(4)
    pose[:3, :3] = rz @ ry
    pose[:3, 3] = (x, y, z)
    return pose


def _gray(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3) or image.size == 0:
        raise CalibrationError(
            "the camera gave no usable picture (empty or not an 8-bit image)", CalibrationProblem.NO_PICTURE
        )
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def find_board(image: np.ndarray, board: tuple[int, int]) -> np.ndarray | None:
    """Refined inner corners of the checkerboard in `image`, or None when the whole board is not seen."""
    gray = _gray(image)
    found, corners = cv2.findChessboardCorners(
        gray, board, flags=cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
    )
    if not found:
        return None
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 1e-3)
    return cv2.cornerSubPix(gray, corners, (5, 5), (-1, -1), criteria)


@dataclass(frozen=True)
class ViewResult:
    """What one capture gave: accepted or not, the count, and what to do next."""

    accepted: bool
    views: int
    message: Message
    next_step: Message


@dataclass
class CheckerboardViews:
    """Views of a checkerboard with `board` = (columns, rows) inner corners of `square_m`."""

    board: tuple[int, int]
    square_m: float
    images: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        _check_board(self.board, self.square_m)

    def guidance(self) -> Message:
        return CHECKERBOARD_GUIDANCE[len(self.images) % len(CHECKERBOARD_GUIDANCE)]

    def add(self, image: np.ndarray) -> ViewResult:
        if len(self.images) >= MAX_VIEWS:
            return ViewResult(False, len(self.images), Message("view.plenty", max=MAX_VIEWS), self.guidance())
        if self.images and _gray(image).shape != _gray(self.images[0]).shape:
            raise CalibrationError(
                "the picture size changed between views; restart the camera calibration",
                CalibrationProblem.SIZE_CHANGED,
            )
        if find_board(image, self.board) is None:
            return ViewResult(
                False,
                len(self.images),
                Message("view.board_not_found", columns=self.board[0], rows=self.board[1]),
                self.guidance(),
            )
        self.images.append(image.copy())
        ready = (
            Message("view.enough")
            if len(self.images) >= GOOD_VIEWS
            else Message("view.more_recommended", n=GOOD_VIEWS - len(self.images))
        )
        return ViewResult(
            True, len(self.images), Message("view.taken_of", view=len(self.images), ready=ready), self.guidance()
        )

    def solve(self) -> tuple[CameraIntrinsics, float]:
        """The intrinsics and the RMS reprojection error (px)."""
        if len(self.images) < MIN_VIEWS:
            raise CalibrationError(
                f"need at least {MIN_VIEWS} views of the board, have {len(self.images)}",
                CalibrationProblem.TOO_FEW_VIEWS,
            )
        result = calibrate_checkerboard(self.images, self.board, self.square_m)
        return result.intrinsics, result.rms_error_px


@dataclass
class HandEyeViews:
    """Paired views for a fixed camera and a board fixed to the tool (see the module docstring)."""

    board: tuple[int, int]
    square_m: float
    intrinsics: CameraIntrinsics
    tool_poses: list[np.ndarray] = field(default_factory=list)
    board_poses: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        _check_board(self.board, self.square_m)

    def guidance(self) -> Message:
        return HAND_EYE_GUIDANCE[len(self.tool_poses) % len(HAND_EYE_GUIDANCE)]

    def add(self, image: np.ndarray, q_rad: np.ndarray) -> ViewResult:
        corners = find_board(image, self.board)
        if corners is None:
            return ViewResult(
                False,
                len(self.tool_poses),
                Message("view.board_not_seen_by_arm"),
                self.guidance(),
            )
        ok, rvec, tvec = cv2.solvePnP(
            checkerboard_points(self.board, self.square_m), corners, self.intrinsics.matrix, self.intrinsics.dist_coeffs
        )
        if not ok:
            return ViewResult(False, len(self.tool_poses), Message("view.no_board_pose"), self.guidance())
        seen = np.eye(4)
        seen[:3, :3], _ = cv2.Rodrigues(rvec)
        seen[:3, 3] = tvec.reshape(3)
        pose = tool_pose(q_rad)
        if any(
            np.linalg.norm(pose[:3, 3] - p[:3, 3]) < 0.01 and np.allclose(pose[:3, :3], p[:3, :3], atol=0.02)
            for p in self.tool_poses
        ):
            return ViewResult(
                False,
                len(self.tool_poses),
                Message("view.arm_not_moved"),
                self.guidance(),
            )
        self.tool_poses.append(pose)
        self.board_poses.append(seen)
        return ViewResult(True, len(self.tool_poses), Message("view.taken", view=len(self.tool_poses)), self.guidance())

    def solve(self) -> HandEyeCalibration:
        """The camera's pose in the robot base frame (`pose`, 4x4 `T_base_camera`), checked: its
        residual in mm; `CalibrationError` (saying what to do) for degenerate poses or a bad fit."""
        if len(self.tool_poses) < MIN_VIEWS:
            raise CalibrationError(
                f"need at least {MIN_VIEWS} arm poses, have {len(self.tool_poses)}", CalibrationProblem.TOO_FEW_VIEWS
            )
        return calibrate_hand_eye(self.tool_poses, self.board_poses, CameraMount.FIXED)
