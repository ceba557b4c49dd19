"""The meal loop over the real virtual servos, on simulated time."""

from __future__ import annotations

import numpy as np
import pytest

from careplan_api.schemas import UsageEventType
from controller.config import demo_calibration, demo_profile, demo_safety_limits
from controller.feeding import CommandKind, FeedingState, UserCommand
from controller.kinematics import forward_spoon
from controller.loop import JointReading, MealController, run_meal
from controller.safety import SafetyReason


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
    # On the flawed arm a lost reply costs the sync read its whole reply timeout (wire time + 5 ms,
    # firmware_bridge.bus), which is longer than the 5 ms period: that tick, and only that one, overruns.
    assert report.loop.overruns <= report.controller.bus_errors
    kinds = [event.type for event, _ in table.journal.events()]
    assert kinds[0] is UsageEventType.MEAL_STARTED
    assert kinds[-1] is UsageEventType.MEAL_ENDED
    for kind in (
        UsageEventType.BOWL_SELECTED,
        UsageEventType.TRIGGER,
        UsageEventType.BITE_OFFERED,
        UsageEventType.BITE_TAKEN,
    ):
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


class CountingBus:
    """The real bus, with its sync reads and writes counted."""

    def __init__(self, bus):
        self.bus, self.reads, self.writes = bus, 0, 0

    def sync_read(self, address, length, ids):
        self.reads += 1
        return self.bus.sync_read(address, length, ids)

    def sync_write(self, address, data):
        self.writes += 1
        return self.bus.sync_write(address, data)

    def read(self, servo_id, address, length):
        return self.bus.read(servo_id, address, length)

    def write(self, servo_id, address, data):
        return self.bus.write(servo_id, address, data)


def test_one_sync_read_and_one_sync_write_per_tick_with_the_watchdog_armed(table):
    counting = CountingBus(table.bus)
    table.bus = counting
    watchdog = []

    def on_tick(controller):
        table.on_tick(controller)
        watchdog.append(table.servos.servo(11).get("bus_watchdog"))

    report = run_meal(
        counting,
        table.mouth,
        table.commands,
        table.clock,
        table.journal,
        table.profile,
        table.calibration,
        table.limits,
        on_tick=on_tick,
        max_duration_s=60.0,
    )
    assert report.final_state is FeedingState.ENDED
    assert counting.reads == report.loop.ticks + 1  # plus the start position
    assert counting.writes == report.loop.ticks
    assert set(watchdog) == {table.limits.watchdog_steps}


def test_start_up_writes_the_configured_position_gains_to_every_joint_servo(table):
    table.limits = table.limits.model_copy(update={"position_p_gain": 2345, "position_d_gain": 67})
    run(table, max_duration_s=0.5)
    for servo_id in table.calibration.joint_servo_ids:
        servo = table.servos.servo(servo_id)
        assert (servo.get("position_p_gain"), servo.get("position_d_gain")) == (2345, 67)


def test_a_gain_past_the_register_range_stops_the_start_up_before_it_is_sent(table):
    # pydantic validated the limits; a value past them reaches the bus only by bypassing it
    table.limits = table.limits.model_construct(**(table.limits.model_dump() | {"position_p_gain": 16384}))
    with pytest.raises(ValueError, match="POSITION_P_GAIN raw value 16384"):
        run(table, max_duration_s=0.5)
    assert table.servos.servo(11).get("position_p_gain") == 800


def test_a_command_outside_the_workspace_is_never_sent(table):
    from controller.safety import Workspace

    calibration, profile = table.calibration, table.profile
    q0 = np.array(calibration.ready_pose_rad)
    # A workspace whose ceiling is below the ready pose's spoon: the first step of the first move
    # is outside it.
    controller = MealController(
        profile, calibration, table.limits, q0, period_s=0.005, workspace=Workspace(max_z_m=0.20)
    )
    ones = np.ones(4)
    reading = JointReading(q0, np.zeros(4), ones * 0.1, ones * 12.0, ones * 40.0)
    sent = [controller.tick(0.0, reading, None, None, [UserCommand(CommandKind.START_MEAL)])]
    for tick in range(1, 100):
        sent.append(controller.tick(tick * 0.005, reading, None, None, []))
    assert controller.state is FeedingState.FAULT
    assert SafetyReason.WORKSPACE in controller.stats.reasons
    np.testing.assert_array_equal(np.array(sent), np.tile(q0, (100, 1)))
