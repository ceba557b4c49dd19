"""`bidvis vision calibrate-camera` and `bidvis vision eval` from the command line."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from bidvis.cli import app
from vision import CameraIntrinsics

TRUE = CameraIntrinsics(fx=600.0, fy=600.0, cx=320.0, cy=240.0, width=640, height=480)
VIEWS = [
    ((0.3, -0.2, 0.05), (-0.10, -0.06, 0.45)),
    ((-0.25, 0.3, -0.1), (-0.08, -0.07, 0.50)),
    ((0.1, 0.4, 0.2), (-0.12, -0.05, 0.55)),
    ((-0.35, -0.25, 0.0), (-0.09, -0.04, 0.42)),
]


def test_calibrate_camera_writes_intrinsics(tmp_path, render_checkerboard):
    folder = tmp_path / "boards"
    folder.mkdir()
    for i, (r, t) in enumerate(VIEWS):
        cv2.imwrite(str(folder / f"view{i}.png"), render_checkerboard(r, t, TRUE))
    out = tmp_path / "camera.json"
    result = CliRunner().invoke(
        app,
        [
            "vision",
            "calibrate-camera",
            "--images",
            str(folder),
            "--board",
            "9x6",
            "--square-m",
            "0.024",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    found = CameraIntrinsics.load(out)
    assert found.fx == pytest.approx(600.0, rel=0.01) and found.width == 640
    assert "RMS reprojection" in " ".join(result.output.split())


def test_calibrate_camera_without_boards_fails_clearly(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    cv2.imwrite(str(folder / "blank.png"), np.full((480, 640), 255, np.uint8))
    result = CliRunner().invoke(
        app, ["vision", "calibrate-camera", "--images", str(folder), "--out", str(tmp_path / "c.json")]
    )
    assert result.exit_code == 1 and "found in 0 image" in " ".join(result.output.split())
    assert not (tmp_path / "c.json").exists()


def test_calibrate_camera_rejects_a_malformed_board(tmp_path):
    result = CliRunner().invoke(
        app,
        ["vision", "calibrate-camera", "--images", str(tmp_path), "--board", "nine", "--out", str(tmp_path / "c.json")],
    )
    assert result.exit_code == 2 and "COLUMNSxROWS" in " ".join(result.output.split())


def test_eval_refuses_a_folder_without_labels(tmp_path):
    result = CliRunner().invoke(app, ["vision", "eval", "--data", str(tmp_path)])
    assert result.exit_code == 1 and "labels.csv" in " ".join(result.output.split())


def test_eval_scores_the_shared_faces_per_split(faces_dir, tmp_path):
    out = tmp_path / "scores.json"
    result = CliRunner().invoke(app, ["vision", "eval", "--data", str(faces_dir), "--json", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    splits = {s["split"]: s for s in summary["splits"]}
    assert set(splits) == {"dev", "holdout"}
    for s in splits.values():
        assert s["faces_found"] == s["faces"] and s["false_detections"] == 0
        assert s["centre_error_median"] < 0.1
        assert s["open_closed_correct"] >= 0.9 * s["open_closed"]
    assert summary["thresholds_from_dev"]["close_at"] < summary["thresholds_from_dev"]["open_at"]


def test_eval_refuses_an_unknown_backend(tmp_path):
    (tmp_path / "labels.csv").write_text("file,split,mouth_state,mouth_cx,mouth_cy,mouth_w\n")
    result = CliRunner().invoke(app, ["vision", "eval", "--data", str(tmp_path), "--backend", "dlib"])
    assert result.exit_code == 2 and "backend must be one of" in " ".join(result.output.split())


def test_calibrate_camera_refuses_an_unknown_pattern(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "vision",
            "calibrate-camera",
            "--images",
            str(tmp_path),
            "--pattern",
            "dots",
            "--out",
            str(tmp_path / "c.json"),
        ],
    )
    assert result.exit_code == 2 and "checkerboard or charuco" in " ".join(result.output.split())


def test_calibrate_camera_with_charuco_and_a_wrong_dictionary_fails_clearly(tmp_path):
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((48, 64), 255, np.uint8))
    result = CliRunner().invoke(
        app,
        [
            "vision",
            "calibrate-camera",
            "--images",
            str(tmp_path),
            "--pattern",
            "charuco",
            "--board",
            "7x5",
            "--square-m",
            "0.03",
            "--marker-m",
            "0.022",
            "--dictionary",
            "DICT_NOPE",
            "--out",
            str(tmp_path / "c.json"),
        ],
    )
    assert result.exit_code == 1 and "unknown ArUco dictionary" in " ".join(result.output.split())


@pytest.mark.parametrize(
    "labels, message",
    [
        (None, "no labels.csv"),
        ("clip,split\nx,dev\n", "lacks column"),
        ("clip,split,frame,mouth_cx,mouth_cy,mouth_w,open_ratio,mouth_state\nx,dev,0,1,2,3,0.1,closed\n", "decoded 0"),
    ],
)
def test_choose_gate_names_data_it_cannot_use(tmp_path, labels, message):
    if labels is not None:
        (tmp_path / "labels.csv").write_text(labels)
    result = CliRunner().invoke(app, ["vision", "choose-gate", "--data", str(tmp_path)])
    assert result.exit_code == 1
    assert "no choice" in result.output and message in " ".join(result.output.split())
