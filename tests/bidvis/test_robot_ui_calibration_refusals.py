"""A calibration refused from below the staff page says why in the reader's words, never the English of a
`CalibrationError`: provoked with broken input (a picture with no board, a picture that is no 8-bit image,
a picture of another size, too few views, a damaged intrinsics file). The English stays in `detail`."""

from __future__ import annotations

import numpy as np
import pytest

from controller.causes import Cause
from controller.messages import Language, Message
from tests.bidvis.test_robot_ui_refusals import _said_both_ways
from vision.capture import Frame

BOARD = {"columns": 7, "rows": 5, "square_mm": 15}


def board_picture(square_px: int = 40) -> np.ndarray:
    """A flat 8x6-square checkerboard (7x5 inner corners) on white, 640x480 BGR."""
    image = np.full((480, 640, 3), 255, np.uint8)
    for row in range(6):
        for column in range(8):
            if (row + column) % 2 == 0:
                top, left = 60 + row * square_px, 160 + column * square_px
                image[top : top + square_px, left : left + square_px] = 0
    return image


class Camera:
    """A camera that gives `pictures` in turn, the last one for ever."""

    def __init__(self, *pictures: np.ndarray) -> None:
        self.pictures = list(pictures)

    def read(self, timeout_s: float = 0.0) -> Frame:
        picture = self.pictures.pop(0) if len(self.pictures) > 1 else self.pictures[0]
        return Frame(picture, 0.0, 0)


def _english_not_shown(staff, path: str, english: str) -> None:
    """The English of the error is in no text the reader gets."""
    for lang in Language:
        text = staff.post(f"{path}?lang={lang.value}").json()["text"]
        assert english not in text


def test_a_black_picture_shows_no_board_and_solving_then_has_too_few_views(staff, robot):
    assert staff.post("/api/camera/start", json=BOARD).status_code == 200
    robot.session.camera = Camera(np.zeros((480, 640, 3), np.uint8))
    not_found = Message("view.board_not_found", columns=7, rows=5)
    for lang in Language:
        view = staff.post(f"/api/camera/capture?lang={lang.value}").json()
        assert not view["accepted"] and view["views"] == 0 and view["text"] == not_found.text(lang)
    refused = Message("refusal.calibration_failed", cause=Cause.TOO_FEW_VIEWS.message())
    detail = _said_both_ways(staff, "POST", "/api/camera/solve", 409, refused)
    assert "need at least 3 views of the board, have 0" in detail
    _english_not_shown(staff, "/api/camera/solve", "need at least")


@pytest.mark.parametrize(
    "picture",
    [np.zeros((480, 640, 3), np.float32), np.zeros((0, 0, 3), np.uint8), np.zeros((480, 640, 3, 2), np.uint8)],
    ids=["float", "empty", "four-dimensional"],
)
def test_a_picture_that_is_no_8_bit_image(staff, robot, picture):
    staff.post("/api/camera/start", json=BOARD)
    robot.session.camera = Camera(picture)
    refused = Message("refusal.calibration_failed", cause=Cause.NO_PICTURE.message())
    detail = _said_both_ways(staff, "POST", "/api/camera/capture", 409, refused)
    assert "no usable picture" in detail
    _english_not_shown(staff, "/api/camera/capture", "usable")


def test_a_picture_whose_size_changed_between_views(staff, robot):
    staff.post("/api/camera/start", json=BOARD)
    robot.session.camera = Camera(board_picture(), np.zeros((240, 320, 3), np.uint8))
    first = staff.post("/api/camera/capture").json()
    assert first["accepted"], first
    refused = Message("refusal.calibration_failed", cause=Cause.SIZE_CHANGED.message())
    detail = _said_both_ways(staff, "POST", "/api/camera/capture", 409, refused)
    assert "picture size changed" in detail
    assert robot.session.calibration_steps.checkerboard.images[0].shape == (480, 640, 3)  # the good view stays


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{",
        b'{"fx": "wide"}',
        b'{"fx": 0, "fy": 1, "cx": 0, "cy": 0, "width": 640, "height": 480}',
        b"\x89PNG\r\n\x1a\n\xff",
    ],
)
def test_a_damaged_intrinsics_file_asks_to_calibrate_the_camera(staff, robot, content):
    robot.session.documents.intrinsics_path().write_bytes(content)
    refused = Message("refusal.camera_not_calibrated", cause=Cause.CALIBRATION_UNREADABLE.message())
    detail = _said_both_ways(staff, "POST", "/api/hand-eye/start", 409, refused, json=BOARD)
    assert "camera calibration" in detail
    detail = _said_both_ways(staff, "POST", "/api/profile/face-size", 409, refused, json={"distance_m": 0.4})
    assert "camera calibration" in detail


def test_no_intrinsics_file_asks_to_calibrate_the_camera(staff, robot):
    robot.session.documents.intrinsics_path().unlink(missing_ok=True)
    refused = Message("refusal.camera_not_calibrated", cause=Cause.CALIBRATION_UNREADABLE.message())
    detail = _said_both_ways(staff, "POST", "/api/hand-eye/start", 409, refused, json=BOARD)
    assert "cannot read camera calibration" in detail and "No such file" in detail
