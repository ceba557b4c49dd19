"""Simulated time over wall time: a 20-bite meal, the simulator alone, and face-frame compositing.

Run: .venv/bin/python -m pytest benchmarks/bench_sim_meal.py --benchmark-only -s
Each test prints `sim/wall` (the real-time factor); results go to docs/benchmarks.md `## Simulator`.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bidvis.simulation import CameraMode, run_simulated_meal
from controller.config import demo_calibration
from controller.journal import UsageJournal
from sim.camera import FaceFrameSource, GroundTruthMouthSource, default_faces_dir
from sim.citizen import Citizen
from sim.scenario import Scenario
from sim.world import World

MEAL_20 = Scenario(name="meal_20_bites", bites=20, seed=1, max_duration_s=1800.0)
FACES = default_faces_dir()


def _meal(tmp_path: Path, scenario: Scenario, camera: CameraMode):
    journal = UsageJournal(tmp_path / f"{scenario.name}-{camera.value}.sqlite3")
    try:
        return run_simulated_meal(scenario, journal, camera_mode=camera)
    finally:
        journal.close()


@pytest.mark.timeout(1800)
def test_meal_20_bites_ground_truth_camera(benchmark, tmp_path):
    """The whole stack (controller loop at 200 Hz, Protocol 2.0 over the virtual bus, MuJoCo,
    citizen, ground-truth camera) for a 20-bite meal."""
    summary = benchmark.pedantic(_meal, args=(tmp_path, MEAL_20, CameraMode.GROUND_TRUTH), rounds=1, iterations=1)
    benchmark.extra_info.update(sim_s=summary.duration_s, wall_s=summary.wall_s, realtime_factor=summary.realtime_factor,
                                bites_offered=summary.bites_offered)
    print(f"\n20-bite meal, ground-truth camera: sim {summary.duration_s:.1f} s / wall {summary.wall_s:.1f} s "
          f"= {summary.realtime_factor:.1f}x, bites offered {summary.bites_offered}")


@pytest.mark.skipif(not (FACES / "labels.csv").is_file(), reason=f"face photos not available at {FACES}")
@pytest.mark.timeout(1800)
def test_meal_with_face_frames_through_the_vision_pipeline(benchmark, tmp_path):
    """Same stack with composed face frames at 30 fps through vision.MouthTracker (3 bites)."""
    scenario = MEAL_20.model_copy(update={"name": "meal_3_bites_faces", "bites": 3})
    summary = benchmark.pedantic(_meal, args=(tmp_path, scenario, CameraMode.FACES), rounds=1, iterations=1)
    benchmark.extra_info.update(sim_s=summary.duration_s, wall_s=summary.wall_s, realtime_factor=summary.realtime_factor)
    print(f"\n3-bite meal, face frames + vision: sim {summary.duration_s:.1f} s / wall {summary.wall_s:.1f} s "
          f"= {summary.realtime_factor:.2f}x")


def _simulator_alone(seconds: float) -> float:
    """Physics + citizen + ground-truth camera at the 200 Hz tick, the arm holding the ready pose
    (no controller, no bus): the simulator's own cost. Returns the real-time factor."""
    world = World()
    world.set_arm_pose(demo_calibration().ready_pose_rad)
    citizen = Citizen(world, MEAL_20)
    camera = GroundTruthMouthSource(world)
    started = time.perf_counter()
    t = 0.0
    while t < seconds:
        t += 0.005
        world.advance_to(t)
        citizen.update(t)
        camera.poll(t)
    return seconds / (time.perf_counter() - started)


def test_simulator_alone(benchmark):
    factor = benchmark.pedantic(_simulator_alone, args=(60.0,), rounds=3, iterations=1)
    print(f"\nsimulator alone (physics + citizen + ground-truth camera): {factor:.1f}x real time")


@pytest.mark.skipif(not (FACES / "labels.csv").is_file(), reason=f"face photos not available at {FACES}")
def test_face_frame_compositing(benchmark):
    """One composed 640x480 BGR frame (30 are needed per simulated second)."""
    source = FaceFrameSource(World(), faces_dir=FACES)
    frame = benchmark(source.render, 0.0)
    assert frame.shape == (480, 640, 3)
