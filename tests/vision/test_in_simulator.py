"""Mouth in metres where the truth is known: the simulator's composed face frames (sim.camera).

The simulator pastes one shared face photo, scaled by a 50 mm mouth width, where its world puts
the citizen's mouth. A photo's face is not the mean face, so the user's `face_scale` is taken once
from one view at a known depth (as staff would with the spoon at the lips), then the mouth is
tracked at other distances.
"""

from __future__ import annotations

import numpy as np
import pytest

from vision import CameraIntrinsics, MouthTracker, TrackerConfig
from vision.head_pose import face_scale_from_depth

sim_camera = pytest.importorskip("sim.camera", reason="the simulator's camera (sim.camera) is not available")
sim_world = pytest.importorskip("sim.world", reason="the simulator's world (sim.world) is not available")


@pytest.fixture(scope="module")
def scene(faces_dir):
    try:
        world = sim_world.World()
        camera = sim_camera.PinholeCamera()
        source = sim_camera.FaceFrameSource(world, camera, faces_dir=faces_dir)
    except (AttributeError, TypeError) as error:  # the simulator's API moved on
        pytest.skip(f"sim.camera/sim.world API differs from what this test expects: {error}")
    ci = camera.intrinsics
    return world, camera, source, CameraIntrinsics(ci.fx, ci.fy, ci.cx, ci.cy, ci.width_px, ci.height_px)


def settle(world, lean) -> None:
    world.set_citizen_targets(lean, 0.0, 0.0, 0.0)
    world.step(300)


def frames(source, t0: float, n: int, rng):
    for k in range(n):
        frame = source.render(t0 + 0.05 * k)
        yield t0 + 0.05 * k, np.clip(frame.astype(np.int16) + rng.integers(-2, 3, frame.shape), 0, 255).astype(np.uint8)


def test_mouth_in_metres_within_a_centimetre_in_the_simulator(models, scene):
    world, camera, source, intrinsics = scene
    rng = np.random.default_rng(0)
    settle(world, (0.0, 0.0, 0.0))
    probe = MouthTracker(intrinsics=intrinsics, models=models)
    for t, frame in frames(source, 0.0, 5, rng):
        probe.update(frame, t)
    depth = camera.to_camera(world.mouth_position())[2]
    scale = face_scale_from_depth(probe.landmarks_px, intrinsics, depth)

    tracker = MouthTracker(TrackerConfig(face_scale=scale), intrinsics=intrinsics, models=models)
    t, errors = 1.0, []
    for lean in [(-0.05, 0.0, 0.0), (-0.03, 0.02, 0.0), (0.03, 0.0, 0.01), (0.05, -0.02, 0.0)]:
        settle(world, lean)
        for t_frame, frame in frames(source, t + 1.0, 8, rng):
            observation = tracker.update(frame, t_frame)
        t = t_frame
        truth = camera.to_camera(world.mouth_position())
        assert observation is not None and observation.usable and 0.3 <= truth[2] <= 0.6
        errors.append(float(np.linalg.norm(np.subtract(observation.position_m, truth))))
    print("face_scale", round(scale, 3), "errors mm", [round(1000 * e, 1) for e in errors])
    assert max(errors) <= 0.01
