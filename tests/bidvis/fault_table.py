"""The faults of the safety fault table (docs/safety.md, "Fault table"), each injected into a
one-bite simulated meal at a phase of the bite, and what the meal then did.

`FAULTS` names every fault of the table and how the simulator injects it; `run_fault(name, phase)`
runs the meal (the one composition, `bidvis.simulation.SimulatedMeal`, on the default flawed arm,
ground-truth camera) and returns a `FaultRun`: the controller's reasons, the journal's events,
the bites the arm delivered (the simulated citizen's) and those the care plan heard of.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from bidvis.run import RefusedToStart, check_servos
from bidvis.simulation import SimulatedMeal
from careplan_api.schemas import UsageEventType
from controller.feeding import FeedingState
from controller.journal import CareplanSender, EventState, JournalSync, UsageJournal
from controller.loop import LatestValue, MealController
from sim.faults import APPROACH_WITHIN_M, AT_MOUTH_FOR_S, FaultKind, FaultPhase, ServoFault
from sim.scenario import CameraFault, CameraFaultKind, Scenario
from vision.observation import MouthObservation

PHASES = (FaultPhase.APPROACH, FaultPhase.AT_MOUTH)
MAX_DURATION_S = 40.0  # a one-bite meal ends by about 25 s of simulated time
WATCH_AFTER_S = 6.0  # how long the meal runs on after the fault, unless it ends first ...
SETTLE_S = 1.0  # ... or the bite is over (eaten, logged, the spoon back) and this long has passed since it
CLOCK_JUMP_S = 1.0  # how far the camera's clock jumps ahead of the controller's
SYNC_EVERY_S = 0.5  # while the care-plan service is down, the journal's sync tries this often
CLOSED_PORT_URL = "http://127.0.0.1:9"  # discard: nothing listens there


@dataclass
class FaultRun:
    """What a one-bite meal did with one fault injected."""

    fault: str
    phase: FaultPhase
    injected_at_s: float | None
    final_state: FeedingState | None
    reasons: dict[str, int]  # the controller's safety reasons (each counted on its rising edge)
    events: list[tuple[str, dict]]  # the journal's events, in order
    delivered: int  # bites the arm delivered (the simulated citizen took them)
    refused: str | None = None  # why the meal did not start (a preflight refusal), when it did not
    advances_on_stale_mouth: int = 0
    sync_failures: int = 0  # the journal's failed attempts to reach the care-plan service
    pending: int = 0  # events still in the journal's outbox, waiting for the care-plan service

    def of(self, kind: UsageEventType) -> list[dict]:
        return [data for name, data in self.events if name == kind.value]

    @property
    def bites_journalled(self) -> int:
        return len(self.of(UsageEventType.BITE_TAKEN))

    @property
    def stop_reasons(self) -> set[str]:
        return {str(data.get("reason")) for data in self.of(UsageEventType.SAFETY_STOP)}

    @property
    def meal_ends(self) -> list[str]:
        return [str(data.get("reason")) for data in self.of(UsageEventType.MEAL_ENDED)]


@dataclass(frozen=True)
class Fault:
    """One row of the fault table: the simulator's fault, as a scenario's servo fault or as an
    action on the running meal (`act(meal, now_s)` once the phase has come)."""

    servo_fault: ServoFault | None = None  # injected by the simulator's FaultInjector in the phase
    act: Callable[[SimulatedMeal, float], None] | None = None
    built_in: bool = False  # the fault is there from power-on (an XL430 on the bus)
    careplan_outage: bool = False  # from the phase on, the journal's sync finds no care-plan service


def _servo(kind: FaultKind, servo: int | None = None, value: float | None = None) -> Fault:
    # The phase is filled in per run.
    return Fault(servo_fault=ServoFault(kind=kind, servo=servo, value=value, bite=1, phase=FaultPhase.APPROACH))


def _camera(kind: CameraFaultKind, duration_s: float) -> Fault:
    return Fault(act=lambda meal, now_s: meal.feed.add_fault(CameraFault(kind=kind, at_s=now_s, duration_s=duration_s)))


def _clock_jump(meal: SimulatedMeal, now_s: float) -> None:
    meal.feed.mouth = _JumpedClock(meal.feed.mouth, CLOCK_JUMP_S)


_AT_THE_FACE = (FeedingState.APPROACH, FeedingState.AT_MOUTH, FeedingState.RETRACT)


class _JumpedClock(LatestValue[MouthObservation]):
    """The camera's clock jumped ahead: every observation handed on claims a later time."""

    def __init__(self, inner: LatestValue[MouthObservation], jump_s: float) -> None:
        super().__init__()
        self._inner, self._jump_s = inner, jump_s

    def put(self, value: MouthObservation | None) -> None:
        if value is not None:
            value = replace(value, t=value.t + self._jump_s)
        self._inner.put(value)

    def latest(self) -> MouthObservation | None:
        return self._inner.latest()


