"""`bidvis run` refuses to start, with a clear message and no traceback, on hostile set-ups."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from bidvis.ui_commands import register
from controller.config import demo_calibration, demo_profile, save_config
from firmware_bridge.control_table import XL430_W250
from sim.servo import VirtualServo
from sim.virtual_bus import VirtualServoBus
from sim.virtual_bus_pty import PtyBusThread
from tests.bidvis.conftest import ROBOT_URL
from tests.commissioning_records import commissioned_arm_measurements, write_commissioning_record
from vision import CameraIntrinsics

WIDTH, HEIGHT = 640, 480


@pytest.fixture
def cli():
    app = typer.Typer()
    register(app)

    def invoke(*args: str):
        return CliRunner().invoke(app, list(args))

    return invoke


@pytest.fixture
def robot_files(tmp_path):
    """A robot's files as `bidvis ui` leaves them: calibration, intrinsics, profile, and a camera (frames folder)."""
    calibration = demo_calibration()
    save_config(calibration, tmp_path / "robot_calibration.toml")
    save_config(demo_profile(), tmp_path / "citizen.toml")
    CameraIntrinsics.from_fov(WIDTH, HEIGHT, 70.0).save(tmp_path / calibration.camera.intrinsics_ref)
    frames = tmp_path / "camera"
    frames.mkdir()
    for index in range(3):
        cv2.imwrite(str(frames / f"{index}.png"), np.full((HEIGHT, WIDTH, 3), 60 * index, np.uint8))
    (tmp_path / "switch").write_bytes(b"")  # an input event stream with no presses yet
    write_commissioning_record(tmp_path)
    return tmp_path


@pytest.fixture
def arm():
    bus = VirtualServoBus.start(ids=(11, 12, 13, 14, 15))
    yield bus
    bus.close()


def run_args(files, port, camera=None, *extra, switch="switch"):
    switches = ("--switch", str(files / switch)) if switch else ()
    return (
        "run",
        "--port",
        port,
        "--camera",
        str(camera or files / "camera"),
        "--profile",
        str(files / "citizen.toml"),
        "--check",
        *switches,
        *extra,
    )


def refused(result, *phrases):
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "refusing to start" in result.output
    for phrase in phrases:
        assert phrase in result.output, result.output


def test_a_complete_robot_passes_the_checks(cli, robot_files, arm):
    result = cli(*run_args(robot_files, arm.url))
    assert result.exit_code == 0, result.output
    assert "checks passed: servos 11, 12, 13, 14, 15" in result.output
    assert "calibration was made on port /dev/ttyUSB0" in result.output  # a note, not a refusal
    assert "face size is not calibrated" in result.output  # the demo profile has no face_scale


def test_a_calibrated_face_size_needs_no_note(cli, robot_files, arm):
    save_config(demo_profile().model_copy(update={"face_scale": 0.9}), robot_files / "citizen.toml")
    result = cli(*run_args(robot_files, arm.url))
    assert result.exit_code == 0, result.output
    assert "face size" not in result.output


@pytest.mark.parametrize(
    "line, phrase",
    [
        ("face_scale = 2.5\n", "face_scale: Input should be less than or equal to 1.6"),
        ("face_scale = 0.1\n", "face_scale: Input should be greater than or equal to 0.6"),
        ('face_scale = "big"\n', "face_scale: Input should be a valid number"),
    ],
)
def test_refuses_a_face_scale_out_of_bounds(cli, robot_files, arm, line, phrase):
    path = robot_files / "citizen.toml"
    path.write_text(line + path.read_text())  # a top-level key: before the [gesture] table
    refused(cli(*run_args(robot_files, arm.url)), phrase)


@pytest.mark.parametrize("face_scale, expected", [(None, 1.0), (0.8, 0.8), (1.3, 1.3)])
def test_the_mouth_tracker_gets_the_citizens_face_size(face_scale, expected):
    from bidvis.run import mouth_tracker

    profile = demo_profile().model_copy(update={"face_scale": face_scale})
    tracker = mouth_tracker(profile, CameraIntrinsics.from_fov(WIDTH, HEIGHT, 70.0))
    assert tracker.config.face_scale == expected


def test_refuses_a_port_that_does_not_exist(cli, robot_files):
    refused(cli(*run_args(robot_files, "/dev/ttyUSB-nonexistent")), "cannot open the servo port")


def test_refuses_a_bus_with_no_arm(cli, robot_files):
    with VirtualServoBus.start(ids=()) as empty:
        refused(cli(*run_args(robot_files, empty.url)), "no arm on", "bidvis bus scan")


def test_refuses_an_arm_missing_a_servo(cli, robot_files):
    with VirtualServoBus.start(ids=(11, 12, 13, 15)) as bus:
        refused(cli(*run_args(robot_files, bus.url)), "servo(s) [14] did not answer", "stale")


def test_refuses_servos_at_another_baud_rate(cli, robot_files):
    with VirtualServoBus.start(ids=(11, 12, 13, 14, 15), baudrate=57_600) as bus:
        refused(cli(*run_args(robot_files, bus.url)), "no arm on", "1000000 baud")


