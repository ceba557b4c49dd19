"""The citizen's face size measured with the camera and the arm: the spoon tip at the lips in two
views, on the simulator's face frames against the simulator's truth, and refused when it cannot be right."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from bidvis.robot_ui.face_size import FaceSizeRefused, SpoonAtLips, measure_face_scale_with_spoon
from bidvis.simulation import calibrate_face_scale, vision_face_measure
from bidvis.simulation.camera_feed import sim_calibration
from controller.config import demo_calibration
from controller.kinematics import forward_spoon, inverse_spoon
from sim.camera import FaceFrameSource, PinholeCamera
from sim.world import World, WorldConfig
from vision import CameraIntrinsics, FaceModels

FACES = Path(__file__).resolve().parents[2] / "../shared/data/faces"
pytestmark = pytest.mark.skipif(
    not (FACES / "labels.csv").is_file(), reason=f"shared face photos not found at {FACES.resolve()}"
)
HEAD_PLACES = [(0.0, 0.0, 0.0), (-0.04, 0.02, 0.01)]  # torso lean (m): the citizen's head in two places


@pytest.fixture(scope="module")
def setup():
    cv2.setNumThreads(1)
    models = FaceModels.load()
    calibration = demo_calibration()
    spoon = calibration.spoon
    world, camera = World(WorldConfig(spoon_offset_m=(spoon.x_m, spoon.z_m))), PinholeCamera()
    frames = FaceFrameSource(
        world, camera, faces_dir=FACES, measure_face=vision_face_measure(models, camera.intrinsics.fx)
    )
    ci = camera.intrinsics
    intrinsics = CameraIntrinsics(ci.fx, ci.fy, ci.cx, ci.cy, ci.width_px, ci.height_px)
    camera_to_base = sim_calibration(calibration, camera).camera.matrix()
    return world, frames, intrinsics, camera_to_base, models, spoon


def spoon_at_lips(setup, lean, miss_m=(0.0, 0.0, 0.0)) -> tuple[SpoonAtLips, float]:
    """A view with the spoon tip `miss_m` from the middle of the lips, and the true face scale there."""
    world, frames, intrinsics, _, models, spoon = setup
    world.set_citizen_targets(lean, 0.0, 0.0, 0.0)
    world.step(400)
    truth = calibrate_face_scale(frames, intrinsics, models)  # from the simulator's true mouth depth
    q = inverse_spoon(world.mouth_position() + np.asarray(miss_m), spoon)
    world.set_arm_pose(q)
    rng = np.random.default_rng(len(lean))
    image = np.clip(frames.compose() + rng.normal(0.0, 2.0, (480, 640, 3)), 0, 255).astype(np.uint8)
    tip = forward_spoon(q, spoon)[:3]  # where the arm says its spoon tip is
    return SpoonAtLips(image, tuple(float(v) for v in tip)), truth


def test_the_spoon_at_the_lips_in_two_views_gives_the_face_size_within_3_percent(setup):
    _, _, intrinsics, camera_to_base, models, _ = setup
    views, truths = zip(*(spoon_at_lips(setup, lean) for lean in HEAD_PLACES), strict=True)
    size = measure_face_scale_with_spoon(views, intrinsics, camera_to_base, models)
    print("measured", size, "true", truths)
    assert size.views_used == 2
    assert size.face_scale == pytest.approx(float(np.mean(truths)), rel=0.03)


def test_a_spoon_beside_the_mouth_is_refused(setup):
    _, _, intrinsics, camera_to_base, models, _ = setup
    views = [spoon_at_lips(setup, lean, miss_m=(0.0, 0.045, 0.0))[0] for lean in HEAD_PLACES]
    with pytest.raises(
        FaceSizeRefused, match=r"0 of 2 views could be used \(0 without a face .*, 2 with the spoon tip off"
    ):
        measure_face_scale_with_spoon(views, intrinsics, camera_to_base, models)


def test_a_wrong_hand_eye_calibration_is_refused(setup):
    _, _, intrinsics, camera_to_base, models, _ = setup
    views = [spoon_at_lips(setup, lean)[0] for lean in HEAD_PLACES]
    wrong = camera_to_base.copy()
    wrong[:3, 3] += (0.0, 0.05, 0.0)
    with pytest.raises(FaceSizeRefused, match="2 with the spoon tip off the mouth"):
        measure_face_scale_with_spoon(views, intrinsics, wrong, models)


def test_views_that_disagree_are_refused(setup):
    _, _, intrinsics, camera_to_base, models, _ = setup
    views = [spoon_at_lips(setup, lean)[0] for lean in HEAD_PLACES]
    # the second time the spoon stopped 4 cm short of the lips, along the camera's line of sight
    tip = np.asarray(views[1].spoon_tip_base_m)
    towards_camera = camera_to_base[:3, 3] - tip
    short = tip + 0.04 * towards_camera / np.linalg.norm(towards_camera)
    views[1] = SpoonAtLips(views[1].image, tuple(float(v) for v in short))
    with pytest.raises(FaceSizeRefused, match="apart"):
        measure_face_scale_with_spoon(views, intrinsics, camera_to_base, models)


def test_one_view_or_no_face_is_refused(setup):
    _, _, intrinsics, camera_to_base, models, _ = setup
    view, _ = spoon_at_lips(setup, HEAD_PLACES[0])
    with pytest.raises(FaceSizeRefused, match="1 of 1 view could be used.*2 are needed"):
        measure_face_scale_with_spoon([view], intrinsics, camera_to_base, models)
    blank = SpoonAtLips(np.full((480, 640, 3), 90, np.uint8), view.spoon_tip_base_m)
    with pytest.raises(FaceSizeRefused, match="2 without a face looking at the camera"):
        measure_face_scale_with_spoon([blank, blank], intrinsics, camera_to_base, models)
    behind = SpoonAtLips(view.image, tuple(float(v) for v in camera_to_base[:3, 3] - camera_to_base[:3, 2] * 0.1))
    with pytest.raises(FaceSizeRefused, match="2 with the spoon tip behind the camera"):
        measure_face_scale_with_spoon([behind, behind], intrinsics, camera_to_base, models)
