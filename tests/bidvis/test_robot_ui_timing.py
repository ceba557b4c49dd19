"""Every port that drives the arm from the staff page opens as `bidvis run`'s controller process
opens its own (`bidvis.motion_runtime.servo_port.open_budgeted_bus`): the reply allowance the
timing budget assumes, and the budget judged before anything is written. The meal started from the
staff page (in-process, as in `bidvis ui --sim`) and the staff page's own set-up loop (in the set-up
process; its body's `connect_driver` is called here directly to look at its port), on virtual
servos, with hostile settings: each refusal is said in words, and the servos are left as they were."""

from __future__ import annotations

import pytest

from bidvis.motion_runtime.setup_worker import connect_driver
from bidvis.robot_ui import meal as meal_module
from bidvis.robot_ui.arm import SETUP_WATCHDOG_STEPS
from careplan_api.schemas import UsageEventType
from controller.feeding import FeedingState
from controller.timing import stall_bus_errors
from firmware_bridge import BusTimeout
from firmware_bridge.bus import DEFAULT_ALLOWANCE_S
from tests.bidvis.conftest import wait_for

JOINT_IDS = (11, 12, 13, 14)
MEAL_START = {"command": "select_bowl", "bowl": 0}


def registers(robot, name: str) -> list[int]:
    with robot.bus.lock:
        robot.bus.advance_to(robot.bus.clock.now())
        return [robot.bus.servo(i).get(name) for i in JOINT_IDS]


def meal_ended(staff) -> dict:
    wait_for(lambda: not staff.get("/api/status").json()["meal"]["running"], timeout_s=60, what="the meal to end")
    return staff.get("/api/status?lang=en").json()["meal"]


def test_the_staff_pages_meal_and_set_up_loop_open_the_port_with_the_budgets_allowance(staff, robot, monkeypatch):
    ports = []
    real_run_meal = meal_module.run_meal

    def run_meal(bus, *args, **kwargs):
        ports.append(bus.allowance_s)
        return real_run_meal(bus, *args, **kwargs)

    monkeypatch.setattr(meal_module, "run_meal", run_meal)
    driver = connect_driver(robot.session.arm.arm_setup())  # what the set-up process opens and connects
    try:
        assert driver.bus.allowance_s == DEFAULT_ALLOWANCE_S  # not 50 ms
    finally:
        driver.bus.close()
    assert staff.post("/api/connect").status_code == 200
    assert staff.post("/api/panel", json=MEAL_START).status_code == 200
    wait_for(lambda: ports, timeout_s=30, what="the meal's loop")
    assert ports == [DEFAULT_ALLOWANCE_S]
    staff.post("/api/stop")
    meal_ended(staff)


def test_a_lost_reply_costs_the_set_up_loop_one_reply_timeout_and_a_stall_it_rides_out_is_no_fault(robot):
    """The set-up loop's failed reads in a row follow from its reply timeout and its watchdog, so
    that a USB stall as long as its watchdog, which the servos ride out, is no fault by count."""
    driver = connect_driver(robot.session.arm.arm_setup())  # the set-up process's driver, its thread not started
    reply_timeout_s = driver.servos.read_timeout_s(driver.bus)
    assert reply_timeout_s < 0.01  # 6.3 ms: the budget's, not 51.3 ms
    watchdog_s = SETUP_WATCHDOG_STEPS * 0.02
    assert driver.max_bus_errors > stall_bus_errors(reply_timeout_s, watchdog_s)
    with robot.bus.lock:
        robot.bus.servo(12).reply_faults.drop = 1
    try:
        with pytest.raises(BusTimeout, match=f"within {reply_timeout_s * 1e3:.2f} ms"):
            driver.servos.read(driver.bus)
    finally:
        driver.bus.close()


# hostile settings: (the port's reply allowance, safety limits changed) -> the meal is refused
MEAL_REFUSED = {
    "the old 50 ms allowance": (0.05, {}),
    "a 20 ms Bus Watchdog": (None, {"watchdog_ms": 20}),
    "too few bus errors for a USB stall": (None, {"max_consecutive_bus_errors": 3}),
}


@pytest.mark.parametrize("case", MEAL_REFUSED)
def test_a_meal_whose_budget_does_not_hold_is_refused_in_words_before_it_writes(staff, robot, case):
    allowance, limits = MEAL_REFUSED[case]
    arm = robot.session.arm
    arm.reply_allowance_s = allowance
    robot.session.meal.limits = robot.session.meal.limits.model_copy(update=limits)
    assert staff.post("/api/connect").status_code == 200  # the set-up loop's 200 ms watchdog holds its budget
    sent_by_the_meal = []  # what reached the servos while the meal held the arm
    transmit = robot.bus.transmit

    def spy(data, *args, **kwargs):
        if arm.lent:
            sent_by_the_meal.append(bytes(data))
        return transmit(data, *args, **kwargs)

    robot.bus.transmit = spy
    assert staff.post("/api/panel", json=MEAL_START).status_code == 200
    meal = meal_ended(staff)
    assert meal["state"] == FeedingState.FAULT.value
    assert "timing budget does not hold" in meal["result_text"]
    danish = staff.get("/api/status?lang=da").json()["meal"]["result_text"]
    assert "tidsbudget holder ikke" in danish
    assert sent_by_the_meal == []
    assert [e for e, _ in robot.journal.events() if e.type == UsageEventType.MEAL_STARTED] == []
    wait_for(lambda: robot.session.arm.driver is not None, what="staff to get the arm back")


@pytest.mark.parametrize("allowance", [0.0, -0.005, float("nan"), float("inf")])
def test_connect_with_an_allowance_that_is_not_a_positive_number_is_refused_in_words(staff, robot, allowance):
    robot.session.arm.reply_allowance_s = allowance
    before = registers(robot, "bus_watchdog"), registers(robot, "torque_enable")
    refused = staff.post("/api/connect")
    assert refused.status_code == 409
    assert "the arm cannot be connected" in refused.json()["detail"]
    assert "timing budget does not hold" in refused.json()["detail"]
    assert robot.session.arm.driver is None
    assert (registers(robot, "bus_watchdog"), registers(robot, "torque_enable")) == before
