"""The meal process's servo bus against the timing budget (docs/controller.md, "Timing budget"): it
opens the port with the reply allowance the budget assumes, so one lost reply costs a tick ~6 ms,
not 50, and it refuses at start, in one line and before anything moves, figures the budget cannot
hold. On virtual servos with a simulated clock."""

from __future__ import annotations

import multiprocessing

import pytest

from bidvis.motion_runtime import messages
from bidvis.motion_runtime.worker import Setup, open_servo_bus, serve
from controller.config import SafetyLimits, demo_calibration, demo_profile, demo_safety_limits
from controller.feeding import FeedingState
from controller.servos import ArmServos
from controller.timing import TimingBudgetError, longest_healthy_silence_s
from firmware_bridge import BusTimeout
from firmware_bridge.bus import DEFAULT_ALLOWANCE_S
from sim.virtual_bus import SimulatedClock, VirtualServoBus

CALIBRATION = demo_calibration().model_copy(update={"tool_servo_id": None})
LIMITS = demo_safety_limits()
PERIOD_S = 1.0 / CALIBRATION.rate_hz
JOINT_IDS = CALIBRATION.joint_servo_ids


@pytest.fixture
def servos():
    servos = VirtualServoBus.start(ids=JOINT_IDS, clock=SimulatedClock())
    yield servos
    servos.close()


def setup_for(url: str, **changes) -> Setup:
    return Setup(
        port=url,
        baudrate=CALIBRATION.baudrate,
        profile=demo_profile().model_dump(mode="json"),
        calibration=CALIBRATION.model_dump(mode="json"),
        limits=LIMITS.model_dump(mode="json"),
        **changes,
    )


def test_a_lost_reply_in_the_meal_process_costs_one_ticks_allowance(servos):
    with open_servo_bus(setup_for(servos.url), CALIBRATION, LIMITS) as bus:
        arm = ArmServos(JOINT_IDS)
        assert bus.allowance_s == DEFAULT_ALLOWANCE_S  # the budget's, not the old 50 ms
        servos.servo(12).reply_faults.drop = 1  # the next read's reply from joint 2 is lost
        sent_s = servos.clock.now()
        with pytest.raises(BusTimeout):
            arm.read(bus)
        lost_s = servos.clock.now() - sent_s
        assert lost_s == pytest.approx(arm.read_timeout_s(bus), abs=1e-4)
        assert DEFAULT_ALLOWANCE_S <= lost_s <= PERIOD_S + DEFAULT_ALLOWANCE_S  # ~6.3 ms: within one tick's allowance
        # so that a lost reply and a tick two periods late leave the 60 ms watchdog its 30 ms margin
        assert longest_healthy_silence_s(PERIOD_S, lost_s) + 0.03 < LIMITS.watchdog_ms / 1000.0


def untouched(servos) -> bool:
    """Nothing was written to the servos: torque off and Bus Watchdog off, as at power-on."""
    servos.advance_to(servos.clock.now())
    return all(
        servos.servo(i).get("torque_enable") == 0 and servos.servo(i).get("bus_watchdog") == 0 for i in JOINT_IDS
    )


HOSTILE = {
    "zero allowance": ({"reply_allowance_s": 0.0}, {}, "reply allowance must be a positive number"),
    "negative allowance": ({"reply_allowance_s": -0.005}, {}, "reply allowance must be a positive number"),
    "NaN allowance": ({"reply_allowance_s": float("nan")}, {}, "reply allowance must be a positive number"),
    "the old 50 ms allowance": ({"reply_allowance_s": 0.05}, {}, "would trip on a healthy host"),
    "a watchdog shorter than one lost reply": (
        {"reply_allowance_s": 0.05},
        {"watchdog_ms": 40},
        "would trip on a healthy host",
    ),
    "a 20 ms watchdog": ({}, {"watchdog_ms": 20}, "would trip on a healthy host"),
    "too few bus errors for a USB stall": ({}, {"max_consecutive_bus_errors": 3}, "USB stall"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_a_budget_that_cannot_hold_is_refused_at_start_in_one_line(servos, case):
    changes, limit_changes, reason = HOSTILE[case]
    limits = SafetyLimits.model_validate({**LIMITS.model_dump(), **limit_changes})
    with pytest.raises(TimingBudgetError, match=reason) as refused:
        open_servo_bus(setup_for(servos.url, **changes), CALIBRATION, limits)
    assert "\n" not in str(refused.value)
    assert untouched(servos)


def test_the_controller_process_reports_the_refusal_and_moves_nothing(servos):
    """The process's body as the web server starts it: the refusal comes back as how the meal ended."""
    setup = setup_for(servos.url, reply_allowance_s=0.05)
    ours, theirs = multiprocessing.Pipe(duplex=True)
    serve(theirs, setup)
    received = []
    while ours.poll(1.0):
        try:
            received.append(messages.from_controller(ours.recv_bytes()))
        except EOFError:
            break
    finished = received[-1]
    assert isinstance(finished, messages.Finished) and finished.final_state is FeedingState.FAULT
    assert finished.error is not None and finished.error.startswith("the timing budget does not hold")
    assert "sync read reply timeout 51.3 ms" in finished.error and "\n" not in finished.error
    assert untouched(servos)
