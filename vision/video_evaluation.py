"""Score mouth tracking on labelled video clips, and on the same faces placed anywhere in a frame.

Data: the format of ../shared/data/video (`clips/*.mpg` and `labels.csv`, one row per frame:
clip, split, frame, mouth_cx, mouth_cy, mouth_w, open_ratio, mouth_state open/between/closed).
Two backends run on the same frames: ours (`MouthTracker`) and MediaPipe's FaceMesh in tracking
mode (the model package's own runtime) with its own open/closed thresholds.

- `score_clips`: per split, centre and mouth-width error against the labels (fractions of the
  labelled mouth width), open/closed agreement on frames labelled open or closed, ms per frame.
- `place`: a clip frame scaled, rolled and moved so that its labelled mouth lands at a chosen
  point of a larger frame (grey with sensor noise), with the mouth's true place there.
- `frames_to_first_detection`, `jump_errors`: what each backend reports in a stream of placed
  faces from its first frame, and after the face jumps to another place.

A backend *finds* the mouth in a frame when it reports a centre within `FOUND_WITHIN_WIDTHS`
mouth widths of the truth; a report anywhere else is a *wrong* mouth.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from vision.evaluation import DatasetError
from vision.mouth import MEDIAPIPE_THRESHOLDS, OpenHysteresis, mouth_geometry
from vision.observation import MouthObservation
from vision.tracker import FaceModels, MouthTracker, TrackerConfig

FOUND_WITHIN_WIDTHS = 0.5
FACE_HEIGHT_PER_MOUTH_WIDTH = 3.6  # face-mesh height over mouth width, median of the shared clips (3.3-3.9)
FACE_WIDTH_PER_MOUTH_WIDTH = 2.7  # face-mesh width over mouth width on the shared clips (2.6-2.8)
STATES = ("open", "between", "closed")


@dataclass(frozen=True, slots=True)
class FrameLabel:
    """One labelled frame: where the mouth is (px), how wide, how open."""

    clip: str
    split: str
    frame: int
    center_px: tuple[float, float]
    width_px: float
    open_ratio: float
    state: str


@dataclass(frozen=True, slots=True)
class Estimate:
    """What a backend reports for one frame."""

    center_px: tuple[float, float]
    width_px: float
    is_open: bool


def estimate_of(observation: MouthObservation | None) -> Estimate | None:
    """A tracker's observation as an `Estimate` (any status: found is found, usable or not)."""
    if observation is None:
        return None
    return Estimate(observation.center_px, observation.width_px, observation.is_open)


class StreamBackend(Protocol):
    """A mouth tracker over one stream of frames."""

    name: str

    def reset(self) -> None: ...
    def observe(self, frame_bgr: np.ndarray, t: float) -> Estimate | None: ...


class BackendName(StrEnum):
    OURS = "ours"
    MEDIAPIPE = "mediapipe"


class OurTracker:
    """`MouthTracker` as a `StreamBackend`; every reported observation counts (usable or not)."""

    name = BackendName.OURS.value

    def __init__(self, models: FaceModels | None = None, config: TrackerConfig | None = None) -> None:
        self._models = models or FaceModels.load()
        self._config = config
        self.tracker = MouthTracker(config, models=self._models)

    def reset(self) -> None:
        self.tracker = MouthTracker(self._config, models=self._models)

    def observe(self, frame_bgr: np.ndarray, t: float) -> Estimate | None:
        return estimate_of(self.tracker.update(frame_bgr, t))


class MediaPipeTracker:
    """MediaPipe's FaceMesh in tracking mode (one face) with its own open/closed thresholds."""

    name = BackendName.MEDIAPIPE.value

    def __init__(self) -> None:
        from vision.reference import MediaPipeFaceMesh

        self._make = lambda: MediaPipeFaceMesh(static_image_mode=False)
        self._mesh = self._make()
        self._open = OpenHysteresis(MEDIAPIPE_THRESHOLDS)

    def reset(self) -> None:
        self._mesh.close()
        self._mesh = self._make()
        self._open.reset()

    def observe(self, frame_bgr: np.ndarray, t: float) -> Estimate | None:
        points = self._mesh.landmarks(frame_bgr)
        if points is None:
            return None
        mouth = mouth_geometry(points)
        return Estimate(mouth.center_px, mouth.width_px, self._open.update(mouth.open_ratio))

    def close(self) -> None:
        self._mesh.close()


def backend(name: BackendName, models: FaceModels | None = None) -> StreamBackend:
    return OurTracker(models) if name is BackendName.OURS else MediaPipeTracker()


