"""Safety scenario results: the limits they are judged by, the JSON rows and the Markdown table.

Pure data and formatting; running the scenarios (controller + simulator) is the composition
root's job (`bidvis.simulation`). The JSON of `bidvis safety-report --json` is a list with exactly
the keys of `ScenarioResult.as_json()`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

JSON_FIELDS = (
    "scenario",
    "peak_face_force_n",
    "max_speed_near_mouth_m_s",
    "max_approach_speed_m_s",
    "closest_approach_m",
    "advances_on_stale_mouth",
    "stop_after_host_silence_s",
    "passed",
    "unnoticed_arm_stops",
)


@dataclass(frozen=True, slots=True)
class ReportLimits:
    """What every scenario must keep to (issue 5)."""

    peak_face_force_n: float = 5.0  # ISO/TS 15066 treats the face as a region to keep from contact
    # The arm carries the spoon toward the mouth no faster than this within `near_mouth_radius_m`
    # (measured on the spoon holder, without contact: see `sim.world.PhysicsMetrics`).
    max_approach_speed_m_s: float = 0.06
    near_mouth_radius_m: float = 0.10
    stale_mouth_s: float = 0.2  # never advance on an observation older than this ...
    min_mouth_confidence: float = 0.5  # ... or less confident than this (a hand over the mouth gives 0.3)
    stop_after_host_silence_s: float = 0.1  # servos stop by themselves (bus watchdog)
    # A servo that stopped by itself (torque off, Bus Watchdog tripped) is noticed by the controller
    # (it stops commanding motion: fault or pause) within this long.
    notice_arm_stop_s: float = 0.02


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    """What one scenario measured. `stop_after_host_silence_s` is NaN when the probe could not
    run (the arm never moved); that fails the scenario. `max_speed_near_mouth_m_s` is the spoon
    tip's speed from any cause (shown, not judged: a head that pushes the spoon back moves it
    too); `max_approach_speed_m_s` is the judged speed at which the arm carried it toward the mouth."""

    scenario: str
    peak_face_force_n: float
    max_speed_near_mouth_m_s: float
    max_approach_speed_m_s: float
    closest_approach_m: float
    advances_on_stale_mouth: int
    stop_after_host_silence_s: float
    bites_offered: int = 0
    bites_taken: int = 0
    safety_stops: int = 0
    safety_stop_reasons: tuple[tuple[str, int], ...] = ()  # (reason, count) of the journal's safety stops
    duration_s: float = 0.0
    ground_truth_camera: bool = True
    aborted: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    unnoticed_arm_stops: int = 0  # servos that stopped by themselves without the controller noticing in time
    contact_head_speed_m_s: float = 0.0  # at the onset of the contact with the peak face force
    contact_spoon_speed_m_s: float = 0.0
    events_started: int = 0  # of the scenario's citizen events (a bite's event needs the spoon that near)
    host_silence_probed: bool = True  # False: the scenario did not ask for the probe (not judged)
    event_onsets: tuple[tuple[int, float, float], ...] = ()  # (event index, time s, spoon to mouth m) as each started

    def broken_limits(self, limits: ReportLimits) -> list[str]:
        """The limits this result breaks, in words (empty when it passes)."""
        broken = [f"run aborted: {self.aborted}"] if self.aborted else []
        if not self.peak_face_force_n <= limits.peak_face_force_n:
            broken.append(f"face force {self.peak_face_force_n:.2f} N > {limits.peak_face_force_n} N")
        if not self.max_approach_speed_m_s <= limits.max_approach_speed_m_s:
            broken.append(
                f"approach speed near mouth {self.max_approach_speed_m_s:.3f} m/s > {limits.max_approach_speed_m_s} m/s"
            )
        if self.advances_on_stale_mouth > 0:
            broken.append(
                f"advanced {self.advances_on_stale_mouth} ticks on a mouth older than {limits.stale_mouth_s} s "
                f"or less confident than {limits.min_mouth_confidence}"
            )
        if self.host_silence_probed and not self.stop_after_host_silence_s <= limits.stop_after_host_silence_s:
            broken.append(
                f"stop after host silence {self.stop_after_host_silence_s:.3f} s > {limits.stop_after_host_silence_s} s"
            )
        if self.unnoticed_arm_stops > 0:
            broken.append(
                f"{self.unnoticed_arm_stops} servo stop(s) not noticed by the controller within {limits.notice_arm_stop_s} s"
            )
        return broken

    def passed(self, limits: ReportLimits) -> bool:
        return not self.broken_limits(limits)

    def as_json(self, limits: ReportLimits) -> dict:
        """The row of the JSON report (exactly `JSON_FIELDS`; NaN/inf become null)."""

        def number(value: float) -> float | None:
            return round(value, 6) if math.isfinite(value) else None

        return {
            "scenario": self.scenario,
            "peak_face_force_n": number(self.peak_face_force_n),
            "max_speed_near_mouth_m_s": number(self.max_speed_near_mouth_m_s),
            "max_approach_speed_m_s": number(self.max_approach_speed_m_s),
            "closest_approach_m": number(self.closest_approach_m),
            "advances_on_stale_mouth": int(self.advances_on_stale_mouth),
            "stop_after_host_silence_s": number(self.stop_after_host_silence_s),
            "passed": self.passed(limits),
            "unnoticed_arm_stops": int(self.unnoticed_arm_stops),
        }


def _cell(value: float, digits: int) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "n/a"


def _stops(result: ScenarioResult) -> str:
    """The number of safety stops, with their reasons: `2 (contact, lean_in)`."""
    if not result.safety_stop_reasons:
        return str(result.safety_stops)
    reasons = ", ".join(reason if n == 1 else f"{reason} x{n}" for reason, n in result.safety_stop_reasons)
    return f"{result.safety_stops} ({reasons})"


def render_markdown(results: list[ScenarioResult], limits: ReportLimits, *, command: str, generated: str) -> str:
    """The safety table as a Markdown page."""
    lines = [
        "# Safety scenarios",
        "",
        f"Generated by `{command}` on {generated}. Each scenario runs the real controller "
        "(feeding state machine, safety supervisor, jerk-limited motion, 200 Hz loop) against the "
        "MuJoCo simulator through the virtual Dynamixel bus; every figure is measured on the "
        "physics, every physics step. Scenarios: `sim/assets/scenarios.toml` (format: docs/scenarios.md).",
        "",
        "Limits: peak spoon-to-face force <= "
        f"{limits.peak_face_force_n} N; the arm carries the spoon toward the mouth at <= "
        f"{limits.max_approach_speed_m_s} m/s within {limits.near_mouth_radius_m} m of the mouth; no advance "
        f"toward the mouth on an observation older than {limits.stale_mouth_s} s, nor once the newest one has "
        f"been less confident than {limits.min_mouth_confidence} for a tick; servos stopped within "
        f"{limits.stop_after_host_silence_s} s after the host falls silent mid-approach (bus watchdog), probed "
        "where the arm drove the spoon fastest toward the mouth (the meal replayed to that moment).",
        "",
        "How the speed is measured: the approach speed is the velocity, along the direction to the "
        "mouth, of the spoon holder's tip (where the spoon tip is while the compliant holder rests at its "
        "stop), in physics steps without robot-face contact. Moving away from the mouth does not count, "
        "nor does the spoon giving way in its holder, nor the arm being pushed while the face touches it: "
        "then the face force is what is measured and judged. The spoon tip's speed from any cause is in "
        "the column `spoon speed, any cause` (not judged). Why, and why the simulated arm holds the spoon in a "
        "compliant holder: docs/face-contact.md.",
        "",
        "| scenario | peak face force (N) | max approach speed (m/s) | spoon speed, any cause (m/s) | "
        "closest approach (m) | advances on stale mouth | stop after host silence (s) | bites offered/taken | "
        "safety stops | passed |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.scenario} | {_cell(r.peak_face_force_n, 2)} | {_cell(r.max_approach_speed_m_s, 3)} | "
            f"{_cell(r.max_speed_near_mouth_m_s, 3)} | "
            f"{_cell(r.closest_approach_m, 3)} | {r.advances_on_stale_mouth} | "
            f"{_cell(r.stop_after_host_silence_s, 3)} | {r.bites_offered}/{r.bites_taken} | {_stops(r)} | "
            f"{'yes' if r.passed(limits) else 'NO'} |"
        )
    failures = [(r.scenario, r.broken_limits(limits)) for r in results if not r.passed(limits)]
    notes = [(r.scenario, note) for r in results for note in r.notes]
    if failures:
        lines += ["", "## Limits broken", ""]
        lines += [f"- {name}: {'; '.join(broken)}" for name, broken in failures]
    if notes:
        lines += ["", "## Notes", ""]
        lines += [f"- {name}: {note}" for name, note in notes]
    if any(r.ground_truth_camera for r in results):
        lines += [
            "",
            "The camera ran in its ground-truth mode (projected mouth with noise, 60 ms latency and "
            "dropouts) instead of composing face images for the vision pipeline.",
        ]
    return "\n".join(lines) + "\n"


def write_json(results: list[ScenarioResult], limits: ReportLimits, path: Path) -> None:
    """Write the JSON report (a list of `JSON_FIELDS` objects)."""
    path.write_text(json.dumps([r.as_json(limits) for r in results], indent=2) + "\n", encoding="utf-8")


class StaleAdvanceCounter:
    """Counts control ticks in which the spoon is driven toward the mouth on a stale or
    low-confidence observation.

    Feed it every tick with the age of the newest mouth observation the controller had, how long
    the controller has had only observations less confident than `min_confidence` (0 when the
    newest is confident; `ReportLimits.min_mouth_confidence`) and the commanded spoon speed toward the mouth (m/s, positive = closer).
    A tick counts when the observation is older than `stale_s`, or has been unconfident for
    longer than a tick (each plus one tick for the controller to notice), and the spoon is moving
    toward the mouth without slowing down: braking is the correct reaction, any speed held or
    gained is an advance. Both are judged on the ticks themselves: an observation is stale at a
    tick that sees it older than `stale_s` when the tick before did too, and unconfident "for
    longer than a tick" when the tick before had it unconfident for some time already. (Thresholds
    of `stale_s` + one period and of one period let float rounding decide: ages of
    0.19999999999999930 s and then 0.20500000000000185 s on one tick grid counted the controller's
    first stale tick, and 0.0050000000000017 s of unconfidence its tick to notice.)
    """

    def __init__(self, stale_s: float, period_s: float, moving_m_s: float = 0.001) -> None:
        self.stale_s = stale_s
        self.period_s = period_s
        self.moving_m_s = moving_m_s
        self.count = 0
        self._previous_toward_m_s = 0.0
        self._previous_age_s = 0.0
        self._previous_unconfident_s = 0.0

    def update(self, observation_age_s: float, toward_mouth_m_s: float, unconfident_for_s: float = 0.0) -> None:
        old = observation_age_s > self.stale_s and self._previous_age_s > self.stale_s
        unsure = unconfident_for_s > 0.0 and self._previous_unconfident_s > 0.0
        if (
            (old or unsure)
            and toward_mouth_m_s > self.moving_m_s
            and toward_mouth_m_s >= self._previous_toward_m_s - 1e-9
        ):
            self.count += 1
        self._previous_toward_m_s = toward_mouth_m_s
        self._previous_age_s = observation_age_s
        self._previous_unconfident_s = unconfident_for_s


def time_to_stop(speeds: list[tuple[float, float]], silent_from_s: float, still_m_s: float = 0.005) -> float:
    """Seconds from `silent_from_s` until the spoon speed falls below `still_m_s` and stays there,
    from `(t_s, speed_m_s)` samples; NaN if it never does."""
    stopped_at = math.nan
    for t_s, speed in speeds:
        if t_s < silent_from_s:
            continue
        if speed < still_m_s:
            if math.isnan(stopped_at):
                stopped_at = t_s
        else:
            stopped_at = math.nan
    return stopped_at - silent_from_s
