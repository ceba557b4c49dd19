"""The simulated meal injects a scenario's servo faults in the phase of the bite they name, and
runs on the arm's flaws as the scenario chooses them."""

from __future__ import annotations

import pytest

from bidvis.simulation import SimulatedMeal
from controller.feeding import FeedingState
from controller.journal import UsageJournal
from firmware_bridge.control_table import XL430_W250
from sim.faults import FaultKind, ServoFault
from sim.flaws import TYPICAL
from sim.scenario import load_scenarios

NORMAL = next(s for s in load_scenarios() if s.name == "normal_eater")


@pytest.mark.parametrize(("phase", "state"), [("approach", FeedingState.APPROACH), ("at_mouth", FeedingState.AT_MOUTH)])
def test_a_fault_is_injected_in_its_phase_of_the_meal(tmp_path, phase, state):
    fault = ServoFault(kind=FaultKind.WATCHDOG_TRIP, servo=12, bite=1, phase=phase)
    scenario = NORMAL.model_copy(update={"bites": 1, "max_duration_s": 40.0, "servo_faults": (fault,)})
    states = []
    journal = UsageJournal(tmp_path / "journal.sqlite3")
    try:
        with SimulatedMeal(scenario, journal) as meal:
            meal.run(
                stop_when=lambda controller: bool(meal.faults.injected),
                on_progress=lambda m, controller: states.append(controller.state),
            )
            ((_, kind, servo),) = meal.faults.injected
            tripped = meal.bus.servo(12).get("bus_watchdog")
    finally:
        journal.close()
    assert (kind, servo) == (FaultKind.WATCHDOG_TRIP, 12)
    assert states[-1] is state  # the controller's state on the tick the fault came
    assert tripped == -1


def test_the_meal_takes_its_flaws_and_its_xl430_from_the_scenario(tmp_path):
    scenario = NORMAL.model_copy(
        update={"flaws": TYPICAL, "servo_faults": (ServoFault(kind=FaultKind.XL430, servo=14),)}
    )
    journal = UsageJournal(tmp_path / "journal.sqlite3")
    try:
        with SimulatedMeal(scenario, journal) as meal:
            assert meal.flaws == TYPICAL and meal.bus.flaws == TYPICAL
            assert meal.bus.servo(14).model is XL430_W250
            assert meal.world.model.dof_frictionloss.max() > 0.02  # the flaws' friction on the joints
    finally:
        journal.close()
