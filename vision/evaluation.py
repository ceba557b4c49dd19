"""Score mouth detection on a labelled folder (the format of ../shared/data/faces/labels.csv).

`labels.csv` columns used: file, split (dev/holdout), mouth_state (open/closed/unknown/none),
mouth_cx, mouth_cy, mouth_w (pixels). Per split: faces found among images with a face, mouth
centre error as a fraction of the labelled mouth width, open/closed accuracy on images labelled
open or closed, false detections on images labelled `none`, and milliseconds per image.
"""

from __future__ import annotations

import csv
import itertools
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

from vision.errors import VisionError
from vision.face_checks import FaceChecks
from vision.mouth import MEDIAPIPE_THRESHOLDS, OpenThresholds, mouth_geometry
from vision.observation import MouthObservation, MouthStatus
from vision.tracker import detect_mouth

STATES = ("open", "closed", "unknown", "none")


class DatasetError(VisionError):
    """A labelled folder that cannot be read: missing labels.csv, columns or images."""


class Backend(StrEnum):
    OPENCV = "opencv"  # this package's pipeline (OpenCV DNN + numpy)
    MEDIAPIPE = "mediapipe"  # MediaPipe's FaceMesh runtime, same models, as the reference


@dataclass(frozen=True, slots=True)
class LabelledImage:
    path: Path
    split: str
    state: str
    center_px: tuple[float, float] | None
    width_px: float | None


@dataclass(frozen=True, slots=True)
class ImageResult:
    image: LabelledImage
    observation: MouthObservation | None
    seconds: float

    @property
    def centre_error_widths(self) -> float | None:
        if self.observation is None or self.image.center_px is None or not self.image.width_px:
            return None
        return math.dist(self.observation.center_px, self.image.center_px) / self.image.width_px


@dataclass(frozen=True, slots=True)
class SplitScore:
    split: str
    images: int
    faces: int
    faces_found: int
    centre_error_mean: float
    centre_error_median: float
    centre_error_max: float
    open_closed: int
    open_closed_correct: int
    no_face_images: int
    false_detections: int
    ms_per_image: float

    def as_dict(self) -> dict[str, float | int | str]:
        return {name: getattr(self, name) for name in self.__slots__}


def load_labels(folder: Path) -> list[LabelledImage]:
    """Rows of `folder/labels.csv`; raises `DatasetError` naming what is missing or malformed."""
    labels = Path(folder) / "labels.csv"
    if not labels.is_file():
        raise DatasetError(f"no labels.csv in {folder}; expected the format of ../shared/data/faces/labels.csv")
    images = []
    with labels.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"file", "split", "mouth_state", "mouth_cx", "mouth_cy", "mouth_w"} - set(reader.fieldnames or ())
        if missing:
            raise DatasetError(f"{labels} lacks column(s) {sorted(missing)}")
        for line, row in enumerate(reader, start=2):
            state = row["mouth_state"].strip()
            if state not in STATES:
                raise DatasetError(f"{labels}:{line}: mouth_state {state!r} is not one of {STATES}")
            try:
                centre = (float(row["mouth_cx"]), float(row["mouth_cy"])) if state != "none" else None
                width = float(row["mouth_w"]) if state != "none" else None
            except ValueError as error:
                raise DatasetError(f"{labels}:{line}: mouth_cx/mouth_cy/mouth_w must be numbers ({error})") from error
            images.append(LabelledImage(Path(folder) / row["file"], row["split"].strip(), state, centre, width))
    return images


def observer(backend: Backend) -> Callable[[np.ndarray], MouthObservation | None]:
    """A still-image mouth detector of the given backend."""
    if backend is Backend.OPENCV:
        return detect_mouth
    from vision.reference import MediaPipeFaceMesh

    mesh, checks = MediaPipeFaceMesh(static_image_mode=True), FaceChecks()

    def observe(image: np.ndarray) -> MouthObservation | None:
        points = mesh.landmarks(image)
        if points is None:
            return None
        mouth = mouth_geometry(points)
        if checks.status(points, image.shape) is not MouthStatus.TRACKED:
            return MouthObservation(mouth.center_px, mouth.width_px, mouth.open_ratio, False, 0.0, 0.0)
        return MouthObservation(
            mouth.center_px,
            mouth.width_px,
            mouth.open_ratio,
            MEDIAPIPE_THRESHOLDS.still_image(mouth.open_ratio),
            1.0,
            0.0,
        )

    return observe


