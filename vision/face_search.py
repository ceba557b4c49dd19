"""Where faces are searched for in a frame: the whole frame, then a padded frame, then tiles.

The face detector sees a square window at 128 px, so one pass over a 640x480 frame finds faces
taller than about 1/6 of the frame (16 px at the detector's input; measured on the shared clips,
docs/vision.md) and misses faces cut by the frame's edge. `FaceSearch` adds windows, each a
square in frame pixels that may reach past the frame (filled with grey there):

1. the whole frame (what MediaPipe's face mesh searches; always first),
2. the frame with a grey border of `pad_fraction` of its long side on every side: a face partly
   out of frame then shows whole enough for the detector (its missing part is grey),
3. tiles small enough that a face of `min_face_height_fraction` of the frame height reaches 20 px
   at the detector's input, overlapping by more than such a face and reaching past the edges by
   half of one, so that every small face lies whole inside one tile (or is cut only by the frame).

`levels(detector, image)` yields the faces of each level in turn, so a caller stops at the first
level that holds what it looks for; `find` returns the first level with any face.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vision.face_detector import INPUT_PX, NMS_IOU, FaceDetection, FaceDetector

MIN_FACE_INPUT_PX = 20  # a face this tall at the detector's 128 px input is found (16 px was the least seen)
PAD_GREY = (127, 127, 127)


@dataclass(frozen=True, slots=True)
class SearchWindow:
    """A square of `side` frame pixels with its top-left corner at (x0, y0); it may reach past the frame."""

    x0: int
    y0: int
    side: int


@dataclass(frozen=True, slots=True)
class FaceSearch:
    """The search levels for one frame size; see the module docstring.

    `min_face_height_fraction`: the smallest face looked for, as a fraction of the frame height
    (face height = hairline to chin, about 3.6 mouth widths). `pad_fraction`: the grey border of
    the padded level, as a fraction of the frame's long side (0 for none).
    """

    min_face_height_fraction: float = 0.1
    pad_fraction: float = 0.25

    def __post_init__(self) -> None:
        if not (0.0 < self.min_face_height_fraction <= 1.0 and 0.0 <= self.pad_fraction <= 1.0):
            raise ValueError(f"face search settings out of range: {self}")

    def padded_window(self, frame_shape: Sequence[int]) -> SearchWindow | None:
        height, width = int(frame_shape[0]), int(frame_shape[1])
        pad = round(self.pad_fraction * max(height, width))
        if pad == 0:
            return None
        side = max(height, width) + 2 * pad
        return SearchWindow((width - side) // 2, (height - side) // 2, side)

    def tiles(self, frame_shape: Sequence[int]) -> list[SearchWindow]:
        """Overlapping squares in which the smallest face looked for reaches `MIN_FACE_INPUT_PX`."""
        height, width = int(frame_shape[0]), int(frame_shape[1])
        face = self.min_face_height_fraction * height
        side = math.floor(INPUT_PX * face / MIN_FACE_INPUT_PX)
        whole = max(height, width)
        if side * 1.25 >= whole or side < MIN_FACE_INPUT_PX:  # the whole frame shows it large enough, or no face fits
            return []
        margin = math.ceil(face / 2)
        step = max(1, math.floor(side - 1.25 * face))
        xs = _starts(-margin, width + margin, side, step)
        ys = _starts(-margin, height + margin, side, step)
        return [SearchWindow(x, y, side) for y in ys for x in xs]

    def levels(self, detector: FaceDetector, image_bgr: np.ndarray) -> Iterator[list[FaceDetection]]:
        """Faces of each level in turn (whole frame, padded frame, tiles), best score first."""
        yield detector.detect(image_bgr)
        padded = self.padded_window(image_bgr.shape)
        if padded is not None:
            yield detect_in_window(detector, image_bgr, padded)
        tiles = self.tiles(image_bgr.shape)
        if tiles:
            yield merge([face for tile in tiles for face in detect_in_window(detector, image_bgr, tile)])

    def find(self, detector: FaceDetector, image_bgr: np.ndarray) -> list[FaceDetection]:
        """The faces of the first level that finds any (empty when none does)."""
        for faces in self.levels(detector, image_bgr):
            if faces:
                return faces
        return []


def _starts(low: int, high: int, side: int, step: int) -> list[int]:
    """Start positions of windows of `side` with at most `step` between them covering [low, high)."""
    span = high - low
    if side >= span:
        return [low + (span - side) // 2]
    count = math.ceil((span - side) / step) + 1
    return [low + round(i * (span - side) / (count - 1)) for i in range(count)]


def window_pixels(image_bgr: np.ndarray, window: SearchWindow) -> np.ndarray:
    """The window's pixels (side x side), grey where it reaches past the frame."""
    height, width = image_bgr.shape[:2]
    x0, y0, x1, y1 = window.x0, window.y0, window.x0 + window.side, window.y0 + window.side
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if cx1 <= cx0 or cy1 <= cy0:
        return np.full((window.side, window.side, 3), PAD_GREY, np.uint8)
    return cv2.copyMakeBorder(
        image_bgr[cy0:cy1, cx0:cx1], cy0 - y0, y1 - cy1, cx0 - x0, x1 - cx1, cv2.BORDER_CONSTANT, value=PAD_GREY
    )


def detect_in_window(detector: FaceDetector, image_bgr: np.ndarray, window: SearchWindow) -> list[FaceDetection]:
    """Faces the detector finds in one window, in frame pixels."""
    return [face.shifted(window.x0, window.y0) for face in detector.detect(window_pixels(image_bgr, window))]


def merge(faces: list[FaceDetection]) -> list[FaceDetection]:
    """One detection per face from overlapping windows (non-maximum suppression), best score first."""
    if len(faces) < 2:
        return faces
    boxes = [[f.box[0], f.box[1], f.box[2] - f.box[0], f.box[3] - f.box[1]] for f in faces]
    keep = cv2.dnn.NMSBoxes(boxes, [f.score for f in faces], 0.0, NMS_IOU)
    return sorted((faces[i] for i in np.asarray(keep).reshape(-1)), key=lambda f: -f.score)
