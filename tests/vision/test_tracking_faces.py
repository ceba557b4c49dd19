"""Tracking real faces (the shared images, composed into 640x480 frames): the right face, its mouth, its state."""

from __future__ import annotations

import itertools
import math

import cv2
import numpy as np
import pytest

from vision import MouthStatus, MouthTracker, TrackerConfig, TrackerState, detect_mouth
from vision.camera_health import HealthLimits, HealthReason

OPEN, CLOSED = "grid_bbaf2n_f049", "grid_bbaf2n_f002"


def error_in_widths(observation, row, x=0.0, y=0.0, scale=1.0) -> float:
    cx, cy = float(row["mouth_cx"]) * scale + x, float(row["mouth_cy"]) * scale + y
    return math.dist(observation.center_px, (cx, cy)) / (float(row["mouth_w"]) * scale)


def test_still_image_finds_mouth_centre_and_state(face):
    for stem, expected_open in ((OPEN, True), (CLOSED, False)):
        image, row = face(stem)
        observation = detect_mouth(image)
        assert observation is not None and observation.status is MouthStatus.TRACKED
        assert error_in_widths(observation, row) < 0.1
        assert observation.is_open is expected_open
        assert 0.5 < observation.confidence <= 1.0


@pytest.mark.parametrize(
    "convert",
    [
        lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2GRAY),
        lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2BGRA),
        lambda im: im.astype(np.float32) / 255.0,
    ],
    ids=["grayscale", "4-channel", "float"],
)
def test_converted_frames_of_a_face_still_find_the_mouth(face, convert):
    image, row = face(OPEN)
    observation = detect_mouth(convert(image))
    assert observation is not None and error_in_widths(observation, row) < 0.15


def test_huge_frame_with_a_face_is_handled(face, compose):
    image, row = face(OPEN)
    frame = compose((4000, 3000), 90, (image, 900, 700, 6.0))
    observation = detect_mouth(frame)
    assert observation is not None and error_in_widths(observation, row, 900, 700, 6.0) < 0.1


def test_tracker_follows_a_moving_face_with_and_without_flow(models, face, compose):
    image, row = face(OPEN)
    for interval in (1, 3):
        tracker = MouthTracker(TrackerConfig(landmark_interval=interval), models=models)
        errors = []
        for i in range(60):
            x, y = int(140 + 60 * math.sin(i / 10)), int(90 + 30 * math.cos(i / 12))
            observation = tracker.update(compose((640, 480), 90, (image, x, y)), i / 30)
            assert observation is not None and observation.usable, f"frame {i} lost with interval {interval}"
            assert observation.t == i / 30
            errors.append(error_in_widths(observation, row, x, y))
        assert max(errors) < 0.15 and np.mean(errors) < 0.06
        assert tracker.state is TrackerState.TRACKING


def test_open_and_close_follow_the_mouth_with_hysteresis(models, face, compose):
    open_image, _ = face(OPEN)
    closed_image, _ = face(CLOSED)
    tracker = MouthTracker(models=models)
    sequence = [closed_image] * 5 + [open_image] * 5 + [closed_image] * 5
    states = [tracker.update(compose((640, 480), 90, (im, 140, 90)), i / 30).is_open for i, im in enumerate(sequence)]
    assert states == [False] * 5 + [True] * 5 + [False] * 5


def test_camera_that_stops_delivering_is_reported_stale_never_as_fresh(models, face, compose):
    image, _ = face(OPEN)
    tracker = MouthTracker(models=models)
    frame = compose((640, 480), 90, (image, 140, 90))
    assert tracker.update(frame, 1.0) is not None
    assert tracker.update(frame, 1.0) is None  # the same capture again
    assert tracker.state is TrackerState.STALE
    assert tracker.update(frame, 0.5) is None  # an older capture
    assert tracker.update(None, 2.0) is None  # nothing at all
    assert tracker.state is TrackerState.STALE
    observation = tracker.update(compose((640, 480), 90, (image, 140, 90)), 2.5)  # the camera is back
    assert observation is not None and observation.t == 2.5


def test_poster_face_behind_the_user_is_not_taken(models, face, compose):
    user, row = face(OPEN)
    poster, _ = face("grid_sbia1a_f002")
    frame = compose((640, 480), 90, (poster, 20, 20, 0.45), (user, 200, 150))
    observation = MouthTracker(models=models).update(frame, 0.0)
    assert observation is not None and error_in_widths(observation, row, 200, 150) < 0.1
    assert error_in_widths(detect_mouth(frame), row, 200, 150) < 0.1


def test_three_faces_the_user_is_the_one_at_the_seat(models, face, compose):
    user, row = face(OPEN)
    left, _ = face("grid_lbax4n_f073")
    right, _ = face("grid_sbwe5n_f002")
    frame = compose((640, 480), 90, (left, -150, 0, 0.8), (right, 420, 250, 0.8), (user, 140, 100))
    observation = MouthTracker(models=models).update(frame, 0.0)
    assert observation is not None and error_in_widths(observation, row, 140, 100) < 0.1


