"""A simulated fixed camera that sees a checkerboard carried by the arm (for `bidvis ui --sim`).

It renders what a real camera would see during the guided calibration: the board, fixed to the
tool, wherever the (virtual) servos have put it, through an ideal pinhole camera at a known pose.
Camera and hand-eye calibration can then be done, and checked against the truth, with no hardware.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import cv2
import numpy as np

from bidvis.robot_ui.camera_setup import tool_pose
from vision import CameraIntrinsics
from vision.capture import Frame

BOARD = (7, 5)
SQUARE_M = 0.015
_PX_PER_SQUARE = 40


def board_on_tool(board: tuple[int, int] = BOARD, square_m: float = SQUARE_M) -> np.ndarray:
    """Board pose in the tool frame: upright across the tool, 3 cm ahead of the tip, centred."""
    cols, rows = board
    pose = np.eye(4)
    pose[:3, :3] = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # board x -> tool y, y -> tool z
    pose[:3, 3] = (0.03, -(cols - 1) * square_m / 2.0, -(rows - 1) * square_m / 2.0)
    return pose


class BoardCamera:
    """`read()` gives frames (a `vision.capture` source) of the board at the arm's measured pose."""

    def __init__(
        self,
        joints: Callable[[], np.ndarray],
        intrinsics: CameraIntrinsics,
        camera_to_base: np.ndarray,
        *,
        board: tuple[int, int] = BOARD,
        square_m: float = SQUARE_M,
    ) -> None:
        self.joints = joints
        self.intrinsics = intrinsics
        self.camera_to_base = np.asarray(camera_to_base, dtype=float)
        self.board = board
        self.square_m = square_m
        self._count = itertools.count()
        cols, rows = board
        squares = np.indices((rows + 1, cols + 1)).sum(axis=0) % 2
        texture = np.where(squares == 0, 0, 255).astype(np.uint8)
        texture = np.kron(texture, np.ones((_PX_PER_SQUARE, _PX_PER_SQUARE), np.uint8))
        margin = _PX_PER_SQUARE
        self._texture = cv2.copyMakeBorder(texture, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=255)
        height, width = self._texture.shape
        corners_px = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
        # texture pixel -> board metres (origin at the first inner corner)
        to_m = lambda u: (u - margin - _PX_PER_SQUARE) * square_m / _PX_PER_SQUARE  # noqa: E731
        self._texture_corners_px = corners_px
        self._texture_corners_m = np.array([[to_m(u), to_m(v), 0.0] for u, v in corners_px])

    def render(self, q_rad: np.ndarray) -> np.ndarray:
        """The BGR picture with the arm at joint angles `q_rad`."""
        intr = self.intrinsics
        base_to_camera = np.linalg.inv(self.camera_to_base)
        camera_board = (
            base_to_camera @ tool_pose(np.asarray(q_rad, dtype=float)) @ board_on_tool(self.board, self.square_m)
        )
        points = (camera_board @ np.c_[self._texture_corners_m, np.ones(4)].T).T[:, :3]
        image = np.full((intr.height, intr.width), 90, np.uint8)
        if np.all(points[:, 2] > 0.05):
            pixels = np.stack(
                [intr.fx * points[:, 0] / points[:, 2] + intr.cx, intr.fy * points[:, 1] / points[:, 2] + intr.cy], 1
            )
            homography = cv2.getPerspectiveTransform(self._texture_corners_px, pixels.astype(np.float32))
            warped = cv2.warpPerspective(
                self._texture,
                homography,
                (intr.width, intr.height),
                flags=cv2.INTER_AREA,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=0,
            )
            mask = cv2.warpPerspective(np.full_like(self._texture, 255), homography, (intr.width, intr.height))
            image = np.where(mask > 0, warped, image)
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)

    def read(self, timeout_s: float = 0.0) -> Frame | None:
        return Frame(self.render(self.joints()), time.monotonic(), next(self._count))
