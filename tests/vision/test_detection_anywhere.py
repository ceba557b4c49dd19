"""Faces anywhere in the frame: any position, 10-90 % of the frame height, rolled, cut by the edge;
found no later than MediaPipe's face mesh (plus one frame) on the same frames; the full frame is
searched again every N frames and when the landmark presence drops.

The faces are the shared GRID clips (dev split) placed in 640x480 frames (`vision.video_evaluation`).
"""

from __future__ import annotations

import pytest

from vision import MouthTracker, TrackerConfig
from vision.video_evaluation import (
    MediaPipeTracker,
    OurTracker,
    Placement,
    Stage,
    estimate_of,
    found,
    frames_to_first_detection,
)

CLIP = "bbaf2n"  # dev
# (mouth at, face height as a fraction of the frame height, roll): small, large, rolled, in the
# corners, and cut by the frame's edge (about a third of the face outside).
PLACEMENTS = [
    Placement((0.5, 0.5), 0.1),
    Placement((0.08, 0.12), 0.1),
    Placement((0.93, 0.9), 0.1, 30.0),
    Placement((0.2, 0.8), 0.15, -30.0),
    Placement((0.9, 0.2), 0.15),  # seated on the detector's box alone, its mouth was half a width off for 3 frames
    Placement((0.85, 0.2), 0.2),
    Placement((0.12, 0.55), 0.35, 30.0),
    Placement((0.5, 0.6), 0.5),
    Placement((0.08, 0.5), 0.5),
    Placement((0.9, 0.55), 0.5, -30.0),
    Placement((0.5, 0.9), 0.7),
    Placement((0.3, 0.7), 0.7, 30.0),
    Placement((0.5, 0.65), 0.9),
    Placement((0.7, 0.6), 0.9, -30.0),
]


@pytest.fixture(scope="module")
def first_detections(models, clip):
    """Frames to the first detection of each of PLACEMENTS: (ours, MediaPipe's), on the same frames."""
    frames, labels = clip(CLIP)
    ours, mediapipe = OurTracker(models), MediaPipeTracker()
    try:
        return {
            placement: tuple(
                frames_to_first_detection(tracker, frames, labels, placement, Stage(seed=3), max_frames=20)
                for tracker in (ours, mediapipe)
            )
            for placement in PLACEMENTS
        }
    finally:
        mediapipe.close()


@pytest.mark.parametrize("placement", PLACEMENTS, ids=lambda p: f"{p.mouth_at}-{p.face_height}-{p.roll_deg:+.0f}")
def test_a_face_anywhere_is_found_within_a_frame_and_no_later_than_mediapipe_plus_one(first_detections, placement):
    ours, theirs = first_detections[placement]
    assert ours is not None and ours <= 1, f"ours found it at frame {ours}, MediaPipe at {theirs}"
    if theirs is not None:
        assert ours <= theirs + 1


def test_placed_faces_are_found_at_least_as_soon_as_by_mediapipe_in_all(first_detections):
    """Issue 16's "done when": frames to first detection at or better than MediaPipe's on placed
    faces, summed over the placements (a face never found counts as the 20 frames watched)."""
    ours = [o for o, _ in first_detections.values()]
    theirs = [t for _, t in first_detections.values()]
    assert None not in ours
    assert sum(ours) <= sum(20 if t is None else t for t in theirs), first_detections
    assert theirs.count(None) >= 1  # MediaPipe misses some of them: the comparison means something


def test_a_face_of_a_tenth_of_the_height_is_reported_but_not_usable(models, clip):
    """Found so that the user is followed, but too small (too far away) to steer the spoon."""
    frames, labels = clip(CLIP)
    frame, (mouth,) = Stage(seed=4).frame([(frames[0], labels[0], Placement((0.5, 0.5), 0.1))])
    observation = MouthTracker(models=models).update(frame, 0.0)
    assert found(estimate_of(observation), mouth)
    assert observation is not None and not observation.usable


def test_the_followed_face_is_checked_against_the_whole_frame_every_n_frames(models, clip):
    frames, labels = clip(CLIP)
    stage, placement = Stage(seed=5), Placement((0.5, 0.6), 0.35)
    tracker = MouthTracker(TrackerConfig(full_search_every_frames=5), models=models)
    for i in range(41):
        frame, (mouth,) = stage.frame([(frames[i], labels[i], placement)])
        assert found(estimate_of(tracker.update(frame, i / 25.0)), mouth)
    assert tracker.stats.searches == 1  # the first frame
    assert tracker.stats.checks == 8  # frames 5, 10, ..., 40


def test_a_drop_in_landmark_presence_brings_a_whole_frame_check(models, clip):
    frames, labels = clip(CLIP)
    stage, placement = Stage(seed=5), Placement((0.5, 0.6), 0.35)
    # A presence threshold above what the model ever gives: every frame counts as a drop.
    tracker = MouthTracker(TrackerConfig(search_below_presence=1.0, landmark_interval=1), models=models)
    for i in range(10):
        frame, _ = stage.frame([(frames[i], labels[i], placement)])
        tracker.update(frame, i / 25.0)
    assert (tracker.stats.searches, tracker.stats.checks) == (1, 9)
