"""Simulated time over wall time and over CPU time: a 20-bite meal, the simulator alone, and
face-frame compositing.

Run: .venv/bin/python -m pytest benchmarks/bench_sim_meal.py --benchmark-only -s
Each meal prints its real-time factor twice: simulated time over wall time, and over the CPU time
the process used (`time.process_time`), with the load average before and after; on a shared machine
the CPU figure is the one to compare. `BIDVIS_BENCH_BASELINE=<folder with an older checkout>` adds a
run of that code's 20-bite meal next to this one, both at the same time in their own processes
(same load), e.g. `git archive <commit> | tar -x -C /tmp/base`. Results go to docs/benchmarks.md
`## Simulator`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


def _load() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 1)[0] if Path("/proc/loadavg").is_file() else "?"


@pytest.mark.timeout(1800)
def test_meal_20_bites_ground_truth_camera(benchmark, tmp_path):
    """The whole stack (controller loop at 200 Hz, Protocol 2.0 over the virtual bus, MuJoCo,
    citizen, ground-truth camera) for a 20-bite meal."""
    load_before = _load()
    cpu_started = time.process_time()
    summary = benchmark.pedantic(_meal, args=(tmp_path, MEAL_20, CameraMode.GROUND_TRUTH), rounds=1, iterations=1)
    cpu_s = time.process_time() - cpu_started
    benchmark.extra_info.update(
        sim_s=summary.duration_s,
        wall_s=summary.wall_s,
        realtime_factor=summary.realtime_factor,
        cpu_s=round(cpu_s, 2),
        cpu_realtime_factor=round(summary.duration_s / cpu_s, 2),
        bites_offered=summary.bites_offered,
    )
    print(
        f"\n20-bite meal, ground-truth camera: sim {summary.duration_s:.1f} s / wall {summary.wall_s:.1f} s "
        f"= {summary.realtime_factor:.1f}x, / CPU {cpu_s:.1f} s = {summary.duration_s / cpu_s:.1f}x, "
        f"bites offered {summary.bites_offered}, load average {load_before} -> {_load()}"
    )


_MEAL_IN_A_PROCESS = """
import json, sys, tempfile, time
from pathlib import Path
from bidvis.simulation import CameraMode, run_simulated_meal
from controller.journal import UsageJournal
from sim.scenario import Scenario
scenario = Scenario(name="meal_20_bites", bites=int(sys.argv[1]), seed=1, max_duration_s=1800.0)
with tempfile.TemporaryDirectory() as tmp:
    journal = UsageJournal(Path(tmp) / "journal.sqlite3")
    started = time.process_time()
    summary = run_simulated_meal(scenario, journal, camera_mode=CameraMode.GROUND_TRUTH)
    cpu_s = time.process_time() - started
    journal.close()
print(json.dumps({"sim_s": summary.duration_s, "wall_s": summary.wall_s, "cpu_s": cpu_s,
                  "bites_taken": summary.bites_taken, "peak_face_force_n": summary.peak_face_force_n}))
"""


def _start_meal_process(source_dir: Path, bites: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(source_dir)}
    return subprocess.Popen(
        [sys.executable, "-c", _MEAL_IN_A_PROCESS, str(bites)],
        cwd=source_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


@pytest.mark.skipif(not os.environ.get("BIDVIS_BENCH_BASELINE"), reason="set BIDVIS_BENCH_BASELINE=<older checkout>")
@pytest.mark.timeout(3600)
def test_meal_20_bites_against_baseline(benchmark):
    """This code's 20-bite meal and the baseline's, side by side: both processes run at once, so
    they share whatever else loads the machine."""
    baseline = Path(os.environ["BIDVIS_BENCH_BASELINE"]).resolve()
    here = Path(__file__).resolve().parents[1]

    def both() -> dict[str, dict]:
        processes = {
            "baseline": _start_meal_process(baseline, MEAL_20.bites),
            "this": _start_meal_process(here, MEAL_20.bites),
        }
        return {name: json.loads(p.communicate()[0].strip().splitlines()[-1]) for name, p in processes.items()}

    load_before = _load()
    results = benchmark.pedantic(both, rounds=1, iterations=1)
    benchmark.extra_info.update(results)
    for name, r in results.items():
        print(
            f"\n{name:8s} sim {r['sim_s']:.1f} s, wall {r['wall_s']:.1f} s = {r['sim_s'] / r['wall_s']:.1f}x, "
            f"CPU {r['cpu_s']:.1f} s = {r['sim_s'] / r['cpu_s']:.1f}x, bites {r['bites_taken']}"
        )
    print(
        f"CPU this/baseline {results['this']['cpu_s'] / results['baseline']['cpu_s']:.2f}, "
        f"load average {load_before} -> {_load()} (baseline {baseline})"
    )


@pytest.mark.skipif(not (FACES / "labels.csv").is_file(), reason=f"face photos not available at {FACES}")
@pytest.mark.timeout(1800)
def test_meal_with_face_frames_through_the_vision_pipeline(benchmark, tmp_path):
    """Same stack with composed face frames at 30 fps through vision.MouthTracker (3 bites)."""
    scenario = MEAL_20.model_copy(update={"name": "meal_3_bites_faces", "bites": 3})
    summary = benchmark.pedantic(_meal, args=(tmp_path, scenario, CameraMode.FACES), rounds=1, iterations=1)
    benchmark.extra_info.update(
        sim_s=summary.duration_s, wall_s=summary.wall_s, realtime_factor=summary.realtime_factor
    )
    print(
        f"\n3-bite meal, face frames + vision: sim {summary.duration_s:.1f} s / wall {summary.wall_s:.1f} s "
        f"= {summary.realtime_factor:.2f}x"
    )


def _simulator_alone(seconds: float) -> tuple[float, float]:
    """Physics + citizen + ground-truth camera at the 200 Hz tick, the arm holding the ready pose
    (no controller, no bus): the simulator's own cost. Returns the real-time factors over wall
    time and over CPU time."""
    world = World()
    world.set_arm_pose(demo_calibration().ready_pose_rad)
    citizen = Citizen(MEAL_20)
    camera = GroundTruthMouthSource(world)
    started, cpu_started = time.perf_counter(), time.process_time()
    t = 0.0
    while t < seconds:
        t += 0.005
        world.advance_to(t)
        citizen.before_step(world, t)
        camera.poll(t)
    return seconds / (time.perf_counter() - started), seconds / (time.process_time() - cpu_started)


def test_simulator_alone(benchmark):
    wall, cpu = benchmark.pedantic(_simulator_alone, args=(60.0,), rounds=3, iterations=1)
    print(
        f"\nsimulator alone (physics + citizen + ground-truth camera): {wall:.1f}x real time over wall time, "
        f"{cpu:.1f}x over CPU time (last round), load average {_load()}"
    )


@pytest.mark.skipif(not (FACES / "labels.csv").is_file(), reason=f"face photos not available at {FACES}")
def test_face_frame_compositing(benchmark):
    """One composed 640x480 BGR frame (30 are needed per simulated second)."""
    source = FaceFrameSource(World(), faces_dir=FACES)
    frame = benchmark(source.render, 0.0)
    assert frame.shape == (480, 640, 3)
