"""How fast the virtual servo bus runs a 200 Hz control loop in simulated time.

One cycle: `DynamixelBus.sync_write` of 5 goal positions and `sync_read` of present current,
velocity and position from the 5 servos through `bidvis-sim://` on a `SimulatedClock`, then 5 ms
of simulated time (the rest of the 200 Hz tick: 5 servo ticks of profile, plant and present values).
The wall time per cycle says how much faster than real time a simulation with the servos can run.
"""

from __future__ import annotations

import pytest

from firmware_bridge import DynamixelBus
from sim.virtual_bus import SimulatedClock, VirtualServoBus

IDS = (11, 12, 13, 14, 15)
TICK_S = 0.005


@pytest.fixture
def sim_host():
    bus = VirtualServoBus.start(IDS, clock=SimulatedClock(), eeprom={"return_delay_time": 0})
    with DynamixelBus(bus.url) as host:
        for servo_id in IDS:
            host.write(servo_id, 64, b"\x01")
        yield bus, host
    bus.close()


def test_simulated_control_tick(benchmark, sim_host):
    bus, host = sim_host
    clock = bus.clock
    step = [0]

    def cycle() -> None:
        step[0] += 1
        goal = 2048 + (step[0] % 400)  # keep the servos moving
        host.sync_write(116, {i: goal.to_bytes(4, "little") for i in IDS})
        host.sync_read(126, 10, IDS)
        clock.sleep(TICK_S)
        bus.advance_to(clock.now())

    benchmark.pedantic(cycle, rounds=400, iterations=1, warmup_rounds=20)
    if benchmark.disabled:  # --benchmark-disable: one plain run, no timings
        return
    benchmark.extra_info["simulated_s_per_cycle"] = TICK_S
    benchmark.extra_info["speed_vs_real_time"] = TICK_S / benchmark.stats.stats.median
