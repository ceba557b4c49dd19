"""The simulator's per-tick judges (`bidvis.simulation.judge`) measure what they promise: a servo
stop is timed when the servo stopped, on its own clock, and the controller has
`ReportLimits.notice_arm_stop_s` from then to notice it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bidvis.simulation.judge import ArmStopJudge
from controller.feeding import FeedingState
from firmware_bridge.control_table import XM430_W350, Register
from sim.safety_report import ReportLimits
from sim.servo import VirtualServo

TICK_S = 0.01  # the meal's ticks while the bus is stalled: a failed read, then the next free slot


def stalled_servo(stops_at_s: float) -> VirtualServo:
    """A servo whose Bus Watchdog tripped at `stops_at_s` on its own clock: a packet held up by a
    USB stall moved it (and the plant) on to the stall's end before the meal's clock got there."""
    servo = VirtualServo(12)
    servo.write(XM430_W350[Register.TORQUE_ENABLE].address, b"\x01")
    servo.time_s = stops_at_s
    servo.trip_watchdog()
    return servo


def judge_ticks(judge: ArmStopJudge, first_tick_s: float, noticed_at_s: float, ticks: int = 12) -> None:
    controller = SimpleNamespace(state=FeedingState.APPROACH)
    for i in range(ticks):
        now_s = first_tick_s + i * TICK_S
        if now_s >= noticed_at_s - 1e-9:
            controller.state = FeedingState.FAULT
        judge.after_step(controller, now_s)  # type: ignore[arg-type]


@pytest.mark.parametrize(("noticed_after_s", "unnoticed"), [(0.0026, 0), (0.0126, 0), (0.0326, 1)])
def test_a_servo_stop_is_timed_on_the_servos_clock_not_when_a_tick_first_sees_it(noticed_after_s, unnoticed):
    """flawed_arm_s10 (tuning seed): the USB stall held a read up until 17.756 s, so at the tick of
    17.6876 s the servos had already been run to then, and their watchdog (last packet at 17.680 s)
    had tripped at 17.745 s on their clock. The judge used to date the stop 17.6876 s and count it
    unnoticed at 17.7176 s, before it had happened; the controller stopped the meal at 17.7576 s."""
    stops_at_s = 17.745
    servo = stalled_servo(stops_at_s)
    assert servo.stopped_s == stops_at_s and servo.get("bus_watchdog") == -1
    judge = ArmStopJudge(ReportLimits(), [servo])
    judge_ticks(judge, first_tick_s=17.6876, noticed_at_s=stops_at_s + noticed_after_s)
    assert judge.unnoticed == unnoticed  # 20 ms from the stop on the servo's clock, no more


def test_a_servo_whose_torque_goes_off_is_dated_when_it_went_off():
    servo = VirtualServo(13)
    torque = XM430_W350[Register.TORQUE_ENABLE].address
    servo.write(torque, b"\x01")
    assert servo.stopped_s is None
    servo.time_s = 3.0
    servo.write(torque, b"\x00")
    assert servo.stopped_s == 3.0
    judge = ArmStopJudge(ReportLimits(), [servo])
    judge_ticks(judge, first_tick_s=3.0, noticed_at_s=3.03)
    assert judge.unnoticed == 1
