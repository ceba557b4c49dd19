"""The meal's loop in the controller process while the web app is flooded (issue 17 item 4).

`bidvis sim-bus` in its own process (4 virtual XM430-W350, pty, default flawed arm), the meal's
loop in the controller process (`bidvis.motion_runtime`, real-time priority when allowed), the
robot's web app on uvicorn on 127.0.0.1 in this process with a still face fed at 30 Hz. The loop
ticks `BIDVIS_FLOOD_QUIET_S` (default 10 s) without traffic, then `BIDVIS_FLOOD_S` (default 10 s)
while `BIDVIS_FLOOD_ATTACKERS` (default 3) threads send huge declared bodies, huge streamed
bodies and many small requests without login (tests/bidvis/flooding.py). Figures: the tick
interval's deviation from the 5 ms period (p50/p99/max) in both windows, the longest interval,
and whether the meal was stopped (a watchdog trip stops it).

    .venv/bin/python -m pytest benchmarks/bench_controller_process_flood.py -s
"""

from __future__ import annotations

import os

from bidvis.robot_ui.staff_login import STAFF_ACCOUNTS_FILE, LoginThrottle, StaffAccounts, StaffLogin, StaffSessions
from tests.bidvis.conftest import CHEAP_HASHER, PASSWORD
from tests.bidvis.flooding import Measurement, flooded_robot, measure


def test_loop_jitter_with_and_without_a_flood(benchmark, tmp_path):
    quiet_s = float(os.environ.get("BIDVIS_FLOOD_QUIET_S", "10"))
    flood_s = float(os.environ.get("BIDVIS_FLOOD_S", "10"))
    attackers = int(os.environ.get("BIDVIS_FLOOD_ATTACKERS", "3"))
    accounts = StaffAccounts(tmp_path / STAFF_ACCOUNTS_FILE, hasher=CHEAP_HASHER)
    accounts.add("Anna", PASSWORD)
    results = {}

    def run():
        with flooded_robot(tmp_path, StaffLogin(accounts, StaffSessions(), LoginThrottle())) as robot:
            results["seen"] = measure(robot, quiet_s, flood_s, attackers)
            results["meal"] = robot.session.meal.status()

    benchmark.pedantic(run, rounds=1, iterations=1)
    seen: Measurement = results["seen"]
    assert seen.stopped_before_flood is None, seen.stopped_before_flood
    info = {
        "quiet_ticks": len(seen.quiet_s),
        "flooded_ticks": len(seen.flooded_s),
        **{
            f"{window}_jitter_{name}_ms": round(Measurement.jitter_ms(intervals, percentile), 3)
            for window, intervals in (("quiet", seen.quiet_s), ("flooded", seen.flooded_s))
            for name, percentile in (("p50", 50), ("p99", 99), ("max", 100))
        },
        "quiet_longest_interval_ms": round(max(seen.quiet_s) * 1e3, 2),
        "flooded_longest_interval_ms": round(max(seen.flooded_s) * 1e3, 2),
        "answers": seen.answers,
        "meal_running": results["meal"]["running"],
        "meal_result": results["meal"]["result"],
    }
    benchmark.extra_info.update(info)
    print("\ncontroller process under flood:", info)
    assert seen.quiet_s and seen.flooded_s
