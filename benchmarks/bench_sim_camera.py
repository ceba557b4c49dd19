"""How long the simulated camera takes to compose one face frame (640 x 480, 30 fps in a meal).

Flat: the photo pasted scaled by a 50 mm mouth (no measuring function). Mesh: the photo's measured
3-D face mesh rendered in the head's pose (`measure_face` from `bidvis.simulation`). Skips when the
shared face photos are absent.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from sim.camera import FaceFrameSource, PinholeCamera
from sim.world import World

FACES = Path(__file__).resolve().parents[1] / "../shared/data/faces"
pytestmark = pytest.mark.skipif(not (FACES / "labels.csv").is_file(), reason=f"shared face photos not found at {FACES}")


@pytest.fixture(scope="module")
def world() -> World:
    cv2.setNumThreads(1)
    world = World()
    world.set_citizen_targets((0.02, 0.01, 0.0), 0.1, 0.05, 0.0)
    world.step(300)
    return world


def test_compose_flat_photo(benchmark, world):
    source = FaceFrameSource(world, PinholeCamera(), faces_dir=FACES)
    benchmark(source.compose)


def test_compose_face_mesh(benchmark, world):
    from bidvis.simulation import vision_face_measure
    from vision import FaceModels

    camera = PinholeCamera()
    source = FaceFrameSource(
        world, camera, faces_dir=FACES, measure_face=vision_face_measure(FaceModels.load(), camera.intrinsics.fx)
    )
    benchmark(source.compose)
