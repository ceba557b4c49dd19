"""The simulated camera: pinhole projection, composed face frames, the ground-truth fallback, faults."""

import itertools
import logging
import math
from pathlib import Path

import numpy as np
import pytest

from sim.camera import (
    CONTENT_CHECK_S,
    FaceFrameSource,
    FacesUnavailable,
    GroundTruthMouthSource,
    PinholeCamera,
    load_face_photos,
    true_mouth,
)
from sim.scenario import CameraFault, CameraFaultKind
from sim.world import World

FACES = Path(__file__).resolve().parents[2] / "../shared/data/faces"
needs_faces = pytest.mark.skipif(
    not (FACES / "labels.csv").is_file(), reason=f"face photos not available at {FACES} (shared data)"
)


def _fault(kind: CameraFaultKind, at_s: float = 0.0, duration_s: float = 10.0):
    return (CameraFault(kind=kind, at_s=at_s, duration_s=duration_s),)


def test_point_on_the_optical_axis_projects_to_the_principal_point():
    camera = PinholeCamera()
    px = camera.project(camera.mount.look_at_m)[0]
    np.testing.assert_allclose(px, (camera.intrinsics.cx, camera.intrinsics.cy), atol=1e-6)


def test_projection_follows_the_pinhole_model():
    camera = PinholeCamera()
    point = np.array([0.42, -0.05, 0.25])
    x, y, z = camera.to_camera(point)
    expected = (
        camera.intrinsics.fx * x / z + camera.intrinsics.cx,
        camera.intrinsics.fy * y / z + camera.intrinsics.cy,
    )
    np.testing.assert_allclose(camera.project(point)[0], expected, atol=1e-9)


def test_mouth_moving_left_in_the_world_moves_right_in_the_image():
    world, camera = World(), PinholeCamera()
    before = true_mouth(world, camera).center_px
    world.set_citizen_targets((0.0, 0.05, 0.0), 0.0, 0.0, 0.0)  # +y is the camera's left
    world.step(500)
    assert true_mouth(world, camera).center_px[0] < before[0] - 20


def test_turned_away_face_is_not_seen():
    world, camera = World(), PinholeCamera()
    world.set_citizen_targets((0.0, 0.0, 0.0), -1.5, 0.0, 0.0)
    world.step(1000)
    assert true_mouth(world, camera) is None


def test_ground_truth_source_says_so_and_delivers_late_noisy_sightings(caplog):
    world = World()
    with caplog.at_level(logging.WARNING):
        source = GroundTruthMouthSource(world, seed=1, dropout_probability=0.0)
    assert source.ground_truth and "ground-truth" in caplog.text
    assert source.poll(0.0) is None  # captured now, delivered after the latency
    sighting = None
    t = 0.0
    while sighting is None:
        t += 0.005
        sighting = source.poll(t)
    assert t == pytest.approx(0.06, abs=0.006)
    assert sighting.t == 0.0 and sighting.ground_truth
    truth = true_mouth(world, PinholeCamera())
    assert np.linalg.norm(np.subtract(sighting.center_px, truth.center_px)) < 8.0
    assert not sighting.is_open


def test_ground_truth_is_deterministic_for_a_seed():
    def run():
        source = GroundTruthMouthSource(World(), seed=4, dropout_probability=0.2)
        return [source.poll(i * 0.005) for i in range(200)]

    assert run() == run()


@pytest.mark.parametrize(
    "kind",
    [
        CameraFaultKind.BLACK_FRAME,
        CameraFaultKind.WHITE_FRAME,
        CameraFaultKind.COVERED_LENS,
        CameraFaultKind.DROPPED_FRAMES,
    ],
)
def test_black_white_covered_and_dropped_frames_deliver_no_new_sighting(kind):
    source = GroundTruthMouthSource(World(), faults=_fault(kind, at_s=0.5), dropout_probability=0.0)
    seen = [source.poll(i * 0.005) for i in range(400)]
    assert seen[-1].t < 0.5


def test_frozen_frame_repeats_the_picture_with_fresh_timestamps():
    world = World()
    source = GroundTruthMouthSource(
        world, faults=_fault(CameraFaultKind.FROZEN_FRAME, at_s=0.3), dropout_probability=0.0
    )
    for i in range(60):
        source.poll(i * 0.005)
    world.set_citizen_targets((-0.06, 0.0, 0.0), 0.0, 0.0, 0.0)
    last = None
    for i in range(60, 300):
        world.step(2)
        last = source.poll(i * 0.005)
    assert last.t > 1.2
    assert last.content_t < 0.35  # the scene is the one from before the freeze
    moved = true_mouth(world, PinholeCamera()).center_px
    assert np.linalg.norm(np.subtract(last.center_px, moved)) > 10  # the picture did not follow


