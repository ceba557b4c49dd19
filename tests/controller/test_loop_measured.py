"""The meal acts on the measured arm, on the real virtual servos and simulated time: a servo that
stops, loses its torque or is blocked is noticed within a tick or two, the meal stops and is closed
in the journal at once, no bite is logged that the arm did not give, and the planner's errors are
named safe stops."""

from __future__ import annotations

import pytest

from careplan_api.schemas import UsageEventType
from controller.feeding import FeedingState
from controller.kinematics import forward_spoon
from controller.safety import SafetyReason
from firmware_bridge.control_table import XM430_W350, Register
from tests.controller.test_loop_hostile import Once, approaching_for, journalled, run

PERIOD_S = 0.005


class FirstTickOf:
    """Remember the simulated time of the first tick on which `reason` was counted."""

    def __init__(self, table, reason):
        self.table, self.reason, self.at_s = table, reason, None

    def __call__(self, controller):
        if self.at_s is None and controller.stats.reasons.get(self.reason):
            self.at_s = self.table.clock.now()


def at_mouth(controller):
    return controller.state is FeedingState.AT_MOUTH


def meal_with_fault(table, due, fault, reason):
    """Run the meal, doing `fault(controller)` once when `due(controller)`; returns the report, when
    the fault was done, and the first tick that counted `reason` (None if none did)."""
    done_at = []
    first = FirstTickOf(table, reason)

    def inject(controller):
        done_at.append(table.clock.now())
        fault(controller)

    injector = Once(due, inject)

    def on_tick(controller):
        injector(controller)
        first(controller)

    report = run(table, on_tick)
    return report, (done_at[0] if done_at else None), first.at_s


def stopped_meal(table, reason):
    """What the journal says of a meal stopped for `reason`."""
    kinds = [event.type for event, _ in table.journal.events()]
    assert journalled(table, UsageEventType.SAFETY_STOP)[-1]["reason"] == reason
    assert journalled(table, UsageEventType.FAULT)[-1]["reason"] == reason
    (ended,) = journalled(table, UsageEventType.MEAL_ENDED)
    assert ended["reason"] == "interrupted" and ended["stopped_by"] == reason
    assert kinds[-1] is UsageEventType.MEAL_ENDED  # closed at once, nothing after it
    assert table.journal.open_meal_id is None
    return kinds


@pytest.mark.parametrize("when", ["approach", "at_mouth"])
def test_a_tripped_watchdog_is_noticed_within_one_tick_and_closes_the_meal(table, when):
    due = approaching_for(0.3, table) if when == "approach" else at_mouth
    report, tripped_at, first_at = meal_with_fault(
        table, due, lambda _: table.servos.servo(12).trip_watchdog(), SafetyReason.WATCHDOG_TRIPPED
    )
    assert report.final_state is FeedingState.FAULT
    assert first_at is not None and first_at - tripped_at <= PERIOD_S + 1e-9  # the next tick
    kinds = stopped_meal(table, "watchdog_tripped")
    assert UsageEventType.BITE_TAKEN not in kinds


@pytest.mark.parametrize(("stall_s", "max_bus_errors"), [(0.075, None), (0.2, None), (0.2, 12)])
def test_a_usb_stall_that_trips_the_watchdog_is_a_stop_within_20_ms_of_the_servos_stopping(
    table, stall_s, max_bus_errors
):
    """A USB stall longer than the Bus Watchdog (the flawed arm's adapter, `flawed_arm` runs of the
    campaign): no read can say the servos stopped until the link is back, so the meal stops once
    the bus has gone unanswered for the watchdog time, within 20 ms of the servos' own stop
    (`ReportLimits.notice_arm_stop_s`), however many failed reads in a row end a meal: counting
    them to 8 took 78 ms here (18 ms after the servos stopped), to 12 some 40 ms longer."""
    if max_bus_errors is not None:
        table.limits = table.limits.model_copy(update={"max_consecutive_bus_errors": max_bus_errors})
    report, stalled_at, first_at = meal_with_fault(
        table, approaching_for(0.3, table), lambda _: table.servos.stall_usb(stall_s), SafetyReason.BUS_ERRORS
    )
    assert report.final_state is FeedingState.FAULT
    stops = [servo.stopped_s for servo in table.servos.servos if servo.stopped_s is not None]
    assert len(stops) == len(table.servos.servos)  # the watchdog stopped every servo
    servos_stopped_s = min(stops)
    assert stalled_at is not None and servos_stopped_s > stalled_at
    assert first_at is not None and first_at - servos_stopped_s <= 0.02
    stopped_meal(table, "bus_errors")
    assert "Bus Watchdog" in journalled(table, UsageEventType.SAFETY_STOP)[-1]["detail"]


