"""Tracking on the shared real clips, side by side with MediaPipe's FaceMesh on the same frames
(issue 16, item 7): centre and mouth-width error against labels.csv, open/closed agreement. Speed
is measured in benchmarks/bench_vision_clips.py, not here. The labels are MediaPipe's proposals,
so MediaPipe is compared with itself; the test asks ours to stay close to it, not to beat it."""

from __future__ import annotations

import pytest

from vision.video_evaluation import MediaPipeTracker, OurTracker, score_clips


@pytest.fixture(scope="module")
def scores(models, video_dir):
    mediapipe = MediaPipeTracker()
    try:
        rows = score_clips(video_dir, [OurTracker(models), mediapipe])
    finally:
        mediapipe.close()
    return {(s.backend, s.split): s for s in rows}


@pytest.mark.parametrize("split", ["dev", "holdout"])
def test_every_frame_of_the_real_clips_has_the_mouth_within_a_fifth_of_its_width(scores, split):
    ours = scores[("ours", split)]
    assert ours.frames_with_mouth == ours.frames > 0
    assert ours.centre_error_max <= 0.2, ours
    assert ours.width_error_mean <= 0.1, ours


@pytest.mark.parametrize("split", ["dev", "holdout"])
def test_open_or_closed_agrees_with_the_labels_nearly_as_often_as_mediapipe(scores, split):
    ours, theirs = scores[("ours", split)], scores[("mediapipe", split)]
    assert ours.open_closed_frames == theirs.open_closed_frames > 0
    # MediaPipe made the labels; ours may miss at most 5 % of the decided frames more.
    assert ours.open_closed_agree >= theirs.open_closed_agree - 0.05 * ours.open_closed_frames, (ours, theirs)
