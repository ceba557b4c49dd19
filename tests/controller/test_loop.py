"""The meal loop over the real virtual servos, on simulated time."""

from __future__ import annotations

import numpy as np
import pytest

from careplan_api.schemas import UsageEventType
from controller.config import demo_calibration, demo_profile, demo_safety_limits
from controller.feeding import CommandKind, FeedingState, UserCommand
from controller.kinematics import forward_spoon
from controller.loop import JointReading, MealController, run_meal


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


def test_one_bite_meal_runs_to_the_end_and_is_journalled(table):
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


def test_taught_scoop_visits_every_waypoint_under_the_speed_cap():
    """The demo calibration's real scoop, tick by tick without a bus (servos follow exactly)."""
    calibration, profile = demo_calibration(), demo_profile()
    controller = MealController(profile, calibration, demo_safety_limits(), calibration.ready_pose_rad, period_s=0.005)
    waypoints = [np.array(q) for q in calibration.bowls[0].waypoints_rad]
    visited, speeds = 0, []
    commands = [UserCommand(CommandKind.START_MEAL)]
    ones = np.ones(4)
    for tick in range(6000):
        q = controller.motion.q
        reading = JointReading(q.copy(), controller.motion.qd.copy(), ones * 0.1, ones * 12.0, ones * 40.0)
        controller.tick(tick * 0.005, reading, None, None, commands)
        commands = []
        speeds.append(controller.motion.spoon_speed_m_s)
        if visited < len(waypoints) and np.allclose(controller.motion.q, waypoints[visited], atol=1e-3):
            visited += 1
        if controller.state is FeedingState.READY:
            break
    assert controller.state is FeedingState.READY and controller.machine.loaded
    assert visited == len(waypoints)
    np.testing.assert_allclose(controller.motion.q, calibration.ready_pose_rad, atol=1e-3)
    assert max(speeds) <= profile.speed_m_s
    assert forward_spoon(controller.motion.q, calibration.spoon)[3] == pytest.approx(0.0, abs=1e-3)
