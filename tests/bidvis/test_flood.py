"""A web server flooded with large and many requests during a meal cannot starve the control loop
(issue 17 item 4): the meal's loop runs in the controller process (tests/bidvis/flooding.py).

The loop's tick intervals are compared in the same run without and with the flood. The timing
figures are in docs/benchmarks.md (benchmarks/bench_controller_process_flood.py); this test
asserts only what must hold: no stop and no watchdog trip, and a bound on how much worse the
flood makes the loop's jitter, generous for a loaded 2-core test machine.

If the meal stops in the quiet window, before any flood, the machine is too loaded to judge and
the test is skipped, saying why. The servos' Bus Watchdog is set to 200 ms here (as during set-up), not the meal's 60 ms: on this
shared 2-core machine, with other test processes running, the pseudo-terminal between the loop
and the emulated servos alone stalls for up to ~100 ms now and then, flood or not (the kernel's
tty work runs at normal priority). The benchmark measures with the product's 60 ms.
"""

from __future__ import annotations

import pytest

from careplan_api.schemas import UsageEventType
from controller.config import demo_safety_limits
from tests.bidvis.flooding import PERIOD_S, Measurement, flooded_robot, measure

WATCHDOG_MS = 200
JITTER_RATIO_BOUND = 4.0  # p99 of |interval - period| with the flood over without (plus one period of slack)


def test_a_flood_of_requests_during_a_meal_does_not_starve_the_loop(tmp_path, make_staff_login):
    limits = demo_safety_limits().model_copy(update={"watchdog_ms": WATCHDOG_MS})
    with flooded_robot(tmp_path, make_staff_login(tmp_path), limits) as robot:
        seen = measure(robot, quiet_s=3.0, flood_s=4.0, attackers=3)
        if seen.stopped_before_flood is not None:  # nothing to compare: the machine, not the flood, stopped it
            pytest.skip(
                f"this machine is too loaded to judge: the meal stopped before any flood: {seen.stopped_before_flood}"
            )
        meal = robot.session.meal.status()
        stops = [e for e, _ in robot.journal.events() if e.type in (UsageEventType.SAFETY_STOP, UsageEventType.FAULT)]
    longest_ms = [round(max(intervals, default=0.0) * 1e3, 1) for intervals in (seen.quiet_s, seen.flooded_s)]
    assert meal["running"] and stops == [], (meal["result"], longest_ms)
    assert seen.answers.get("413", 0) > 10 and seen.answers.get("401", 0) > 10, seen.answers  # it reached the web
    assert len(seen.flooded_s) >= 400, "the loop did not tick through the flood"
    assert max(seen.flooded_s) < WATCHDOG_MS / 1e3, f"a tick {max(seen.flooded_s) * 1e3:.1f} ms after the last"
    quiet_ms, flooded_ms = Measurement.jitter_ms(seen.quiet_s, 99), Measurement.jitter_ms(seen.flooded_s, 99)
    assert flooded_ms <= JITTER_RATIO_BOUND * quiet_ms + PERIOD_S * 1e3, (quiet_ms, flooded_ms)
