"""Mouth tracking on one core: `MouthTracker.update` against MediaPipe's FaceMesh, same frames, same run.

The tracked video is composed from shared face images (../shared/data/faces, GRID clip bbaf2n):
640x480 frames in which one face moves on a smooth path (up to 3 px per frame)
and changes between closed, open, open and closed mouth frames every 17 frames, with +-2 grey
levels of sensor noise (`moving_face` in conftest.py). Truth per frame:
the labelled mouth centre moved with the face, and the labelled mouth state. Each result's
`extra_info` holds the accuracy on the same frames (mean and max centre error as a fraction of the
labelled mouth width, open/closed agreement with the labels using each backend's own hysteresis
thresholds) and, for MediaPipe, the speed ratio to our default tracker.

One core: run under `taskset -c 0` with OMP_NUM_THREADS=1 (OpenCV threads are set to 1 here):

    OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python -m pytest benchmarks/bench_vision_tracker.py \
        --benchmark-columns=min,median,mean,stddev,rounds
"""

from __future__ import annotations

import math
import time

import cv2
import numpy as np
import pytest

from vision import FaceModels, MouthTracker, TrackerConfig
from vision.capture import CameraCapture
from vision.mouth import MEDIAPIPE_THRESHOLDS, OpenHysteresis, mouth_geometry

RESULTS: dict[str, float] = {}


def accuracy(estimates, truth) -> dict[str, float]:
    """estimates[i] = (cx, cy, is_open) or None."""
    errors = [math.dist(e[:2], t[:2]) / t[2] for e, t in zip(estimates, truth, strict=False) if e is not None]
    agree = [e[2] == t[3] for e, t in zip(estimates, truth, strict=False) if e is not None]
    return {
        "frames_with_mouth": len(errors),
        "frames": len(truth),
        "centre_error_mean": float(np.mean(errors)),
        "centre_error_max": float(np.max(errors)),
        "open_closed_agreement": float(np.mean(agree)),
    }


@pytest.mark.parametrize("interval", [1, 2, 3])
def test_mouth_tracker_update(benchmark, moving_face, interval):
    frames, truth = moving_face
    models = FaceModels.load()

    def run():
        tracker = MouthTracker(TrackerConfig(landmark_interval=interval), models=models)
        return [tracker.update(frame, i / 30.0) for i, frame in enumerate(frames)]

    run()  # warm-up: first forward passes allocate
    observations = benchmark.pedantic(run, rounds=5, iterations=1)
    if benchmark.disabled:  # --benchmark-disable: one plain run, no timings
        return
    per_frame_ms = 1000.0 * benchmark.stats.stats.median / len(frames)
    RESULTS[f"ours_interval_{interval}"] = per_frame_ms
    benchmark.extra_info.update(
        accuracy([None if o is None else (*o.center_px, o.is_open) for o in observations], truth)
    )
    benchmark.extra_info["ms_per_frame_median"] = per_frame_ms


def test_mediapipe_face_mesh_tracking(benchmark, moving_face):
    """MediaPipe's own runtime on the same frames, doing the same job (tracking mode, 468 points)."""
    from vision.reference import MediaPipeFaceMesh

    frames, truth = moving_face

    def run():
        mesh, hysteresis = MediaPipeFaceMesh(static_image_mode=False), OpenHysteresis(MEDIAPIPE_THRESHOLDS)
        estimates = []
        for frame in frames:
            points = mesh.landmarks(frame)
            if points is None:
                estimates.append(None)
                continue
            mouth = mouth_geometry(points)
            estimates.append((*mouth.center_px, hysteresis.update(mouth.open_ratio)))
        mesh.close()
        return estimates

    run()
    estimates = benchmark.pedantic(run, rounds=5, iterations=1)
    if benchmark.disabled:  # --benchmark-disable: one plain run, no timings
        return
    per_frame_ms = 1000.0 * benchmark.stats.stats.median / len(frames)
    benchmark.extra_info.update(accuracy(estimates, truth))
    benchmark.extra_info["ms_per_frame_median"] = per_frame_ms
    for name, ours in RESULTS.items():
        benchmark.extra_info[f"speedup_of_{name}"] = per_frame_ms / ours


def test_camera_to_observation_latency(benchmark, moving_face, tmp_path):
    """A 30 fps replay through `CameraCapture` into the tracker: time from capture to observation, in
    parts (`Frame.latency`): capture to the end of the read, waiting to be handed over, tracking."""
    frames, _ = moving_face
    folder = tmp_path / "camera"
    folder.mkdir()
    for i, frame in enumerate(frames[:90]):
        cv2.imwrite(str(folder / f"{i:04d}.png"), frame)
    models = FaceModels.load()

    def run():
        tracker, parts = MouthTracker(models=models), []
        with CameraCapture(folder, fps=30.0) as capture:
            while not capture.stats.finished:
                frame = capture.read(timeout_s=0.1)
                if frame is not None and tracker.update(frame.image, frame.t) is not None:
                    parts.append(frame.latency(time.monotonic()))
        return parts

    parts = benchmark.pedantic(run, rounds=1, iterations=1)
    for name in ("capture_to_read_s", "waiting_s", "processing_s", "total_s"):
        values = [1000.0 * getattr(p, name) for p in parts]
        benchmark.extra_info[f"{name[:-2]}_ms_median"] = float(np.median(values))
        benchmark.extra_info[f"{name[:-2]}_ms_p95"] = float(np.percentile(values, 95))
    benchmark.extra_info["observations"] = len(parts)
