"""The staff page's face-size step: the citizen's `face_scale` from a tape-measured lens-to-lips
distance, over TestClient on the simulated robot, with the simulator's face frames and hostile input."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from bidvis.robot_ui.app import create_app
from bidvis.simulation import vision_face_measure
from careplan_api.schemas import UsageEventType
from controller.config import load_profile
from sim.camera import CameraMount, FaceFrameSource, PinholeCamera
from sim.world import World
from tests.bidvis.conftest import ROBOT_URL
from vision import CameraIntrinsics, FaceModels
from vision.capture import Frame

FACES = Path(__file__).resolve().parents[2] / "../shared/data/faces"
needs_faces = pytest.mark.skipif(
    not (FACES / "labels.csv").is_file(), reason=f"shared face photos not found at {FACES.resolve()}"
)


class FramesOf:
    """A camera (`read`) giving the pictures `make()` draws, each a new frame."""

    def __init__(self, make) -> None:
        self.make = make
        self.count = itertools.count(1)

    def read(self, timeout_s: float = 0.0) -> Frame:
        n = next(self.count)
        return Frame(self.make(), float(n), n)


class SilentCamera:
    """A camera that gives no picture (unplugged after start)."""

    def read(self, timeout_s: float = 0.0) -> None:
        return None


@pytest.fixture
def client(robot, tmp_path, make_staff_login, log_in):
    with TestClient(create_app(robot.session, make_staff_login(tmp_path)), base_url=ROBOT_URL) as client:
        assert log_in(client).status_code == 303
        yield client


@pytest.fixture(scope="module")
def models() -> FaceModels:
    cv2.setNumThreads(1)
    return FaceModels.load()


@pytest.fixture
def citizen(request, robot, models):
    """The simulated citizen seen straight on by the robot's camera (its intrinsics saved as the
    robot's camera calibration): their rendered face has the mean face's size, face_scale 1.0.
    The camera looks `request.param` m to the side of the mouth (default 0: the lips in the
    picture's centre). Returns the true distance from the lens to the lips (m)."""
    if not (FACES / "labels.csv").is_file():
        pytest.skip(f"shared face photos not found at {FACES.resolve()}")
    aside_m = getattr(request, "param", 0.0)
    world = World()
    world.step(300)
    mouth = world.mouth_position()
    camera = PinholeCamera(
        mount=CameraMount(
            position_m=(0.0, 0.02, float(mouth[2]) + 0.03),
            look_at_m=(float(mouth[0]), float(mouth[1]) + aside_m, float(mouth[2])),
        )
    )
    source = FaceFrameSource(
        world, camera, faces_dir=FACES, measure_face=vision_face_measure(models, camera.intrinsics.fx)
    )
    ci = camera.intrinsics
    CameraIntrinsics(ci.fx, ci.fy, ci.cx, ci.cy, ci.width_px, ci.height_px).save(
        robot.session.documents.intrinsics_path()
    )
    robot.session.camera = FramesOf(source.compose)
    return float(np.linalg.norm(camera.to_camera(mouth)))


def profile_events(robot):
    return [
        e.data
        for e, _ in robot.journal.events()
        if e.type == UsageEventType.CALIBRATION_CHANGED and e.data["document"] == "profile"
    ]


@needs_faces
def test_the_measured_face_size_is_saved_in_the_profile_and_journalled(client, robot, citizen):
    assert load_profile(robot.session.documents.profile_path).face_scale is None
    answer = client.post("/api/profile/face-size", json={"distance_m": round(citizen, 3)})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["face_scale"] == pytest.approx(1.0, abs=0.04)  # the rendered face has the mean face's size
    assert body["views_used"] == body["views"] == 5
    assert load_profile(robot.session.documents.profile_path).face_scale == body["face_scale"]
    assert robot.session.documents.profile.face_scale == body["face_scale"]
    (event,) = profile_events(robot)
    assert event["changed_by"] == "Anna" and event["fields"] == ["profile.face_scale"]
    assert event["lips_distance_m"] == round(citizen, 3) and event["views_used"] == 5
    assert f'id="face-scale">{body["face_scale"]:.2f}<' in client.get("/staff?lang=en").text


@pytest.mark.parametrize(
    "lang, words",
    [
        ("en", ["7. Face size", "tape measure", "not measured"]),
        ("da", ["7. Ansigtets størrelse", "målebånd", "ikke målt"]),
    ],
)
def test_the_staff_page_has_the_face_size_step(client, lang, words):
    page = client.get(f"/staff?lang={lang}").text
    assert 'id="face-form"' in page and 'name="distance_m"' in page
    for word in words:
        assert word in page


@needs_faces
@pytest.mark.parametrize("citizen", [0.15], indirect=True)
def test_lips_off_the_picture_centre_give_the_same_face_size(client, citizen):
    # the lips 0.36 m from the lens are 0.33 m deep here: taken as the depth, the distance would read 1.085
    answer = client.post("/api/profile/face-size", json={"distance_m": citizen})
    assert answer.status_code == 200, answer.text
    assert answer.json()["face_scale"] == pytest.approx(1.0, abs=0.03)


@needs_faces
@pytest.mark.parametrize("seen, status", [("FF.F.", 200), ("F..F.", 409)])
def test_the_face_must_be_in_at_least_3_of_the_5_pictures(client, robot, citizen, seen, status):
    """E.g. the citizen turns away or a carer's hand passes: too few faces are refused, not guessed from."""
    faces = robot.session.camera.make
    pictures = iter(seen)
    robot.session.camera = FramesOf(lambda: faces() if next(pictures) == "F" else np.zeros((480, 640, 3), np.uint8))
    answer = client.post("/api/profile/face-size", json={"distance_m": citizen})
    assert answer.status_code == status, answer.text
    if status == 200:
        assert (answer.json()["views_used"], answer.json()["views"]) == (3, 5)
    else:
        assert "face was found in 2 of 5 pictures" in answer.json()["detail"] and profile_events(robot) == []


@needs_faces
def test_a_larger_distance_for_the_same_picture_is_a_larger_face(client, robot, citizen):
    near = client.post("/api/profile/face-size", json={"distance_m": citizen}).json()["face_scale"]
    far = client.post("/api/profile/face-size", json={"distance_m": citizen * 1.25}).json()["face_scale"]
    assert far / near == pytest.approx(1.25, rel=0.01)  # depth from a pose is proportional to the face's size
    assert load_profile(robot.session.documents.profile_path).face_scale == far


@needs_faces
@pytest.mark.parametrize("distance_m", [0.2, 1.45])
def test_a_distance_that_makes_an_implausible_face_is_refused(client, robot, citizen, distance_m):
    before = robot.session.documents.profile_path.read_bytes()
    answer = client.post("/api/profile/face-size", json={"distance_m": distance_m})
    assert answer.status_code == 422
    assert answer.json()["fields"] == ["distance_m"]
    assert "times the mean face, outside 0.6 .. 1.6" in answer.json()["detail"]
    assert robot.session.documents.profile_path.read_bytes() == before and profile_events(robot) == []


@pytest.mark.parametrize(
    "body",
    [
        {"distance_m": 0.1},
        {"distance_m": 1.6},
        {"distance_m": 0.0},
        {"distance_m": -0.45},
        {"distance_m": 45},
    ],
)
def test_an_implausible_distance_is_refused_before_the_camera_is_used(client, robot, body):
    robot.session.camera = FramesOf(lambda: pytest.fail("the camera must not be read for a refused distance"))
    before = robot.session.documents.profile_path.read_bytes()
    answer = client.post("/api/profile/face-size", json=body)
    assert answer.status_code == 422
    assert answer.json()["fields"] == ["distance_m"]
    assert "0.2 .. 1.5 m" in answer.json()["detail"] and "tape measure" in answer.json()["detail"]
    assert robot.session.documents.profile_path.read_bytes() == before and profile_events(robot) == []


@pytest.mark.parametrize(
    "content",
    [
        b'{"distance_m": "far"}',
        b'{"distance_m": NaN}',
        b'{"distance_m": Infinity}',
        b'{"distance_m": null}',
        b"{}",
        b'{"distance_m": 0.45, "face_scale": 1.2}',
        b"not json",
        b"[0.45]",
    ],
)
def test_malformed_bodies_are_refused(client, robot, content):
    before = robot.session.documents.profile_path.read_bytes()
    answer = client.post("/api/profile/face-size", content=content, headers={"content-type": "application/json"})
    assert answer.status_code == 422
    assert robot.session.documents.profile_path.read_bytes() == before and profile_events(robot) == []


def _save_intrinsics(robot) -> None:
    CameraIntrinsics.from_fov(640, 480, 70.0).save(robot.session.documents.intrinsics_path())


@pytest.mark.parametrize(
    "picture",
    [
        lambda: np.zeros((480, 640, 3), np.uint8),  # black frame
        lambda: np.full((480, 640, 3), 255, np.uint8),  # overexposed
        lambda: np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8),  # noise
        lambda: np.zeros((480, 640, 3), np.float64),  # not an 8-bit picture
        lambda: np.zeros(0, np.uint8),  # empty
    ],
    ids=["black", "white", "noise", "float", "empty"],
)
def test_no_face_in_the_pictures_is_refused_with_what_to_do(client, robot, picture):
    _save_intrinsics(robot)
    robot.session.camera = FramesOf(picture)
    before = robot.session.documents.profile_path.read_bytes()
    answer = client.post("/api/profile/face-size", json={"distance_m": 0.45})
    assert answer.status_code == 409
    assert "face was found in 0 of 5 pictures" in answer.json()["detail"]
    assert "facing the camera" in answer.json()["detail"]
    assert robot.session.documents.profile_path.read_bytes() == before and profile_events(robot) == []


def test_the_board_camera_of_bidvis_ui_sim_sees_no_face(client, robot):
    """`bidvis ui --sim`'s camera shows the checkerboard on the arm, not a citizen: refused, not guessed."""
    _save_intrinsics(robot)
    answer = client.post("/api/profile/face-size", json={"distance_m": 0.45})
    assert answer.status_code == 409 and "face was found in 0 of 5" in answer.json()["detail"]


def test_without_a_camera_calibration_or_a_camera_it_is_refused(client, robot):
    answer = client.post("/api/profile/face-size", json={"distance_m": 0.45})
    assert answer.status_code == 409 and "calibrate the camera first" in answer.json()["detail"]
    _save_intrinsics(robot)
    robot.session.camera = None
    answer = client.post("/api/profile/face-size", json={"distance_m": 0.45})
    assert answer.status_code == 409 and "no camera" in answer.json()["detail"]
    robot.session.camera = SilentCamera()
    answer = client.post("/api/profile/face-size", json={"distance_m": 0.45})
    assert answer.status_code == 409 and "no picture" in answer.json()["detail"]
    assert profile_events(robot) == []
