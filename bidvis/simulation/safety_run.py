"""A safety scenario run: the meal with the real controller, measured at the face, plus the
host-silence probe (the meal replayed to its fastest approach, then the host falls silent).
`bidvis safety-report` and `bidvis safety-campaign` judge what this returns."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

from bidvis.simulation.composition import SimulatedMeal, run_simulated_meal
from bidvis.simulation.judge import FastestMotion
from controller.journal import UsageJournal
from sim.safety_report import ReportLimits, ScenarioResult
from sim.scenario import Scenario, load_scenarios
from sim.world import PhysicsUnstable

SILENCE_PROBE_SPEED_M_S = 0.02  # the host falls silent once the spoon moves at least this fast


def _silence_probe(scenario: Scenario, journal_dir: Path, options: dict[str, Any], at_s: float, name: str) -> float:
    """Replay the scenario (seeded: the same meal) to simulated time `at_s`, then silence the host;
    NaN if the spoon does not move there."""
    journal = UsageJournal(journal_dir / f"probe-{name}.sqlite3")
    try:
        with SimulatedMeal(scenario, journal, **options) as meal:
            meal.run(stop_when=lambda controller: meal.clock.now() >= at_s)
            if meal.world.spoon_tip_speed() <= SILENCE_PROBE_SPEED_M_S:
                return math.nan
            return meal.host_silence_stop_s()
    finally:
        journal.close()


def run_safety_scenario(
    scenario: Scenario, *, report_limits: ReportLimits = ReportLimits(), workdir: Path | None = None, **options: Any
) -> ScenarioResult:
    """Run one safety scenario with the real controller and measure it (plus the silence probe)."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        notes: list[str] = []
        main = UsageJournal(Path(tmp) / "meal.sqlite3")
        fastest = FastestMotion()
        try:
            summary = run_simulated_meal(
                scenario, main, report_limits=report_limits, on_progress=fastest.update, **options
            )
        finally:
            main.close()
        probe_options = {"report_limits": report_limits, **options}
        if not scenario.probe_host_silence:
            stop_s = math.nan
            notes.append("host-silence probe: not asked for by this scenario")
        else:
            stop_s = _probe_fastest_moments(scenario, Path(tmp), probe_options, fastest, notes)
    if math.isnan(stop_s) and scenario.probe_host_silence:
        notes.append("host-silence probe: the arm never moved, so no stop time was measured")
    if summary.events_started < len(scenario.events):
        notes.append(f"{summary.events_started} of the scenario's {len(scenario.events)} citizen events started")
    if summary.bites_taken < min(scenario.bites, summary.bites_offered):
        notes.append(f"{summary.bites_taken} of {summary.bites_offered} bites offered were taken")
    return ScenarioResult(
        scenario=scenario.name,
        peak_face_force_n=summary.peak_face_force_n,
        max_speed_near_mouth_m_s=summary.max_speed_near_mouth_m_s,
        max_approach_speed_m_s=summary.max_approach_speed_m_s,
        closest_approach_m=summary.closest_approach_m,
        advances_on_stale_mouth=summary.advances_on_stale_mouth,
        stop_after_host_silence_s=stop_s,
        bites_offered=summary.bites_offered,
        bites_taken=summary.bites_taken,
        safety_stops=summary.safety_stops,
        safety_stop_reasons=tuple(sorted(summary.safety_stop_reasons.items())),
        duration_s=summary.duration_s,
        ground_truth_camera=summary.ground_truth_camera,
        aborted=summary.aborted,
        notes=tuple(notes),
        unnoticed_arm_stops=summary.unnoticed_arm_stops,
        contact_head_speed_m_s=summary.contact_head_speed_m_s,
        contact_spoon_speed_m_s=summary.contact_spoon_speed_m_s,
        events_started=summary.events_started,
        event_onsets=summary.event_onsets,
        host_silence_probed=scenario.probe_host_silence,
    )


def _probe_fastest_moments(
    scenario: Scenario, workdir: Path, options: dict[str, Any], fastest: FastestMotion, notes: list[str]
) -> float:
    """The host-silence stop time where the arm drove the spoon fastest toward the mouth (else
    anywhere); NaN when the arm never moved or physics became unstable."""
    try:
        # The worst moment of the approach: where the spoon moved fastest toward the face.
        stop_s = _silence_probe(scenario, workdir, options, fastest.approach[1], "approach")
        if math.isnan(stop_s):
            stop_s = _silence_probe(scenario, workdir, options, fastest.any_state[1], "any")
            notes.append(
                "host-silence probe: no approach to the mouth in this scenario, probed where the spoon moved fastest"
            )
        return stop_s
    except PhysicsUnstable as exc:
        notes.append(f"silence probe aborted: {exc}")
        return math.nan


def run_safety_scenarios(path: Path | None = None, **options: Any) -> list[ScenarioResult]:
    """Every scenario of a file (the built-in ones by default), in order."""
    scenarios = load_scenarios(path) if path is not None else load_scenarios()
    return [run_safety_scenario(s, **options) for s in scenarios]
