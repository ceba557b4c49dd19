"""A safety campaign's results: each run's record, the families' statistics with the exact
binomial (Clopper-Pearson) upper bound, the JSON of `bidvis safety-campaign --json` and its
Markdown summary. Pure data and formatting; running the campaign is `bidvis.campaign`'s job.

The JSON is a list with one object per family with at least the keys of `FAMILY_JSON_FIELDS`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from scipy.stats import beta

FAMILY_JSON_FIELDS = (
    "family",
    "runs",
    "failures",
    "failure_rate_upper_95",
    "worst_peak_face_force_n",
    "worst_approach_speed_m_s",
)
CONFIDENCE = 0.95
HEAD_MASS_KG = 4.5  # an adult head (the physical argument's energy; about 7 % of body mass)


def clopper_pearson_upper(failures: int, runs: int, confidence: float = CONFIDENCE) -> float:
    """The exact one-sided upper bound on the failure rate at `confidence`, from `failures` in
    `runs` (Clopper-Pearson: the rate at which seeing `failures` or fewer has probability
    1 - confidence). 1.0 with no runs; 1 - (1 - confidence) ** (1 / runs) with no failures."""
    if runs <= 0:
        return 1.0
    if not 0 <= failures <= runs:
        raise ValueError(f"failures must be within 0..runs, got {failures} of {runs}")
    if failures == runs:
        return 1.0
    return float(beta.ppf(confidence, failures + 1, runs - failures))


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One campaign run: which scenario, what it measured, whether it passed and why not."""

    family: str
    seed: int
    scenario: str  # the sampled scenario's name (also the file name of a saved failure)
    passed: bool
    broken: tuple[str, ...]
    peak_face_force_n: float
    max_approach_speed_m_s: float
    advances_on_stale_mouth: int
    unnoticed_arm_stops: int
    bites_offered: int
    bites_taken: int
    safety_stops: int
    vision: bool  # face frames through the real tracker (else the ground-truth source)
    duration_s: float  # simulated
    cpu_s: float
    events_planned: int = 0  # citizen events in the scenario ...
    events_started: int = 0  # ... and how many the citizen started (an approach event needs the spoon that near)
    contact_head_speed_m_s: float = 0.0
    contact_spoon_speed_m_s: float = 0.0
    aborted: str | None = None
    scenario_file: str | None = None  # where the failing run's one-scenario file was saved
    # the oracle arm's peak face force for the run's head motion (sim.reaction_bound; 0 when none
    # came near the spoon): above the limit, the run is in the physically impossible class
    oracle_peak_face_force_n: float = 0.0
    beyond_physics: bool = False
    # the journal's `safety_stop` events by reason, (reason, count) sorted by reason: a run that
    # stopped again and again for one reason (and fed nobody) shows why
    safety_stop_reasons: tuple[tuple[str, int], ...] = ()

    @property
    def fed_nobody(self) -> bool:
        """No bite was taken: whatever the safety judgement, the citizen went hungry."""
        return self.bites_taken == 0

    def as_json(self) -> dict:
        return asdict(self) | {"safety_stop_reasons": dict(self.safety_stop_reasons)}


@dataclass
class FamilyStats:
    """A family's runs, summed up."""

    family: str
    beyond_physics: bool = False
    argument: str = ""
    runs: int = 0
    failures: int = 0
    vision_runs: int = 0
    worst_peak_face_force_n: float = 0.0
    worst_approach_speed_m_s: float = 0.0
    max_contact_head_speed_m_s: float = 0.0
    max_contact_spoon_speed_m_s: float = 0.0
    simulated_s: float = 0.0
    cpu_s: float = 0.0
    fed_nobody: int = 0  # runs in which no bite was taken
    safety_stops: int = 0
    safety_stop_reasons: Counter[str] = field(default_factory=Counter)
    failing: list[RunRecord] = field(default_factory=list)

    def add(self, record: RunRecord) -> None:
        self.runs += 1
        self.vision_runs += record.vision
        self.worst_peak_face_force_n = max(self.worst_peak_face_force_n, record.peak_face_force_n)
        self.worst_approach_speed_m_s = max(self.worst_approach_speed_m_s, record.max_approach_speed_m_s)
        self.max_contact_head_speed_m_s = max(self.max_contact_head_speed_m_s, record.contact_head_speed_m_s)
        self.max_contact_spoon_speed_m_s = max(self.max_contact_spoon_speed_m_s, record.contact_spoon_speed_m_s)
        self.simulated_s += record.duration_s
        self.cpu_s += record.cpu_s
        self.fed_nobody += record.fed_nobody
        self.safety_stops += record.safety_stops
        self.safety_stop_reasons.update(dict(record.safety_stop_reasons))
        if not record.passed:
            self.failures += 1
            self.failing.append(record)

    @property
    def upper_95(self) -> float:
        return clopper_pearson_upper(self.failures, self.runs)

    def as_json(self) -> dict:
        return {
            "family": self.family,
            "runs": self.runs,
            "failures": self.failures,
            "failure_rate_upper_95": round(self.upper_95, 6),
            "worst_peak_face_force_n": round(self.worst_peak_face_force_n, 4),
            "worst_approach_speed_m_s": round(self.worst_approach_speed_m_s, 4),
            "beyond_physics": self.beyond_physics,
            "vision_runs": self.vision_runs,
            "fed_nobody": self.fed_nobody,
            "safety_stops": self.safety_stops,
            "safety_stop_reasons": dict(sorted(self.safety_stop_reasons.items())),
            "failing_scenarios": [r.scenario_file or r.scenario for r in self.failing],
        }


