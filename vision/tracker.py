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
from vision.camera_health import CameraHealth, ContentHealth, HealthLimits
from vision.errors import InvalidFrame
from vision.face_checks import FaceChecks, face_width_px, head_yaw_deg
from vision.face_detector import INPUT_PX, FaceDetection, FaceDetector
from vision.face_landmarks import FaceLandmarker, FaceLandmarks, FaceRoi
from vision.face_search import MIN_FACE_INPUT_PX, FaceSearch
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
from vision.scene_change import FaceRegionChange


class TrackerState(StrEnum):
    """What the tracker did with the last call of `update`."""

    SEARCHING = "searching"  # no usable face found in the last frame
    TRACKING = "tracking"  # following a face (its observation says whether it is usable)
    OCCLUDED = "occluded"  # following a face whose lips are hidden
    STALE = "stale"  # no new frame (None, or a capture time not after the last one): nothing reported
    FROZEN = "frozen"  # the same picture again with a fresh time (a stuck camera): nothing reported
    UNHEALTHY = "unhealthy"  # the content check (`TrackerConfig.health`) refuses the picture; `health` says why
    INVALID_FRAME = "invalid_frame"  # the frame was not an image; `last_error` says why


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """Tunables of `MouthTracker`.

    `search`: where faces are looked for (whole frame, padded frame, tiles; `FaceSearch`).
    `min_presence`: landmark face-presence score below which the face is searched for afresh.
    `identity_gate_face_widths` / `identity_max_size_ratio` / `identity_hold_s`: once the user
    has been seen, for `identity_hold_s` seconds only a face within this many face widths of where
    the user was, and of a width within this ratio of the user's, is taken, so the tracker never
    jumps to a passer-by. `min_face_similarity`: the followed face's box in two consecutive frames
    must correlate at least this much (`vision.scene_change`); less is a jump, and the face is
    found afresh in the same frame, so the old position is never reported after it.
    `max_slide_face_widths`: when the landmark model puts the rigid face points farther than this from
    where the image motion (optical flow) takes them, the mesh may be sliding off the face (toward a
    second face at the user's cheek): it is moved with the image instead and seated afresh on the
    detected face nearest it (docs/vision.md, pipeline step 4).
    `full_search_every_frames` (`full_search_every_frames_occluded` while the lips are hidden)
    and `search_below_presence`: how often, and below which landmark presence, the detector checks
    that the followed mesh still sits on a face (its centre within
    `verify_max_offset_face_widths` of a detected face's centre).
    `landmark_interval`: run the landmark model every n-th frame and optical flow in between (1 =
    landmarks on every frame); `flow_max_error`: when a mouth point's flow patch changes more than
    this (mean absolute grey-level difference, as OpenCV's pyramidal Lucas-Kanade reports it),
    e.g. when the mouth opens, or a mouth point lands more than `flow_max_mouth_shift` mouth widths
    from where the face's motion takes it (a false match), the landmark model runs instead. `occlusion_hold_s` /
    `occlusion_confidence_tau_s`: how long a hidden mouth is estimated from the rest of the face,
    and the time constant of the confidence falling meanwhile. `health`: when set, the content
    check of `vision.camera_health` (black, white, covered, repeated, still pictures) runs on every
    frame and a refused frame reports nothing; off by default because noiseless synthetic frames
    of a still scene are still (`CameraCapture` runs the same check on live cameras). The very
    same array handed over again with a new time is always frozen.
    """

    thresholds: OpenThresholds = OPENCV_THRESHOLDS
    checks: FaceChecks = field(default_factory=FaceChecks)
    search: FaceSearch = field(default_factory=FaceSearch)
    occlusion: OcclusionLimits = field(default_factory=OcclusionLimits)
    min_presence: float = 0.5
    identity_gate_face_widths: float = 1.0
    identity_max_size_ratio: float = 1.4
    identity_hold_s: float = 2.0
    min_face_similarity: float = 0.8
    landmark_interval: int = 3
    flow_max_error: float = 8.0
    flow_max_mouth_shift: float = 0.25
    max_slide_face_widths: float = 0.02
    occlusion_hold_s: float = 3.0
    occlusion_confidence_tau_s: float = 1.0
    face_scale: float = 1.0
    health: HealthLimits | None = None
    full_search_every_frames: int = 10
    full_search_every_frames_occluded: int = 3
    search_below_presence: float = 0.9
    verify_max_offset_face_widths: float = 0.5

    def __post_init__(self) -> None:
        if self.landmark_interval < 1:
            raise ValueError(f"landmark_interval must be >= 1, got {self.landmark_interval}")
        if not 0.0 < self.min_presence < 1.0:
            raise ValueError(f"min_presence must be in (0, 1), got {self.min_presence}")
        if self.identity_hold_s < 0 or self.occlusion_hold_s < 0 or self.occlusion_confidence_tau_s <= 0:
            raise ValueError("hold times must be >= 0 and the confidence time constant > 0")
        if self.full_search_every_frames < 1 or self.full_search_every_frames_occluded < 1:
            raise ValueError("full searches must come every 1 or more frames")
        if not (self.flow_max_mouth_shift > 0 and self.max_slide_face_widths > 0):
            raise ValueError("flow_max_mouth_shift and max_slide_face_widths must be > 0")
        if self.identity_max_size_ratio < 1.0 or not -1.0 <= self.min_face_similarity <= 1.0:
            raise ValueError("identity_max_size_ratio must be >= 1 and min_face_similarity in [-1, 1]")