def test_torque_lost_mid_approach_is_a_safe_stop_within_one_tick(table):
    torque = XM430_W350[Register.TORQUE_ENABLE].address

    def lose(controller):
        table.servos.servo(13).write(torque, b"\x00")  # as if another program or a brown-out did it

    report, lost_at, first_at = meal_with_fault(table, approaching_for(0.3, table), lose, SafetyReason.TORQUE_OFF)
    assert report.final_state is FeedingState.FAULT
    assert first_at is not None and lost_at is not None and first_at - lost_at <= PERIOD_S + 1e-9
    stopped_meal(table, "torque_off")


def test_a_blocked_joint_is_a_following_error_and_the_command_stops_where_the_arm_is(table):
    def block(controller):
        table.plant.blocked[12] = float(controller.measured_q[1])

    report = run(table, Once(approaching_for(0.2, table), block))
    assert report.final_state is FeedingState.FAULT
    assert report.controller.reasons.get(SafetyReason.FOLLOWING_ERROR) == 1
    stopped_meal(table, "following_error")


def test_a_normal_meal_has_no_following_error_and_its_bite_is_measured_at_the_mouth(table):
    spoons = []

    def on_tick(controller):
        if controller.state is FeedingState.AT_MOUTH:
            spoons.append(forward_spoon(controller.measured_q, controller.spoon)[:3])

    report = run(table, on_tick)
    assert report.final_state is FeedingState.ENDED and report.feeding.bites_taken == 1
    assert report.controller.reasons == {}
    assert spoons  # the measured spoon stood at the mouth while the bite was taken


def test_any_planner_error_is_a_named_safe_stop_never_an_internal_error(table, monkeypatch):
    from controller import motion

    def refuse(self, generator, inp, out):
        raise ValueError("ruckig: -101 (trajectory duration exceeds its numerical limits)")

    failing = Once(approaching_for(0.2, table), lambda _: monkeypatch.setattr(motion.Motion, "_update", refuse))
    report = run(table, failing)
    assert report.final_state is FeedingState.FAULT
    stop = journalled(table, UsageEventType.SAFETY_STOP)[-1]
    assert stop["reason"] == "planner_error" and "-101" in stop["detail"]


def test_a_reading_beyond_the_joint_limits_after_a_stop_is_a_stop_never_a_crash():
    """A blocked or dropped arm can read outside the joint limits (or garbage): the command restarts
    from the nearest angle within them, and the tick never raises."""
    import numpy as np

    from controller.config import demo_calibration, demo_profile, demo_safety_limits
    from controller.loop import JointReading, MealController

    calibration = demo_calibration()
    controller = MealController(
        demo_profile(), calibration, demo_safety_limits(), calibration.ready_pose_rad, period_s=PERIOD_S
    )
    ones = np.ones(4)
    for t, q in ((0.0, (0.0, -3.0, 0.0, 0.0)), (0.005, (np.nan, 0.0, 0.0, 0.0)), (0.01, (0.0, -3.0, 0.0, 0.0))):
        reading = JointReading(np.array(q), np.zeros(4), ones * 0.1, ones * 12.0, ones * 40.0)
        command = controller.tick(t, reading, None, None, [])
        assert np.all(np.isfinite(command))
    assert controller.state is FeedingState.FAULT
    assert controller.stats.reasons.get(SafetyReason.FOLLOWING_ERROR) == 1


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        # Both within the servo's own limits (Temperature Limit 80 degC, Min Voltage Limit 9.5 V), so
        # no Alert comes: only the controller's limits (70 degC, 10.5 V) on the read values stop it.
        (lambda servo: servo.set_temperature(75.0), SafetyReason.OVERHEATING),
        (lambda servo: servo.set_input_voltage(10.0), SafetyReason.LOW_VOLTAGE),
    ],
)
def test_a_hot_servo_or_a_low_supply_read_in_the_tick_stops_the_meal_at_the_next_tick(table, fault, reason):
    report, done_at, first_at = meal_with_fault(
        table, approaching_for(0.3, table), lambda _: fault(table.servos.servo(13)), reason
    )
    assert report.final_state is FeedingState.FAULT
    assert first_at is not None and first_at - done_at <= PERIOD_S + 1e-9
    stopped_meal(table, reason.value)