ORACLE_ARGUMENT = (
    "In each of these runs the head motion began with the spoon so near that an arm retreating at "
    "full servo torque 50 ms after the onset, sooner than the camera (33 ms frames, 40 ms or more of "
    "latency) or contact sensing (only once the head has hit) can know, breaks the force limit from "
    "the same spoon gap (sim.reaction_bound, largest such bound {bound:.1f} N). The design's answer: "
    "the compliant holder and the stand-off (docs/safety.md, 'The physically impossible class')."
)


def family_stats(records: list[RunRecord], beyond_physics: dict[str, str]) -> list[FamilyStats]:
    """The records summed per family, in order of first appearance; `beyond_physics` maps the
    names of beyond-physics families to their argument. A run of another family that is itself
    `beyond_physics` (its oracle bound above the limit) goes to `<family>:beyond_physics`, argued
    by `ORACLE_ARGUMENT`."""
    stats: dict[str, FamilyStats] = {}
    for record in records:
        key = record.family
        argument = beyond_physics.get(key)
        if argument is None and record.beyond_physics:
            key = f"{record.family}:beyond_physics"
            bound = max(r.oracle_peak_face_force_n for r in records if r.family == record.family and r.beyond_physics)
            argument = ORACLE_ARGUMENT.format(bound=bound)
        if key not in stats:
            stats[key] = FamilyStats(key, argument is not None, argument or "")
        stats[key].add(record)
    return list(stats.values())


def write_json(stats: list[FamilyStats], path: Path) -> None:
    path.write_text(json.dumps([s.as_json() for s in stats], indent=2) + "\n", encoding="utf-8")


def _by_reason(stats: FamilyStats) -> str:
    """The family's safety stops, most frequent reason first: `12 (lean_in 9, contact 3)`."""
    if not stats.safety_stops:
        return "0"
    reasons = ", ".join(f"{reason} {n}" for reason, n in stats.safety_stop_reasons.most_common())
    return f"{stats.safety_stops} ({reasons})"


def _percent(rate: float) -> str:
    return f"{100 * rate:.3f} %"


def render_markdown(stats: list[FamilyStats], *, command: str, header: list[str]) -> str:
    """The campaign's summary page: one row per family, the total over the families that physics
    allows to be safe, and each beyond-physics family on its own line with its argument."""
    judged = [s for s in stats if not s.beyond_physics]
    runs, failures = sum(s.runs for s in judged), sum(s.failures for s in judged)
    lines = [
        "# Safety campaign",
        "",
        f"Command: `{command}`",
        "",
        *header,
        "",
        "| family | runs | vision runs | failures | failure rate, upper 95 % (Clopper-Pearson) | "
        "worst face force (N) | worst approach speed (m/s) | fed nobody | safety stops (by reason) | "
        "CPU s per run | simulated s per run |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in stats:
        name = f"{s.family.removesuffix(':beyond_physics')} (beyond physics)" if s.beyond_physics else s.family
        per_run = max(s.runs, 1)
        lines.append(
            f"| {name} | {s.runs} | {s.vision_runs} | {s.failures} | {_percent(s.upper_95)} | "
            f"{s.worst_peak_face_force_n:.2f} | {s.worst_approach_speed_m_s:.3f} | {s.fed_nobody} | "
            f"{_by_reason(s)} | {s.cpu_s / per_run:.2f} | {s.simulated_s / per_run:.1f} |"
        )
    lines += [
        "",
        f"**All runs physics allows to make safe: {failures} failures in {runs} runs; failure rate "
        f"below {_percent(clopper_pearson_upper(failures, runs))} with 95 % confidence (exact binomial).**",
    ]
    for s in stats:
        if s.beyond_physics:
            energy = 0.5 * HEAD_MASS_KG * s.max_contact_head_speed_m_s**2
            lines += [
                "",
                f"**{s.family}, beyond physics: {s.failures} of {s.runs} runs broke a limit** (not counted above). "
                f"Fastest head at contact {s.max_contact_head_speed_m_s:.2f} m/s (spoon {s.max_contact_spoon_speed_m_s:.2f} "
                f"m/s), kinetic energy of a {HEAD_MASS_KG} kg head {energy:.2f} J. {s.argument}",
            ]
    failing = [r for s in stats for r in s.failing]
    if failing:
        lines += ["", "## Failing runs", "", "Replay one with `bidvis safety-report --scenarios FILE`.", ""]
        lines += [f"- `{r.scenario_file or r.scenario}`: {'; '.join(r.broken)}" for r in failing]
    return "\n".join(lines) + "\n"