def test_refuses_the_wrong_servo_model(cli, robot_files):
    with VirtualServoBus.start(ids=(11, 12, 13, 14, 15), eeprom={"model_number": 1200}) as bus:
        refused(cli(*run_args(robot_files, bus.url)), "wrong servo model", "model 1200")


def test_refuses_a_camera_index_that_does_not_exist(cli, robot_files, arm):
    refused(cli(*run_args(robot_files, arm.url, "97")), "camera does not open")


def test_refuses_a_camera_path_that_does_not_exist(cli, robot_files, arm):
    refused(cli(*run_args(robot_files, arm.url, robot_files / "no-such-camera.mp4")), "camera does not open")


def test_refuses_a_camera_calibration_made_for_another_picture_size(cli, robot_files, arm):
    CameraIntrinsics.from_fov(1280, 720, 70.0).save(robot_files / "camera_intrinsics.json")
    refused(cli(*run_args(robot_files, arm.url)), "calibration is stale", "1280x720", "640x480")


@pytest.mark.parametrize(
    "content, phrase",
    [
        (b"\x00\xff\xfe garbage", "not UTF-8"),
        (b"speed_m_s = [unclosed", "not valid TOML"),
        (b"speed_m_s = 0.1\n", "speed_near_mouth_m_s: required value is missing"),
        (
            b"speed_m_s = 5.0\nspeed_near_mouth_m_s = 0.05\nnear_mouth_radius_m = 0.1\nstandoff_m = 0.02\n"
            b'bite_timeout_s = 15\ntrigger_kind = "switch"\n',
            "speed_m_s: Input should be less than or equal to 0.25",
        ),
        (
            b"speed_m_s = 0.1\nspeed_near_mouth_m_s = 0.05\nnear_mouth_radius_m = 0.1\nstandoff_m = 0.02\n"
            b'bite_timeout_s = 15\ntrigger_kind = "switch"\nbowls_used = [0, 5]\n',
            "bowls not taught: [5]",
        ),
    ],
)
def test_refuses_a_corrupt_or_invalid_profile(cli, robot_files, arm, content, phrase):
    (robot_files / "citizen.toml").write_bytes(content)
    refused(cli(*run_args(robot_files, arm.url)), phrase)


def test_refuses_a_switch_profile_without_a_switch(cli, robot_files, arm):
    refused(cli(*run_args(robot_files, arm.url, switch=None)), "the profile's trigger is a switch", "--switch")


def test_refuses_a_switch_that_does_not_open(cli, robot_files, arm):
    refused(cli(*run_args(robot_files, arm.url, switch="no-such-event-device")), "switch does not open", "cannot open")


def test_refuses_a_missing_calibration(cli, robot_files, arm):
    (robot_files / "robot_calibration.toml").unlink()
    refused(cli(*run_args(robot_files, arm.url)), "does not exist", "bidvis ui")


def test_refuses_a_calibration_that_fails_validation(cli, robot_files, arm):
    path = robot_files / "robot_calibration.toml"
    path.write_text(path.read_text().replace("ready_pose_rad = [", "ready_pose_rad = [9.0, "), encoding="utf-8")
    refused(cli(*run_args(robot_files, arm.url)), "robot calibration file is not valid", "ready_pose_rad")


def test_refuses_when_the_camera_intrinsics_are_missing(cli, robot_files, arm):
    (robot_files / "camera_intrinsics.json").unlink()
    refused(cli(*run_args(robot_files, arm.url)), "camera calibration", "missing or broken")


def test_refuses_broken_camera_intrinsics(cli, robot_files, arm):
    (robot_files / "camera_intrinsics.json").write_text('{"fx": "wide"}')
    refused(cli(*run_args(robot_files, arm.url)), "missing or broken")


