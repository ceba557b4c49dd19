"""The safety fault table (docs/safety.md, "Fault table"): every fault, injected into a one-bite
simulated meal during the approach and at the mouth, and what the product does about it.

What holds for every fault: the care plan hears of no bite the arm did not give. A fault that
stops the arm is a safe stop with its named reason, a reason staff and citizen read in plain words
(Danish and English), and the meal is closed at once in the care plan (`meal_ended`, interrupted).
A fault the arm rides through leaves the bite delivered and journalled, with no safe stop. A
camera fault never lets the arm advance on a picture that stopped showing the world.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from careplan_api.schemas import UsageEventType
from controller.feeding import FeedingState
from controller.messages import Language, robot_messages
from tests.bidvis.fault_table import FAULTS, PHASES, FaultRun, run_fault

SAFETY_MD = Path(__file__).resolve().parents[2] / "docs" / "safety.md"

# Faults that stop the arm: the safe stop's reason(s) the product must name.
STOPS: dict[str, set[str]] = {
    "watchdog_trip": {"watchdog_tripped"},
    "overload": {"servo_hardware_error"},
    "overheating": {"overheating"},
    "input_voltage": {"low_voltage"},
    "encoder_error": {"servo_hardware_error"},
    "electrical_shock": {"servo_hardware_error"},
    "silent_servo": {"bus_errors"},
    "corrupt_replies": {"bus_errors"},
    "cable_pulled": {"bus_errors", "watchdog_tripped"},
    "usb_unplugged": {"bus_errors"},
    "power_loss": {"bus_errors", "torque_off"},
}
# Faults the arm rides through: the bite is delivered and journalled, with no safe stop.
# (A 50 ms host stall is within the 60 ms Bus Watchdog: docs/controller.md, "Timing budget".)
RIDDEN_THROUGH = {"usb_latency_16ms", "current_noise_40ma", "host_stall_50ms", "careplan_down"}
# Camera faults: the arm holds or retracts (these reasons), never advancing on a stale picture.
CAMERA = {
    "camera_frozen": {"stale_vision", "mouth_lost"},
    "camera_gone": {"stale_vision", "mouth_lost"},
    "clock_jump": {"clock_jump"},
}
REFUSED = {"xl430_on_bus": ("wrong servo model", "XL430")}  # refused before anything moves


def test_every_fault_of_the_table_has_its_expectation():
    expected = set(STOPS) | RIDDEN_THROUGH | set(CAMERA) | set(REFUSED)
    assert expected == set(FAULTS)
    assert len(FAULTS) >= 15


def test_the_fault_table_in_docs_names_the_faults_this_test_injects():
    text = SAFETY_MD.read_text(encoding="utf-8")
    section = text.split("## Fault table", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z0-9_]+)` \|", section, flags=re.MULTILINE)
    assert sorted(rows) == sorted(FAULTS)
    assert "tests/bidvis/test_fault_table.py" in section


@pytest.mark.parametrize(
    ("name", "phase"), [pytest.param(name, phase, id=f"{name}-{phase.value}") for name in FAULTS for phase in PHASES]
)
def test_a_fault_injected_mid_bite_gets_its_reaction(tmp_path, name, phase):
    run = run_fault(name, phase, tmp_path)
    if name in REFUSED:
        assert run.refused is not None and all(word in run.refused for word in REFUSED[name])
        assert run.events == []  # nothing moved, nothing reached the care plan
        return
    assert run.injected_at_s is not None, "the meal never reached the phase"
    assert run.bites_journalled <= run.delivered, "the care plan heard of a bite the arm did not give"
    if name in STOPS:
        _assert_safe_stop(run, STOPS[name])
    elif name in RIDDEN_THROUGH:
        _assert_ridden_through(run)
    else:
        assert set(run.reasons) & CAMERA[name], run.reasons
        assert run.advances_on_stale_mouth == 0
    if name == "careplan_down":
        assert run.sync_failures >= 1  # the sync did try, and failed
        assert run.pending == len(run.events)  # every event kept in the outbox for when it is back


def _assert_safe_stop(run: FaultRun, reasons: set[str]) -> None:
    assert run.final_state is FeedingState.FAULT
    assert run.stop_reasons and run.stop_reasons <= reasons, run.stop_reasons
    assert run.meal_ends == ["interrupted"]
    assert len(run.of(UsageEventType.FAULT)) == 1
    for reason in run.stop_reasons:
        for language in Language:
            assert reason in robot_messages().words(language, "safety")  # said in plain words


def _assert_ridden_through(run: FaultRun) -> None:
    assert run.delivered == 1 and run.bites_journalled == 1
    assert not run.of(UsageEventType.SAFETY_STOP) and not run.of(UsageEventType.FAULT)