def test_tracker_never_jumps_to_a_passer_by(models, face, compose):
    user, row = face(OPEN)
    stranger, _ = face("grid_lrwp9a_f016")
    tracker = MouthTracker(models=models)
    assert tracker.update(compose((640, 480), 90, (user, 100, 100)), 0.0) is not None
    # The user leaves the view; a stranger appears to the side, then both are in view.
    assert tracker.update(compose((640, 480), 90, (stranger, 330, 150)), 0.1) is None
    assert tracker.update(compose((640, 480), 90, (stranger, 320, 150)), 0.2) is None
    assert tracker.state is TrackerState.SEARCHING
    observation = tracker.update(compose((640, 480), 90, (stranger, 320, 150), (user, 30, 100)), 0.3)
    assert observation is not None and error_in_widths(observation, row, 30, 100) < 0.1


def test_face_at_the_image_border_is_reported_not_used(models, face, compose):
    image, _ = face(OPEN)
    frame = compose((640, 480), 90, (image, -120, 90))  # mouth about 40 px from the left edge
    observation = MouthTracker(models=models).update(frame, 0.0)
    assert observation is None or (observation.status is MouthStatus.OFF_CENTER and not observation.usable)


def test_face_moving_away_is_reported_too_small(models, face, compose):
    image, _ = face(OPEN)
    tracker = MouthTracker(models=models)
    for i, scale in enumerate(np.linspace(1.0, 0.3, 15)):
        observation = tracker.update(compose((640, 480), 90, (image, 200, 150, scale)), i / 30)
    assert observation is not None and observation.status is MouthStatus.TOO_SMALL
    assert observation.confidence == 0.0 and not observation.usable and observation.position_m is None


def draw_spoon(frame: np.ndarray, centre: tuple[float, float]) -> np.ndarray:
    x, y = int(centre[0]), int(centre[1])
    cv2.ellipse(frame, (x, y), (34, 20), 0, 0, 360, (190, 190, 195), -1)
    cv2.rectangle(frame, (x - 6, y), (x + 6, frame.shape[0] - 1), (170, 170, 175), -1)
    return frame


def test_spoon_over_the_lips_keeps_an_estimate_with_falling_confidence(models, face, compose, label_center):
    image, row = face(OPEN)
    tracker = MouthTracker(TrackerConfig(occlusion_hold_s=1.0), models=models)
    for i in range(10):
        assert tracker.update(compose((640, 480), 90, (image, 140 + i, 90)), i / 30).status is MouthStatus.TRACKED
    confidences = []
    for i in range(10, 25):
        x = 140 + i
        frame = draw_spoon(compose((640, 480), 90, (image, x, 90)), label_center(row, x, 90))
        observation = tracker.update(frame, i / 30)
        assert observation is not None and observation.status is MouthStatus.OCCLUDED
        assert error_in_widths(observation, row, x, 90) < 0.15
        confidences.append(observation.confidence)
    assert tracker.state is TrackerState.OCCLUDED
    assert all(later < earlier for earlier, later in itertools.pairwise(confidences))
    # Hidden longer than occlusion_hold_s: no estimate any more.
    frame = draw_spoon(compose((640, 480), 90, (image, 165, 90)), label_center(row, 165, 90))
    assert tracker.update(frame, 10 / 30 + 1.2) is None


def test_resolution_change_mid_stream_restarts_cleanly(models, face, compose):
    image, row = face(OPEN)
    tracker = MouthTracker(models=models)
    for i in range(4):
        assert tracker.update(compose((640, 480), 90, (image, 140, 90)), i / 30) is not None
    observation = tracker.update(compose((1280, 720), 90, (image, 500, 200, 1.5)), 4 / 30)
    assert observation is not None and error_in_widths(observation, row, 500, 200, 1.5) < 0.1
    assert tracker.update(compose((640, 480), 90, (image, 140, 90)), 5 / 30) is not None


def test_reset_forgets_the_user_and_takes_the_face_at_the_seat(models, face, compose):
    user, _ = face(OPEN)
    other, row = face("grid_lrwp9a_f016")
    tracker = MouthTracker(models=models)
    assert tracker.update(compose((640, 480), 90, (user, 0, 100)), 0.0) is not None
    tracker.reset()
    observation = tracker.update(compose((640, 480), 90, (other, 140, 100)), 0.1)
    assert observation is not None and error_in_widths(observation, row, 140, 100) < 0.1


def test_calibrated_tracker_reports_the_mouth_in_metres(models, face, compose):
    from vision import CameraIntrinsics, project

    image, _row = face(OPEN)
    camera = CameraIntrinsics.from_fov(640, 480, 60.0)
    observation = MouthTracker(intrinsics=camera, models=models).update(compose((640, 480), 90, (image, 140, 90)), 0.0)
    assert observation is not None and observation.position_m is not None
    _x, _y, z = observation.position_m
    assert 0.2 < z < 1.5  # a face ~110 px wide in a 60-degree 640 px view is about half a metre away
    u, v = project(observation.position_m, camera)
    assert math.dist((u, v), observation.center_px) < 0.5 * observation.width_px


TURNED = "yawn_1288_c7ba8927500974d5c4c126d086c6ce78.jp"  # a driver turned about 35 degrees


