"""Mouth tracking on the shared real clips and on the same faces placed anywhere, side by side with
MediaPipe's FaceMesh (tracking mode) on the same frames.

- `test_clips_side_by_side`: the 11 GRID clips of ../shared/data/video as they are (360x288, 25 fps),
  each backend on every frame: centre and mouth-width error against labels.csv (fractions of the
  labelled mouth width; the labels are MediaPipe's own proposals, so MediaPipe agrees with itself),
  open/closed agreement on frames labelled open or closed, ms per frame; per split.
- `test_placed_faces_side_by_side`: one dev and one holdout clip placed in 640x480 frames
  (`vision.video_evaluation.placement_grid`: 189 placements, 10-90 % of the frame height, rolled
  +-30 degrees, in the corners and cut by the edges): frames to the first detection (within 20
  frames), and after jumps (`jump_grid`) the frames in which each reports a wrong mouth.

One core: OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python -m pytest benchmarks/bench_vision_clips.py -s
The tables are printed; docs/benchmarks.md ("Vision on the real clips") holds a run's figures.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import cv2
import pytest

from vision import FaceModels
from vision.video_evaluation import (
    MediaPipeTracker,
    OurTracker,
    Stage,
    frames_to_first_detection,
    jump_errors,
    jump_grid,
    load_clip_labels,
    placement_grid,
    read_clip,
    score_clips,
)

VIDEO = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "video"
PLACED_CLIPS = ("bbaf2n", "lwbsza")  # one dev, one holdout


@pytest.fixture(scope="module")
def backends():
    if not (VIDEO / "labels.csv").is_file():
        pytest.skip(f"shared video clips not found at {VIDEO.resolve()}")
    cv2.setNumThreads(1)
    mediapipe = MediaPipeTracker()
    yield OurTracker(FaceModels.load()), mediapipe
    mediapipe.close()


def test_clips_side_by_side(benchmark, backends):
    scores = benchmark.pedantic(lambda: score_clips(VIDEO, backends), rounds=1, iterations=1)
    print(
        "\n| split | backend | frames with a mouth | centre error mean / p95 / max | width error mean | "
        "open/closed agreement | CPU ms per frame | wall ms per frame |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for s in sorted(scores, key=lambda s: (s.split != "dev", s.backend != "ours")):
        print(
            f"| {s.split} | {s.backend} | {s.frames_with_mouth}/{s.frames} | {s.centre_error_mean:.3f} / "
            f"{s.centre_error_p95:.3f} / {s.centre_error_max:.3f} | {s.width_error_mean:.3f} | "
            f"{s.open_closed_agree}/{s.open_closed_frames} | {s.cpu_ms_per_frame:.1f} | {s.ms_per_frame:.1f} |"
        )
        benchmark.extra_info[f"{s.split}_{s.backend}"] = s.as_dict()


def test_placed_faces_side_by_side(benchmark, backends):
    labels = load_clip_labels(VIDEO)

    def run():
        rows = {}
        for clip in PLACED_CLIPS:
            frames = read_clip(VIDEO, clip, len(labels[clip]))
            first = {
                tracker.name: [
                    frames_to_first_detection(tracker, frames, labels[clip], placement, Stage(seed=11), 20)
                    for placement in placement_grid()
                ]
                for tracker in backends
            }
            jumps = {
                tracker.name: [
                    jump_errors(tracker, frames, labels[clip], before, after, Stage(seed=12))
                    for before, after in jump_grid()
                ]
                for tracker in backends
            }
            rows[(clip, labels[clip][0].split)] = (first, jumps)
        return rows

    rows = benchmark.pedantic(run, rounds=1, iterations=1)
    print(
        "\n| clip (split) | backend | placements found | frames to first detection: mean / max | "
        "later than MediaPipe + 1 | jumps with a wrong mouth | wrong-mouth frames after jumps |"
    )
    print("|---|---|---|---|---|---|---|")
    for (clip, split), (first, jumps) in rows.items():
        theirs = first["mediapipe"]
        for name in ("ours", "mediapipe"):
            found = [f for f in first[name] if f is not None]
            later = sum(
                1
                for ours, mp in zip(first[name], theirs, strict=True)
                if mp is not None and (ours is None or ours > mp + 1)
            )
            wrong = [j.wrong_frames for j in jumps[name]]
            print(
                f"| {clip} ({split}) | {name} | {len(found)}/{len(first[name])} | "
                f"{statistics.mean(found):.2f} / {max(found)} | {later if name == 'ours' else '-'} | "
                f"{sum(1 for w in wrong if w)}/{len(wrong)} | {sum(wrong)} |"
            )
            benchmark.extra_info[f"{clip}_{name}"] = {
                "found": len(found),
                "placements": len(first[name]),
                "later_than_mediapipe_plus_one": later,
                "wrong_frames_after_jumps": sum(wrong),
            }
