"""The confidence and age limits the arm obeys: the choice rule on made-up samples (always runs), and
the configured limits against stressed real clips (needs ../shared/data/video)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controller.config import demo_safety_limits
from controller.safety import confident_mouth
from vision import MouthTracker
from vision.gate_choice import (
    FRAME_PERIOD_S,
    GateChoiceError,
    GateSample,
    age_bounds,
    choose_min_confidence,
    choose_stale_after_s,
    collect_samples,
    confidence_bounds,
    judge,
)
from vision.stresses import Stress, apply_stress
from vision.video_evaluation import FrameLabel, PlacedMouth


def sample(confidence, error=0.02, usable=True, split="dev", stress=Stress.SPOON, frame=0, stressed=True):
    return GateSample(split, "c", stress, frame, stressed, usable, confidence, error)


RIGHT = [*(sample(c) for c in (0.2, 0.5, 0.9)), sample(1.0, stressed=False, stress=Stress.NONE)]


def bounds(samples, gate=confident_mouth, **options):
    return confidence_bounds(samples, gate, "dev", **options)


def test_the_lower_bound_is_the_lowest_threshold_that_trusts_no_wrong_mouth_raised_by_the_margin():
    samples = [*RIGHT, sample(0.42, error=0.8), sample(0.3, error=2.0)]
    # 0.45 is the lowest grid value above every wrong mouth's confidence; the margin adds 0.1.
    assert (bounds(samples).lowest_safe, bounds(samples).lower, bounds(samples).highest_wrong) == (0.45, 0.55, 0.42)
    assert bounds(samples, margin=0.0).lower == 0.45


def test_the_upper_bound_is_the_highest_threshold_that_trusts_every_clean_frame():
    clean = [sample(c, stressed=False, stress=Stress.NONE) for c in (0.72, 0.9, 1.0)]
    assert bounds(RIGHT + clean).upper == 0.7
    assert bounds(RIGHT).upper == 0.95  # no clean frame below the grid's top
    assert bounds([*RIGHT, sample(0.0, error=None, stressed=False)]).upper == 0.95  # nothing found: not a clean face


def test_without_wrong_mouths_the_lower_bound_is_the_grids_lowest_plus_the_margin():
    assert bounds(RIGHT).lower == 0.15


def test_the_configured_threshold_is_kept_within_the_bounds_else_the_nearer_bound():
    b = bounds([*RIGHT, sample(0.42, error=0.8), sample(0.72, stressed=False)])
    assert (b.lower, b.upper) == (0.55, 0.7)
    assert choose_min_confidence(b, 0.6) == 0.6
    assert choose_min_confidence(b, 0.5) == 0.55
    assert choose_min_confidence(b, 0.9) == 0.7


def test_only_the_tuning_split_chooses():
    assert bounds([*RIGHT, sample(0.9, error=1.0, split="holdout")]).lower == 0.15


def test_a_wrong_mouth_the_gate_refuses_anyway_does_not_raise_the_threshold():
    assert bounds([*RIGHT, sample(1.0, error=1.0, usable=False), sample(math.nan, error=1.0)]).lower == 0.15


def test_a_confident_wrong_mouth_is_the_trackers_to_fix_not_the_thresholds():
    with pytest.raises(GateChoiceError, match="the tracker, not the threshold, must change"):
        bounds([*RIGHT, sample(0.97, error=0.6)])


@pytest.mark.parametrize(
    "samples, message",
    [
        ([], "no samples"),
        ([sample(0.0, error=None, stressed=False)], "no clean frame with the mouth found"),
        ([*RIGHT, sample(0.83, error=0.6)], "above 1"),
        ([*RIGHT, sample(0.62, error=0.6), sample(0.7, stressed=False)], "no threshold both refuses"),
    ],
)
def test_data_that_cannot_support_a_choice_is_named(samples, message):
    with pytest.raises(GateChoiceError, match=message):
        bounds(samples, margin=0.2)


def test_a_broken_gate_that_trusts_everything_finds_no_threshold():
    with pytest.raises(GateChoiceError):
        bounds([*RIGHT, sample(0.1, error=1.0)], gate=lambda usable, c, t: True)


def test_judge_counts_what_the_gate_lets_through_per_stress():
    samples = [
        sample(1.0, stressed=False, stress=Stress.NONE),
        sample(0.4, stress=Stress.SPOON),
        sample(0.9, error=0.3, stress=Stress.HAND),
        sample(0.9, error=1.2, stress=Stress.SECOND_FACE),
        sample(0.0, error=None, usable=False, stress=Stress.JUMP),
    ]
    j = judge(samples, confident_mouth, 0.5, "dev")
    assert (j.frames, j.wrong_reported, j.wrong_trusted, j.imprecise_trusted) == (5, 1, 1, 2)
    assert (j.clean_trusted, j.clean_frames, j.stressed_trusted, j.stressed_frames) == (1, 1, 2, 4)
    assert j.highest_wrong_confidence == 0.9
    assert j.by_stress == {"spoon": (1, 0, 0), "hand": (1, 1, 0), "second_face": (1, 1, 1), "jump": (1, 0, 0)}


def clean_sequence(trusted: list[bool], split: str = "dev") -> list[GateSample]:
    return [
        sample(0.9 if ok else 0.1, split=split, stress=Stress.NONE, frame=i, stressed=False)
        for i, ok in enumerate(trusted)
    ]


def moving_labels(step_widths: float, frames: int = 30, split: str = "dev") -> dict[str, list[FrameLabel]]:
    return {
        "c": [
            FrameLabel("c", split, i, (100.0 + 40.0 * step_widths * i, 100.0), 40.0, 0.0, "closed")
            for i in range(frames)
        ]
    }


def test_age_bounds_come_from_the_longest_clean_gap_and_how_fast_mouths_move():
    samples = clean_sequence([False, True, True, False, False, True, True])  # the lead-in before the first is no gap
    bounds = age_bounds(samples, moving_labels(0.1), confident_mouth, 0.5, "dev", latency_s=0.06)
    assert bounds.longest_clean_gap_frames == 2
    assert bounds.lower_s == pytest.approx(4 * FRAME_PERIOD_S + 0.06)
    assert bounds.upper_s == pytest.approx(6 * FRAME_PERIOD_S)  # 0.6 widths after 6 frames, 0.5 after 5
    assert bounds.motion_at_s[0.2] == pytest.approx(0.5)


def test_a_still_mouth_sets_no_upper_bound_and_a_clip_never_trusted_is_named():
    bounds = age_bounds(clean_sequence([True] * 5), moving_labels(0.0), confident_mouth, 0.5, "dev", 0.06)
    assert bounds.upper_s is None
    with pytest.raises(GateChoiceError, match="no clean frame trusted"):
        age_bounds(clean_sequence([False] * 5), moving_labels(0.0), confident_mouth, 0.5, "dev", 0.06)


def test_the_age_limit_keeps_the_configured_value_between_the_bounds_else_the_nearer_bound():
    bounds = age_bounds(clean_sequence([True] * 5), moving_labels(0.1), confident_mouth, 0.5, "dev", 0.06)
    lower, upper = bounds.lower_s, bounds.upper_s
    assert upper is not None and lower < 0.2 < upper
    assert choose_stale_after_s(bounds, 0.2) == 0.2
    assert choose_stale_after_s(bounds, 0.05) == lower
    assert choose_stale_after_s(bounds, 0.5) == upper
    fast = age_bounds(clean_sequence([True] * 5), moving_labels(0.6), confident_mouth, 0.5, "dev", 0.06)
    with pytest.raises(GateChoiceError, match="no age limit is both safe and workable"):
        choose_stale_after_s(fast, 0.2)


MOUTH = PlacedMouth((320.0, 240.0), 60.0)


@pytest.mark.parametrize("stress", [s for s in Stress if s.drawn])
def test_every_drawn_stress_changes_the_picture_at_the_mouth(stress):
    rng = np.random.default_rng(0)
    frame = rng.integers(60, 200, (480, 640, 3), dtype=np.uint8)
    stressed = apply_stress(frame, MOUTH, stress, rng)
    assert stressed.shape == frame.shape and stressed.dtype == np.uint8
    mouth = np.s_[225:256, 300:341]
    assert np.abs(stressed[mouth].astype(int) - frame[mouth]).mean() > 5, stress


@pytest.mark.parametrize("stress", [s for s in Stress if not s.drawn])
def test_scene_stresses_leave_the_picture_to_the_stage(stress):
    frame = np.full((48, 64, 3), 90, np.uint8)
    assert np.array_equal(apply_stress(frame, MOUTH, stress, np.random.default_rng(0)), frame)


# -- on the shared clips ---------------------------------------------------------------------------

STRESSES = (Stress.NONE, Stress.SPOON, Stress.HAND, Stress.BLUR, Stress.SECOND_FACE, Stress.SPOON_HEAD_MOVES)


@pytest.fixture(scope="module")
def clip_samples(models, video_dir):
    """A part of what `bidvis vision choose-gate` runs: two dev clips and one holdout clip."""
    return collect_samples(video_dir, lambda: MouthTracker(models=models), ("bbaf2n", "lbbc2a", "swiz3n"), STRESSES)


def test_the_configured_confidence_trusts_no_wrong_mouth_on_stressed_clips(clip_samples):
    limit = demo_safety_limits().min_mouth_confidence
    for split in ("dev", "holdout"):
        j = judge(clip_samples, confident_mouth, limit, split)
        assert j.wrong_trusted == 0, j
        assert j.clean_trusted == j.clean_frames, j  # and it does not stop the arm on clean frames


def test_the_configured_confidence_lies_within_what_these_clips_support(clip_samples):
    b = confidence_bounds(clip_samples, confident_mouth, "dev")
    assert b.lower <= demo_safety_limits().min_mouth_confidence <= b.upper, b


def test_a_spoon_over_the_lips_lowers_the_confidence_until_the_gate_holds(clip_samples):
    """Low confidence is how a hidden mouth reaches the controller: the gate must refuse part of it."""
    limit = demo_safety_limits().min_mouth_confidence
    spoon = judge(clip_samples, confident_mouth, limit, "dev").by_stress[Stress.SPOON.value]
    frames, trusted, _ = spoon
    assert 0 < trusted < frames
