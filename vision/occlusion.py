"""Is the spoon hiding the lips? And where is the mouth then, from the rest of the face?

Hidden lips are told by colour: the chroma (YCrCb) of the outer lip contour, relative to the
chroma of the cheeks and nose (so that a change of light moves both alike), is learned while the
lips are in view; when most contour samples leave it, the lips are covered. While they are, the
mouth is carried from its last clear view by the similarity transform of the face's rigid points
(eyes, nose, cheeks), which the landmark model still places when the mouth is covered.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vision.mouth import OUTER_LIP_CONTOUR, MouthGeometry

RIGID_FACE_POINTS = [33, 133, 362, 263, 168, 6, 197, 195, 1, 234, 454]
LIP_POINTS = list(OUTER_LIP_CONTOUR)
SKIN_POINTS = [50, 280, 101, 330, 4, 195]  # cheeks and nose: skin that a spoon at the mouth leaves in view


@dataclass(frozen=True, slots=True)
class OcclusionLimits:
    """`chroma_tolerance`: chroma distance (YCrCb units) beyond which a lip sample counts as covered;
    `covered_fraction`: share of covered samples that means the lips are hidden; `learning_rate` of
    the lip colour reference while the lips are in view."""

    chroma_tolerance: float = 25.0
    covered_fraction: float = 0.6
    learning_rate: float = 0.1


@dataclass(frozen=True, slots=True)
class ClearView:
    """The last frame with the lips in view."""

    rigid_px: np.ndarray
    mouth: MouthGeometry
    confidence: float
    t: float


class LipOcclusion:
    """Lip-colour reference of one tracked face and the mouth estimate while it is hidden."""

    def __init__(self, limits: OcclusionLimits | None = None) -> None:
        self._limits = limits or OcclusionLimits()
        self._chroma: np.ndarray | None = None
        self._sampled = np.zeros((len(LIP_POINTS), 2), np.float32)
        self.clear_view: ClearView | None = None

    def reset(self) -> None:
        self._chroma = None
        self.clear_view = None

    def lips_hidden(self, image_bgr: np.ndarray, points: np.ndarray) -> bool:
        """True when most outer-lip samples no longer have the learned lip colour."""
        self._sampled = _lip_chroma(image_bgr, points)
        if self._chroma is None:
            return False
        distance = np.linalg.norm(self._sampled - self._chroma, axis=1)
        return bool(np.mean(distance > self._limits.chroma_tolerance) >= self._limits.covered_fraction)

    def remember(self, points: np.ndarray, mouth: MouthGeometry, confidence: float, t: float) -> None:
        """Record the frame last passed to `lips_hidden` as one with the lips in view."""
        chroma = self._sampled
        rate = self._limits.learning_rate
        self._chroma = chroma if self._chroma is None else (1.0 - rate) * self._chroma + rate * chroma
        self.clear_view = ClearView(points[RIGID_FACE_POINTS, :2].astype(np.float32), mouth, confidence, t)

    def estimate(self, points: np.ndarray) -> MouthGeometry | None:
        """The mouth carried from the last clear view by the motion of the rigid face points."""
        if self.clear_view is None:
            return None
        transform, _ = cv2.estimateAffinePartial2D(
            self.clear_view.rigid_px, points[RIGID_FACE_POINTS, :2].astype(np.float32), method=cv2.LMEDS
        )
        if transform is None:
            return None
        old = self.clear_view.mouth
        centre = transform[:, :2] @ np.asarray(old.center_px) + transform[:, 2]
        scale = float(np.sqrt(abs(np.linalg.det(transform[:, :2]))))
        return MouthGeometry((float(centre[0]), float(centre[1])), old.width_px * scale, old.open_ratio)


def _lip_chroma(image_bgr: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Chroma (Cr, Cb) of each outer-lip point minus the mean chroma of the skin points."""
    height, width = image_bgr.shape[:2]
    xy = points[LIP_POINTS + SKIN_POINTS, :2]
    cols = np.clip(np.rint(xy[:, 0]).astype(np.intp), 0, width - 1)
    rows = np.clip(np.rint(xy[:, 1]).astype(np.intp), 0, height - 1)
    pixels = image_bgr[rows, cols].reshape(1, -1, 3)
    chroma = cv2.cvtColor(pixels, cv2.COLOR_BGR2YCrCb)[0, :, 1:].astype(np.float32)
    return chroma[: len(LIP_POINTS)] - chroma[len(LIP_POINTS) :].mean(axis=0)