def test_a_noisy_frozen_picture_gives_jittering_sightings_until_the_content_check_calls_it_still():
    source = GroundTruthMouthSource(
        World(), faults=_fault(CameraFaultKind.NOISY_FROZEN_FRAME, at_s=0.3), dropout_probability=0.0, latency_s=0.0
    )
    seen = [source.poll(i * 0.005) for i in range(400)]
    frozen = [s for s in seen if s is not None and s.t > 0.31]
    assert frozen, "the picture is delivered for a while"
    assert len({s.center_px for s in frozen}) > 1  # fresh noise: no two alike
    assert all(s.content_t < 0.31 for s in frozen)  # the scene from before the freeze
    assert max(s.t for s in frozen) <= frozen[0].content_t + CONTENT_CHECK_S + 1 / 30
    assert seen[-1].t <= 0.3 + CONTENT_CHECK_S + 1 / 30  # then nothing new


def test_second_face_sometimes_wins_the_detector():
    source = GroundTruthMouthSource(
        World(), faults=_fault(CameraFaultKind.SECOND_FACE), dropout_probability=0.0, noise_px=0.0
    )
    xs = {round(s.center_px[0]) for s in (source.poll(i * 0.005) for i in range(400)) if s is not None}
    assert max(xs) - min(xs) > 40


def test_missing_faces_dir_is_a_clear_error(tmp_path):
    with pytest.raises(FacesUnavailable, match="labels"):
        load_face_photos(tmp_path)


def test_corrupt_labels_are_a_clear_error(tmp_path):
    (tmp_path / "labels.csv").write_text("file,split,mouth_state\nx.png,dev,open\n")
    with pytest.raises(FacesUnavailable, match="two people"):
        load_face_photos(tmp_path)


@needs_faces
def test_composed_frame_puts_the_labelled_mouth_on_the_projected_mouth():
    world = World()
    source = FaceFrameSource(world, faces_dir=FACES)
    frame = source.render(0.0)
    assert frame.shape == (480, 640, 3) and frame.dtype == np.uint8
    truth = true_mouth(world, source.camera)
    x, y = (int(v) for v in truth.center_px)
    # the pasted photo covers the projected mouth; the corner stays background
    assert not np.array_equal(frame[y, x], frame[0, 0])


@needs_faces
@pytest.mark.parametrize(
    ("kind", "check"),
    [
        (CameraFaultKind.BLACK_FRAME, lambda f: f is not None and f.max() == 0),
        (CameraFaultKind.WHITE_FRAME, lambda f: f is not None and f.min() == 255),
        (CameraFaultKind.COVERED_LENS, lambda f: f is not None and (f == f[0, 0]).all() and 0 < f.mean() < 100),
        (CameraFaultKind.DROPPED_FRAMES, lambda f: f is None),
    ],
)
def test_composed_frame_faults(kind, check):
    source = FaceFrameSource(World(), faults=_fault(kind), faces_dir=FACES)
    assert check(source.render(0.0))


@needs_faces
def test_frozen_composed_frames_keep_the_time_of_their_scene():
    source = FaceFrameSource(World(), faults=_fault(CameraFaultKind.FROZEN_FRAME, at_s=0.2), faces_dir=FACES)
    first = None
    for i in range(200):
        delivered = source.poll(i * 0.005)
        if delivered is not None and delivered[0] > 0.5:
            first = delivered[1] if first is None else first
            assert delivered[1] is first  # the same picture ...
            assert source.delivered_content_t < 0.2  # ... showing the scene from before the freeze


@needs_faces
def test_noisy_frozen_composed_frames_are_the_same_picture_under_fresh_noise():
    source = FaceFrameSource(
        World(), faults=_fault(CameraFaultKind.NOISY_FROZEN_FRAME, at_s=0.1), faces_dir=FACES, latency_s=0.0
    )
    frozen = source.render(0.0)
    later = [source.render(0.2 + 0.03 * k) for k in range(3)]
    assert all(not np.array_equal(a, b) for a, b in itertools.pairwise(later))
    assert all(0.5 < np.abs(f.astype(float) - frozen).mean() < 3.0 for f in later)  # noise only