# -- the labelled clips --------------------------------------------------------------------------


def load_clip_labels(folder: Path) -> dict[str, list[FrameLabel]]:
    """Labels of `folder/labels.csv` by clip, in frame order; `DatasetError` names what is wrong."""
    path = Path(folder) / "labels.csv"
    if not path.is_file():
        raise DatasetError(f"no labels.csv in {folder}; expected the format of ../shared/data/video/labels.csv")
    clips: dict[str, list[FrameLabel]] = {}
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        needed = {"clip", "split", "frame", "mouth_cx", "mouth_cy", "mouth_w", "open_ratio", "mouth_state"}
        missing = needed - set(reader.fieldnames or ())
        if missing:
            raise DatasetError(f"{path} lacks column(s) {sorted(missing)}")
        for line, row in enumerate(reader, start=2):
            state = row["mouth_state"].strip()
            if state not in STATES:
                raise DatasetError(f"{path}:{line}: mouth_state {state!r} is not one of {STATES}")
            try:
                label = FrameLabel(
                    row["clip"],
                    row["split"].strip(),
                    int(row["frame"]),
                    (float(row["mouth_cx"]), float(row["mouth_cy"])),
                    float(row["mouth_w"]),
                    float(row["open_ratio"]),
                    state,
                )
            except ValueError as error:
                raise DatasetError(f"{path}:{line}: frame and mouth values must be numbers ({error})") from error
            if not (label.width_px > 0 and all(math.isfinite(v) for v in label.center_px)):
                raise DatasetError(f"{path}:{line}: the mouth needs a finite centre and a positive width")
            clips.setdefault(label.clip, []).append(label)
    for labels in clips.values():
        labels.sort(key=lambda label: label.frame)
        if [label.frame for label in labels] != list(range(len(labels))):
            raise DatasetError(f"{path}: clip {labels[0].clip} does not label frames 0..{len(labels) - 1} once each")
    return clips


def read_clip(folder: Path, clip: str, frames: int) -> list[np.ndarray]:
    """The first `frames` frames of `folder/clips/<clip>.mpg`; `DatasetError` if it has fewer."""
    path = Path(folder) / "clips" / f"{clip}.mpg"
    capture = cv2.VideoCapture(str(path))
    images: list[np.ndarray] = []
    try:
        while len(images) < frames:
            ok, image = capture.read()
            if not ok or image is None:
                break
            images.append(image)
    finally:
        capture.release()
    if len(images) < frames:
        raise DatasetError(f"{path}: decoded {len(images)} frame(s), labels.csv has {frames}")
    return images


@dataclass(frozen=True, slots=True)
class ClipScore:
    """One backend on one split: errors in mouth widths, agreement, speed."""

    backend: str
    split: str
    frames: int
    frames_with_mouth: int
    centre_error_mean: float
    centre_error_p95: float
    centre_error_max: float
    width_error_mean: float  # |reported - labelled| / labelled
    open_closed_frames: int
    open_closed_agree: int
    ms_per_frame: float  # wall clock
    cpu_ms_per_frame: float  # CPU time of the process (all its threads): what other jobs do not inflate

    def as_dict(self) -> dict[str, float | int | str]:
        return {name: getattr(self, name) for name in self.__slots__}


def score_clips(folder: Path, backends: Sequence[StreamBackend], clips: Sequence[str] | None = None) -> list[ClipScore]:
    """Each backend over each clip (a fresh stream per clip, 25 fps times), scored per split.

    Both backends get the very same decoded frames; each clip is run once untimed first, so that
    model loading and first allocations are not counted.
    """
    labels = load_clip_labels(folder)
    names = sorted(labels) if clips is None else list(clips)
    rows: dict[tuple[str, str], list[tuple[FrameLabel, Estimate | None]]] = {}
    seconds: dict[tuple[str, str], tuple[float, float]] = {}
    for clip in names:
        if clip not in labels:
            raise DatasetError(f"no labels for clip {clip!r} in {folder}")
        frames = read_clip(folder, clip, len(labels[clip]))
        for tracker in backends:
            key = (tracker.name, labels[clip][0].split)
            _run(tracker, frames)  # warm-up
            start, cpu_start = time.perf_counter(), time.process_time()
            estimates = _run(tracker, frames)
            wall, cpu = seconds.get(key, (0.0, 0.0))
            seconds[key] = (wall + time.perf_counter() - start, cpu + time.process_time() - cpu_start)
            rows.setdefault(key, []).extend(zip(labels[clip], estimates, strict=True))
    return [_score(name, split, rows[(name, split)], seconds[(name, split)]) for name, split in rows]


