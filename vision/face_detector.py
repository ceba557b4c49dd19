"""Face detection: MediaPipe's short-range BlazeFace model (run by `vision.inference`), decoded here.

The model takes a 128x128 RGB image scaled to [-1, 1] (the frame is letterboxed, as MediaPipe
does) and returns, for each of 896 fixed anchors, a score logit and 16 regressors: box centre
offset, box size and six keypoints (right eye, left eye, nose tip, mouth, right ear, left ear; "right"
is the person's right, on the image's left). Anchors follow MediaPipe's SSD anchor options for this
model: strides 8, 16, 16, 16 on a 128 px input, 2 anchors per cell at stride 8 and 6 at stride 16.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vision.inference import DEFAULT_RUNTIME, Runtime, load_network, outputs_by_size
from vision.models import FACE_DETECTOR, model_path

INPUT_PX = 128
MIN_SCORE = 0.5
NMS_IOU = 0.3


@dataclass(frozen=True, slots=True)
class FaceDetection:
    """One detected face in frame pixels: `box` is (x0, y0, x1, y1), `keypoints` is 6x2."""

    score: float
    box: tuple[float, float, float, float]
    keypoints: np.ndarray

    @property
    def width_px(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def center_px(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2.0, (self.box[1] + self.box[3]) / 2.0)

    def shifted(self, dx: float, dy: float) -> FaceDetection:
        x0, y0, x1, y1 = self.box
        return FaceDetection(
            self.score, (x0 + dx, y0 + dy, x1 + dx, y1 + dy), self.keypoints + np.array((dx, dy), np.float32)
        )


def blazeface_anchors() -> np.ndarray:
    """The 896 anchor centres (normalised [0, 1]) of the short-range model, in output order."""
    centres = []
    for stride, per_cell in ((8, 2), (16, 6)):
        cells = INPUT_PX // stride
        ys, xs = np.mgrid[0:cells, 0:cells]
        grid = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 2)
        centres.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


class FaceDetector:
    """Detects faces in a BGR uint8 frame; `detect` returns them best first."""

    def __init__(self, min_score: float = MIN_SCORE, runtime: Runtime = DEFAULT_RUNTIME) -> None:
        self._net = load_network(model_path(FACE_DETECTOR), runtime)
        self._anchors = blazeface_anchors()
        self._min_logit = float(np.log(min_score / (1.0 - min_score)))
        self._canvas = np.zeros((INPUT_PX, INPUT_PX, 3), np.uint8)

    def detect(self, image_bgr: np.ndarray, region: tuple[int, int, int, int] | None = None) -> list[FaceDetection]:
        """Faces in `image_bgr` (BGR uint8, HxWx3), best score first; only in `region` (x0, y0, x1, y1) if given."""
        if region is not None:
            x0, y0, x1, y1 = region
            return [face.shifted(x0, y0) for face in self.detect(image_bgr[y0:y1, x0:x1])]
        height, width = image_bgr.shape[:2]
        scale = INPUT_PX / max(height, width)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        pad_x, pad_y = (INPUT_PX - new_w) // 2, (INPUT_PX - new_h) // 2
        self._canvas[:] = 0
        self._canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = cv2.resize(
            image_bgr, (new_w, new_h), interpolation=cv2.INTER_AREA
        )
        rgb = self._canvas[None, :, :, ::-1].astype(np.float32)
        logits, raw = outputs_by_size(self._net.forward((rgb - 127.5) / 127.5), 896, 896 * 16)
        keep = np.flatnonzero(logits > self._min_logit)
        if keep.size == 0:
            return []
        raw = raw.reshape(-1, 16)[keep]
        anchors = self._anchors[keep]
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[keep], -100.0, 100.0)))
        centre = raw[:, 0:2] / INPUT_PX + anchors
        size = raw[:, 2:4] / INPUT_PX
        keypoints = raw[:, 4:16].reshape(-1, 6, 2) / INPUT_PX + anchors[:, None, :]
        # From the letterboxed 128 px square back to frame pixels.
        offset = np.array([pad_x, pad_y], np.float32)
        centre = (centre * INPUT_PX - offset) / scale
        keypoints = (keypoints * INPUT_PX - offset) / scale
        size = size * INPUT_PX / scale
        boxes = np.concatenate([centre - size / 2, size], axis=1)
        chosen = cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), 0.0, NMS_IOU)
        faces = []
        for i in np.asarray(chosen).reshape(-1):
            x, y, w, h = boxes[i]
            faces.append(
                FaceDetection(float(scores[i]), (float(x), float(y), float(x + w), float(y + h)), keypoints[i])
            )
        faces.sort(key=lambda f: -f.score)
        return faces
