"""How far a hand's faded lip edge is from everything that must not read as a cover, per stress.

Runs the gate-choice sequences (`vision.gate_choice.collect_samples`: every clip of a split under
every stress) and, on each frame whose lips are tested, takes the share of edged contour points
whose lip/skin contrast fell below each `contrast_fade`. A `faded_fraction` between the largest
share of the non-covers and the smallest of the hands separates them (docs/vision.md, "The spoon
or a hand over the lips"). Frames before and after a stress count as clean.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/occlusion_margins.py --split dev
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

import vision.tracker
from vision import FaceModels, MouthTracker
from vision.gate_choice import collect_samples
from vision.occlusion import LipOcclusion
from vision.video_evaluation import load_clip_labels

FADES = (0.2, 0.25, 0.3, 0.35, 0.4)


def main() -> None:
    parser = argparse.ArgumentParser(description="faded lip-edge shares per stress")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/video"))
    parser.add_argument("--split", default="dev")
    args = parser.parse_args()
    per_frame: list[dict[float, float] | None] = []

    class Measured(LipOcclusion):
        def lips_hidden(self, image_bgr: np.ndarray, points: np.ndarray) -> bool:
            hidden = super().lips_hidden(image_bgr, points)
            learned = self._contrast
            if learned is not None:
                edged = learned >= self._limits.min_contrast
                sampled = self._sampled.contrast[edged]
                per_frame[-1] = {
                    f: float(np.mean(sampled < f * learned[edged])) if sampled.size else 0.0 for f in FADES
                }
            return hidden

    class Recording(MouthTracker):
        def update(self, frame_bgr, t):  # type: ignore[no-untyped-def]
            per_frame.append(None)
            return super().update(frame_bgr, t)

    vision.tracker.LipOcclusion = Measured  # type: ignore[misc]
    labels = load_clip_labels(args.data)
    clips = sorted(name for name, rows in labels.items() if rows[0].split == args.split)
    models = FaceModels.load()
    samples = collect_samples(args.data, lambda: Recording(models=models), clips)
    shares: dict[tuple[float, str], list[float]] = defaultdict(list)
    for sample, frame in zip(samples, per_frame, strict=True):
        if frame is not None:
            for fade, share in frame.items():
                shares[(fade, sample.stress.value if sample.stressed else "clean")].append(share)
    print(f"split {args.split}: share of edged lip contour points faded per frame, min / p95 / max")
    for fade in FADES:
        cells = []
        for stress in sorted({stress for _, stress in shares}):
            values = np.asarray(shares[(fade, stress)])
            cells.append(f"{stress} {values.min():.2f}/{np.percentile(values, 95):.2f}/{values.max():.2f}")
        print(f"contrast_fade {fade}: " + "; ".join(cells))


if __name__ == "__main__":
    main()
