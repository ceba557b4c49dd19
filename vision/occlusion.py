"""Is a spoon or a hand hiding the lips? And where is the mouth then, from the rest of the face?

Hidden lips are told by colour, two ways, both learned per contour point while the lips are in view:

- the chroma (YCrCb) of the outer lip contour, relative to the chroma of the cheeks and nose (so
  that a change of light moves both alike): a spoon, or anything not of the lips' colour, moves
  most contour samples away from it;
- the chroma contrast across the contour (just inside it against just outside it, per unit of
  brightness, so that light changes cancel): a hand is skin on both sides, so the lip/skin edge
  fades on most of the contour. Lips differ from skin more in brightness than in chroma on real
  faces, too little for the first test to see skin over them (docs/vision.md).

While the lips are hidden, the mouth is carried from its last clear view by the similarity
transform of the face's rigid points (eyes, nose, cheeks), which the landmark model still places
when the mouth is covered.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vision.mouth import OUTER_CORNER_LEFT, OUTER_CORNER_RIGHT, OUTER_LIP_CONTOUR, MouthGeometry

RIGID_FACE_POINTS = [33, 133, 362, 263, 168, 6, 197, 195, 1, 234, 454]
LIP_POINTS = list(OUTER_LIP_CONTOUR)
SKIN_POINTS = [50, 280, 101, 330, 4, 195]  # cheeks and nose: skin that a spoon at the mouth leaves in view
CONTOUR_INSIDE, CONTOUR_OUTSIDE = 0.1, 0.15  # mouth widths in from, and out of, the outer lip contour
MIN_CONTRAST_POINTS = 4  # fewer contour points with a lip/skin edge: the edge test cannot tell


@dataclass(frozen=True, slots=True)
class OcclusionLimits:
    """`chroma_tolerance`: chroma distance (YCrCb units) beyond which a lip sample counts as covered;
    `covered_fraction`: share of covered samples that means the lips are hidden. `contrast_fade`:
    a contour point whose lip/skin edge contrast fell below this share of its learned contrast has
    lost its edge; `faded_fraction`: share of such points (among those whose learned contrast is at
    least `min_contrast`) that means the lips are hidden (a hand). `learning_rate` of both references
    while the lips are in view. `lip_edge`: False leaves the edge test out (the colour test alone, as
    before it; its cost is measured against it, docs/benchmarks.md)."""

    chroma_tolerance: float = 25.0
    covered_fraction: float = 0.6
    contrast_fade: float = 0.3
    faded_fraction: float = 0.5
    min_contrast: float = 6.0
    learning_rate: float = 0.1
    lip_edge: bool = True

    def __post_init__(self) -> None:
        shares = (self.covered_fraction, self.contrast_fade, self.faded_fraction, self.learning_rate)
        if not all(0.0 < share <= 1.0 for share in shares):
            raise ValueError(f"occlusion shares and learning rate must be in (0, 1], got {shares}")
        if not (self.chroma_tolerance > 0 and self.min_contrast > 0):
            raise ValueError("chroma_tolerance and min_contrast must be > 0")


@dataclass(frozen=True, slots=True)
class ClearView:
    """The last frame with the lips in view."""

    rigid_px: np.ndarray
    mouth: MouthGeometry
    confidence: float
    t: float


class LipOcclusion:
    """Lip-colour and lip-edge references of one tracked face and the mouth estimate while it is hidden."""

    def __init__(self, limits: OcclusionLimits | None = None) -> None:
        self._limits = limits or OcclusionLimits()
        self._chroma: np.ndarray | None = None
        self._contrast: np.ndarray | None = None
        self._sampled = _LipSamples(np.zeros((len(LIP_POINTS), 2), np.float32), np.zeros(len(LIP_POINTS), np.float32))
        self.clear_view: ClearView | None = None

    def reset(self) -> None:
        self._chroma = self._contrast = None
        self.clear_view = None

    def lips_hidden(self, image_bgr: np.ndarray, points: np.ndarray) -> bool:
        """True when most outer-lip samples no longer have the learned lip colour, or most of the
        learned lip/skin edge has faded."""
        limits = self._limits
        self._sampled = _sample_lips(image_bgr, points, limits.lip_edge)
        if self._chroma is None:
            return False
        distance = np.linalg.norm(self._sampled.chroma - self._chroma, axis=1)
        if np.mean(distance > limits.chroma_tolerance) >= limits.covered_fraction:
            return True
        if self._contrast is None or self._sampled.contrast is None:
            return False
        edged = self._contrast >= limits.min_contrast
        if np.count_nonzero(edged) < MIN_CONTRAST_POINTS:
            return False
        faded = self._sampled.contrast[edged] < limits.contrast_fade * self._contrast[edged]
        return bool(np.mean(faded) >= limits.faded_fraction)

    def remember(self, points: np.ndarray, mouth: MouthGeometry, confidence: float, t: float) -> None:
        """Record the frame last passed to `lips_hidden` as one with the lips in view."""
        sampled, rate = self._sampled, self._limits.learning_rate
        self._chroma = _learned(self._chroma, sampled.chroma, rate)
        self._contrast = _learned(self._contrast, sampled.contrast, rate)
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


@dataclass(frozen=True, slots=True)
class _LipSamples:
    """Per outer-lip point: chroma (Cr, Cb) minus the skin points' mean chroma, and the chroma
    contrast across the contour per unit of brightness (x128; None without the edge test)."""

    chroma: np.ndarray
    contrast: np.ndarray | None


def _learned(reference: np.ndarray | None, sample: np.ndarray | None, rate: float) -> np.ndarray | None:
    """The running average of a reference with one more sample (the sample itself when there is none yet)."""
    if reference is None or sample is None:
        return sample
    return (1.0 - rate) * reference + rate * sample


def _sample_lips(image_bgr: np.ndarray, points: np.ndarray, edge: bool) -> _LipSamples:
    """The outer-lip samples of one frame (one colour conversion of 66 pixels; 26 without the edge)."""
    lips = points[LIP_POINTS, :2].astype(np.float32)
    xy = [lips, points[SKIN_POINTS, :2]]
    if edge:
        width = float(np.linalg.norm(points[OUTER_CORNER_LEFT, :2] - points[OUTER_CORNER_RIGHT, :2]))
        outward = lips - lips.mean(axis=0)
        outward /= np.maximum(np.linalg.norm(outward, axis=1, keepdims=True), 1e-6)
        xy += [lips - CONTOUR_INSIDE * width * outward, lips + CONTOUR_OUTSIDE * width * outward]
    ycrcb = _ycrcb_at(image_bgr, np.concatenate(xy))
    n, skin = len(LIP_POINTS), len(SKIN_POINTS)
    chroma = ycrcb[:n, 1:] - ycrcb[n : n + skin, 1:].mean(axis=0)
    if not edge:
        return _LipSamples(chroma, None)
    inner, outer = ycrcb[n + skin : 2 * n + skin], ycrcb[2 * n + skin :]
    brightness = np.maximum((inner[:, 0] + outer[:, 0]) / 2.0, 1.0)
    contrast = np.linalg.norm(inner[:, 1:] - outer[:, 1:], axis=1) / brightness * 128.0
    return _LipSamples(chroma, contrast)


def _ycrcb_at(image_bgr: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """YCrCb (float32) of the pixels nearest to the points `xy`, clipped to the frame."""
    height, frame_width = image_bgr.shape[:2]
    cols = np.clip(np.rint(xy[:, 0]).astype(np.intp), 0, frame_width - 1)
    rows = np.clip(np.rint(xy[:, 1]).astype(np.intp), 0, height - 1)
    return cv2.cvtColor(image_bgr[rows, cols].reshape(1, -1, 3), cv2.COLOR_BGR2YCrCb)[0].astype(np.float32)
