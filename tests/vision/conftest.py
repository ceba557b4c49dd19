"""Fixtures of the vision tests: shared models, the shared face images, frame composition."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from vision import FaceModels

BOARD, SQUARE_M, SQUARE_PX, MARGIN_PX = (9, 6), 0.024, 40, 40
FACES_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "faces"
VIDEO_DIR = FACES_DIR.parent / "video"


@pytest.fixture(scope="session")
def models() -> FaceModels:
    cv2.setNumThreads(1)
    return FaceModels.load()


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    if not (FACES_DIR / "labels.csv").is_file():
        pytest.skip(
            f"shared face images not found at {FACES_DIR.resolve()} (../shared/data/faces next to the repository)"
        )
    return FACES_DIR


@pytest.fixture(scope="session")
def video_dir() -> Path:
    if not (VIDEO_DIR / "labels.csv").is_file():
        pytest.skip(
            f"shared video clips not found at {VIDEO_DIR.resolve()} (../shared/data/video next to the repository)"
        )
    return VIDEO_DIR


@pytest.fixture(scope="session")
def clip(video_dir: Path):
    """`clip(name)` -> (frames BGR, labels) of one shared clip, decoded once."""
    from vision.video_evaluation import load_clip_labels, read_clip

    labels = load_clip_labels(video_dir)
    decoded: dict[str, list[np.ndarray]] = {}

    def load(name: str):
        if name not in decoded:
            decoded[name] = read_clip(video_dir, name, len(labels[name]))
        return decoded[name], labels[name]

    return load


@pytest.fixture(scope="session")
def face_labels(faces_dir: Path) -> dict[str, dict[str, str]]:
    with (faces_dir / "labels.csv").open(newline="") as handle:
        return {Path(row["file"]).stem: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="session")
def face(faces_dir: Path, face_labels):
    """`face(stem)` -> (image BGR, label row) of one shared image."""

    def load(stem: str) -> tuple[np.ndarray, dict[str, str]]:
        row = face_labels[stem]
        image = cv2.imread(str(faces_dir / row["file"]))
        assert image is not None, f"unreadable shared image {row['file']}"
        return image, row

    return load


_SENSOR_NOISE = np.random.default_rng(11)


def _compose(size: tuple[int, int] = (640, 480), background: int = 90, *placements) -> np.ndarray:
    """A frame of `size` (w, h) with images pasted at (x, y) (clipped at the border) and scaled by s,
    plus +-2 grey levels of sensor noise, as every real camera frame has (no two frames are equal;
    frames above 1920x1080 stay noiseless).

    Each placement is (image, x, y) or (image, x, y, scale).
    """
    width, height = size
    frame = np.full((height, width, 3), background, np.uint8)
    for placement in placements:
        image, x, y = placement[:3]
        if len(placement) == 4:
            image = cv2.resize(image, None, fx=placement[3], fy=placement[3], interpolation=cv2.INTER_AREA)
        h, w = image.shape[:2]
        x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
        if x1 > x0 and y1 > y0:
            frame[y0:y1, x0:x1] = image[y0 - y : y1 - y, x0 - x : x1 - x]
    if frame.size > 1920 * 1080 * 3:  # still-image tests of huge frames need no noise, and it is slow
        return frame
    noise = _SENSOR_NOISE.integers(-2, 3, frame.shape, dtype=np.int16)
    return np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def _label_center(row: dict[str, str], x: float = 0.0, y: float = 0.0, scale: float = 1.0) -> tuple[float, float]:
    return float(row["mouth_cx"]) * scale + x, float(row["mouth_cy"]) * scale + y


@pytest.fixture(scope="session")
def compose():
    """`compose((w, h), background, (image, x, y[, scale]), ...)` -> a frame with pasted images."""
    return _compose


@pytest.fixture(scope="session")
def label_center():
    """`label_center(row, x, y, scale)` -> the labelled mouth centre after pasting at (x, y) with scale."""
    return _label_center


def _render_checkerboard(rvec, tvec, intrinsics) -> np.ndarray:
    """A 9x6 (inner corners, 24 mm squares) board seen by a pinhole camera, rendered by warpPerspective."""
    cols, rows = BOARD[0] + 1, BOARD[1] + 1
    texture = np.full((rows * SQUARE_PX + 2 * MARGIN_PX, cols * SQUARE_PX + 2 * MARGIN_PX), 255, np.uint8)
    for r in range(rows):
        for c in range(cols):
            if (r + c) % 2 == 0:
                y, x = MARGIN_PX + r * SQUARE_PX, MARGIN_PX + c * SQUARE_PX
                texture[y : y + SQUARE_PX, x : x + SQUARE_PX] = 0
    # Texture pixel of a board point (metres, inner corner 0 at the origin).
    board_to_texture = np.array(
        [
            [SQUARE_PX / SQUARE_M, 0, MARGIN_PX + SQUARE_PX],
            [0, SQUARE_PX / SQUARE_M, MARGIN_PX + SQUARE_PX],
            [0, 0, 1.0],
        ]
    )
    rotation, _ = cv2.Rodrigues(np.asarray(rvec, float))
    board_to_image = intrinsics.matrix @ np.column_stack([rotation[:, 0], rotation[:, 1], np.asarray(tvec, float)])
    homography = board_to_image @ np.linalg.inv(board_to_texture)
    return cv2.warpPerspective(
        texture, homography, (intrinsics.width, intrinsics.height), flags=cv2.INTER_AREA, borderValue=255
    )


@pytest.fixture(scope="session")
def render_checkerboard():
    """`render_checkerboard(rvec, tvec, intrinsics)` -> grayscale image of a 9x6 board, 24 mm squares."""
    return _render_checkerboard
