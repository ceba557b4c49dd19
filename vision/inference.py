"""How a face network is loaded and run: one small interface over the model runtime.

`load_network(path, runtime)` reads a .tflite file and returns a `Network`, whose `forward(x)` takes one
NHWC float32 image batch (1, H, W, 3) and returns the model's outputs as flat float32 arrays (in no
promised order: callers pick them by size). Two runtimes:

- `Runtime.LITERT` (the default): Google's LiteRT interpreter (`ai-edge-litert`), the runtime MediaPipe
  itself runs these files with; one thread.
- `Runtime.OPENCV`: OpenCV's DNN module. OpenCV 5.0 needs its classic engine for every output of these
  models; 5.1 removed that engine and its new one returns every output.

Why LiteRT: docs/benchmarks.md, "Model runtime" (landmarks, ms per frame, cold start and install size of
each runtime side by side). A runtime that is missing or of a version that cannot run these models
raises `ModelRuntimeError` with one line saying what to do, never an AttributeError.
"""

from __future__ import annotations

import importlib.metadata
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vision.errors import VisionError

FIX = "run scripts/setup to install the locked versions"


class Runtime(StrEnum):
    LITERT = "litert"
    OPENCV = "opencv"


DEFAULT_RUNTIME = Runtime.LITERT


class ModelRuntimeError(VisionError):
    """The model runtime is missing, of a version that cannot run the face models, or fails to load one."""


class Network(Protocol):
    """One loaded network: `forward` maps an NHWC float32 batch to the model's outputs (flat float32)."""

    def forward(self, x: np.ndarray) -> list[np.ndarray]: ...


class LiteRTNetwork:
    """A .tflite model in the LiteRT interpreter, on one thread."""

    def __init__(self, path: Path) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise ModelRuntimeError(f"the model runtime ai-edge-litert is not installed ({exc}); {FIX}") from exc
        try:
            self._interpreter = Interpreter(model_path=str(path), num_threads=1)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelRuntimeError(f"LiteRT cannot load {path.name}: {exc}; {FIX}") from exc
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._outputs = [detail["index"] for detail in self._interpreter.get_output_details()]

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        self._interpreter.set_tensor(self._input, np.ascontiguousarray(x, np.float32))
        self._interpreter.invoke()
        return [self._interpreter.get_tensor(index).reshape(-1) for index in self._outputs]


class OpenCVNetwork:
    """A .tflite model in OpenCV's DNN module (classic engine on OpenCV 5.0, the new one on 5.1)."""

    def __init__(self, path: Path) -> None:
        import cv2

        engine: Any = getattr(cv2.dnn, "ENGINE_CLASSIC", None)
        if engine is None and _version("opencv-contrib-python", cv2.__version__) < (5, 1):
            raise ModelRuntimeError(
                f"OpenCV {cv2.__version__} has neither the classic DNN engine nor 5.1's new one that reads "
                f"every output of the face models; {FIX}"
            )
        try:
            self._net = (
                cv2.dnn.readNetFromTFLite(str(path))
                if engine is None
                else cv2.dnn.readNetFromTFLite(str(path), engine=engine)
            )
        except cv2.error as exc:
            raise ModelRuntimeError(f"OpenCV {cv2.__version__} cannot load {path.name}: {exc}; {FIX}") from exc
        self._names = self._net.getUnconnectedOutLayersNames()

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        self._net.setInput(np.ascontiguousarray(x.transpose(0, 3, 1, 2), np.float32))
        return [out.reshape(-1) for out in self._net.forward(self._names)]


def _version(distribution: str, fallback: str) -> tuple[int, ...]:
    try:
        text = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        text = fallback
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())


def load_network(path: Path, runtime: Runtime = DEFAULT_RUNTIME) -> Network:
    """The network in `path` (a .tflite file) on `runtime`; `ModelRuntimeError` if it cannot run there."""
    return LiteRTNetwork(path) if runtime is Runtime.LITERT else OpenCVNetwork(path)


def outputs_by_size(outputs: list[np.ndarray], *sizes: int) -> list[np.ndarray]:
    """The outputs with these element counts, in the order asked; `ModelRuntimeError` if one is missing
    (a runtime that drops an output must not give a half-read model)."""
    found = {out.size: out for out in outputs}
    missing = [size for size in sizes if size not in found]
    if missing:
        got = sorted(found)
        raise ModelRuntimeError(f"the model runtime returned outputs of sizes {got}, not {list(sizes)}; {FIX}")
    return [found[size] for size in sizes]
