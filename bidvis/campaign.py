"""The statistical safety case: `bidvis safety-campaign` runs families of sampled scenarios with
the real controller, in parallel, and judges every run as `bidvis safety-report` does.

    plan_runs(families, runs, first_seed, split) -> [PlannedRun]   which family and seed, in order
    run_planned(run, family) -> RunRecord                          one run, in any process
    run_campaign(...) -> [RunRecord]                               all of them, on local cores or Ray

A run is a seed: the family samples its scenario from it (`sim.families.sample`), and one run in
five of each family (`VISION_EVERY`) puts the real vision pipeline in the loop (face frames
through `vision.MouthTracker`), unless the family fixes the camera. A failing run's scenario is
saved as a one-scenario file, which `bidvis safety-report --scenarios FILE` replays to the same
numbers. Local runs use a process pool over all cores by default; given an address, the runs go to
that Ray cluster instead (`ray.init(address=...)`).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from enum import Enum
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from sim.campaign_report import RunRecord
from sim.families import HELD_OUT_SEEDS, TUNING_SEEDS, Family, sample, scenario_toml
from sim.safety_report import ReportLimits, ScenarioResult
from sim.scenario import CameraSettings, CameraVision, EventKind, Scenario

log = logging.getLogger(__name__)

VISION_EVERY = 5  # one run in five with the real vision pipeline in the loop
# The oracle behind the physically impossible class (docs/safety.md): head motions toward the spoon,
# an arm reacting this long after their onset (sooner than camera or contact sensing can know), and
# how much farther than the motion's reach the spoon may be for contact to be possible at all.
ORACLE_MOTIONS = frozenset({EventKind.SNEEZE, EventKind.COUGH, EventKind.LEAN_IN, EventKind.SLUMP})
ORACLE_REACTION_S = 0.05
ORACLE_MARGIN_M = 0.01


class SeedSplit(str, Enum):
    """Seeds for choosing parameters (tuning) and seeds for judging them (held-out), disjoint."""

    TUNING = "tuning"
    HELD_OUT = "held-out"

    @property
    def seeds(self) -> range:
        return TUNING_SEEDS if self is SeedSplit.TUNING else HELD_OUT_SEEDS


class CampaignError(ValueError):
    """A campaign that cannot be planned as asked (seeds outside their split, no runs)."""


@dataclass(frozen=True, slots=True)
class PlannedRun:
    """One run of a campaign: the family and the seed its scenario is sampled from."""

    index: int
    family: str
    seed: int
    vision: bool  # the real vision pipeline in the loop (unless the family fixes the camera)


def plan_runs(families: list[Family], runs: int, first_seed: int | None, split: SeedSplit) -> list[PlannedRun]:
    """`runs` runs shared out over `families` by weight (largest remainder), interleaved so that
    any first part of the plan covers every family, with the consecutive seeds `first_seed`,
    `first_seed + 1`, ... (the split's first seed by default), all within the split. Each family's
    1st, 6th, 11th ... run has the vision pipeline in the loop: at least one run in five."""
    if runs < 1:
        raise CampaignError(f"--runs must be at least 1, got {runs}")
    seeds = split.seeds
    start = seeds.start if first_seed is None else first_seed
    if start not in seeds or start + runs - 1 not in seeds:
        raise CampaignError(
            f"seeds {start}..{start + runs - 1} are not all {split.value} seeds "
            f"({seeds.start}..{seeds.stop - 1}); tuning and held-out seeds never mix"
        )
    total = sum(f.weight for f in families)
    shares = [runs * f.weight / total for f in families]
    counts = [math.floor(s) for s in shares]
    by_remainder = sorted(range(len(families)), key=lambda i: (counts[i] - shares[i], i))
    for i in by_remainder[: runs - sum(counts)]:
        counts[i] += 1
    order: list[str] = []
    taken = [0] * len(families)
    while len(order) < runs:  # interleave: each family in turn, in proportion to its count
        for i, family in enumerate(families):
            if taken[i] < counts[i] and taken[i] * runs <= len(order) * counts[i]:
                order.append(family.name)
                taken[i] += 1
    nth: dict[str, int] = {}
    plan = []
    for i, name in enumerate(order):
        k = nth[name] = nth.get(name, -1) + 1
        plan.append(PlannedRun(i, name, start + i, vision=k % VISION_EVERY == 0))
    return plan


def scenario_of(run: PlannedRun, family: Family) -> Scenario:
    """The run's scenario: the family's sample for the seed, with the vision pipeline in the loop
    if the plan says so, unless the family's camera says where observations come from."""
    scenario = sample(family, run.seed)
    if scenario.camera.vision is not None:
        return scenario
    vision = CameraVision.FACES if run.vision else CameraVision.GROUND_TRUTH
    camera = CameraSettings.model_validate(scenario.camera.model_dump() | {"vision": vision})
    return scenario.model_copy(update={"camera": camera})


def run_planned(
    run: PlannedRun, family: Family, failures_dir: Path | None = None, limits: ReportLimits = ReportLimits()
) -> RunRecord:
    """Run one planned run with the real controller and judge it by `limits`; a failing run's
    scenario is saved in `failures_dir` as `<scenario name>.toml`."""
    from bidvis.simulation import run_safety_scenario

    scenario = scenario_of(run, family)
    cpu_started = time.process_time()
    try:
        result = run_safety_scenario(scenario, report_limits=limits)
    except Exception as exc:  # a run that crashes fails (saved, replayable); the campaign goes on
        log.exception("campaign run %s crashed", scenario.name)
        result = crashed_result(scenario, f"crashed: {type(exc).__name__}: {exc}")
    oracle_n = oracle_bound(scenario, result.event_onsets)
    cpu_s = time.process_time() - cpu_started
    broken = tuple(result.broken_limits(limits))
    saved = None
    if broken and failures_dir is not None:
        failures_dir.mkdir(parents=True, exist_ok=True)
        path = failures_dir / f"{scenario.name}.toml"
        path.write_text(scenario_toml(scenario), encoding="utf-8")
        saved = str(path)
    return RunRecord(
        family=family.name,
        seed=run.seed,
        scenario=scenario.name,
        passed=not broken,
        broken=broken,
        peak_face_force_n=result.peak_face_force_n,
        max_approach_speed_m_s=result.max_approach_speed_m_s,
        advances_on_stale_mouth=result.advances_on_stale_mouth,
        unnoticed_arm_stops=result.unnoticed_arm_stops,
        bites_offered=result.bites_offered,
        bites_taken=result.bites_taken,
        safety_stops=result.safety_stops,
        vision=not result.ground_truth_camera,
        duration_s=result.duration_s,
        cpu_s=round(cpu_s, 3),
        events_planned=len(scenario.events),
        events_started=result.events_started,
        contact_head_speed_m_s=result.contact_head_speed_m_s,
        contact_spoon_speed_m_s=result.contact_spoon_speed_m_s,
        aborted=result.aborted,
        scenario_file=saved,
        oracle_peak_face_force_n=round(oracle_n, 4),
        beyond_physics=oracle_n > limits.peak_face_force_n,
        safety_stop_reasons=result.safety_stop_reasons,
    )


def oracle_bound(scenario: Scenario, onsets: Iterable[tuple[int, float, float]]) -> float:
    """The largest peak face force an oracle arm allows for the run's head motions that began
    within their reach of the spoon (`sim.reaction_bound`, reacting `ORACLE_REACTION_S` after each
    onset from the spoon's gap then); 0 when none did. Above the force limit the run is in the
    physically impossible class, whatever the controller did."""
    from sim.reaction_bound import peak_face_force_with_ideal_retreat

    bound = 0.0
    for index, _, gap_m in onsets:
        event = scenario.events[index]
        if event.kind in ORACLE_MOTIONS and gap_m <= event.distance_m + ORACLE_MARGIN_M:
            force = peak_face_force_with_ideal_retreat(event, gap_m, ORACLE_REACTION_S).peak_face_force_n
            bound = max(bound, force)
    return bound


def crashed_result(scenario: Scenario, reason: str) -> ScenarioResult:
    """The result of a run that raised instead of finishing: aborted, so it breaks a limit (nothing
    was measured: the figures are zero, the reason says why)."""
    return ScenarioResult(
        scenario=scenario.name,
        peak_face_force_n=0.0,
        max_speed_near_mouth_m_s=0.0,
        max_approach_speed_m_s=0.0,
        closest_approach_m=math.nan,
        advances_on_stale_mouth=0,
        stop_after_host_silence_s=math.nan,
        bites_offered=0,
        bites_taken=0,
        safety_stops=0,
        safety_stop_reasons=(),
        duration_s=0.0,
        ground_truth_camera=scenario.camera.vision is not CameraVision.FACES,
        aborted=reason,
        host_silence_probed=scenario.probe_host_silence,
    )


def _quiet_worker() -> None:
    """A campaign worker logs only errors (the ground-truth camera warns once per run)."""
    logging.getLogger().setLevel(logging.ERROR)


def _local(
    plan: list[PlannedRun], families: dict[str, Family], workers: int, failures_dir: Path | None, limits: ReportLimits
) -> Iterator[RunRecord]:
    if workers == 1:  # in this process: quiet while the runs last, then the caller's logging as it was
        root = logging.getLogger()
        level = root.level
        _quiet_worker()
        try:
            for run in plan:
                yield run_planned(run, families[run.family], failures_dir, limits)
        finally:
            root.setLevel(level)
        return
    # spawn, not fork: the parent has threads (the progress display) that a fork would copy mid-state
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_quiet_worker)
    try:
        futures = [pool.submit(run_planned, run, families[run.family], failures_dir, limits) for run in plan]
        for future in as_completed(futures):
            yield future.result()
    finally:  # stopped early (Ctrl-C): the runs not yet started are dropped, the running ones finish
        pool.shutdown(wait=True, cancel_futures=True)


