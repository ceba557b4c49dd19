"""One model runtime, measured in its own process: run by benchmarks/model_runtimes.py in a throw-away
venv that holds that runtime (never imported by the product or the tests).

    python model_runtime_worker.py RUNTIME FRAMES.npz OUT.npz   # RUNTIME: litert, opencv or onnxruntime

Prints one JSON line: `cold_start_s` and `cold_start_cpu_s` (this process's start to the first frame's
landmarks: imports, model loading, first inference; wall clock and CPU time), `ms_per_frame` (CPU time
of detector and landmarks on every frame, on one core, which other jobs on a shared machine do not
inflate) and `wall_ms_per_frame`, `versions`; writes the landmarks of every frame to OUT.npz. Before anything is imported it pins itself
to one CPU and sets every runtime to one thread.
"""

from __future__ import annotations

import time

START, START_CPU = time.perf_counter(), time.process_time()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
os.environ["OMP_NUM_THREADS"] = "1"


class OnnxNetwork:
    """A .tflite model converted at load time with tflite2onnx and run by ONNX Runtime (one thread)."""

    def __init__(self, path: Path, work: Path) -> None:
        import numpy as np
        import onnxruntime
        import tflite2onnx

        self._np = np
        onnx_path = work / f"{path.stem}.onnx"
        tflite2onnx.convert(str(path), str(onnx_path))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0]
        self._nchw = self._input.shape[1] == 3

    def forward(self, x):
        x = x.transpose(0, 3, 1, 2) if self._nchw else x
        return [out.reshape(-1) for out in self._session.run(None, {self._input.name: self._np.ascontiguousarray(x)})]


def main() -> None:
    runtime_name, frames_path, out_path = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    import cv2
    import numpy as np

    cv2.setNumThreads(1)
    from vision import inference
    from vision.face_detector import FaceDetector
    from vision.face_landmarks import FaceLandmarker, FaceRoi

    if runtime_name == "onnxruntime":
        work = out_path.parent

        def load(path, runtime=None):
            return OnnxNetwork(path, work)

        inference.load_network = load  # the wrappers look it up in their own modules
        import vision.face_detector as detector_module
        import vision.face_landmarks as landmarks_module

        detector_module.load_network = landmarks_module.load_network = load  # type: ignore[assignment]
        runtime = inference.Runtime.OPENCV  # unused by `load`
    else:
        runtime = inference.Runtime(runtime_name)
    frames = np.load(frames_path)["frames"]
    detector, landmarker = FaceDetector(runtime=runtime), FaceLandmarker(runtime=runtime)

    def landmarks(frame):
        faces = detector.detect(frame)
        if not faces:
            return np.full((468, 3), np.nan, np.float32)
        return landmarker.run(frame, FaceRoi.from_detection(faces[0])).points

    points = [landmarks(frames[0])]
    cold_start_s, cold_start_cpu_s = time.perf_counter() - START, time.process_time() - START_CPU
    start, start_cpu = time.perf_counter(), time.process_time()
    points += [landmarks(frame) for frame in frames[1:]]
    count = max(1, len(frames) - 1)
    ms_per_frame = 1000.0 * (time.process_time() - start_cpu) / count
    wall_ms_per_frame = 1000.0 * (time.perf_counter() - start) / count
    np.savez_compressed(out_path, points=np.stack(points))
    versions = {"opencv": cv2.__version__, "numpy": np.__version__}
    import importlib.metadata

    for name in ("ai-edge-litert", "onnxruntime", "tflite2onnx"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    print(
        json.dumps(
            {
                "cold_start_s": cold_start_s,
                "cold_start_cpu_s": cold_start_cpu_s,
                "ms_per_frame": ms_per_frame,
                "wall_ms_per_frame": wall_ms_per_frame,
                "versions": versions,
            }
        )
    )


if __name__ == "__main__":
    main()
