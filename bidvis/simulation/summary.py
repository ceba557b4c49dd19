"""What a simulated meal did: the journal's events counted as they pass, and the `MealSummary`
that `bidvis demo` prints and the safety runs read."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from controller.config import TriggerKind


@dataclass
class MealSummary:
    """What a simulated meal did (the `bidvis demo` summary)."""

    scenario: str
    bites_offered: int
    bites_taken: int
    bite_timeouts: int
    duration_s: float
    wall_s: float
    realtime_factor: float
    safety_stops: int
    safety_reasons: dict[str, int]
    safety_stop_reasons: dict[str, int]  # the journal's `safety_stop` events by their reason
    peak_face_force_n: float
    max_speed_near_mouth_m_s: float
    max_approach_speed_m_s: float
    closest_approach_m: float
    advances_on_stale_mouth: int
    final_state: str
    camera_mode: str
    ground_truth_camera: bool
    events: dict[str, int]
    citizen_bites_taken: int
    aborted: str | None = None
    citizen_log: list[tuple[float, str]] = field(default_factory=list)
    face_scale: float | None = None  # the tracker's calibration of the citizen's face (face frames only)
    camera_reason: str = ""  # why the ground-truth camera stood in for the vision pipeline, when it did
    mouth_error_m: dict[str, float] | None = None  # vision vs truth, 3-D (face frames only)
    trigger_kind: str = TriggerKind.SWITCH.value
    gesture: dict[str, int] | None = None  # the mouth gesture's triggers, misfires, speech openings
    unnoticed_arm_stops: int = 0  # servos that stopped by themselves unnoticed (judge.ArmStopJudge)
    contact_head_speed_m_s: float = 0.0  # at the onset of the contact with the peak face force
    contact_spoon_speed_m_s: float = 0.0
    events_started: int = 0  # of the scenario's events, how many the citizen started
    event_onsets: tuple[tuple[int, float, float], ...] = ()  # (event index, time s, spoon to mouth m) as each started

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class CountingJournal:
    """Passes events to the real journal and counts them by type."""

    def __init__(self, journal: Any) -> None:
        self._journal = journal
        self.counts: Counter[str] = Counter()
        self.safety_stop_reasons: Counter[str] = Counter()

    def start_meal(self, data: Mapping[str, Any] | None = None) -> Any:
        self.counts["meal_started"] += 1
        return self._journal.start_meal(data)

    def record(self, event_type: Any, data: Mapping[str, Any] | None = None) -> Any:
        kind = str(getattr(event_type, "value", event_type))
        self.counts[kind] += 1
        if kind == "safety_stop":
            self.safety_stop_reasons[str((data or {}).get("reason"))] += 1
        return self._journal.record(event_type, data)

    def end_meal(self, reason: str = "completed", data: Mapping[str, Any] | None = None) -> Any:
        self.counts["meal_ended"] += 1
        return self._journal.end_meal(reason, data)


def summarize(meal: Any, report: Any, wall_s: float, aborted: str | None) -> MealSummary:
    """The summary of `meal` (a `SimulatedMeal`) after its run: `report` is the loop's
    `MealReport` (None when the run was aborted, `aborted` saying why)."""
    metrics = meal.world.metrics
    feeding = report.feeding if report is not None else None
    reasons = {} if report is None else {str(k): v for k, v in report.controller.reasons.items()}
    duration = meal.clock.now()
    feed = meal.feed
    return MealSummary(
        scenario=meal.scenario.name,
        bites_offered=feeding.bites_offered if feeding else 0,
        bites_taken=feeding.bites_taken if feeding else 0,
        bite_timeouts=feeding.bite_timeouts if feeding else 0,
        duration_s=round(duration, 3),
        wall_s=round(wall_s, 3),
        realtime_factor=round(duration / wall_s, 2) if wall_s > 0 else math.inf,
        safety_stops=feeding.safety_stops if feeding else 0,
        safety_reasons=reasons,
        safety_stop_reasons=dict(meal.journal.safety_stop_reasons),
        peak_face_force_n=round(metrics.peak_face_force_n, 4),
        max_speed_near_mouth_m_s=round(metrics.max_speed_near_mouth_m_s, 4),
        max_approach_speed_m_s=round(metrics.max_approach_speed_m_s, 4),
        closest_approach_m=round(metrics.closest_approach_m, 4),
        advances_on_stale_mouth=meal.stale_advances.count,
        final_state=str(report.final_state.value) if report is not None else "aborted",
        camera_mode=feed.mode.value,
        ground_truth_camera=feed.mode.value == "ground_truth",
        camera_reason=feed.reason,
        events=dict(meal.journal.counts),
        citizen_bites_taken=meal.citizen.bites_taken,
        aborted=aborted,
        citizen_log=list(meal.citizen.log),
        face_scale=None if feed.face_scale is None else round(feed.face_scale, 4),
        mouth_error_m=error_stats(feed.mouth_errors_m),
        trigger_kind=meal.profile.trigger_kind.value,
        gesture=meal.task.gesture_counts(),
        unnoticed_arm_stops=meal.arm_stops.unnoticed,
        contact_head_speed_m_s=round(metrics.peak_contact_head_speed_m_s, 4),
        contact_spoon_speed_m_s=round(metrics.peak_contact_spoon_speed_m_s, 4),
        events_started=meal.citizen.events_started,
        event_onsets=tuple(meal.citizen.event_onsets),
    )


def error_stats(errors_m: list[float]) -> dict[str, float] | None:
    """Median, 90th percentile and largest of the vision pipeline's 3-D mouth errors (m), and their count."""
    if not errors_m:
        return None
    median, p90 = np.percentile(errors_m, [50, 90])
    return {
        "median": round(float(median), 4),
        "p90": round(float(p90), 4),
        "max": round(max(errors_m), 4),
        "count": len(errors_m),
    }