def _on_ray(
    plan: list[PlannedRun], families: dict[str, Family], address: str, failures_dir: Path | None, limits: ReportLimits
) -> Iterator[RunRecord]:
    import ray

    ray.init(address=address, log_to_driver=False, ignore_reinit_error=True)
    try:
        remote: Any = ray.remote(run_planned).options(num_cpus=1)  # Ray's stubs count only required arguments
        pending = [remote.remote(run, families[run.family], failures_dir, limits) for run in plan]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        ray.shutdown()


def run_campaign(
    families: list[Family],
    plan: list[PlannedRun],
    *,
    workers: int | None = None,
    address: str | None = None,
    failures_dir: Path | None = None,
    on_record: Callable[[RunRecord], None] | None = None,
    limits: ReportLimits = ReportLimits(),
) -> list[RunRecord]:
    """Run the plan on `workers` local processes (all cores by default) or, given `address`, on
    that Ray cluster, judged by `limits`; returns the records in plan order. `on_record` sees each
    as it arrives."""
    by_name = {f.name: f for f in families}
    missing = sorted({run.family for run in plan} - set(by_name))
    if missing:
        raise CampaignError(f"the plan names families that are not given: {', '.join(missing)}")
    if address is not None:
        records: Iterable[RunRecord] = _on_ray(plan, by_name, address, failures_dir, limits)
    else:
        records = _local(plan, by_name, workers or os.cpu_count() or 1, failures_dir, limits)
    order = {(run.family, run.seed): run.index for run in plan}
    collected = []
    for record in records:
        collected.append(record)
        if on_record is not None:
            on_record(record)
    return sorted(collected, key=lambda r: order[(r.family, r.seed)])