@needs_faces
def test_composed_frames_are_delivered_after_the_latency():
    source = FaceFrameSource(World(), faces_dir=FACES, latency_s=0.04)
    delivered = [(i * 0.005, source.poll(i * 0.005)) for i in range(20)]
    first = next((t, d) for t, d in delivered if d is not None)
    assert first[0] == pytest.approx(0.04, abs=0.006) and first[1][0] == 0.0


def test_unreadable_face_image_is_a_clear_error(tmp_path):
    rows = ["file,split,mouth_state,mouth_cx,mouth_cy,mouth_w"]
    for person in ("a", "b"):
        for state in ("open", "closed"):
            (tmp_path / f"{person}_{state}.png").write_bytes(b"not a png")
            rows.append(f"{person}_{state}.png,dev,{state},10,10,5")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(FacesUnavailable, match="cannot read face image"):
        load_face_photos(tmp_path)


def test_meal_without_face_photos_falls_back_to_ground_truth_and_says_why(tmp_path, caplog):
    from bidvis.simulation import CameraMode, SimulatedMeal
    from controller.journal import UsageJournal
    from sim.scenario import Scenario

    journal = UsageJournal(tmp_path / "j.sqlite3")
    try:
        with (
            caplog.at_level(logging.WARNING),
            SimulatedMeal(Scenario(name="x"), journal, camera_mode=CameraMode.AUTO, faces_dir=tmp_path) as meal,
        ):
            assert meal.camera_mode is CameraMode.GROUND_TRUTH
    finally:
        journal.close()
    assert "face frames unavailable" in caplog.text and "ground-truth" in caplog.text


def test_face_mode_without_photos_refuses_and_leaves_no_bus_behind(tmp_path):
    from bidvis.simulation import CameraMode, SimulatedMeal
    from controller.journal import UsageJournal
    from sim import virtual_bus
    from sim.scenario import Scenario

    before = dict(virtual_bus._buses)
    journal = UsageJournal(tmp_path / "j.sqlite3")
    try:
        with pytest.raises(FacesUnavailable):
            SimulatedMeal(Scenario(name="x"), journal, camera_mode=CameraMode.FACES, faces_dir=tmp_path)
    finally:
        journal.close()
    assert virtual_bus._buses == before


@needs_faces
def test_the_vision_pipeline_finds_the_composed_mouth_where_the_simulator_put_it():
    from vision import detect_mouth

    world = World()
    world.set_arm_pose((0.0, -0.638, -0.1327, 0.7707))  # the spoon away from the face
    source = FaceFrameSource(world, faces_dir=FACES)
    for jaw_m, expect_open in ((0.0, False), (0.026, True)):
        world.set_citizen_targets((0.0, 0.0, 0.0), 0.0, 0.0, jaw_m)
        world.step(500)
        observation = detect_mouth(source.render(world.time_s))
        truth = true_mouth(world, source.camera)
        assert observation is not None
        assert np.linalg.norm(np.subtract(observation.center_px, truth.center_px)) < 6.0
        assert observation.is_open is expect_open


def _depth_errors(depth_noise_time_s, seed=3):
    """The relative depth error of each ground-truth sighting over 20 s at 30 frames/s."""
    world = World()
    truth = np.linalg.norm(true_mouth(world, PinholeCamera()).position_cam_m)
    source = GroundTruthMouthSource(
        world, seed=seed, depth_noise=0.02, depth_noise_time_s=depth_noise_time_s, dropout_probability=0.0
    )
    errors, last_t = [], None
    for i in range(4000):
        sighting = source.poll(i * 0.005)
        if sighting is not None and sighting.t != last_t:
            last_t = sighting.t
            errors.append(float(np.linalg.norm(sighting.position_m)) / truth - 1.0)
    return np.array(errors)


def test_depth_error_is_fresh_every_frame_by_default_and_drifts_with_a_correlation_time():
    white, drifting = _depth_errors(0.0), _depth_errors(0.5)
    # the same spread (sd 2 %), but from frame to frame the drifting error moves about 0.37 of it
    assert 0.015 < white.std() < 0.025 and 0.012 < drifting.std() < 0.028
    assert abs(np.corrcoef(white[:-1], white[1:])[0, 1]) < 0.15
    assert np.corrcoef(drifting[:-1], drifting[1:])[0, 1] > 0.85
    assert np.diff(drifting).std() < 0.5 * np.diff(white).std()


@pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf])
def test_a_meaningless_depth_noise_time_is_refused(bad):
    with pytest.raises(ValueError, match="depth_noise_time_s"):
        GroundTruthMouthSource(World(), depth_noise_time_s=bad)
