"""CPU time of a simulated meal, where it goes, and a fingerprint of what it simulated.

    .venv/bin/python benchmarks/sim_meal_cpu.py --bites 2            # CPU and wall time, fingerprint
    .venv/bin/python benchmarks/sim_meal_cpu.py --bites 2 --parts    # and the CPU share of each part

The fingerprint is a sha256 over every byte the host writes to and reads from the virtual bus, each
with the simulated time it happened at, and one over the meal summary without its wall-clock
fields. A speed-up that leaves both unchanged did not change what was simulated. `--parts` samples
the process every millisecond of CPU time (SIGPROF, Linux) and charges each sample to the innermost
frame of ours on the stack, so numpy and MuJoCo count toward the part that called them. Not a
pytest benchmark: it prints; figures go to docs/benchmarks.md `## Simulator` with the command.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import signal
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# (path prefix under the repository, part) in order: the first match names the part.
PARTS = (
    ("sim/world.py", "physics: MuJoCo steps, contact and distance measurement (sim.world)"),
    ("sim/world_plant.py", "plant glue (sim.world_plant)"),
    ("sim/servo", "virtual servos: control table, profile, present values (sim.servo*)"),
    ("sim/virtual_bus.py", "virtual bus: wire timing, dispatch, replies (sim.virtual_bus)"),
    ("sim/serial_url.py", "serial port bidvis-sim:// (sim.serial_url)"),
    ("firmware_bridge/protocol.py", "Protocol 2.0 codec, host and servos (firmware_bridge.protocol)"),
    ("firmware_bridge/", "host bus transactions (firmware_bridge.bus)"),
    ("sim/citizen.py", "citizen (sim.citizen)"),
    ("sim/camera.py", "ground-truth camera (sim.camera)"),
    ("controller/triggers.py", "trigger sources (controller.triggers)"),
    ("controller/", "controller tick (feeding, safety, motion, kinematics, ArmServos)"),
    ("bidvis/", "simulation glue (bidvis.simulation)"),
    ("sim/", "simulation glue (bidvis.simulation)"),
)


class _Fingerprint:
    """sha256 over the host's side of the virtual bus: what was written and read, and when."""

    def __init__(self) -> None:
        self.wire = hashlib.sha256()
        self.transactions = 0

    def install(self) -> None:
        from sim import serial_url

        write, read, wire = serial_url.Serial.write, serial_url.Serial.read, self.wire

        def recorded_write(port, data):
            wire.update(b"W%r" % port._bus.clock.now() + bytes(data))
            self.transactions += 1
            return write(port, data)

        def recorded_read(port, size=1):
            data = read(port, size)
            wire.update(b"R%r" % port._bus.clock.now() + data)
            return data

        serial_url.Serial.write, serial_url.Serial.read = recorded_write, recorded_read


class _PartSampler:
    """Counts SIGPROF samples taken inside `controller.loop.run_meal`, by part."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.samples = 0
        self._root = f"{ROOT}/"

    def _part(self, frame) -> str | None:
        part, in_meal = None, False
        while frame is not None:
            path = frame.f_code.co_filename
            if path.startswith(self._root):
                rel = path[len(self._root) :]
                if rel == "controller/loop.py" and frame.f_code.co_name == "run_meal":
                    in_meal = True
                    part = part or "control loop itself (controller.loop.run_meal)"
                elif part is None:
                    part = next((name for prefix, name in PARTS if rel.startswith(prefix)), None)
            frame = frame.f_back
        return part if in_meal else None

    def _on_sample(self, signum, frame) -> None:
        part = self._part(frame)
        if part is not None:
            self.samples += 1
            self.counts[part] += 1

    def start(self) -> None:
        signal.signal(signal.SIGPROF, self._on_sample)
        signal.setitimer(signal.ITIMER_PROF, 0.001, 0.001)

    def stop(self) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bites", type=int, default=2)
    parser.add_argument("--parts", action="store_true", help="also sample where the CPU time goes")
    args = parser.parse_args()

    from bidvis.simulation import CameraMode, run_simulated_meal
    from controller.journal import UsageJournal
    from sim.scenario import Scenario

    fingerprint = _Fingerprint()
    fingerprint.install()
    sampler = _PartSampler() if args.parts else None
    scenario = Scenario(name=f"meal_{args.bites}_bites", bites=args.bites, seed=1, max_duration_s=1800.0)
    load_before = Path("/proc/loadavg").read_text().split()[0]
    with tempfile.TemporaryDirectory() as tmp:
        journal = UsageJournal(Path(tmp) / "journal.sqlite3")
        try:
            if sampler:
                sampler.start()
            cpu_started, wall_started = time.process_time(), time.perf_counter()
            summary = run_simulated_meal(scenario, journal, camera_mode=CameraMode.GROUND_TRUTH)
            cpu_s, wall_s = time.process_time() - cpu_started, time.perf_counter() - wall_started
            if sampler:
                sampler.stop()
        finally:
            journal.close()
    simulated = summary.as_dict()
    for wall_clock_field in ("wall_s", "realtime_factor"):
        simulated.pop(wall_clock_field)
    print(
        json.dumps(
            {
                "bites_taken": summary.bites_taken,
                "sim_s": summary.duration_s,
                "cpu_s": round(cpu_s, 2),
                "wall_s": round(wall_s, 2),
                "realtime_factor_cpu": round(summary.duration_s / cpu_s, 1),
                "realtime_factor_wall": round(summary.duration_s / wall_s, 1),
                "load_average": f"{load_before} -> {Path('/proc/loadavg').read_text().split()[0]}",
                "wire_sha256": fingerprint.wire.hexdigest()[:16],
                "host_writes": fingerprint.transactions,
                "summary_sha256": hashlib.sha256(
                    json.dumps(simulated, sort_keys=True, default=str).encode()
                ).hexdigest()[:16],
            },
            indent=1,
        )
    )
    if sampler and sampler.samples:
        print(f"CPU share by part ({sampler.samples} samples inside the meal loop):")
        for part, count in sampler.counts.most_common():
            print(f"  {100 * count / sampler.samples:5.1f} %  {part}")


if __name__ == "__main__":
    main()
