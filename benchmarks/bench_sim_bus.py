"""The virtual servos' share of one 200 Hz control tick, without the controller or MuJoCo.

Run: .venv/bin/python -m pytest benchmarks/bench_sim_bus.py --benchmark-only
One round is what the bus does per meal tick: a SYNC WRITE of four goal positions, a SYNC READ of
the controller's 22-byte block from four servos, the servos' 5 ms of profile, watchdog and
(ideal) plant, and taking the reply bytes. Results go to docs/benchmarks.md `## Simulator`.
"""

from __future__ import annotations

import itertools

from firmware_bridge import protocol
from sim.virtual_bus import SimulatedClock, VirtualServoBus

IDS = (11, 12, 13, 14)
TICK_S = 0.005
PRESENT_BLOCK = (126, 22)  # Present Current .. Present Temperature, as controller.loop reads it


def _bus() -> tuple[VirtualServoBus, SimulatedClock]:
    clock = SimulatedClock()
    bus = VirtualServoBus(IDS, clock=clock, tick_s=TICK_S)
    for servo_id in IDS:
        bus.transmit(protocol.write(servo_id, 64, b"\x01"))  # torque on
    clock.advance_to(0.01)
    bus.pop_ready()
    return bus, clock


def test_virtual_bus_control_tick(benchmark):
    bus, clock = _bus()
    sync_read = protocol.sync_read(*PRESENT_BLOCK, IDS)
    goals = itertools.cycle(range(2000, 2100))
    expected_reply = (protocol.STATUS_OVERHEAD + PRESENT_BLOCK[1]) * len(IDS)

    def tick() -> int:
        goal = next(goals).to_bytes(4, "little", signed=True)
        bus.transmit(protocol.sync_write(116, {servo_id: goal for servo_id in IDS}))
        bus.transmit(sync_read)
        clock.advance_to(clock.now() + TICK_S)
        return len(bus.pop_ready())

    assert benchmark(tick) == expected_reply
