"""Hostile frames never crash detection or tracking and never produce a face out of nothing."""

import numpy as np
import pytest

from vision import InvalidFrame, MouthTracker, TrackerState, detect_mouth

RNG = np.random.default_rng(7)

NO_FACE_FRAMES = {
    "black": np.zeros((480, 640, 3), np.uint8),
    "saturated": np.full((480, 640, 3), 255, np.uint8),
    "noise": RNG.integers(0, 256, (480, 640, 3), dtype=np.uint8),
    "tiny 16x16": RNG.integers(0, 256, (16, 16, 3), dtype=np.uint8),
    "one pixel": np.zeros((1, 1, 3), np.uint8),
    "huge 4000x3000": np.zeros((3000, 4000, 3), np.uint8),
    "grayscale": np.zeros((480, 640), np.uint8),
    "4-channel": np.zeros((480, 640, 4), np.uint8),
    "float": RNG.random((480, 640, 3)).astype(np.float32),
}


@pytest.mark.parametrize("name", NO_FACE_FRAMES)
def test_still_image_without_a_face_gives_none(name):
    assert detect_mouth(NO_FACE_FRAMES[name]) is None


@pytest.mark.parametrize("name", NO_FACE_FRAMES)
def test_tracker_reports_nothing_on_frames_without_a_face(models, name):
    tracker = MouthTracker(models=models)
    assert tracker.update(NO_FACE_FRAMES[name], 1.0) is None
    assert tracker.state is TrackerState.SEARCHING


@pytest.mark.parametrize("bad", [None, np.zeros((0, 0, 3), np.uint8), np.zeros((4, 4, 2), np.uint8)])
def test_still_image_refuses_what_is_not_an_image(bad):
    with pytest.raises(InvalidFrame):
        detect_mouth(bad)


def test_tracker_reports_invalid_frames_by_state_and_keeps_running(models):
    tracker = MouthTracker(models=models)
    assert tracker.update(np.zeros((0, 5, 3), np.uint8), 1.0) is None
    assert tracker.state is TrackerState.INVALID_FRAME
    assert "empty" in tracker.last_error
    assert tracker.update(np.zeros((48, 64, 3), np.uint8), 2.0) is None
    assert tracker.state is TrackerState.SEARCHING


def test_missing_frame_is_stale_not_an_error(models):
    tracker = MouthTracker(models=models)
    assert tracker.update(None, 1.0) is None
    assert tracker.state is TrackerState.STALE


@pytest.mark.parametrize("t", [float("nan"), float("inf")])
def test_non_finite_capture_time_is_stale(models, t):
    tracker = MouthTracker(models=models)
    assert tracker.update(np.zeros((48, 64, 3), np.uint8), t) is None
    assert tracker.state is TrackerState.STALE
