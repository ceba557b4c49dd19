"""The lip occlusion judgement per frame with the lip-edge test (issue 16: a hand over the mouth) and
without it (`OcclusionLimits(lip_edge=False)`: the colour test alone), side by side in the same run,
and the share of the tracker's whole per-frame update (`MouthTracker.update`) it takes.

Frames: the 240 of bench_vision_tracker.py (one shared face moving over 640x480, mouth changing
every 17 frames, sensor noise; `moving_face` in conftest.py), skipped without ../shared/data/faces.
The judgement is replayed on the landmark points the default tracker handed to it on those frames
(recorded once, untimed), as the tracker calls it: `lips_hidden`, then `remember` while the lips are
in view. These frames are its costliest case: the lips stay in view, so neither test stops early.

    OMP_NUM_THREADS=1 nice -n 19 taskset -c 0 .venv/bin/pytest benchmarks/bench_vision_occlusion.py \
        --benchmark-only -s --benchmark-columns=min,median,mean,rounds
"""

from __future__ import annotations

import numpy as np
import pytest

import vision.tracker
from vision import FaceModels, MouthTracker
from vision.mouth import MouthGeometry, mouth_geometry
from vision.occlusion import LipOcclusion, OcclusionLimits

JUDGEMENT_ROUNDS, UPDATE_ROUNDS = 200, 15
PER_FRAME_MS: dict[str, float] = {}  # median over rounds / frames, by benchmark


@pytest.fixture(scope="module")
def judged(moving_face) -> list[tuple[np.ndarray, np.ndarray, MouthGeometry]]:
    """(image, landmark points, mouth) of each call the default tracker made to its lip test."""
    frames, _ = moving_face
    calls: list[tuple[np.ndarray, np.ndarray]] = []

    class Recording(LipOcclusion):
        def lips_hidden(self, image_bgr: np.ndarray, points: np.ndarray) -> bool:
            calls.append((image_bgr, points.copy()))
            return super().lips_hidden(image_bgr, points)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(vision.tracker, "LipOcclusion", Recording)
        tracker = MouthTracker(models=FaceModels.load())
        for i, frame in enumerate(frames):
            tracker.update(frame, i / 30.0)
    return [(image, points, mouth_geometry(points)) for image, points in calls]


def judge(occlusion: LipOcclusion, judged: list[tuple[np.ndarray, np.ndarray, MouthGeometry]]) -> int:
    """The tracker's use of the lip test over the recorded calls; returns how many read as hidden."""
    hidden = 0
    for image, points, mouth in judged:
        if occlusion.lips_hidden(image, points):
            hidden += 1
        else:
            occlusion.remember(points, mouth, 1.0, 0.0)
    return hidden


def per_frame_ms(extra_info: dict[str, object], name: str, median_s: float, frames: int) -> float:
    """Milliseconds per frame of a benchmark's median round, kept under `name` and in its extra_info."""
    PER_FRAME_MS[name] = 1000.0 * median_s / frames
    extra_info["ms_per_frame_median"] = PER_FRAME_MS[name]
    return PER_FRAME_MS[name]


@pytest.mark.parametrize("lip_edge", [False, True], ids=["colour_only", "with_lip_edge"])
def test_occlusion_judgement(benchmark, moving_face, judged, lip_edge):
    limits = OcclusionLimits(lip_edge=lip_edge)
    hidden = benchmark.pedantic(
        lambda: judge(LipOcclusion(limits), judged), rounds=JUDGEMENT_ROUNDS, iterations=1, warmup_rounds=10
    )
    assert hidden == 0, "the lips are in view on every frame: both tests run on each"
    if benchmark.disabled:  # --benchmark-disable: one plain run, no timings
        return
    per_frame_ms(benchmark.extra_info, f"lip_edge={lip_edge}", benchmark.stats.stats.median, len(moving_face[0]))
    benchmark.extra_info["judgements"] = len(judged)
    if {"lip_edge=False", "lip_edge=True"} <= PER_FRAME_MS.keys():
        benchmark.extra_info["with_over_without"] = PER_FRAME_MS["lip_edge=True"] / PER_FRAME_MS["lip_edge=False"]


def test_tracker_update(benchmark, moving_face):
    """The default tracker's whole update on the same frames, and the judgement's share of it."""
    frames, _ = moving_face
    models = FaceModels.load()

    def run():
        tracker = MouthTracker(models=models)
        return [tracker.update(frame, i / 30.0) for i, frame in enumerate(frames)]

    run()  # warm-up: first forward passes allocate
    benchmark.pedantic(run, rounds=UPDATE_ROUNDS, iterations=1)
    if benchmark.disabled:  # --benchmark-disable: one plain run, no timings
        return
    update = per_frame_ms(benchmark.extra_info, "update", benchmark.stats.stats.median, len(frames))
    if {"lip_edge=False", "lip_edge=True"} <= PER_FRAME_MS.keys():
        without, with_edge = PER_FRAME_MS["lip_edge=False"], PER_FRAME_MS["lip_edge=True"]
        benchmark.extra_info["judgement_share_of_update"] = with_edge / update
        benchmark.extra_info["lip_edge_share_of_update"] = (with_edge - without) / update
        print(
            f"\nms per frame, medians: judgement colour only {without:.4f}, with the lip edge {with_edge:.4f}"
            f" ({with_edge / without:.2f}x); tracker update {update:.3f}; judgement {with_edge / update:.1%}"
            f" of the update, the lip edge's part {(with_edge - without) / update:.1%}"
        )