def _run(tracker: StreamBackend, frames: Sequence[np.ndarray]) -> list[Estimate | None]:
    tracker.reset()
    return [tracker.observe(frame, i / 25.0) for i, frame in enumerate(frames)]


def _score(
    name: str, split: str, rows: list[tuple[FrameLabel, Estimate | None]], seconds: tuple[float, float]
) -> ClipScore:
    found = [(label, e) for label, e in rows if e is not None]
    centre = [math.dist(e.center_px, label.center_px) / label.width_px for label, e in found]
    width = [abs(e.width_px - label.width_px) / label.width_px for label, e in found]
    decided = [(label, e) for label, e in rows if label.state in ("open", "closed")]
    agree = sum(1 for label, e in decided if e is not None and e.is_open == (label.state == "open"))
    nan = float("nan")
    return ClipScore(
        name,
        split,
        len(rows),
        len(found),
        float(np.mean(centre)) if centre else nan,
        float(np.percentile(centre, 95)) if centre else nan,
        float(np.max(centre)) if centre else nan,
        float(np.mean(width)) if width else nan,
        len(decided),
        agree,
        1000.0 * seconds[0] / len(rows),
        1000.0 * seconds[1] / len(rows),
    )


# -- faces placed anywhere -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a face goes: its mouth at `mouth_at` (fractions of the frame's width and height), the
    face `face_height` of the frame height tall (hairline to chin, 3.6 mouth widths), rolled by
    `roll_deg` (positive: counter-clockwise in the picture). `head_only`: draw only an oval around
    the head (soft edge) instead of the whole clip frame, so that two placed people do not cover
    each other with their backgrounds."""

    mouth_at: tuple[float, float]
    face_height: float
    roll_deg: float = 0.0
    head_only: bool = False


@dataclass(frozen=True, slots=True)
class PlacedMouth:
    center_px: tuple[float, float]
    width_px: float


def place(canvas: np.ndarray, image: np.ndarray, label: FrameLabel, placement: Placement) -> PlacedMouth:
    """Draw `image` on `canvas` (in place) so that its labelled mouth lands where `placement` says."""
    height, width = canvas.shape[:2]
    scale = placement.face_height * height / (FACE_HEIGHT_PER_MOUTH_WIDTH * label.width_px)
    matrix = cv2.getRotationMatrix2D(label.center_px, placement.roll_deg, scale)
    target = (placement.mouth_at[0] * width, placement.mouth_at[1] * height)
    matrix[0, 2] += target[0] - label.center_px[0]
    matrix[1, 2] += target[1] - label.center_px[1]
    if not placement.head_only:
        cv2.warpAffine(image, matrix, (width, height), dst=canvas, borderMode=cv2.BORDER_TRANSPARENT)
    else:
        warped = cv2.warpAffine(image, matrix, (width, height))
        mask = np.zeros(image.shape[:2], np.float32)
        mouth_width = label.width_px
        centre = (round(label.center_px[0]), round(label.center_px[1] - 1.3 * mouth_width))
        cv2.ellipse(mask, centre, (round(1.7 * mouth_width), round(2.5 * mouth_width)), 0.0, 0.0, 360.0, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), 0.15 * mouth_width)
        alpha = cv2.warpAffine(mask, matrix, (width, height))[:, :, None]
        canvas[:] = np.clip(warped * alpha + canvas * (1.0 - alpha) + 0.5, 0, 255).astype(np.uint8)
    return PlacedMouth(target, label.width_px * scale)


class Stage:
    """Frames of placed faces on a grey background with +-2 grey levels of sensor noise (seeded)."""

    def __init__(self, size: tuple[int, int] = (640, 480), seed: int = 0, background: int = 90) -> None:
        self.size = size
        self.background = background
        self._rng = np.random.default_rng(seed)

    def frame(self, faces: Sequence[tuple[np.ndarray, FrameLabel, Placement]]) -> tuple[np.ndarray, list[PlacedMouth]]:
        """One frame with `faces` (image, its label, where it goes) drawn in order, and where their mouths are."""
        canvas = np.full((self.size[1], self.size[0], 3), self.background, np.uint8)
        mouths = [place(canvas, image, label, placement) for image, label, placement in faces]
        noisy = canvas.astype(np.int16) + self._rng.integers(-2, 3, canvas.shape, dtype=np.int16)
        return np.clip(noisy, 0, 255).astype(np.uint8), mouths


def found(estimate: Estimate | None, mouth: PlacedMouth) -> bool:
    return (
        estimate is not None and math.dist(estimate.center_px, mouth.center_px) <= FOUND_WITHIN_WIDTHS * mouth.width_px
    )


def frames_to_first_detection(
    tracker: StreamBackend,
    frames: Sequence[np.ndarray],
    labels: Sequence[FrameLabel],
    placement: Placement,
    stage: Stage,
    max_frames: int = 30,
) -> int | None:
    """Frames before the backend first finds the placed mouth (0: in the first frame), or None."""
    tracker.reset()
    for i in range(min(max_frames, len(frames))):
        frame, (mouth,) = stage.frame([(frames[i], labels[i], placement)])
        if found(tracker.observe(frame, i / 25.0), mouth):
            return i
    return None


@dataclass(frozen=True, slots=True)
class JumpResult:
    """After a jump: frames with a wrong mouth reported (anything but the new place), and frames
    until the new place is first reported (None: not within the frames watched)."""

    wrong_frames: int
    frames_to_new_place: int | None
    found_before_jump: bool


def jump_errors(
    tracker: StreamBackend,
    frames: Sequence[np.ndarray],
    labels: Sequence[FrameLabel],
    before: Placement,
    after: Placement,
    stage: Stage,
    jump_at: int = 15,
    watch: int = 30,
) -> JumpResult:
    """The face at `before` for `jump_at` frames, then at `after` for `watch` frames."""
    tracker.reset()
    seen_before = False
    wrong, first_new = 0, None
    for i in range(min(jump_at + watch, len(frames))):
        placement = before if i < jump_at else after
        frame, (mouth,) = stage.frame([(frames[i], labels[i], placement)])
        estimate = tracker.observe(frame, i / 25.0)
        if i < jump_at:
            seen_before = seen_before or found(estimate, mouth)
        elif found(estimate, mouth):
            first_new = i - jump_at if first_new is None else first_new
        elif estimate is not None:
            wrong += 1
    return JumpResult(wrong, first_new, seen_before)


def jump_target(before: Placement, face_widths: float, angle_deg: float, frame_size: tuple[int, int]) -> Placement:
    """`before` moved by `face_widths` face widths in the direction `angle_deg` (0 = right, 90 = down)."""
    width, height = frame_size
    face_width_px = before.face_height * height / FACE_HEIGHT_PER_MOUTH_WIDTH * FACE_WIDTH_PER_MOUTH_WIDTH
    dx = face_widths * face_width_px * math.cos(math.radians(angle_deg)) / width
    dy = face_widths * face_width_px * math.sin(math.radians(angle_deg)) / height
    return Placement((before.mouth_at[0] + dx, before.mouth_at[1] + dy), before.face_height, before.roll_deg)


# -- grids of placed faces, as the benchmark and the tests use them -----------------------------

PLACEMENT_HEIGHTS = (0.1, 0.15, 0.2, 0.35, 0.5, 0.7, 0.9)
PLACEMENT_ROLLS_DEG = (0.0, -30.0, 30.0)
PLACEMENT_POSITIONS = tuple((x, y) for x in (0.1, 0.5, 0.9) for y in (0.2, 0.5, 0.8))


def placement_grid() -> list[Placement]:
    """Faces 10-90 % of the frame height, rolled 0 and +-30 degrees, mouth at 9 places (the corners and
    edges cut large faces by the frame)."""
    return [
        Placement(position, height, roll)
        for height in PLACEMENT_HEIGHTS
        for roll in PLACEMENT_ROLLS_DEG
        for position in PLACEMENT_POSITIONS
    ]


def jump_grid(frame_size: tuple[int, int] = (640, 480)) -> list[tuple[Placement, Placement]]:
    """(before, after) pairs: faces 20-50 % of the frame height at the seat, jumping 0.5-2 face
    widths in five directions, the mouth staying in the frame."""
    pairs = []
    for height in (0.2, 0.35, 0.5):
        before = Placement((0.5, 0.6), height)
        for widths in (0.5, 1.0, 2.0):
            for angle in (0.0, 45.0, 90.0, 180.0, 270.0):
                after = jump_target(before, widths, angle, frame_size)
                if 0.05 < after.mouth_at[0] < 0.95 and 0.1 < after.mouth_at[1] < 0.9:
                    pairs.append((before, after))
    return pairs