def test_turned_head_is_measured_and_refused_beyond_the_limit(face):
    from vision.face_checks import FaceChecks

    turned, _ = face(TURNED)
    frontal, _ = face(OPEN)
    strict = FaceChecks(max_yaw_deg=25.0)
    assert detect_mouth(turned).status is MouthStatus.TRACKED  # default limit 45 degrees
    for image in (turned, cv2.flip(turned, 1)):  # turned either way
        observation = detect_mouth(image, checks=strict)
        assert observation.status is MouthStatus.TURNED_AWAY and not observation.usable
    assert detect_mouth(frontal, checks=strict).status is MouthStatus.TRACKED


def test_face_too_small_for_the_whole_wide_frame_is_found_at_the_seat(models, face, compose):
    image, row = face(OPEN)
    frame = compose((1280, 480), 90, (image, 480, 120, 0.8))  # face ~1/14 of the frame width
    assert models.detector.detect(frame) == []
    observation = MouthTracker(models=models).update(frame, 0.0)
    assert observation is not None and error_in_widths(observation, row, 480, 120, 0.8) < 0.1
    assert error_in_widths(detect_mouth(frame), row, 480, 120, 0.8) < 0.1


@pytest.mark.parametrize("gain", [0.5, 1.3])
def test_sudden_change_of_light_is_not_taken_for_a_spoon(models, face, compose, gain):
    image, _ = face(OPEN)
    tracker = MouthTracker(models=models)
    for i in range(20):
        lit = image if i < 10 else np.clip(image * gain, 0, 255).astype(np.uint8)
        observation = tracker.update(compose((640, 480), 90, (lit, 140, 90)), i / 30)
        assert observation.status is MouthStatus.TRACKED, f"frame {i}"


def test_after_a_long_cover_the_lips_are_learned_afresh(models, face, compose, label_center):
    image, row = face(OPEN)
    tracker = MouthTracker(TrackerConfig(occlusion_hold_s=0.2), models=models)

    def clear():
        return compose((640, 480), 90, (image, 140, 90))

    def covered():
        return draw_spoon(clear(), label_center(row, 140, 90))

    assert tracker.update(clear(), 0.0).status is MouthStatus.TRACKED
    assert tracker.update(covered(), 0.1).status is MouthStatus.OCCLUDED
    assert tracker.update(covered(), 0.5) is None  # past the hold
    assert tracker.state is TrackerState.SEARCHING
    assert tracker.update(clear(), 0.6).status is MouthStatus.TRACKED  # not stuck as hidden


def test_poster_left_alone_after_the_user_goes_is_never_usable(models, face, compose):
    user, _ = face(OPEN)
    poster, _ = face("grid_sbia1a_f002")
    tracker = MouthTracker(models=models)
    assert tracker.update(compose((640, 480), 90, (poster, 20, 20, 0.45), (user, 200, 150)), 0.0).usable
    for i in range(1, 40):  # the user has left; the poster stays, before and after the identity hold
        observation = tracker.update(compose((640, 480), 90, (poster, 20, 20, 0.45)), i * 0.1)
        assert observation is None or not observation.usable


def test_stuck_camera_repeating_one_picture_is_reported_unhealthy(models, face, compose):
    image, _ = face(OPEN)
    tracker = MouthTracker(TrackerConfig(health=HealthLimits()), models=models)
    stuck = compose((640, 480), 90, (image, 140, 90))
    results = [tracker.update(stuck.copy(), i / 30) for i in range(8)]  # the same picture with fresh times
    assert all(r is not None for r in results[:2]) and all(r is None for r in results[2:])
    assert tracker.state is TrackerState.UNHEALTHY and tracker.health.reason is HealthReason.REPEATED
    assert tracker.update(compose((640, 480), 90, (image, 140, 90)), 8 / 30) is not None  # the camera recovers


def test_a_picture_frozen_under_fresh_sensor_noise_is_unhealthy_within_half_a_second(models, face, compose):
    image, _ = face(OPEN)
    tracker = MouthTracker(TrackerConfig(health=HealthLimits()), models=models)
    for i in range(15):  # a live face, moving a little
        assert tracker.update(compose((640, 480), 90, (image, 140 + i % 4, 90)), i / 30) is not None
    refused = [i for i in range(15, 45) if tracker.update(compose((640, 480), 90, (image, 140, 90)), i / 30) is None]
    assert refused and (refused[0] - 15) / 30 <= 0.5
    assert refused == list(range(refused[0], 45))
    assert tracker.health.reason is HealthReason.STILL


def test_the_same_frame_array_handed_over_again_is_frozen_at_once(models, face, compose):
    image, _ = face(OPEN)
    tracker = MouthTracker(models=models)  # content check off by default; a resent array is still caught
    frame = compose((640, 480), 90, (image, 140, 90))
    assert tracker.update(frame, 0.0) is not None
    assert tracker.update(frame, 0.1) is None and tracker.state is TrackerState.FROZEN
    assert tracker.update(frame.copy(), 0.2) is not None  # an identical copy passes unless `health` is set
