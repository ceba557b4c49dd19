"""The meal loop over the real virtual servos, on simulated time."""

from __future__ import annotations

import numpy as np
import pytest

from careplan_api.schemas import UsageEventType
from controller.config import demo_calibration
from controller.feeding import FeedingState
from controller.loop import run_meal


def run(table, **kwargs):
    return run_meal(
        table.bus,
        table.mouth,
        table.commands,
        table.clock,
        table.journal,
        table.profile,
        table.calibration,
        table.limits,
        on_tick=table.on_tick,
        **kwargs,
    )


def test_one_bite_meal_with_the_taught_scoops_runs_to_the_end_and_is_journalled(table):
    table.calibration = demo_calibration()
    report = run(table, max_duration_s=60.0)
    assert report.final_state is FeedingState.ENDED, report
    assert report.feeding.bites_offered == 1
    assert report.feeding.bites_taken == 1
    assert report.journal_errors == 0
    assert report.controller.reasons == {}  # no false alarm on a normal bite
    assert report.loop.overruns == 0
    kinds = [event.type for event, _ in table.journal.events()]
    assert kinds[0] is UsageEventType.MEAL_STARTED
    assert kinds[-1] is UsageEventType.MEAL_ENDED
    for kind in (UsageEventType.BOWL_SELECTED, UsageEventType.TRIGGER, UsageEventType.BITE_OFFERED, UsageEventType.BITE_TAKEN):
        assert kind in kinds


def test_bite_cycle_is_under_8_s_at_default_speeds(table):
    table.bites_wanted = 2
    report = run(table, max_duration_s=120.0)
    assert report.feeding.bites_taken == 2
    assert len(table.bite_cycles_s) == 2
    print("bite cycles (s):", table.bite_cycles_s)
    assert max(table.bite_cycles_s) < 8.0