FAULTS: dict[str, Fault] = {
    "watchdog_trip": _servo(FaultKind.WATCHDOG_TRIP, 12),
    "overload": _servo(FaultKind.OVERLOAD, 13),
    "overheating": _servo(FaultKind.OVERHEATING, 13),
    "input_voltage": _servo(FaultKind.INPUT_VOLTAGE),
    "encoder_error": _servo(FaultKind.ENCODER_ERROR, 13),
    "electrical_shock": _servo(FaultKind.ELECTRICAL_SHOCK, 14),
    "silent_servo": _servo(FaultKind.SILENT_SERVO, 12),
    "corrupt_replies": _servo(FaultKind.CORRUPT_REPLIES, 12),
    "cable_pulled": _servo(FaultKind.CABLE_PULLED),
    "usb_unplugged": _servo(FaultKind.USB_UNPLUGGED),
    "usb_latency_16ms": _servo(FaultKind.USB_LATENCY, value=16.0),
    "current_noise_40ma": _servo(FaultKind.CURRENT_NOISE, value=40.0),
    "xl430_on_bus": Fault(servo_fault=ServoFault(kind=FaultKind.XL430, servo=14), built_in=True),
    "host_stall_50ms": _servo(FaultKind.HOST_STALL, value=50.0),
    "power_loss": _servo(FaultKind.POWER_LOSS),
    "camera_frozen": _camera(CameraFaultKind.FROZEN_FRAME, 2.0),
    "camera_gone": _camera(CameraFaultKind.DROPPED_FRAMES, 3600.0),
    "clock_jump": Fault(act=_clock_jump),
    "careplan_down": Fault(careplan_outage=True),
}


class _Phase:
    """Watches the meal for the phase of bite 1 (as `sim.faults.FaultInjector` does for servo
    faults): the approach (the spoon closing in within APPROACH_WITHIN_M of the mouth) or at the
    mouth (the controller at the mouth, the spoon still for AT_MOUTH_FOR_S)."""

    def __init__(self, phase: FaultPhase) -> None:
        self.phase = phase
        self._last_distance = math.inf
        self._at_mouth_since = math.inf

    def reached(self, meal: SimulatedMeal, controller: MealController, now_s: float) -> bool:
        if meal.citizen.bite_number != 1:
            return False
        distance = float(np.linalg.norm(meal.world.spoon_tip_position() - meal.world.mouth_position()))
        closing, self._last_distance = distance < self._last_distance, distance
        if self.phase is FaultPhase.APPROACH:
            return controller.state is FeedingState.APPROACH and closing and distance <= APPROACH_WITHIN_M
        if controller.state is FeedingState.AT_MOUTH:
            self._at_mouth_since = min(self._at_mouth_since, now_s)
        else:
            self._at_mouth_since = math.inf
        return now_s - self._at_mouth_since >= AT_MOUTH_FOR_S


def run_fault(name: str, phase: FaultPhase, tmp_path: Path) -> FaultRun:
    """Run a one-bite meal with fault `name` injected at `phase` of the bite."""
    fault = FAULTS[name]
    servo_faults: tuple[ServoFault, ...] = ()
    if fault.servo_fault is not None:
        servo_faults = (
            (fault.servo_fault,) if fault.built_in else (fault.servo_fault.model_copy(update={"phase": phase}),)
        )
    scenario = Scenario(
        name=f"{name}_{phase.value}",
        bites=1,
        max_duration_s=MAX_DURATION_S,
        probe_host_silence=False,
        servo_faults=servo_faults,
    )
    journal = UsageJournal(tmp_path / f"{name}_{phase.value}.sqlite3")
    sync = JournalSync(journal, CareplanSender(CLOSED_PORT_URL, "token", timeout_s=0.5))
    run = FaultRun(name, phase, None, None, {}, [], 0)
    try:
        with SimulatedMeal(scenario, journal) as meal:
            if fault.built_in:
                # What `bidvis run` checks before anything moves (the simulated arm has no tool servo).
                try:
                    check_servos(meal.bus.url, meal.calibration.model_copy(update={"tool_servo_id": None}))
                except RefusedToStart as exc:
                    run.refused = str(exc)
                    return run
            watch = _Phase(phase)
            injected: list[float] = []
            synced = [-math.inf]

            def on_progress(m: SimulatedMeal, controller: MealController) -> None:
                now_s = m.clock.now()
                if not injected:
                    if (fault.act or fault.careplan_outage) and watch.reached(m, controller, now_s):
                        if fault.act is not None:
                            fault.act(m, now_s)
                        injected.append(now_s)
                    elif m.faults.injected:
                        injected.append(m.faults.injected[0][0])
                if fault.careplan_outage and injected and now_s - synced[0] >= SYNC_EVERY_S:
                    synced[0] = now_s
                    run.sync_failures += int(sync.sync_once().failed)

            def stop_when(controller: MealController) -> bool:
                if not injected:
                    return False
                since_s = meal.clock.now() - injected[0]
                # The bite is over: the citizen has eaten it, the controller logged it and took the spoon back.
                bite_over = (
                    meal.citizen.bites_taken >= 1
                    and controller.machine.stats.bites_taken >= 1
                    and controller.state not in _AT_THE_FACE
                )
                return since_s >= WATCH_AFTER_S or (bite_over and since_s >= SETTLE_S)

            report = meal.run(stop_when=stop_when, on_progress=on_progress)
            run.injected_at_s = injected[0] if injected else None
            run.final_state = report.final_state
            run.reasons = {str(k): v for k, v in report.controller.reasons.items()}
            run.delivered = meal.citizen.bites_taken
            run.advances_on_stale_mouth = report.controller.advances_on_stale_mouth
    finally:
        sync.sender.close()  # type: ignore[attr-defined]
        stored = journal.events()
        run.events = [(event.type.value, dict(event.data)) for event, _ in stored]
        run.pending = sum(state is EventState.PENDING for _, state in stored)
        journal.close()
    return run
