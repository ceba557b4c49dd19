"""The fixed-rate loop every motion of the arm runs on: the meal's (`controller.loop.run_meal`) and
the staff page's set-up moves (`bidvis.robot_ui.arm.ArmDriver`).

Ticks start on a fixed grid of slots. A tick that overruns its slot is counted, and the next tick
starts at the next free slot: missed slots are never run late one after another. A motion that keeps
to real time (set-up moves) is told how many periods to advance instead: one, plus the slots missed,
at most `catch_up_periods` more (a longer delay slows the motion rather than making it jump). A clock
that jumps backward restarts the grid at the current time. Lateness is measured against the slot
that was due (one period after the last tick's slot), so skipping slots never hides it. The clock
is injected: the robot's processes give `bidvis.motion_runtime.wall_clock.WallClock`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from controller.roles import Clock


@dataclass
class TickTiming:
    """Per-tick timing (s), when asked for: how late each tick started against the slot that was due,
    and (filled by the tick itself) how long its sync read, computation and sync write took."""

    lateness_s: list[float] = field(default_factory=list)
    read_s: list[float] = field(default_factory=list)
    compute_s: list[float] = field(default_factory=list)
    write_s: list[float] = field(default_factory=list)


@dataclass
class LoopStats:
    """Timing of the loop: ticks, overruns (ticks that ended after their slot was over), slots
    skipped because of them, backward clock jumps, and optionally per-tick timing."""

    ticks: int = 0
    overruns: int = 0
    slots_skipped: int = 0
    clock_jumps_back: int = 0
    timing: TickTiming | None = None


def next_slot(now_s: float, slot_s: float, period_s: float, stats: LoopStats) -> float:
    """The start of the next tick after the one in `slot_s`, at `now_s`: the next slot of the grid,
    skipping (and counting in `stats`) slots already past; a clock gone backward restarts the grid."""
    following = slot_s + period_s
    if now_s < slot_s - period_s:
        stats.clock_jumps_back += 1
        return now_s + period_s
    if now_s > following:
        missed = math.floor((now_s - following) / period_s) + 1
        stats.overruns += 1
        stats.slots_skipped += missed
        following += missed * period_s
    return following


def run_at_rate(
    tick: Callable[[int], bool],
    clock: Clock,
    period_s: float,
    stats: LoopStats,
    *,
    catch_up_periods: int = 0,
) -> None:
    """Call `tick(periods)` at the start of every slot of the grid of `period_s` from now on, until
    it returns False. `periods` is 1, or with `catch_up_periods` above 0, 1 plus the slots missed
    before this tick, at most `catch_up_periods` of them."""
    if not (math.isfinite(period_s) and period_s > 0.0):
        raise ValueError(f"the loop's period must be a positive number of seconds, got {period_s}")
    slot_s = due_s = clock.now()
    periods = 1
    while True:
        if stats.timing is not None:
            stats.timing.lateness_s.append(clock.now() - due_s)
        go_on = tick(periods)
        stats.ticks += 1
        if not go_on:
            return
        skipped = stats.slots_skipped
        due_s = slot_s + period_s
        slot_s = next_slot(clock.now(), slot_s, period_s, stats)
        due_s = min(due_s, slot_s)  # a clock that went backward restarts the grid
        periods = 1 + min(stats.slots_skipped - skipped, catch_up_periods)
        clock.sleep(slot_s - clock.now())


__all__ = ["LoopStats", "TickTiming", "next_slot", "run_at_rate"]
