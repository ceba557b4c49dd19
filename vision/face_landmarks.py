"""Face landmarks: MediaPipe's 468-point face mesh model (run by `vision.inference`) on an aligned crop.

The crop is a square region of interest (`FaceRoi`) rotated so that the eyes are level, scaled to
the model's 192x192 RGB input in [0, 1]. The model returns 468 (x, y, z) points in crop pixels and
a face-presence logit; both are mapped back to frame pixels here. Regions of interest come from a
detection (eye keypoints, box scaled 1.5x, as MediaPipe does) or from the previous frame's
landmarks (eye corners 33 and 263, bounding box scaled 1.5x), which is what makes tracking cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from vision.face_detector import FaceDetection
from vision.inference import DEFAULT_RUNTIME, Runtime, load_network, outputs_by_size
from vision.models import FACE_LANDMARKS, model_path

INPUT_PX = 192
ROI_SCALE = 1.5
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263


@dataclass(frozen=True, slots=True)
class FaceRoi:
    """A square crop: centre (px), side (px) and rotation (rad, the angle of the eye line)."""

    center: tuple[float, float]
    size: float
    angle: float

    @classmethod
    def from_detection(cls, face: FaceDetection) -> FaceRoi:
        right_eye, left_eye = face.keypoints[0], face.keypoints[1]
        angle = math.atan2(float(left_eye[1] - right_eye[1]), float(left_eye[0] - right_eye[0]))
        x0, y0, x1, y1 = face.box
        return cls(((x0 + x1) / 2, (y0 + y1) / 2), max(x1 - x0, y1 - y0) * ROI_SCALE, angle)

    @classmethod
    def from_landmarks(cls, points: np.ndarray) -> FaceRoi:
        """Crop around `points` (Nx2 or Nx3 frame px of the 468-point mesh) for the next frame."""
        right_eye, left_eye = points[RIGHT_EYE_OUTER], points[LEFT_EYE_OUTER]
        angle = math.atan2(float(left_eye[1] - right_eye[1]), float(left_eye[0] - right_eye[0]))
        # Bounding box in the rotated frame, so the crop is tight whatever the head roll.
        cos, sin = math.cos(angle), math.sin(angle)
        xy = points[:, :2]
        u = xy[:, 0] * cos + xy[:, 1] * sin
        v = -xy[:, 0] * sin + xy[:, 1] * cos
        cu, cv_ = (u.min() + u.max()) / 2, (v.min() + v.max()) / 2
        size = max(u.max() - u.min(), v.max() - v.min()) * ROI_SCALE
        return cls((float(cu * cos - cv_ * sin), float(cu * sin + cv_ * cos)), float(size), angle)

    def crop_transform(self) -> np.ndarray:
        """2x3 affine matrix from frame pixels to model-input pixels."""
        matrix = cv2.getRotationMatrix2D(self.center, math.degrees(self.angle), INPUT_PX / self.size)
        matrix[0, 2] += INPUT_PX / 2 - self.center[0]
        matrix[1, 2] += INPUT_PX / 2 - self.center[1]
        return matrix


@dataclass(frozen=True, slots=True)
class FaceLandmarks:
    """468 points (x, y in frame px; z in px, relative depth) and the face-presence score in [0, 1]."""

    points: np.ndarray
    presence: float
    roi: FaceRoi


class FaceLandmarker:
    """Runs the 468-point landmark model on the crop given by a `FaceRoi`."""

    def __init__(self, runtime: Runtime = DEFAULT_RUNTIME) -> None:
        self._net = load_network(model_path(FACE_LANDMARKS), runtime)

    def run(self, image_bgr: np.ndarray, roi: FaceRoi) -> FaceLandmarks:
        """Landmarks of the face in `roi` of `image_bgr` (BGR uint8)."""
        matrix = roi.crop_transform()
        crop = cv2.warpAffine(
            image_bgr, matrix, (INPUT_PX, INPUT_PX), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        # One output has 1404 values (468 x 3 landmarks), the other one (the presence logit).
        raw, logit = outputs_by_size(self._net.forward(crop[None, :, :, ::-1].astype(np.float32) / 255.0), 1404, 1)
        crop_points = raw.reshape(468, 3)
        inverse = cv2.invertAffineTransform(matrix)
        points = np.empty((468, 3), np.float32)
        points[:, :2] = crop_points[:, :2] @ inverse[:, :2].T + inverse[:, 2]
        points[:, 2] = crop_points[:, 2] * (roi.size / INPUT_PX)
        presence = 1.0 / (1.0 + math.exp(-max(-100.0, min(100.0, float(logit.reshape(-1)[0])))))
        return FaceLandmarks(points, presence, roi)
