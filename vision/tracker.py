"""Mouth detection for still images and mouth tracking for a video stream.

`MouthTracker.update(frame_bgr, t)` detects the user's face once, then follows it with the
landmark model on a crop around the last face (optionally with optical flow of the lip and rigid
points between landmark runs), and detects again only when the landmark model's face-presence
score drops. Frames are BGR uint8 (H, W, 3) as OpenCV delivers them; grayscale, BGRA and float
frames are converted. One tracker follows one user; it is not thread-safe.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache

import cv2
import numpy as np

from vision.calibration import CameraIntrinsics
from vision.errors import InvalidFrame
from vision.face_checks import FaceChecks, face_width_px, head_yaw_deg
from vision.face_detector import FaceDetector
from vision.face_landmarks import FaceLandmarker, FaceLandmarks, FaceRoi
from vision.frames import to_bgr_uint8
from vision.head_pose import mouth_position_m
from vision.mouth import (
    INNER_CORNER_LEFT,
    INNER_CORNER_RIGHT,
    LOWER_INNER_LIP,
    OPENCV_THRESHOLDS,
    OUTER_CORNER_LEFT,
    OUTER_CORNER_RIGHT,
    UPPER_INNER_LIP,
    MouthGeometry,
    OpenHysteresis,
    OpenThresholds,
    mouth_geometry,
)
from vision.observation import MouthObservation, MouthStatus
from vision.occlusion import RIGID_FACE_POINTS, LipOcclusion, OcclusionLimits


class TrackerState(StrEnum):
    """What the tracker did with the last call of `update`."""

    SEARCHING = "searching"  # no usable face found in the last frame
    TRACKING = "tracking"  # following a face (its observation says whether it is usable)
    OCCLUDED = "occluded"  # following a face whose lips are hidden
    STALE = "stale"  # no new frame (None, or a capture time not after the last one): nothing reported
    FROZEN = "frozen"  # the same picture again with a fresh time (a stuck camera): nothing reported
    INVALID_FRAME = "invalid_frame"  # the frame was not an image; `last_error` says why


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """Tunables of `MouthTracker`.

    `min_presence`: landmark face-presence score below which the face is detected afresh.
    `identity_gate_face_widths` / `identity_hold_s`: after losing the user, only a face within
    this many face widths of where the user was is taken for `identity_hold_s` seconds, so the
    tracker never jumps to a passer-by. `landmark_interval`: run the landmark model every n-th
    frame and optical flow in between (1 = landmarks on every frame); `flow_max_error`: when a
    mouth point's flow patch changes more than this (mean absolute grey-level difference, as
    OpenCV's pyramidal Lucas-Kanade reports it), e.g. when the mouth opens, the landmark model runs
    instead. `occlusion_hold_s` /
    `occlusion_confidence_tau_s`: how long a hidden mouth is estimated from the rest of the face,
    and the time constant of the confidence falling meanwhile. `frozen_after_frames`: when set,
    this many pixel-identical frames in a row mean a stuck camera (a real sensor's noise never
    repeats a frame); off by default because noiseless synthetic frames of a still scene repeat
    (`CameraCapture` does the same check on real cameras). The very same array handed over again
    with a new time is always frozen. `verify_interval_s` (`verify_interval_occluded_s` while the
    lips are hidden): how often the detector checks that the followed mesh still sits on a face
    (its centre within `verify_max_offset_face_widths` of a detected face's centre).
    """

    thresholds: OpenThresholds = OPENCV_THRESHOLDS
    checks: FaceChecks = field(default_factory=FaceChecks)
    occlusion: OcclusionLimits = field(default_factory=OcclusionLimits)
    min_presence: float = 0.5
    identity_gate_face_widths: float = 1.0
    identity_hold_s: float = 2.0
    landmark_interval: int = 3
    flow_max_error: float = 8.0
    occlusion_hold_s: float = 3.0
    occlusion_confidence_tau_s: float = 1.0
    face_scale: float = 1.0
    frozen_after_frames: int | None = None
    verify_interval_s: float = 1.0
    verify_interval_occluded_s: float = 0.2
    verify_max_offset_face_widths: float = 0.5

    def __post_init__(self) -> None:
        if self.landmark_interval < 1:
            raise ValueError(f"landmark_interval must be >= 1, got {self.landmark_interval}")
        if not 0.0 < self.min_presence < 1.0:
            raise ValueError(f"min_presence must be in (0, 1), got {self.min_presence}")
        if self.frozen_after_frames is not None and self.frozen_after_frames < 2:
            raise ValueError(f"frozen_after_frames must be >= 2 or None, got {self.frozen_after_frames}")
        if self.identity_hold_s < 0 or self.occlusion_hold_s < 0 or self.occlusion_confidence_tau_s <= 0:
            raise ValueError("hold times must be >= 0 and the confidence time constant > 0")


@dataclass(frozen=True, slots=True)
class FaceModels:
    """The two networks; share one instance between trackers of one thread to save load time."""

    detector: FaceDetector
    landmarker: FaceLandmarker

    @classmethod
    def load(cls) -> FaceModels:
        return cls(FaceDetector(), FaceLandmarker())


@dataclass(slots=True)
class _Identity:
    center: tuple[float, float]
    width_px: float
    t_seen: float


# Points followed by optical flow between landmark runs: the mouth and the rigid face points.
FLOW_MOUTH_POINTS = [
    UPPER_INNER_LIP,
    LOWER_INNER_LIP,
    INNER_CORNER_RIGHT,
    INNER_CORNER_LEFT,
    OUTER_CORNER_RIGHT,
    OUTER_CORNER_LEFT,
]
FLOW_POINTS = np.array(FLOW_MOUTH_POINTS + RIGID_FACE_POINTS)
_LK_PARAMS = dict(winSize=(15, 15), maxLevel=2, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 10, 0.03))


class MouthTracker:
    """Follows the user's mouth in a video stream; see the module docstring."""

    def __init__(
        self,
        config: TrackerConfig | None = None,
        intrinsics: CameraIntrinsics | None = None,
        models: FaceModels | None = None,
    ) -> None:
        self.config = config or TrackerConfig()
        self.intrinsics = intrinsics
        self._models = models or FaceModels.load()
        self._open = OpenHysteresis(self.config.thresholds)
        self._occlusion = LipOcclusion(self.config.occlusion)
        self.state = TrackerState.SEARCHING
        self.last_error = ""
        self._last_t: float | None = None
        self._identity: _Identity | None = None
        self._landmarks: FaceLandmarks | None = None
        self._frame_shape: tuple[int, ...] = ()
        self._fingerprint: np.ndarray | None = None
        self._repeats = 0
        self._last_frame: object = None
        self._verified_t = -math.inf
        self._frames_since_landmarks = 0
        self._flow_rect: tuple[int, int, int, int] | None = None
        self._flow_gray: np.ndarray | None = None
        self._yaw_deg = 0.0

    @property
    def landmarks_px(self) -> np.ndarray | None:
        """The 468 face-mesh points (x, y, z in px) behind the last observation, or None (read-only copy)."""
        return None if self._landmarks is None else self._landmarks.points.copy()

    def reset(self) -> None:
        """Forget the followed face and its history (e.g. at the start of a meal)."""
        self._identity = self._landmarks = None
        self._last_t = None
        self._flow_gray = None
        self._open.reset()
        self._occlusion.reset()
        self.state, self.last_error = TrackerState.SEARCHING, ""

    def update(self, frame_bgr: np.ndarray | None, t: float) -> MouthObservation | None:
        """The mouth in this frame captured at time `t` (s), or None when there is no usable estimate.

        None for a missing frame or a frame not newer than the last one (`state` STALE): the
        last position is never reported again as if fresh. None with `state` INVALID_FRAME for
        an array that is not an image.
        """
        if frame_bgr is None:
            self.state = TrackerState.STALE
            return None
        try:
            image = to_bgr_uint8(frame_bgr)
        except InvalidFrame as error:
            self.state, self.last_error = TrackerState.INVALID_FRAME, str(error)
            return None
        if not math.isfinite(t) or (self._last_t is not None and t <= self._last_t):
            self.state = TrackerState.STALE
            return None
        self._last_t = t
        if self._frozen(frame_bgr, image):
            self.state = TrackerState.FROZEN
            return None
        if image.shape != self._frame_shape:  # a new camera or resolution: pixel history no longer applies
            self._frame_shape, self._landmarks, self._flow_gray, self._identity = image.shape, None, None, None
        landmarks = self._follow(image) if self._landmarks is not None else None
        if landmarks is not None and self._verification_due(t):
            landmarks = self._verify(image, landmarks, t)
        if landmarks is None:
            landmarks = self._acquire(image, t)
        if landmarks is None:
            self._landmarks = None
            self.state = TrackerState.SEARCHING
            return None
        if landmarks.roi is not getattr(self._landmarks, "roi", None):  # a fresh landmark-model run
            self._frames_since_landmarks = 0
            self._start_flow(image, landmarks.points)
            self._yaw_deg = head_yaw_deg(landmarks.points, image.shape)
        self._landmarks = landmarks
        return self._observe(image, landmarks, t)

    def _frozen(self, frame: np.ndarray, image: np.ndarray) -> bool:
        """True for the same array again unchanged, or `frozen_after_frames` identical frames in a row."""
        fingerprint = image[::8, ::8]
        previous = self._fingerprint
        same = previous is not None and previous.shape == fingerprint.shape and np.array_equal(fingerprint, previous)
        self._repeats = self._repeats + 1 if same else 1
        self._fingerprint = fingerprint.copy()
        resent = same and frame is self._last_frame
        self._last_frame = frame
        limit = self.config.frozen_after_frames
        return resent or (limit is not None and self._repeats >= limit)

    # -- following and acquiring a face -------------------------------------------------------

    def _follow(self, image: np.ndarray) -> FaceLandmarks | None:
        previous = self._landmarks
        assert previous is not None, "following needs the previous frame's landmarks"
        if self._frames_since_landmarks + 1 < self.config.landmark_interval and self._flow_gray is not None:
            flowed = self._flow(image, previous)
            if flowed is not None:
                self._frames_since_landmarks += 1
                return flowed
        landmarks = self._models.landmarker.run(image, FaceRoi.from_landmarks(previous.points))
        return landmarks if landmarks.presence >= self.config.min_presence else None

    def _verification_due(self, t: float) -> bool:
        interval = self.config.verify_interval_s
        if self.state is TrackerState.OCCLUDED:  # hidden lips are also what a mesh on the wrong spot looks like
            interval = min(interval, self.config.verify_interval_occluded_s)
        return t - self._verified_t >= interval

    def _verify(self, image: np.ndarray, landmarks: FaceLandmarks, t: float) -> FaceLandmarks | None:
        """Check the followed mesh against the detector; None (detect afresh) when it sits off every face.

        The landmark model's presence score stays high on a crop that holds only part of a face,
        so after a jump of the head the mesh can stay where the face was; the detector finds
        where it is now. A frame in which the detector finds no face confirms nothing and keeps
        the mesh (the spoon may hide enough of the face to defeat the detector).
        """
        self._verified_t = t
        faces = self._models.detector.detect(image)
        if not faces:
            return landmarks
        centre = (landmarks.points[:, :2].min(axis=0) + landmarks.points[:, :2].max(axis=0)) / 2.0
        limit = self.config.verify_max_offset_face_widths * face_width_px(landmarks.points)
        if any(math.dist(face.center_px, centre) <= limit for face in faces):
            return landmarks
        return None

    def _acquire(self, image: np.ndarray, t: float) -> FaceLandmarks | None:
        self._verified_t = t
        faces = self.config.checks.find_faces(self._models.detector, image)
        identity = self._identity
        if identity is not None and t - identity.t_seen <= self.config.identity_hold_s:
            # The user was seen moments ago: only a face where the user was may be taken.
            gate = self.config.identity_gate_face_widths * identity.width_px
            near = [f for f in faces if math.dist(f.center_px, identity.center) <= gate]
            face, same_user = (min(near, key=lambda f: math.dist(f.center_px, identity.center)) if near else None), True
        else:
            face, same_user = self.config.checks.pick_user(faces, image.shape), False
        if face is None:
            return None
        landmarks = self._models.landmarker.run(image, FaceRoi.from_detection(face))
        if landmarks.presence < self.config.min_presence:
            return None
        if not same_user:  # lip colour, last clear view and open state belonged to someone else
            self._occlusion.reset()
            self._open.reset()
        return landmarks

    # -- optical flow between landmark runs ---------------------------------------------------

    def _start_flow(self, image: np.ndarray, points: np.ndarray) -> None:
        if self.config.landmark_interval == 1:
            return
        height, width = image.shape[:2]
        x0, y0 = points[:, :2].min(axis=0)
        x1, y1 = points[:, :2].max(axis=0)
        margin = 0.25 * max(x1 - x0, y1 - y0)
        rect = (
            max(0, int(x0 - margin)),
            max(0, int(y0 - margin)),
            min(width, int(x1 + margin) + 1),
            min(height, int(y1 + margin) + 1),
        )
        if rect[2] - rect[0] < 16 or rect[3] - rect[1] < 16:
            self._flow_gray = None
            return
        self._flow_rect = rect
        self._flow_gray = cv2.cvtColor(image[rect[1] : rect[3], rect[0] : rect[2]], cv2.COLOR_BGR2GRAY)

    def _flow(self, image: np.ndarray, previous: FaceLandmarks) -> FaceLandmarks | None:
        assert self._flow_rect is not None and self._flow_gray is not None, "flow needs a previous crop"
        x0, y0, x1, y1 = self._flow_rect
        gray = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
        offset = np.array([x0, y0], np.float32)
        before = (previous.points[FLOW_POINTS, :2] - offset).astype(np.float32)
        after, found, error = cv2.calcOpticalFlowPyrLK(self._flow_gray, gray, before, None, **_LK_PARAMS)
        self._flow_gray = gray
        n_mouth = len(FLOW_MOUTH_POINTS)
        if after is None or not found.all() or error[:n_mouth].max() > self.config.flow_max_error:
            return None
        transform, _ = cv2.estimateAffinePartial2D(before[n_mouth:], after[n_mouth:], method=cv2.LMEDS)
        if transform is None:
            return None
        points = previous.points.copy()
        points[:, :2] = (previous.points[:, :2] - offset) @ transform[:, :2].T + transform[:, 2] + offset
        points[FLOW_POINTS, :2] = after + offset
        return FaceLandmarks(points, previous.presence, previous.roi)

    # -- from landmarks to an observation -----------------------------------------------------

    def _observe(self, image: np.ndarray, landmarks: FaceLandmarks, t: float) -> MouthObservation | None:
        points = landmarks.points
        self._identity = _Identity(tuple(points[:, :2].mean(axis=0).tolist()), face_width_px(points), t)
        status = self.config.checks.status(points, image.shape, self._yaw_deg)
        mouth = mouth_geometry(points)
        if status is not MouthStatus.TRACKED:
            self.state = TrackerState.TRACKING
            self._open.reset()
            return MouthObservation(mouth.center_px, mouth.width_px, mouth.open_ratio, False, 0.0, t, None, status)
        if self._occlusion.lips_hidden(image, points):
            return self._observe_hidden(points, t)
        self.state = TrackerState.TRACKING
        confidence = float(landmarks.presence)
        self._occlusion.remember(points, mouth, confidence, t)
        is_open = self._open.update(mouth.open_ratio)
        return MouthObservation(
            mouth.center_px,
            mouth.width_px,
            mouth.open_ratio,
            is_open,
            confidence,
            t,
            self._position(points, mouth.center_px),
            MouthStatus.TRACKED,
        )

    def _observe_hidden(self, points: np.ndarray, t: float) -> MouthObservation | None:
        clear = self._occlusion.clear_view
        estimate: MouthGeometry | None = self._occlusion.estimate(points)
        if clear is None or estimate is None or t - clear.t > self.config.occlusion_hold_s:
            # Hidden too long (or a lip colour that no longer fits, e.g. after a change of light):
            # report nothing now and learn the lips afresh from the next frame.
            self._occlusion.reset()
            self.state = TrackerState.SEARCHING
            return None
        self.state = TrackerState.OCCLUDED
        confidence = clear.confidence * math.exp(-(t - clear.t) / self.config.occlusion_confidence_tau_s)
        return MouthObservation(
            estimate.center_px,
            estimate.width_px,
            estimate.open_ratio,
            self._open.is_open,
            confidence,
            t,
            self._position(points, estimate.center_px),
            MouthStatus.OCCLUDED,
        )

    def _position(self, points: np.ndarray, center_px: tuple[float, float]) -> tuple[float, float, float] | None:
        if self.intrinsics is None:
            return None
        return mouth_position_m(points, center_px, self.intrinsics, self.config.face_scale)


_still_lock = threading.Lock()


@lru_cache(maxsize=1)
def _still_image_models() -> FaceModels:
    return FaceModels.load()


def detect_mouth(
    image_bgr: np.ndarray,
    *,
    intrinsics: CameraIntrinsics | None = None,
    thresholds: OpenThresholds = OPENCV_THRESHOLDS,
    checks: FaceChecks | None = None,
) -> MouthObservation | None:
    """The user's mouth in one still image (BGR uint8; grayscale, BGRA and float are converted).

    Picks the large face nearest the seat position, runs the landmark model twice (the second
    time on the crop its first landmarks give), and decides open/closed by the middle of the
    hysteresis band. Returns None when no face is found; raises `InvalidFrame` for an array that
    is not an image. `t` of the observation is 0.0.
    """
    image = to_bgr_uint8(image_bgr)
    checks = checks or FaceChecks()
    with _still_lock:
        models = _still_image_models()
        face = checks.pick_user(checks.find_faces(models.detector, image), image.shape)
        if face is None:
            return None
        first = models.landmarker.run(image, FaceRoi.from_detection(face))
        landmarks = models.landmarker.run(image, FaceRoi.from_landmarks(first.points))
    if landmarks.presence < 0.5:
        return None
    points = landmarks.points
    mouth = mouth_geometry(points)
    status = checks.status(points, image.shape)
    if status is not MouthStatus.TRACKED:
        return MouthObservation(mouth.center_px, mouth.width_px, mouth.open_ratio, False, 0.0, 0.0, None, status)
    position = None
    if intrinsics is not None:
        position = mouth_position_m(points, mouth.center_px, intrinsics)
    return MouthObservation(
        mouth.center_px,
        mouth.width_px,
        mouth.open_ratio,
        thresholds.still_image(mouth.open_ratio),
        float(landmarks.presence * face.score),
        0.0,
        position,
        MouthStatus.TRACKED,
    )
