"""A simulated meal tick by tick: what the controller commanded and what the world did, the
tool for tracing why a campaign run failed (`bidvis safety-trace`, docs/safety.md)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bidvis.simulation.composition import SimulatedMeal, run_simulated_meal
from bidvis.simulation.summary import MealSummary
from controller.journal import UsageJournal
from controller.loop import MealController
from sim.safety_report import ReportLimits
from sim.scenario import Scenario

HEADER = (
    "t_s      state       commanded spoon cm      measured spoon cm       cmd_m/s  approach_m/s  face_N  stopped_by"
)


@dataclass(frozen=True, slots=True)
class TraceRow:
    """One tick: the controller's state and command, the measured arm, and the world's physics."""

    t_s: float
    state: str
    commanded_spoon_m: tuple[float, float, float]
    measured_spoon_m: tuple[float, float, float]
    commanded_speed_m_s: float  # the jerk-limited command's spoon speed
    approach_speed_m_s: float  # the holder tip's speed toward the mouth (what the judge measures)
    face_force_n: float
    stopped_by: str | None


def format_row(row: TraceRow) -> str:
    """`row` as one fixed-width line under `HEADER` (positions in cm, to 0.1 mm)."""

    def cm(point: tuple[float, float, float]) -> str:
        return " ".join(f"{100 * v:7.2f}" for v in point)

    return (
        f"{row.t_s:8.3f} {row.state:11s} {cm(row.commanded_spoon_m)}  {cm(row.measured_spoon_m)}  "
        f"{row.commanded_speed_m_s:7.3f}  {row.approach_speed_m_s:12.3f}  {row.face_force_n:6.2f}  "
        f"{row.stopped_by or '-'}"
    )


def trace_row(meal: SimulatedMeal, controller: MealController) -> TraceRow:
    """The row of the tick `controller` has just made in `meal`."""

    def point(values: Any) -> tuple[float, float, float]:
        x, y, z = (float(v) for v in np.asarray(values, dtype=float)[:3])
        return (x, y, z)

    stopped_by = controller.machine.stopped_by
    return TraceRow(
        t_s=meal.clock.now(),
        state=controller.state.value,
        commanded_spoon_m=point(controller.motion.spoon_pose),
        measured_spoon_m=point(controller.measured_spoon_m),
        commanded_speed_m_s=float(controller.motion.spoon_speed_m_s),
        approach_speed_m_s=meal.world.holder_approach_speed(),
        face_force_n=float(meal.world.face_force_n),
        stopped_by=stopped_by.value if stopped_by is not None else None,
    )


def trace_meal(
    scenario: Scenario,
    emit: Callable[[TraceRow], None],
    start_s: float = 0.0,
    end_s: float = float("inf"),
    every: int = 1,
) -> MealSummary:
    """Run `scenario` as the campaign does (a throw-away journal, the report's limits) and give
    `emit` every `every`-th tick's row between `start_s` and `end_s` (simulated seconds); returns
    the meal's summary."""
    if every < 1:
        raise ValueError("every must be at least 1")
    if end_s < start_s:
        raise ValueError(f"the window ends ({end_s} s) before it starts ({start_s} s)")
    seen = 0

    def on_progress(meal: SimulatedMeal, controller: MealController) -> None:
        nonlocal seen
        if start_s <= meal.clock.now() <= end_s:
            if seen % every == 0:
                emit(trace_row(meal, controller))
            seen += 1

    with tempfile.TemporaryDirectory() as tmp:
        journal = UsageJournal(Path(tmp) / "meal.sqlite3")
        try:
            return run_simulated_meal(scenario, journal, report_limits=ReportLimits(), on_progress=on_progress)
        finally:
            journal.close()
