"""Every network the product uses loads on the installed model runtime and finds a real face.

A runtime or model package that breaks (a removed engine flag, a dropped output, a missing file) fails
this one named test, not dozens of unrelated ones. It needs no ../shared: matplotlib (a runtime
dependency) ships a photograph of Grace Hopper; the shared faces are used as well when present.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np

from vision import FaceModels
from vision.face_landmarks import FaceRoi
from vision.inference import DEFAULT_RUNTIME, load_network
from vision.models import NETWORKS, model_path
from vision.mouth import mouth_geometry

FACES_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "faces"
# Grace Hopper's mouth centre, by eye, in matplotlib's grace_hopper.jpg (512x600).
HOPPER_MOUTH_PX = (268.0, 277.0)


def real_faces() -> list[tuple[str, np.ndarray, tuple[float, float]]]:
    """(name, image, mouth centre) of the packaged photograph and, when present, one shared face per source."""
    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    faces = [("grace_hopper.jpg", cv2.imread(str(path), cv2.IMREAD_COLOR), HOPPER_MOUTH_PX)]
    labels = FACES_DIR / "labels.csv"
    if labels.is_file():
        seen = set()
        with labels.open(newline="") as handle:
            for row in csv.DictReader(handle):
                if row["mouth_state"] in ("open", "closed") and row["source"] not in seen:
                    seen.add(row["source"])
                    image = cv2.imread(str(FACES_DIR / row["file"]), cv2.IMREAD_COLOR)
                    faces.append((row["file"], image, (float(row["mouth_cx"]), float(row["mouth_cy"]))))
    return faces


def test_every_network_the_product_uses_loads_and_runs_on_a_real_face():
    for name, size in NETWORKS.items():  # each network on its own, outputs complete
        outputs = load_network(model_path(name), DEFAULT_RUNTIME).forward(np.zeros((1, size, size, 3), np.float32))
        assert all(np.isfinite(out).all() for out in outputs), name
    models = FaceModels.load()
    for name, image, mouth in real_faces():
        assert image is not None, name
        faces = models.detector.detect(image)
        assert faces and faces[0].score > 0.7, f"{name}: no face detected"
        landmarks = models.landmarker.run(image, FaceRoi.from_detection(faces[0]))
        assert landmarks.presence > 0.9, f"{name}: landmark model sees no face ({landmarks.presence:.2f})"
        found = mouth_geometry(landmarks.points)
        assert math.dist(found.center_px, mouth) < 0.25 * found.width_px, f"{name}: mouth at {found.center_px}"
