"""Never a wrong mouth: after a jump the tracker reports nothing or the new place, never the old one;
a second face does not take over; a bystander is not taken for the user (continuity of position and
size), within the limits docs/vision.md states.

The faces are shared GRID clips (dev split) placed in 640x480 frames (`vision.video_evaluation`);
MediaPipe's face mesh runs on the same frames for comparison.
"""

from __future__ import annotations

import cv2
import matplotlib.cbook
import numpy as np
import pytest

from vision import MouthTracker, TrackerConfig
from vision.face_landmarks import FaceLandmarks, FaceRoi
from vision.gate_choice import stress_sequence
from vision.mouth import mouth_geometry
from vision.stresses import Stress
from vision.tracker import FLOW_MOUTH_POINTS, FLOW_POINTS, _ImageMotion
from vision.video_evaluation import (
    MediaPipeTracker,
    OurTracker,
    Placement,
    Stage,
    estimate_of,
    found,
    jump_errors,
    jump_target,
)

USER, OTHER = "bbaf2n", "lbax4n"  # two dev clips, two people
SEAT = Placement((0.5, 0.6), 0.35, head_only=True)
JUMPS = [(size, widths, angle) for size in (0.2, 0.35, 0.5) for widths in (0.5, 1.0, 2.0) for angle in (0, 135, 270)]


def inside(placement: Placement) -> bool:
    return 0.05 < placement.mouth_at[0] < 0.95 and 0.1 < placement.mouth_at[1] < 0.9


@pytest.fixture(scope="module")
def jump_results(models, clip):
    """(ours, MediaPipe's) `JumpResult` for each jump of JUMPS that stays in the frame."""
    frames, labels = clip(USER)
    ours, mediapipe = OurTracker(models), MediaPipeTracker()
    results = {}
    for size, widths, angle in JUMPS:
        before = Placement((0.5, 0.6), size)
        after = jump_target(before, widths, angle, (640, 480))
        if inside(after):
            results[(size, widths, angle)] = tuple(
                jump_errors(tracker, frames, labels, before, after, Stage(seed=7)) for tracker in (ours, mediapipe)
            )
    mediapipe.close()
    return results


def test_after_a_jump_the_tracker_reports_nothing_or_the_new_place_never_the_old(jump_results):
    assert len(jump_results) >= 20
    for case, (ours, _) in jump_results.items():
        assert ours.found_before_jump, case
        assert ours.wrong_frames == 0, case


def test_after_a_jump_no_more_wrong_frames_than_mediapipe(jump_results):
    ours = sum(result.wrong_frames for result, _ in jump_results.values())
    theirs = sum(result.wrong_frames for _, result in jump_results.values())
    assert ours <= theirs
    assert theirs > 0  # MediaPipe's mesh does stay behind after some jumps: the comparison means something


def test_a_jump_within_a_face_width_is_followed_at_once(jump_results):
    followed = [ours.frames_to_new_place for (_, widths, _), (ours, _) in jump_results.items() if widths == 0.5]
    assert followed and all(frames is not None and frames <= 1 for frames in followed)


def run(tracker: MouthTracker, stage: Stage, scenes) -> list:
    """`scenes(i)` -> the faces of frame i; returns (estimate, placed mouths) per frame."""
    out = []
    for i, faces in enumerate(scenes):
        frame, mouths = stage.frame(faces)
        out.append((estimate_of(tracker.update(frame, i / 25.0)), mouths))
    return out


def test_a_second_face_coming_into_view_does_not_take_over(models, clip):
    user_frames, user_labels = clip(USER)
    other_frames, other_labels = clip(OTHER)
    for other_at in (
        Placement((0.2, 0.45), 0.45, head_only=True),  # larger: nearer the camera
        Placement((0.8, 0.5), 0.3, head_only=True),
        Placement((0.72, 0.3), 0.35, head_only=True),  # behind the user's shoulder
    ):
        scenes = [
            [(user_frames[i], user_labels[i], SEAT)]
            + ([(other_frames[i], other_labels[i], other_at)] if i >= 10 else [])
            for i in range(40)
        ]
        for i, (estimate, mouths) in enumerate(run(MouthTracker(models=models), Stage(seed=8), scenes)):
            assert estimate is not None and found(estimate, mouths[0]), (other_at, i)


