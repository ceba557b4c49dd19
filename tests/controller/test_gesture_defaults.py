"""The mouth gesture's default thresholds are on the scale `vision.MouthTracker` reports
(docs/configuration.md, "Why 0.15 and 0.10"): above the tracker's own open/closed band, below
deliberate wide openings, above closed mouths."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import pytest

from controller.config import GestureSettings, demo_profile
from vision import detect_mouth
from vision.mouth import OPENCV_THRESHOLDS

FACES = Path(__file__).resolve().parents[2] / "../shared/data/faces"


def test_the_embedded_profile_uses_the_documented_defaults():
    assert demo_profile().gesture == GestureSettings()
    assert (GestureSettings().open_threshold, GestureSettings().close_threshold) == (0.15, 0.10)


def test_gesture_band_lies_above_the_trackers_open_closed_band():
    settings = GestureSettings()
    assert OPENCV_THRESHOLDS.close_at < OPENCV_THRESHOLDS.open_at < settings.close_threshold < settings.open_threshold


def _ratios(source: str, state: str) -> list[float]:
    if not (FACES / "labels.csv").is_file():
        pytest.skip(f"the shared face photos are not at {FACES}")
    ratios = []
    with (FACES / "labels.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["source"] == source and row["mouth_state"] == state:
                observation = detect_mouth(cv2.imread(str(FACES / row["file"])))
                if observation is not None:
                    ratios.append(observation.open_ratio)
    if not ratios:
        pytest.skip(f"no {state} photos from {source} in {FACES}")
    return ratios


def test_every_yawn_photo_opens_the_gesture():
    assert min(_ratios("roboflow_yawn_v5", "open")) >= GestureSettings().open_threshold


def test_no_closed_photo_opens_the_gesture_and_nearly_all_are_below_its_close_threshold():
    closed = _ratios("grid_lipnet_samples", "closed")
    settings = GestureSettings()
    assert max(closed) < settings.open_threshold
    assert sum(r <= settings.close_threshold for r in closed) >= 0.95 * len(closed)