def run(images: Iterable[LabelledImage], backend: Backend = Backend.OPENCV) -> list[ImageResult]:
    """Each image through the backend, timed; unreadable images raise `DatasetError`.

    The first image also runs once untimed, so that model loading is not counted.
    """
    observe = observer(backend)
    results, warmed_up = [], False
    for item in images:
        image = cv2.imread(str(item.path), cv2.IMREAD_COLOR)
        if image is None:
            raise DatasetError(f"cannot read image {item.path}")
        if not warmed_up:
            observe(image)
            warmed_up = True
        start = time.perf_counter()
        observation = observe(image)
        results.append(ImageResult(item, observation, time.perf_counter() - start))
    return results


def score(results: list[ImageResult], split: str) -> SplitScore:
    mine = [r for r in results if r.image.split == split]
    with_face = [r for r in mine if r.image.state != "none"]
    errors = [e for e in (r.centre_error_widths for r in with_face) if e is not None]
    labelled = [r for r in mine if r.image.state in ("open", "closed")]
    correct = sum(
        1 for r in labelled if r.observation is not None and r.observation.is_open == (r.image.state == "open")
    )
    no_face = [r for r in mine if r.image.state == "none"]
    return SplitScore(
        split,
        len(mine),
        len(with_face),
        sum(1 for r in with_face if r.observation is not None),
        float(np.mean(errors)) if errors else float("nan"),
        float(np.median(errors)) if errors else float("nan"),
        float(np.max(errors)) if errors else float("nan"),
        len(labelled),
        correct,
        len(no_face),
        sum(1 for r in no_face if r.observation is not None),
        1000.0 * float(np.mean([r.seconds for r in mine])) if mine else float("nan"),
    )


def evaluate(folder: Path, backend: Backend = Backend.OPENCV) -> list[SplitScore]:
    """Scores per split (in the order the splits first appear in labels.csv)."""
    results = run(load_labels(folder), backend)
    splits = list(dict.fromkeys(r.image.split for r in results))
    return [score(results, split) for split in splits]


def choose_thresholds(results: list[ImageResult], split: str = "dev") -> OpenThresholds:
    """Hysteresis thresholds from the open ratios of one split's open and closed images.

    The single threshold that misclassifies fewest images (the middle of the widest such gap)
    is the centre of the band; the band is +-25 % of the gap between the nearest closed and open
    ratios around it (at least +-0.005), so that a still image decided by the centre and a stream
    decided by the band agree on every image of the split.
    """
    ratios = [
        (r.observation.open_ratio, r.image.state == "open")
        for r in results
        if r.image.split == split and r.image.state in ("open", "closed") and r.observation is not None
    ]
    if not any(is_open for _, is_open in ratios) or all(is_open for _, is_open in ratios):
        raise DatasetError(f"split {split!r} needs both open and closed images with a face found")
    values = sorted(ratio for ratio, _ in ratios)
    best = None
    for low, high in itertools.pairwise(values):
        if high <= low:
            continue
        centre = (low + high) / 2.0
        errors = sum(1 for ratio, is_open in ratios if (ratio >= centre) != is_open)
        key = (errors, -(high - low))
        if best is None or key < best[0]:
            best = (key, centre, high - low)
    if best is None:
        raise VisionError("the labelled open and closed ratios do not separate: no threshold can be chosen")
    _, centre, gap = best
    half_band = max(0.005, gap / 4.0)
    return OpenThresholds(open_at=round(centre + half_band, 3), close_at=round(max(0.001, centre - half_band), 3))
