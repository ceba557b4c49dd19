"""Where the simulated meal's mouth observations come from (`bidvis.simulation.camera_feed.MouthFeed`).

A scenario whose camera asks for face frames (`vision = "faces"`: every vision run of a campaign) gets
them through the real tracker or stops with what broke; the ground-truth camera never stands in for it,
since the run would then count as a vision run that saw no face (issue 12: a campaign whose vision runs
all ran on ground truth, with nothing said). The command's `--camera auto` still falls back, and says why.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from bidvis.campaign import PlannedRun, run_planned, scenario_of
from bidvis.simulation import CameraMode, SimulatedMeal
from controller.journal import UsageJournal
from sim.camera import FacesUnavailable
from sim.families import HELD_OUT_SEEDS, Family, load_families, sample
from sim.scenario import CameraVision
from vision.inference import ModelRuntimeError

BROKEN = "LiteRT cannot load face_landmark.tflite: broken; run scripts/setup to install the locked versions"


def _vision_run() -> tuple[PlannedRun, Family]:
    family = next(f for f in load_families() if f.name == "plain_meal")
    return PlannedRun(0, family.name, HELD_OUT_SEEDS.start, vision=True), family


@pytest.fixture
def journal(tmp_path):
    journal = UsageJournal(tmp_path / "meal.sqlite3")
    yield journal
    journal.close()


@pytest.fixture
def broken_models(monkeypatch):
    """The face models fail to load, as on a runtime that cannot run them."""

    def broken(*_args, **_kwargs):
        raise ModelRuntimeError(BROKEN)

    monkeypatch.setattr("vision.tracker.FaceModels.load", broken)


def _faceless_photos(faces_dir: Path) -> Path:
    """A photo folder as the shared one (labels.csv, two people, open and closed mouths) whose photos
    show no face: flat grey."""
    (faces_dir / "images").mkdir(parents=True)
    rows = ["file,split,mouth_state,mouth_cx,mouth_cy,mouth_w"]
    for person in ("anna", "bo"):
        for state in ("open", "closed"):
            name = f"images/{person}_{state}.png"
            assert cv2.imwrite(str(faces_dir / name), np.full((240, 320, 3), 128, np.uint8))
            rows.append(f"{name},dev,{state},160,200,40")
    (faces_dir / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return faces_dir


def test_a_scenario_asking_for_face_frames_stops_with_the_reason_when_the_models_cannot_load(broken_models, journal):
    scenario = scenario_of(*_vision_run())
    assert scenario.camera.vision is CameraVision.FACES
    with pytest.raises(ModelRuntimeError, match="LiteRT cannot load"):
        SimulatedMeal(scenario, journal)


def test_a_scenario_asking_for_face_frames_stops_when_the_detector_finds_no_face_in_its_photos(tmp_path, journal):
    scenario = scenario_of(*_vision_run())
    with pytest.raises(FacesUnavailable, match="no face measured in the citizen's"):
        SimulatedMeal(scenario, journal, faces_dir=_faceless_photos(tmp_path / "faces"))


def test_a_scenario_asking_for_face_frames_stops_when_the_photos_are_missing(tmp_path, journal):
    scenario = scenario_of(*_vision_run())
    with pytest.raises(FacesUnavailable, match="no face labels"):
        SimulatedMeal(scenario, journal, faces_dir=tmp_path / "nowhere")


def test_the_camera_asked_for_by_the_command_still_falls_back_to_ground_truth_and_says_why(broken_models, journal):
    run, family = _vision_run()
    scenario = sample(family, run.seed)  # the family leaves the camera to the command
    assert scenario.camera.vision is None
    with SimulatedMeal(scenario, journal, camera_mode=CameraMode.AUTO) as meal:
        assert meal.camera_mode is CameraMode.GROUND_TRUTH
        assert BROKEN in meal.feed.reason


def test_a_campaign_vision_run_whose_vision_cannot_start_fails_saying_why(broken_models, tmp_path):
    run, family = _vision_run()
    record = run_planned(run, family, failures_dir=tmp_path)
    assert record.vision and not record.passed
    assert record.aborted == f"crashed: ModelRuntimeError: {BROKEN}"
    assert record.scenario_file == str(tmp_path / f"{record.scenario}.toml")
