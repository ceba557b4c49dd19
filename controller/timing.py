"""The timing budget of the control loop against the servos' Bus Watchdog (docs/controller.md,
"Timing budget"), as pure functions of the figures it is made of.

A servo's Bus Watchdog stops it when no instruction packet has come for the watchdog time. A healthy
host must never trip it, and a dead one must still have the arm standing within `stop_within_s`:

- a tick whose sync read lost its reply waits out the reply timeout, then writes the goals; the
  next read comes a period after that tick began (the read instruction itself reached the servos);
- a tick may start up to `late_periods` periods late (the loop skips the slots it missed);
- both at once is the longest silence a servo hears from a healthy host; the watchdog must exceed
  it by `margin_s` (USB stalls of the adapter, the OS);
- a dead host: the watchdog time after its last packet, then the servos brake (`brake_s`, measured
  by `bidvis commission` as `stop_after_host_silence_s` minus the watchdog);
- the failed exchanges in a row that end the meal (`max_consecutive_bus_errors`) must outlast a
  USB stall of `margin_s`, which the watchdog rides out: a stall the servos hold through must not
  stop the meal either.

The meal's controller process judges the figures it will run with before anything moves
(`require_budget`, from `bidvis.motion_runtime.worker`): its loop period, the reply timeout of its
own sync read on the bus it opened, the Bus Watchdog and the bus errors allowed.
"""

from __future__ import annotations

import math


def longest_healthy_silence_s(period_s: float, reply_timeout_s: float, late_periods: int = 2) -> float:
    """The longest gap between two instruction packets of a healthy host: a read whose reply was lost
    (the host waits `reply_timeout_s` before writing) followed by a tick `late_periods` periods late."""
    return (1 + late_periods) * period_s + reply_timeout_s


def stall_bus_errors(reply_timeout_s: float, stall_s: float) -> int:
    """The most failed exchanges in a row that a USB stall of `stall_s` causes: the exchange under
    way when it starts, one per reply timeout while it lasts (a failed read waits out the timeout
    before the next tick), and a lost reply right after it."""
    return math.ceil(stall_s / reply_timeout_s) + 2


class TimingBudgetError(ValueError):
    """The timing budget does not hold for the figures the controller would run with."""


def budget_problems(
    period_s: float,
    reply_timeout_s: float,
    watchdog_s: float,
    brake_s: float | None,
    *,
    max_bus_errors: int | None = None,
    late_periods: int = 2,
    margin_s: float = 0.03,
    stop_within_s: float = 0.1,
) -> list[str]:
    """What breaks the budget (empty when it holds), each in words that say what to change
    (`max_bus_errors`, the meal's `max_consecutive_bus_errors`, is judged when given; `brake_s`
    None leaves the dead host's stop to `bidvis commission`, which measures it). A figure that
    is not a positive number of seconds (zero, negative, NaN) is the only problem named."""
    figures = {"loop period": period_s, "reply timeout": reply_timeout_s, "Bus Watchdog": watchdog_s}
    problems = [
        f"the {name} must be a positive number of seconds, got {value!r}"
        for name, value in figures.items()
        if not (math.isfinite(value) and value > 0)
    ]
    if brake_s is not None and not (math.isfinite(brake_s) and brake_s >= 0):
        problems.append(f"the braking time must be a number of seconds, zero or more, got {brake_s!r}")
    if problems:
        return problems
    silence = longest_healthy_silence_s(period_s, reply_timeout_s, late_periods)
    if watchdog_s < silence + margin_s:
        problems.append(
            f"the Bus Watchdog ({watchdog_s * 1e3:.0f} ms) would trip on a healthy host: a lost reply and a tick "
            f"{late_periods} periods late leave the servos {silence * 1e3:.1f} ms without a packet, plus "
            f"{margin_s * 1e3:.0f} ms for USB and OS stalls; raise watchdog_ms, or shorten the reply timeout "
            "(set the USB adapter's latency timer to 1 ms)"
        )
    if brake_s is not None and watchdog_s + brake_s > stop_within_s:
        problems.append(
            f"a dead host leaves the arm moving for {(watchdog_s + brake_s) * 1e3:.0f} ms (watchdog "
            f"{watchdog_s * 1e3:.0f} ms + braking {brake_s * 1e3:.0f} ms), over {stop_within_s * 1e3:.0f} ms; "
            "lower watchdog_ms or raise the position gains"
        )
    if max_bus_errors is not None and max_bus_errors <= (stalled := stall_bus_errors(reply_timeout_s, margin_s)):
        problems.append(
            f"a {margin_s * 1e3:.0f} ms USB stall, which the watchdog rides out, fails up to {stalled} exchanges "
            f"in a row and max_consecutive_bus_errors ({max_bus_errors}) would stop the meal; raise it above {stalled}"
        )
    return problems


def require_budget(
    period_s: float,
    reply_timeout_s: float,
    watchdog_s: float,
    brake_s: float | None = None,
    *,
    max_bus_errors: int | None = None,
) -> None:
    """`TimingBudgetError`, one line with the figures and every problem, unless the budget holds
    (`budget_problems`)."""
    problems = budget_problems(period_s, reply_timeout_s, watchdog_s, brake_s, max_bus_errors=max_bus_errors)
    if problems:
        raise TimingBudgetError(
            f"the timing budget does not hold (loop period {period_s * 1e3:.1f} ms, sync read reply timeout "
            f"{reply_timeout_s * 1e3:.1f} ms, Bus Watchdog {watchdog_s * 1e3:.0f} ms): " + "; ".join(problems)
        )


__all__ = ["TimingBudgetError", "budget_problems", "longest_healthy_silence_s", "require_budget", "stall_bus_errors"]