def test_a_bystander_elsewhere_after_the_user_left_is_not_taken_within_the_identity_hold(models, clip):
    user_frames, user_labels = clip(USER)
    other_frames, other_labels = clip(OTHER)
    bystander = Placement((0.25, 0.5), 0.35, head_only=True)
    scenes = [
        [(user_frames[i], user_labels[i], SEAT)] if i < 10 else [(other_frames[i], other_labels[i], bystander)]
        for i in range(70)
    ]
    results = run(MouthTracker(TrackerConfig(identity_hold_s=2.0), models=models), Stage(seed=9), scenes)
    assert all(found(estimate, mouths[0]) for estimate, mouths in results[:10])
    assert all(estimate is None for estimate, _ in results[10:50])  # 2 s at 25 fps
    # The documented limit: after the hold, a face near the seat is taken as the user's again.
    assert found(results[-1][0], results[-1][1][0])


def test_a_face_of_another_size_where_the_user_was_is_not_taken(models, clip):
    user_frames, user_labels = clip(USER)
    other_frames, other_labels = clip(OTHER)
    nearer = Placement(SEAT.mouth_at, SEAT.face_height * 1.6, head_only=True)
    scenes = [
        [(user_frames[i], user_labels[i], SEAT)] if i < 10 else [(other_frames[i], other_labels[i], nearer)]
        for i in range(30)
    ]
    results = run(MouthTracker(models=models), Stage(seed=10), scenes)
    assert all(estimate is None for estimate, _ in results[10:])


def test_a_second_face_at_the_users_cheek_does_not_pull_the_mesh_over(models, clip):
    """The landmark model on a crop holding both faces slid the mesh, over 10-30 frames and at full
    confidence, onto the other face; the slide check keeps it on the user's."""
    user, other = clip(USER), clip("brbk7n")
    cheek = Placement((0.38, 0.5), 0.25, 15.0)
    tracker = MouthTracker(models=models)
    samples = stress_sequence(tracker, user, other, Stress.SECOND_FACE, cheek, seed=11)
    assert all(s.error_widths is not None and not s.wrong for s in samples)
    assert tracker.stats.slides > 0
    unchecked = MouthTracker(TrackerConfig(max_slide_face_widths=1.0), models=models)
    assert any(s.wrong for s in stress_sequence(unchecked, user, other, Stress.SECOND_FACE, cheek, seed=11))


def test_a_flowed_mouth_point_that_leaves_the_faces_motion_sends_the_frame_to_the_landmark_model(models):
    """Optical flow of the mouth points in blurred frames once put the mouth 1.15 widths away for a
    frame at full confidence (found by `bidvis vision choose-gate`); such a flow is refused. The
    motion is made up here: the face still, the mouth points moved by the given share of its width."""
    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    tracker = MouthTracker(models=models)
    assert tracker.update(cv2.imread(str(path), cv2.IMREAD_COLOR), 0.0) is not None
    previous = FaceLandmarks(tracker.landmarks_px, 1.0, FaceRoi((0.0, 0.0), 1.0, 0.0))
    mouth = previous.points[FLOW_POINTS, :2].astype(np.float32)
    width = mouth_geometry(previous.points).width_px

    def flowed(shift_widths: float):
        moved = mouth.copy()
        moved[: len(FLOW_MOUTH_POINTS), 0] += shift_widths * width
        return tracker._flowed(previous, _ImageMotion(np.array([[1.0, 0, 0], [0, 1.0, 0]]), moved, 0.0))

    assert flowed(0.1) is not None  # lips moving on a still face: followed
    assert flowed(1.15) is None  # the mouth leaving the face: the landmark model decides
