"""What the flawed simulated arm costs against the ideal one (`sim.flaws`), side by side.

Run: .venv/bin/python -m pytest benchmarks/bench_sim_flaws.py --benchmark-only -s --benchmark-columns=min,median,mean,rounds
Results go to docs/benchmarks.md `## Simulator flaws`.

- `test_bus_control_tick`: what the bus does per 200 Hz meal tick (as bench_sim_bus.py): a SYNC
  WRITE of four goals, a SYNC READ of the controller's block, 5 ms of servo time; per preset. The
  flawed bus samples noise at each read, quantises reply times to the latency timer, draws lost and
  corrupted replies, heats the servos and steps the compliant plant.
- `test_emulator_second`: one second of `bidvis sim-bus`'s servo time in 1 ms ticks (what the
  emulator must do in real time), the arm holding and one joint moving; per preset.
- `test_meal_cpu_per_simulated_second`: a one-bite meal on MuJoCo with the real controller, per
  preset; prints the CPU seconds per simulated second (the campaign's 50x needs under 0.02).
"""

from __future__ import annotations

import itertools
import tempfile
import time
from pathlib import Path

import pytest

from firmware_bridge import protocol
from sim.flaws import flaws_preset
from sim.virtual_bus import SimulatedClock, VirtualServoBus

IDS = (11, 12, 13, 14)
TICK_S = 0.005
PRESENT_BLOCK = (126, 21)  # Present Current .. Present Temperature, as the controller reads it
PRESETS = ("ideal", "typical")


def _bus(preset: str, tick_s: float) -> tuple[VirtualServoBus, SimulatedClock]:
    clock = SimulatedClock()
    bus = VirtualServoBus(IDS, clock=clock, tick_s=tick_s, flaws=flaws_preset(preset))
    for servo_id in IDS:
        bus.transmit(protocol.write(servo_id, 64, b"\x01"))  # torque on
    clock.advance_to(0.01)
    bus.pop_ready()
    return bus, clock


@pytest.mark.parametrize("preset", PRESETS)
def test_bus_control_tick(benchmark, preset):
    bus, clock = _bus(preset, TICK_S)
    sync_read = protocol.sync_read(*PRESENT_BLOCK, IDS)
    goals = itertools.cycle(range(2000, 2100))

    def tick() -> int:
        goal = next(goals).to_bytes(4, "little", signed=True)
        bus.transmit(protocol.sync_write(116, dict.fromkeys(IDS, goal)))
        bus.transmit(sync_read)
        clock.advance_to(clock.now() + TICK_S)
        return len(bus.pop_ready())

    benchmark(tick)


@pytest.mark.parametrize("preset", PRESETS)
def test_emulator_second(benchmark, preset):
    bus, clock = _bus(preset, 0.001)
    bus.transmit(protocol.write(12, 116, (2548).to_bytes(4, "little")))  # one joint on its way

    def second() -> None:
        clock.advance_to(clock.now() + 1.0)
        bus.advance_to(clock.now())

    benchmark.pedantic(second, rounds=5, iterations=1)


@pytest.mark.parametrize("preset", PRESETS)
def test_meal_cpu_per_simulated_second(benchmark, preset):
    from bidvis.simulation import run_simulated_meal
    from controller.journal import UsageJournal
    from sim.scenario import load_scenarios

    scenario = next(s for s in load_scenarios() if s.name == "normal_eater").model_copy(
        update={"bites": 1, "max_duration_s": 30.0}
    )
    figures = {}

    def meal() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            journal = UsageJournal(Path(tmp) / "journal.sqlite3")
            try:
                cpu = time.process_time()
                summary = run_simulated_meal(scenario, journal, flaws=flaws_preset(preset))
                figures["cpu_s"] = time.process_time() - cpu
                figures["simulated_s"] = summary.duration_s
            finally:
                journal.close()

    benchmark.pedantic(meal, rounds=1, iterations=1)
    per_second = figures["cpu_s"] / figures["simulated_s"]
    print(
        f"\n{preset}: {figures['simulated_s']:.1f} s simulated, {figures['cpu_s']:.1f} s CPU, {per_second:.4f} CPU s per simulated s"
    )
