"""The fixed-rate loop of every motion (`controller.schedule`): the grid, late ticks, a clock gone back."""

from __future__ import annotations

import math

import pytest

from controller.schedule import LoopStats, TickTiming, next_slot, run_at_rate
from sim.virtual_bus import SimulatedClock

PERIOD_S = 0.005


class LateClock:
    """A simulated clock whose sleeps end late by the given amounts, one per sleep (then on time)."""

    def __init__(self, late_s: list[float]) -> None:
        self.clock = SimulatedClock()
        self.late_s = list(late_s)

    def now(self) -> float:
        return self.clock.now()

    def sleep(self, seconds: float) -> None:
        late = self.late_s.pop(0) if self.late_s else 0.0
        self.clock.advance_to(self.clock.now() + max(seconds, 0.0) + late)


def run_ticks(clock, ticks: int, catch_up: int, stats: LoopStats | None = None) -> list[tuple[float, int]]:
    """Run `ticks` ticks; each tick's (start time, periods)."""
    seen: list[tuple[float, int]] = []

    def tick(periods: int) -> bool:
        seen.append((clock.now(), periods))
        return len(seen) < ticks

    run_at_rate(tick, clock, PERIOD_S, stats or LoopStats(), catch_up_periods=catch_up)
    return seen


def test_next_slot_skips_and_counts_slots_already_past_and_restarts_after_the_clock_went_back():
    stats = LoopStats()
    assert next_slot(0.004, 0.0, PERIOD_S, stats) == 0.005  # on time
    assert (stats.overruns, stats.slots_skipped) == (0, 0)
    assert next_slot(0.006, 0.0, PERIOD_S, stats) == pytest.approx(0.01)  # one slot missed
    assert (stats.overruns, stats.slots_skipped) == (1, 1)
    assert next_slot(0.5, 0.0, PERIOD_S, stats) == pytest.approx(0.505)  # starved for half a second
    assert stats.slots_skipped == 1 + 100
    assert next_slot(-1.0, 0.0, PERIOD_S, stats) == pytest.approx(-0.995)  # the clock went back
    assert stats.clock_jumps_back == 1


def test_ticks_on_time_keep_to_the_grid_and_advance_one_period_each():
    seen = run_ticks(LateClock([]), 5, catch_up=2)
    assert [t for t, _ in seen] == pytest.approx([i * PERIOD_S for i in range(5)])
    assert {periods for _, periods in seen} == {1}


def test_a_late_tick_of_a_motion_that_keeps_to_real_time_catches_up_at_most_the_allowed_periods():
    """Set-up moves (catch-up 2): one slot missed is made up; half a second starved is not (the
    motion slows rather than jumps). The meal's loop (catch-up 0) never advances more than one."""
    late = [0.0, PERIOD_S * 1.5, 0.0, 0.5 + PERIOD_S / 2, 0.0]  # after the 2nd and the 4th tick
    stats = LoopStats()
    seen = run_ticks(LateClock(late), 6, catch_up=2, stats=stats)
    # Lateness is seen when the late tick ends, so the tick after a late one catches up.
    assert [periods for _, periods in seen] == [1, 1, 1, 2, 1, 3]
    assert stats.ticks == 6 and stats.overruns == 2 and stats.slots_skipped == 1 + 100
    meal = run_ticks(LateClock(late), 6, catch_up=0)
    assert {periods for _, periods in meal} == {1}


def test_lateness_is_measured_against_the_slot_that_was_due_not_the_free_one_taken():
    stats = LoopStats(timing=TickTiming())
    run_ticks(LateClock([0.0, 0.012]), 3, catch_up=0, stats=stats)
    assert stats.timing is not None
    assert stats.timing.lateness_s == pytest.approx([0.0, 0.0, 0.012])


@pytest.mark.parametrize("period_s", [0.0, -0.005, math.nan, math.inf])
def test_a_loop_without_a_positive_finite_period_is_refused(period_s):
    with pytest.raises(ValueError, match="positive number of seconds"):
        run_at_rate(lambda _periods: False, LateClock([]), period_s, LoopStats())
