"""The simulated camera's 3-D face mesh: a measured photo rendered in the head's true pose.

Synthetic photos with a known shape (a flat face 0.5 m from its photographer, focal 500 px), so
no vision code and no shared data are needed: the rendered picture must be exactly what a pinhole
camera sees of that face where the world puts the head.
"""

import cv2
import numpy as np
import pytest

from controller.kinematics import inverse
from sim.camera import SPOON_BGR, FaceFrameSource, FaceShape, FacesUnavailable, PinholeCamera, true_mouth
from sim.world import World

PHOTO_W, PHOTO_H, MOUTH_PX = 200, 240, (100.0, 170.0)
PHOTO_F, PHOTO_Z = 500.0, 0.5


@pytest.fixture
def faces_dir(tmp_path):
    """Two people, open and closed: a grey face with a red mouth patch and a blue square on the
    face's right eye (image left), so both position and orientation can be checked."""
    rows = ["file,split,mouth_state,mouth_cx,mouth_cy,mouth_w"]
    for person in ("a", "b"):
        for state in ("open", "closed"):
            image = np.full((PHOTO_H, PHOTO_W, 3), 150, np.uint8)
            cv2.rectangle(image, (80, 160), (120, 180), (0, 0, 255), -1)  # mouth, red (BGR)
            cv2.rectangle(image, (50, 80), (70, 100), (255, 0, 0), -1)  # right eye of the face, blue
            cv2.imwrite(str(tmp_path / f"{person}_{state}.png"), image)
            rows.append(f"{person}_{state}.png,dev,{state},{MOUTH_PX[0]},{MOUTH_PX[1]},40")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


def flat_face(image_bgr: np.ndarray) -> FaceShape:
    """A plane 0.5 m in front of the photographer: a grid of points back-projected with focal 500 px."""
    h, w = image_bgr.shape[:2]
    grid = np.array([(x, y) for x in np.linspace(20, w - 20, 7) for y in np.linspace(20, h - 20, 8)], dtype=float)
    metres = np.column_stack([(grid - (w / 2, h / 2)) * PHOTO_Z / PHOTO_F, np.full(len(grid), PHOTO_Z)])
    return FaceShape(grid, metres)


def test_the_mesh_puts_the_labelled_mouth_on_the_projected_mouth_at_the_size_of_the_face(faces_dir):
    world = World()
    world.step(200)
    camera = PinholeCamera()
    frame = FaceFrameSource(world, camera, faces_dir=faces_dir, measure_face=flat_face).compose()
    truth = true_mouth(world, camera)
    x, y = np.round(truth.center_px).astype(int)
    assert tuple(frame[y, x]) == (0, 0, 255)
    # the 40 px wide mouth patch is 40 / 500 * 0.5 = 0.04 m wide: about fx * 0.04 / depth pixels here
    row = frame[y, :, 2] > 200
    red = np.flatnonzero(row & (frame[y, :, 0] < 50))
    expected = camera.intrinsics.fx * 0.04 / truth.position_cam_m[2]
    assert abs((red.max() - red.min() + 1) - expected) <= 0.1 * expected  # a little narrowed by the side view


def test_a_turned_head_moves_the_rendered_eye_with_it(faces_dir):
    world, camera = World(), PinholeCamera()
    source = FaceFrameSource(world, camera, faces_dir=faces_dir, measure_face=flat_face)

    def blue_centre() -> np.ndarray:
        world.step(600)
        frame = source.compose()
        ys, xs = np.nonzero((frame[:, :, 0] > 200) & (frame[:, :, 2] < 50))
        return np.array([xs.mean(), ys.mean()])

    world.set_citizen_targets((0.0, 0.0, 0.0), 0.0, 0.0, 0.0)
    ahead = blue_centre()
    world.set_citizen_targets((0.0, 0.0, 0.0), 0.3, 0.0, 0.0)  # the face turns toward -y, the camera's right
    turned = blue_centre()
    mouth_shift = true_mouth(world, camera).center_px
    assert turned[0] - ahead[0] > 5  # the eye swings further than ...
    world.set_citizen_targets((0.0, 0.0, 0.0), 0.0, 0.0, 0.0)
    world.step(600)
    assert abs(mouth_shift[0] - true_mouth(world, camera).center_px[0]) < turned[0] - ahead[0]  # ... the mouth


def test_delivered_frames_carry_where_the_mouth_truly_was(faces_dir):
    world, camera = World(), PinholeCamera()
    source = FaceFrameSource(world, camera, faces_dir=faces_dir, measure_face=flat_face, latency_s=0.04)
    truth_at_capture = camera.to_camera(world.mouth_position())
    delivered = None
    t = 0.0
    while delivered is None:
        delivered = source.poll(t)
        t += 0.005
    np.testing.assert_allclose(source.delivered_truth_m, truth_at_capture)


def test_a_photo_without_a_measurable_face_is_a_clear_error(faces_dir):
    with pytest.raises(FacesUnavailable, match="no face measured"):
        FaceFrameSource(World(), faces_dir=faces_dir, measure_face=lambda image: None)


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        (FaceShape(np.zeros((30, 3)), np.ones((30, 3))), r"\(N, 2\) pixels"),
        (FaceShape(np.zeros((30, 2)), np.ones((29, 3))), r"\(N, 3\) metres"),
        (FaceShape(np.zeros((5, 2)), np.ones((5, 3))), "N >= 20"),
        (FaceShape(np.full((30, 2), np.nan), np.ones((30, 3))), "finite"),
        (FaceShape(np.zeros((30, 2)), -np.ones((30, 3))), "in front of the camera"),
    ],
)
def test_a_malformed_face_shape_is_a_clear_error(faces_dir, shape, match):
    with pytest.raises(FacesUnavailable, match=match):
        FaceFrameSource(World(), faces_dir=faces_dir, measure_face=lambda image: shape)


def test_a_face_behind_the_camera_is_not_drawn(faces_dir):
    world = World()
    camera = PinholeCamera()
    source = FaceFrameSource(world, camera, faces_dir=faces_dir, measure_face=flat_face)
    source.camera = PinholeCamera(mount=type(camera.mount)(position_m=(0.8, 0.0, 0.25), look_at_m=(1.2, 0.0, 0.25)))
    frame = source.compose()
    assert (frame == frame[0, 0]).all()  # only background


def test_the_spoon_is_drawn_over_the_face_only_when_it_is_in_front_of_it(faces_dir):
    world, camera = World(), PinholeCamera()
    source = FaceFrameSource(world, camera, faces_dir=faces_dir, measure_face=flat_face)
    # the spoon tip 2 cm in front of the mouth, toward the camera
    mouth = world.mouth_position()
    target = mouth + 0.02 * (np.asarray(camera.mount.position_m) - mouth) / np.linalg.norm(
        np.asarray(camera.mount.position_m) - mouth
    )
    q = inverse((target[0] - world.config.spoon_offset_m[0], target[1], target[2], 0.0))
    world.set_arm_pose(q)
    tip = camera.project(world.spoon_tip_position())[0]
    bowl_px = np.round(camera.project(world.spoon_tip_position() - 0.02 * np.array([1.0, 0.0, 0.0]))[0]).astype(int)
    frame = source.compose()
    assert tuple(frame[bowl_px[1], bowl_px[0]]) == SPOON_BGR and camera.in_view(tip)
    world.set_arm_pose((np.pi, 0.0, 0.0, 0.0))  # turned round, away from the face
    x, y = np.round(true_mouth(world, camera).center_px).astype(int)
    assert tuple(source.compose()[y, x]) == (0, 0, 255)  # the mouth is seen, no spoon anywhere near