@dataclass(slots=True)
class TrackerStats:
    """What the tracker did since it was made: `searches` for the user's face (no face followed, or
    the followed one lost or dropped), `checks` of a followed face against the detector (every
    `full_search_every_frames`, or when its presence dropped), and `jumps` (`vision.scene_change`)."""

    searches: int = 0
    checks: int = 0
    jumps: int = 0
    slides: int = 0


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

    def continues(self, center: tuple[float, float], width_px: float, config: TrackerConfig) -> bool:
        """True when a face at `center` of `width_px` may be this user: near where the user was, of a like size."""
        ratio = width_px / self.width_px if self.width_px > 0 else math.inf
        near = math.dist(center, self.center) <= config.identity_gate_face_widths * self.width_px
        return near and 1.0 / config.identity_max_size_ratio <= ratio <= config.identity_max_size_ratio


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


@dataclass(frozen=True, slots=True)
class _ImageMotion:
    """How the picture moved under the face since the last frame: the rigid points' similarity transform
    (2x3, frame px), where the flow put the `FLOW_POINTS`, and the mouth points' largest flow error."""

    transform: np.ndarray
    points_px: np.ndarray
    mouth_error: float


def _moved(points: np.ndarray, transform: np.ndarray) -> np.ndarray:
    moved = points.copy()
    moved[:, :2] = points[:, :2] @ transform[:, :2].T + transform[:, 2]
    return moved


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
        self._last_frame: object = None
        self._fingerprint: np.ndarray | None = None
        self._health = ContentHealth(self.config.health) if self.config.health is not None else None
        self._frames_since_search = 0
        self._slid_now = False
        self._change = FaceRegionChange(self.config.min_face_similarity)
        self.stats = TrackerStats()
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
        self._change.reset()
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
        # The very same array again, unchanged (a reused buffer refilled with a new picture passes):
        # a source that stopped filling it.
        fingerprint = image[::8, ::8].copy()
        previous = self._fingerprint
        resent = frame_bgr is self._last_frame and previous is not None and np.array_equal(fingerprint, previous)
        self._last_frame, self._fingerprint = frame_bgr, fingerprint
        if resent:
            self.state = TrackerState.FROZEN
            return None
        if self._health is not None and not self._health.update(image, t).healthy:
            self.state = TrackerState.UNHEALTHY
            return None
        if image.shape != self._frame_shape:  # a new camera or resolution: pixel history no longer applies
            self._frame_shape, self._landmarks, self._flow_gray, self._identity = image.shape, None, None, None
            self._change.reset()
        if self._landmarks is not None and self._change.changed(image):
            # A jump: the mesh of the last frame says nothing about this one. Find the face afresh
            # (only where the user can be), so the old position is never reported again.
            self.stats.jumps += 1
            self._landmarks = None
        self._slid_now = False
        landmarks = self._follow(image) if self._landmarks is not None else None
        if landmarks is not None and (self._slid_now or self._search_due(landmarks)):
            landmarks = self._verify(image, landmarks, reseat=self._slid_now)
        if landmarks is None:
            landmarks = self._acquire(image, t)
        if landmarks is None:
            self._landmarks = None
            self._change.reset()
            self.state = TrackerState.SEARCHING
            return None
        self._frames_since_search += 1
        if landmarks.roi is not getattr(self._landmarks, "roi", None):  # a fresh landmark-model run
            self._frames_since_landmarks = 0
            self._start_flow(image, landmarks.points)
            self._yaw_deg = head_yaw_deg(landmarks.points, image.shape)
        self._landmarks = landmarks
        self._change.remember(image, landmarks.points)
        return self._observe(image, landmarks, t)

    @property
    def health(self) -> CameraHealth | None:
        """The content check's verdict on the last frame (None when `TrackerConfig.health` is not set)."""
        return None if self._health is None else self._health.health

    # -- following and acquiring a face -------------------------------------------------------

    def _follow(self, image: np.ndarray) -> FaceLandmarks | None:
        previous = self._landmarks
        assert previous is not None, "following needs the previous frame's landmarks"
        motion = self._image_motion(image, previous) if self._flow_gray is not None else None
        if self._frames_since_landmarks + 1 < self.config.landmark_interval and motion is not None:
            flowed = self._flowed(previous, motion)
            if flowed is not None:
                self._frames_since_landmarks += 1
                return flowed
        landmarks = self._models.landmarker.run(image, FaceRoi.from_landmarks(previous.points))
        if landmarks.presence < self.config.min_presence:
            return None
        if motion is not None and self._slid(landmarks.points, previous.points, motion):
            # The mesh moved where the face did not (e.g. toward a second face at the user's cheek):
            # keep it on the user's face by the image motion, and seat it afresh on the detected face.
            self.stats.slides += 1
            self._slid_now = True
            return FaceLandmarks(_moved(previous.points, motion.transform), previous.presence, previous.roi)
        return landmarks

    def _search_due(self, landmarks: FaceLandmarks) -> bool:
        every = self.config.full_search_every_frames
        if self.state is TrackerState.OCCLUDED:  # hidden lips are also what a mesh on the wrong spot looks like
            every = min(every, self.config.full_search_every_frames_occluded)
        return self._frames_since_search >= every or landmarks.presence < self.config.search_below_presence

    def _verify(self, image: np.ndarray, landmarks: FaceLandmarks, reseat: bool = False) -> FaceLandmarks | None:
        """Check the followed mesh against the detector; None (find the face afresh) when it sits off every face.
        With `reseat`, the landmark model runs afresh on the detected face nearest the mesh.

        The landmark model's presence score stays high on a crop that holds only part of a face,
        so after a quick move of the head the mesh can stay where the face was; the detector finds
        where it is now. Searches where this face can be found (`_deepest_level`); when they find no
        face at all the mesh is kept (the spoon may hide enough of the face to defeat the detector).
        """
        self._frames_since_search = 0
        self.stats.checks += 1
        points = landmarks.points
        centre = (points[:, :2].min(axis=0) + points[:, :2].max(axis=0)) / 2.0
        limit = self.config.verify_max_offset_face_widths * face_width_px(points)
        seen = False
        last_level = self._deepest_level(points, image.shape)
        for level, faces in enumerate(self.config.search.levels(self._models.detector, image)):
            near = [face for face in faces if math.dist(face.center_px, centre) <= limit]
            if near and reseat:
                face = min(near, key=lambda face: math.dist(face.center_px, centre))
                seated = self._models.landmarker.run(image, FaceRoi.from_detection(face))  # the box: not the other face
                return seated if seated.presence >= self.config.min_presence else landmarks
            if near:
                return landmarks
            seen = seen or bool(faces)
            if level == last_level:
                break
        return None if seen else landmarks

    @staticmethod
    def _deepest_level(points: np.ndarray, frame_shape: tuple[int, ...]) -> int:
        """The last search level a face like this one needs: 1 (whole or padded frame), 2 (tiles) for a small face."""
        height, width = frame_shape[:2]
        face_height = float(points[:, 1].max() - points[:, 1].min())
        return 2 if face_height < max(height, width) * MIN_FACE_INPUT_PX / INPUT_PX * 1.25 else 1

    def _acquire(self, image: np.ndarray, t: float) -> FaceLandmarks | None:
        """The user's face found afresh: while the user was seen moments ago, only a face that continues
        the user's position and size (`_Identity.continues`); otherwise the seat rule (`FaceChecks.pick_user`)."""
        self._frames_since_search = 0
        self.stats.searches += 1
        identity = self._identity
        if identity is not None and t - identity.t_seen > self.config.identity_hold_s:
            identity = None
        for faces in self.config.search.levels(self._models.detector, image):
            for face in self._candidates(faces, identity, image.shape):
                landmarks = self._seat(image, face)
                if landmarks is None:
                    continue
                if identity is None:  # lip colour, last clear view and open state belonged to someone else
                    self._occlusion.reset()
                    self._open.reset()
                    return landmarks
                mesh_centre = tuple(landmarks.points[:, :2].mean(axis=0).tolist())
                if identity.continues(mesh_centre, face_width_px(landmarks.points), self.config):
                    return landmarks
        return None

    def _seat(self, image: np.ndarray, face: FaceDetection) -> FaceLandmarks | None:
        """The mesh on a detected face: the landmark model on the detector's box, then once more on the
        crop its points give (the box is rough: a small face's mouth came out half a width off), or
        None when the model sees no face there."""
        rough = self._models.landmarker.run(image, FaceRoi.from_detection(face))
        if rough.presence < self.config.min_presence:
            return None
        landmarks = self._models.landmarker.run(image, FaceRoi.from_landmarks(rough.points))
        return landmarks if landmarks.presence >= self.config.min_presence else None

    def _candidates(
        self, faces: list[FaceDetection], identity: _Identity | None, frame_shape: tuple[int, ...]
    ) -> list[FaceDetection]:
        """Faces that may be the user's: near where the user was (nearest first), or by the seat rule."""
        if identity is None:
            chosen = self.config.checks.pick_user(faces, frame_shape)
            return [] if chosen is None else [chosen]
        # The size is judged on the mesh afterwards (a detector box is not cheek to cheek).
        gate = self.config.identity_gate_face_widths * identity.width_px
        near = [f for f in faces if math.dist(f.center_px, identity.center) <= gate]
        return sorted(near, key=lambda f: math.dist(f.center_px, identity.center))

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

    def _image_motion(self, image: np.ndarray, previous: FaceLandmarks) -> _ImageMotion | None:
        """Pyramidal Lucas-Kanade flow of the mouth and rigid points from the last frame's crop, and the
        similarity transform of the rigid points; None when the flow lost a point or found no transform."""
        assert self._flow_rect is not None and self._flow_gray is not None, "flow needs a previous crop"
        x0, y0, x1, y1 = self._flow_rect
        gray = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
        offset = np.array([x0, y0], np.float32)
        before = (previous.points[FLOW_POINTS, :2] - offset).astype(np.float32)
        after, found, error = cv2.calcOpticalFlowPyrLK(self._flow_gray, gray, before, None, **_LK_PARAMS)
        self._flow_gray = gray
        n_mouth = len(FLOW_MOUTH_POINTS)
        if after is None or not found.all():
            return None
        rigid, _ = cv2.estimateAffinePartial2D(before[n_mouth:], after[n_mouth:], method=cv2.LMEDS)
        if rigid is None:
            return None
        transform = rigid.copy()
        transform[:, 2] += offset - rigid[:, :2] @ offset  # the same motion in frame pixels
        return _ImageMotion(transform, after + offset, float(error[:n_mouth].max()))

    def _flowed(self, previous: FaceLandmarks, motion: _ImageMotion) -> FaceLandmarks | None:
        """The mesh moved by the image motion; None (run the landmark model) when the lips changed
        under the flow, or a mouth point went where the face's motion does not take it (a false match,
        e.g. in a blurred frame)."""
        if motion.mouth_error > self.config.flow_max_error:
            return None
        points = _moved(previous.points, motion.transform)
        n_mouth = len(FLOW_MOUTH_POINTS)
        shift = np.linalg.norm(motion.points_px[:n_mouth] - points[FLOW_POINTS[:n_mouth], :2], axis=1).max()
        if shift > self.config.flow_max_mouth_shift * mouth_geometry(previous.points).width_px:
            return None
        points[FLOW_POINTS, :2] = motion.points_px
        return FaceLandmarks(points, previous.presence, previous.roi)

    def _slid(self, points: np.ndarray, previous: np.ndarray, motion: _ImageMotion) -> bool:
        """True when the landmark model put the rigid face points away from where the image moved them."""
        expected = _moved(previous, motion.transform)[RIGID_FACE_POINTS, :2]
        offset = float(np.median(np.linalg.norm(points[RIGID_FACE_POINTS, :2] - expected, axis=1)))
        return offset > self.config.max_slide_face_widths * face_width_px(previous)

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
        face = checks.pick_user(FaceSearch().find(models.detector, image), image.shape)
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
