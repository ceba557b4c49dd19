"""Did the picture at the followed face change suddenly between two frames?

A face that jumps (a cut in the video, frames lost, a second person stepping in front) leaves a
picture at the old place that no longer looks like the face there a frame ago, while a face that
moves at normal speed, talks, blinks or is lit differently still does. `FaceRegionChange`
compares the face's box in two consecutive frames, each shrunk to a 16x16 grey thumbnail, by
normalised cross-correlation (insensitive to brightness and contrast). Measured on the shared dev
clips placed in 640x480 frames (docs/vision.md): a face moving 5 % of its width per frame
correlates 0.73-0.98 with the frame before (1st percentile 0.82), a jump of 30 % of its width or
more 0.61 at the most. The tracker treats a correlation below `min_similarity` as a jump: it
drops the followed mesh and finds the face afresh in the same frame.
"""

from __future__ import annotations

import cv2
import numpy as np

THUMBNAIL_PX = 16


def face_thumbnail(image_bgr: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray | None:
    """The box (x0, y0, x1, y1, clipped to the frame) as a 16x16 float grey image, or None when empty."""
    height, width = image_bgr.shape[:2]
    x0, y0, x1, y1 = max(box[0], 0), max(box[1], 0), min(box[2], width), min(box[3], height)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    grey = cv2.cvtColor(image_bgr[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
    return cv2.resize(grey, (THUMBNAIL_PX, THUMBNAIL_PX), interpolation=cv2.INTER_AREA).astype(np.float32)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two equal-size images in [-1, 1]; 1.0 when both are flat."""
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.sqrt(float((a * a).sum()) * float((b * b).sum())))
    if norm < 1e-3:
        return 1.0 if float(np.abs(a).max()) < 1.0 and float(np.abs(b).max()) < 1.0 else 0.0
    return float((a * b).sum()) / norm


class FaceRegionChange:
    """Remembers the face's box and thumbnail of one frame; `changed` judges the next frame."""

    def __init__(self, min_similarity: float) -> None:
        self.min_similarity = min_similarity
        self._box: tuple[int, int, int, int] | None = None
        self._thumbnail: np.ndarray | None = None
        self.last_similarity = 1.0

    def reset(self) -> None:
        self._box = self._thumbnail = None

    def remember(self, image_bgr: np.ndarray, points: np.ndarray) -> None:
        """Keep the box of the face-mesh `points` (frame px) and its thumbnail in this frame."""
        x0, y0 = np.floor(points[:, :2].min(axis=0)).astype(int)
        x1, y1 = np.ceil(points[:, :2].max(axis=0)).astype(int) + 1
        self._box = (int(x0), int(y0), int(x1), int(y1))
        self._thumbnail = face_thumbnail(image_bgr, self._box)

    def changed(self, image_bgr: np.ndarray) -> bool:
        """True when the remembered box shows a different picture in `image_bgr` (nothing remembered: False)."""
        if self._box is None or self._thumbnail is None:
            return False
        now = face_thumbnail(image_bgr, self._box)
        self.last_similarity = -1.0 if now is None else similarity(self._thumbnail, now)
        return self.last_similarity < self.min_similarity
