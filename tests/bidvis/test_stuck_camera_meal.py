"""A camera that gets stuck mid-approach, in the simulated meal: the arm holds, then retracts, and
never goes on toward the mouth on a picture that stopped showing the world.

The ground-truth camera stands for vision and its content check (`sim.camera`); with the shared
face photos, the real tracker sees rendered frames and its content check (`vision.camera_health`)
catches the picture that stays still under fresh sensor noise.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bidvis.simulation import CameraMode, run_simulated_meal
from controller.journal import UsageJournal
from sim.camera import CONTENT_CHECK_S
from sim.scenario import CameraFault, CameraFaultKind, Scenario

FACES = Path(__file__).resolve().parents[2] / "../shared/data/faces"
APPROACH_AT_S = 16.0  # the first approach of a one-bite meal runs from about 15.2 s to 18.3 s
TICK_S = 0.005


def stuck_meal(tmp_path, kind: CameraFaultKind, mode: CameraMode):
    scenario = Scenario(
        name="stuck",
        bites=1,
        max_duration_s=30.0,
        probe_host_silence=False,
        camera_faults=(CameraFault(kind=kind, at_s=APPROACH_AT_S, duration_s=2.0),),
    )
    journal = UsageJournal(tmp_path / "journal.sqlite3")
    try:
        return run_simulated_meal(scenario, journal, camera_mode=mode, faces_dir=FACES)
    finally:
        journal.close()


@pytest.mark.parametrize(
    "kind",
    [
        CameraFaultKind.FROZEN_FRAME,
        CameraFaultKind.NOISY_FROZEN_FRAME,
        CameraFaultKind.BLACK_FRAME,
        CameraFaultKind.WHITE_FRAME,
        CameraFaultKind.COVERED_LENS,
    ],
)
def test_a_camera_stuck_mid_approach_makes_the_arm_hold_then_retract(tmp_path, kind):
    summary = stuck_meal(tmp_path, kind, CameraMode.GROUND_TRUTH)
    assert summary.safety_reasons.get("stale_vision", 0) >= 1
    assert summary.safety_stop_reasons.get("mouth_lost", 0) >= 1  # retracted
    if kind is CameraFaultKind.NOISY_FROZEN_FRAME:
        # Still under fresh noise looks like a still scene until the content check has watched it
        # for CONTENT_CHECK_S: the arm may go on for that long (then stale_after_s holds it).
        assert summary.advances_on_stale_mouth * TICK_S <= CONTENT_CHECK_S + 1 / 30
    else:
        assert summary.advances_on_stale_mouth == 0


@pytest.mark.slow
@pytest.mark.skipif(not (FACES / "labels.csv").is_file(), reason=f"shared face photos not found at {FACES.resolve()}")
def test_the_tracker_catches_a_picture_frozen_under_sensor_noise_mid_approach(tmp_path):
    summary = stuck_meal(tmp_path, CameraFaultKind.NOISY_FROZEN_FRAME, CameraMode.FACES)
    assert summary.camera_mode == "faces"
    assert summary.safety_reasons.get("stale_vision", 0) >= 1
    assert summary.safety_stop_reasons.get("mouth_lost", 0) >= 1
    assert summary.advances_on_stale_mouth * TICK_S <= CONTENT_CHECK_S + 1 / 30