def test_an_explicit_calibration_file_is_used(cli, robot_files, arm, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (robot_files / "robot_calibration.toml").rename(elsewhere / "robot.toml")
    (robot_files / "camera_intrinsics.json").rename(elsewhere / "camera_intrinsics.json")
    (robot_files / "commissioning.json").rename(elsewhere / "commissioning.json")  # it lives next to the calibration
    result = cli(*run_args(robot_files, arm.url, None, "--calibration", str(elsewhere / "robot.toml")))
    assert result.exit_code == 0, result.output


def test_ui_needs_either_sim_or_a_port(cli):
    assert cli("ui").exit_code == 2
    assert cli("ui", "--sim", "--port", "/dev/ttyUSB0").exit_code == 2


def test_careplan_url_without_a_device_token_is_refused(cli, robot_files, arm, monkeypatch):
    monkeypatch.delenv("BIDVIS_DEVICE_TOKEN", raising=False)
    result = cli(*run_args(robot_files, arm.url, None, "--careplan-url", "http://127.0.0.1:9"))
    assert result.exit_code == 2 and "BIDVIS_DEVICE_TOKEN" in result.output


def test_after_the_checks_the_robot_serves_its_pages_and_keeps_events_while_the_service_is_down(
    robot_files, arm, make_staff_login, log_in
):
    from fastapi.testclient import TestClient

    from bidvis.robot_ui.app import create_app
    from bidvis.run import MouthFeed, build_robot, preflight

    profile, calibration = robot_files / "citizen.toml", robot_files / "robot_calibration.toml"
    save_config(demo_profile().model_copy(update={"face_scale": 1.12}), profile)
    pty = PtyBusThread(arm, robot_files / "ttyARM")  # a port the set-up process opens as a real one
    checked = preflight(
        pty.server.path, str(robot_files / "camera"), profile, calibration, switches=[str(robot_files / "switch")]
    )
    session, closers = build_robot(
        pty.server.path,
        checked,
        profile,
        calibration,
        robot_files / "journal.sqlite3",
        careplan=("http://127.0.0.1:9", "device-token"),
    )  # nothing listens on port 9
    try:
        (feed,) = [
            getattr(close, "__self__", None)
            for close in closers
            if isinstance(getattr(close, "__self__", None), MouthFeed)
        ]
        assert feed.tracker.config.face_scale == 1.12  # the robot's mouth tracking uses the citizen's face size
        with TestClient(create_app(session, make_staff_login(robot_files)), base_url=ROBOT_URL) as client:
            assert client.get("/panel").status_code == 200
            assert log_in(client).status_code == 303
            assert client.post("/api/connect").status_code == 200
            assert client.get("/api/status").json()["arm"]["mode"] == "idle"
            assert (
                client.put("/api/calibration/spoon", json={"x_m": 0.06, "z_m": 0.0, "pitch_rad": 0.0}).status_code
                == 200
            )
        (event,) = session.documents.journal.pending()
        assert event.data["changed_by"] == "Anna"  # kept for later: the service is down
    finally:
        for close in closers:
            close()
        pty.close()


def test_refuses_an_xl430_naming_the_model_and_why(cli, robot_files):
    with VirtualServoBus.start(ids=(11, 12, 13, 14, 15), models={13: XL430_W250}) as bus:
        refused(cli(*run_args(robot_files, bus.url)), "id 13 is XL430-W250 (model 1060)", "Present Load", "XM430-W350")


def test_refuses_a_servo_that_answers_with_an_unknown_model_number(cli, robot_files):
    with VirtualServoBus.start(ids=(11, 13, 14, 15)) as bus:
        bus.add_servo(VirtualServo(12, eeprom={"model_number": 1090, "baud_rate": 3}))  # PINGs as a 2XL430-W250
        refused(cli(*run_args(robot_files, bus.url)), "id 12 is 2XL430-W250 (model 1090)", "no control table")


def test_refuses_an_arm_that_is_not_commissioned(cli, robot_files, arm):
    (robot_files / "commissioning.json").unlink()
    refused(cli(*run_args(robot_files, arm.url)), "not commissioned", "bidvis commission --port PORT")


def test_refuses_an_arm_that_failed_commissioning(cli, robot_files, arm):
    write_commissioning_record(robot_files, latency_timer_ms=16.0)
    refused(cli(*run_args(robot_files, arm.url)), "failed commissioning", "USB latency timer 16 ms")


def test_refuses_a_record_made_for_other_servos(cli, robot_files, arm):
    write_commissioning_record(robot_files, joints=commissioned_arm_measurements((11, 12, 13, 14))["joints"])
    refused(cli(*run_args(robot_files, arm.url)), "record is for other servos", "bidvis commission")


@pytest.mark.parametrize("content", [b"\x00\xff", b'{"joints": ', b'{"passed": true, "failures": []}'])
def test_refuses_a_corrupt_commissioning_record(cli, robot_files, arm, content):
    (robot_files / "commissioning.json").write_bytes(content)
    refused(cli(*run_args(robot_files, arm.url)), "commissioning record is not valid", "commission again")


def test_a_video_file_given_as_the_camera_plays_in_a_loop(tmp_path):
    from bidvis.run import camera_capture

    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 100.0, (64, 48))
    for index in range(5):
        writer.write(np.full((48, 64, 3), 40 * index, np.uint8))
    writer.release()
    camera = camera_capture(str(clip)).start()
    try:
        seen = [camera.read(timeout_s=2.0) for _ in range(12)]  # more frames than the clip has
    finally:
        camera.stop()
    assert all(frame is not None for frame in seen) and not camera.stats.finished
    shades = (0, 40, 80, 120, 160)  # the clip's own pictures, again (MJPG moves a shade by a few levels)
    assert all(min(abs(frame.image.mean() - shade) for shade in shades) < 5 for frame in seen)


def test_the_robots_web_server_freezes_its_start_up_heap_before_it_serves(monkeypatch):
    """The staff page's set-up loop shares the web server's process: a full garbage collection must
    not walk the start-up objects while it holds the interpreter lock (`bidvis.run.serve`)."""
    import gc

    import uvicorn

    from bidvis import run

    frozen_when_served: list[int] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: frozen_when_served.append(gc.get_freeze_count()))
    gc.unfreeze()
    try:
        run.serve(object(), "127.0.0.1", 8080)
    finally:
        gc.unfreeze()
    assert len(frozen_when_served) == 1 and frozen_when_served[0] > 10_000
