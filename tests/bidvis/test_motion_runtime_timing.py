"""The meal process's servo bus against the timing budget (docs/controller.md, "Timing budget"): it
opens the port with the reply allowance the budget assumes, so one lost reply costs a tick ~6 ms,
not 50, and it refuses at start, in one line and before anything moves, figures the budget cannot
hold. On virtual servos with a simulated clock, and as the web server starts the process, on
`bidvis sim-bus`."""

from __future__ import annotations

import pytest

from bidvis.motion_runtime.runner import ControllerProcess
from bidvis.motion_runtime.worker import Setup, open_servo_bus
from controller.causes import Cause
from controller.config import SafetyLimits, demo_calibration, demo_profile, demo_safety_limits
from controller.feeding import CommandKind, FeedingState
from controller.journal import UsageJournal
from controller.loop import LatestValue
from controller.servos import ArmServos
from controller.timing import TimingBudgetError, longest_healthy_silence_s
from firmware_bridge import BusTimeout, DynamixelBus
from firmware_bridge.bus import DEFAULT_ALLOWANCE_S
from firmware_bridge.control_table import XM430_W350, Register
from sim.virtual_bus import SimulatedClock, VirtualServoBus
from tests.bidvis.conftest import sim_bus_process

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


def servo_settings(port: str) -> dict[Register, dict[int, bytes]]:
    """What a meal's start-up writes: Torque Enable and Bus Watchdog of each joint servo."""
    with DynamixelBus(port, baudrate=CALIBRATION.baudrate, timeout=0.1) as bus:
        return {
            register: bus.sync_read(XM430_W350[register].address, XM430_W350[register].size, JOINT_IDS)
            for register in (Register.TORQUE_ENABLE, Register.BUS_WATCHDOG)
        }


def test_the_controller_process_reports_the_refusal_and_moves_nothing(tmp_path):
    """As the web server starts it, on `bidvis sim-bus` in a process of its own: the refusal comes
    back as how the meal ended, nothing is journalled and nothing is written to the servos."""
    journal = UsageJournal(tmp_path / "journal.sqlite3")
    with sim_bus_process(tmp_path / "ttyARM") as link:
        before = servo_settings(str(link))
        process = ControllerProcess(setup_for(str(link), reply_allowance_s=0.05), journal, LatestValue())
        process.panel(CommandKind.START_MEAL, None, "staff Anna from 127.0.0.1")
        process.start()
        try:
            assert process.wait(60), "the controller process did not end"
        finally:
            process.end()
        finished = process.finished
        assert finished is not None and finished.final_state is FeedingState.FAULT
        assert finished.error is not None and finished.error.startswith("the timing budget does not hold")
        assert "sync read reply timeout 51.3 ms" in finished.error and "\n" not in finished.error
        assert finished.cause is Cause.TIMING_BUDGET  # what the staff page says, in words
        assert list(journal.events()) == []
        assert servo_settings(str(link)) == before
        assert before[Register.BUS_WATCHDOG] == {i: b"\x00" for i in JOINT_IDS}  # a meal would have armed it
    journal.close()
