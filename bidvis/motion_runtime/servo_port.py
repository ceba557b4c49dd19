"""The servo port as a control loop drives the arm on it, opened one way for every loop.

The meal's loop (in its controller process, or in a thread for the simulator's in-process meal) and
the staff page's set-up loop (`bidvis.robot_ui.arm.ArmDriver`) both open their port here
(`open_budgeted_bus`): with the reply allowance the timing budget assumes (docs/controller.md,
"Timing budget": the bus's own 5 ms, plus the USB adapter's latency timer when Linux reports one,
so one lost reply costs the sync read's reply timeout, ~6.3 ms, not the 50 ms it once did), and
only once the budget holds for the loop that will use it. A budget that does not hold, or an
allowance that is not a positive number of seconds, is a `TimingBudgetError` in one line, raised
before anything is written to the servos (`controller.causes` says it in words).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from controller.servos import ArmServos
from controller.timing import TimingBudgetError, require_budget

if TYPE_CHECKING:
    from firmware_bridge import DynamixelBus

log = logging.getLogger(__name__)


def open_budgeted_bus(
    port: str,
    baudrate: int,
    joint_ids: Sequence[int],
    *,
    period_s: float,
    watchdog_s: float,
    max_bus_errors: int | None = None,
    reply_allowance_s: float | None = None,
) -> DynamixelBus:
    """The port for a loop of `period_s` over `joint_ids`, with the servos' Bus Watchdog at
    `watchdog_s` and `max_bus_errors` failed exchanges in a row allowed (None: the loop derives
    them from the reply timeout, as the set-up loop does), once the timing budget holds for the
    reply timeout of the loop's sync read on it (see the module docstring).
    `reply_allowance_s` None is the bus's own allowance, which the budget assumes."""
    from firmware_bridge import DynamixelBus

    allowance = reply_allowance_s
    if allowance is not None and not (math.isfinite(allowance) and allowance > 0):
        raise TimingBudgetError(
            f"the servo bus's reply allowance must be a positive number of seconds, got {allowance!r}"
        )
    bus = DynamixelBus(port, baudrate=baudrate, timeout=allowance)
    try:
        reply_timeout_s = ArmServos(joint_ids).read_timeout_s(bus)
        require_budget(period_s, reply_timeout_s, watchdog_s, max_bus_errors=max_bus_errors)
    except TimingBudgetError:
        bus.close()
        raise
    log.info(
        "servo bus: sync read reply timeout %.1f ms, Bus Watchdog %.0f ms", reply_timeout_s * 1e3, watchdog_s * 1e3
    )
    return bus


__all__ = ["open_budgeted_bus"]
