"""What one meal was, summarised from the device's journal events: pure functions, no database.

Both the FHIR export (`careplan_api.fhir`) and the reports (`careplan_api.reports`) start from a
`MealSummary`. The summary reads these optional keys of an event's `data` (see docs/fhir.md):

- `bowl_selected`: `bowl` (label or index of the bowl, e.g. "1" or "kartoffelmos");
- `bite_offered` / `bite_taken`: `bowl` (overrides the last selected bowl for that bite);
- `trigger`: `kind` (switch, panel, gesture, auto, staff ...); a `staff` trigger counts as assistance;
- `safety_stop` / `fault`: `reason`; `misfire`: `reason`; `bite_timeout`: nothing;
- `meal_ended`: `assistance_level` (0-4, FSIII funktionsniveau as recorded by staff), `reason`.

Unknown keys are ignored; a malformed value of a known key is ignored too (the event still counts),
because a summary must never fail on what a device once sent.

A summary depends only on which events were stored, never on the order they arrived in: events are
taken by time, and events of the same instant in the order a bite happens (`SAME_INSTANT_ORDER`:
the previous bite ends, a bowl is chosen, the next bite is triggered and offered), then by data.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum
from operator import itemgetter
from typing import Any, Protocol
from uuid import UUID

from careplan_api.errors import InvalidInput
from careplan_api.schemas import UsageEventType

NO_BOWL = "?"
STAFF_TRIGGER_KIND = "staff"


class AssistanceLevel(IntEnum):
    """FSIII funktionsniveau 0-4: how much help the citizen needs (0 none, 4 total)."""

    NONE = 0
    LIGHT = 1
    MODERATE = 2
    SEVERE = 3
    TOTAL = 4


class IncidentKind(StrEnum):
    """Events of a meal that staff should look at."""

    SAFETY_STOP = "safety_stop"
    FAULT = "fault"
    MISFIRE = "misfire"
    BITE_TIMEOUT = "bite_timeout"


_INCIDENT_KINDS = frozenset(kind.value for kind in IncidentKind)

SAME_INSTANT_ORDER: tuple[UsageEventType, ...] = (
    UsageEventType.MEAL_STARTED,
    UsageEventType.CALIBRATION_CHANGED,
    UsageEventType.BITE_TAKEN,
    UsageEventType.BITE_TIMEOUT,
    UsageEventType.SAFETY_STOP,
    UsageEventType.FAULT,
    UsageEventType.BOWL_SELECTED,
    UsageEventType.MISFIRE,
    UsageEventType.TRIGGER,
    UsageEventType.BITE_OFFERED,
    UsageEventType.MEAL_ENDED,
)
_RANK = {kind.value: rank for rank, kind in enumerate(SAME_INSTANT_ORDER)}


class JournalEvent(Protocol):
    """Anything shaped like a stored usage event (the wire `UsageEvent`, a database row ...)."""

    @property
    def type(self) -> str: ...

    @property
    def at(self) -> datetime: ...

    @property
    def data(self) -> Mapping[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class Incident:
    """One incident of a meal, with the reason the device gave."""

    kind: IncidentKind
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class BowlTally:
    """Bites offered and taken from one bowl during one meal."""

    bowl: str
    bites_offered: int
    bites_taken: int


@dataclass(frozen=True, slots=True)
class MealSummary:
    """One meal of one citizen with one device, as the care plan shows it.

    Immutable and hashable: equal summaries are the same meal in the same state, so a summary can
    key a cache of what is derived from it (the FHIR entries)."""

    meal_id: UUID
    device_id: UUID
    started_at: datetime
    ended_at: datetime
    complete: bool
    bites_offered: int
    bites_taken: int
    bowls: tuple[BowlTally, ...] = ()
    incidents: tuple[Incident, ...] = ()
    triggers: tuple[tuple[str, int], ...] = ()  # (trigger kind, count), sorted by kind
    assistance_level: AssistanceLevel | None = None
    calibration_changes: int = 0

    @property
    def duration_s(self) -> float:
        """Seconds from the first to the last event (meal_started to meal_ended when complete)."""
        return max(0.0, (self.ended_at - self.started_at).total_seconds())

    @property
    def pace_bites_per_min(self) -> float | None:
        """Bites taken per minute of meal; None for a meal shorter than one second."""
        duration_s = self.duration_s
        return None if duration_s < 1.0 else self.bites_taken * 60.0 / duration_s

    @property
    def staff_assists(self) -> int:
        """Bites that staff triggered for the citizen."""
        return dict(self.triggers).get(STAFF_TRIGGER_KIND, 0)

    def count(self, kind: IncidentKind) -> int:
        """Number of incidents of one kind."""
        return sum(1 for incident in self.incidents if incident.kind is kind)


def _text(data: Mapping[str, Any] | None, key: str, default: str) -> str:
    value = (data or {}).get(key)
    if isinstance(value, bool) or value is None:
        return default
    if isinstance(value, (str, int)):
        text = str(value).strip()
        return text[:80] if text else default
    return default


def _assistance(data: Mapping[str, Any] | None) -> AssistanceLevel | None:
    value = (data or {}).get("assistance_level")
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    try:
        return AssistanceLevel(value)
    except ValueError:
        return None


def _instant_key(event: JournalEvent) -> tuple[datetime, int, str]:
    kind = str(event.type)
    return event.at, _RANK.get(kind, len(_RANK)), kind


def _data_key(event: JournalEvent) -> str:
    return json.dumps(event.data or {}, sort_keys=True, default=str)  # no data: None or {}


def in_summary_order(events: Iterable[JournalEvent]) -> list[JournalEvent]:
    """The events in the order `summarize_meal` takes them (module docstring); the same list for
    any order of the same events. All times must carry an offset."""
    keyed = sorted(((_instant_key(event), event) for event in events), key=itemgetter(0))
    ordered = [event for _key, event in keyed]
    start = 0
    for end in range(1, len(keyed) + 1):
        if end == len(keyed) or keyed[end][0] != keyed[start][0]:
            if end - start > 1:  # rare: one kind of event twice at one instant
                ordered[start:end] = sorted(ordered[start:end], key=_data_key)
            start = end
    return ordered


def summarize_meal(meal_id: UUID, device_id: UUID, events: Iterable[JournalEvent]) -> MealSummary:
    """Summarise the events of one meal (any order, duplicates already removed by the store; see
    the module docstring for events at the same instant).

    Raises `InvalidInput` when there is no event at all or an event time has no offset.
    """
    events = list(events)
    if not events:
        raise InvalidInput(f"meal {meal_id} has no events to summarise")
    if any(event.at.tzinfo is None for event in events):
        raise InvalidInput(f"meal {meal_id} has an event time without a UTC offset")
    ordered = in_summary_order(events)
    bowl = NO_BOWL
    offered: Counter[str] = Counter()
    taken: Counter[str] = Counter()
    triggers: Counter[str] = Counter()
    incidents: list[Incident] = []
    assistance: AssistanceLevel | None = None
    calibration_changes = 0
    started_at, ended_at, complete = ordered[0].at, ordered[-1].at, False
    for event in ordered:
        kind, data = str(event.type), event.data
        if kind == UsageEventType.MEAL_STARTED:
            started_at = min(started_at, event.at)
        elif kind == UsageEventType.BOWL_SELECTED:
            bowl = _text(data, "bowl", NO_BOWL)
        elif kind == UsageEventType.BITE_OFFERED:
            offered[_text(data, "bowl", bowl)] += 1
        elif kind == UsageEventType.BITE_TAKEN:
            taken[_text(data, "bowl", bowl)] += 1
        elif kind == UsageEventType.TRIGGER:
            triggers[_text(data, "kind", "unknown")] += 1
        elif kind in _INCIDENT_KINDS:
            incidents.append(Incident(IncidentKind(kind), event.at, _text(data, "reason", "")))
        elif kind == UsageEventType.CALIBRATION_CHANGED:
            calibration_changes += 1
        elif kind == UsageEventType.MEAL_ENDED:
            ended_at, complete = event.at, True
            if (level := _assistance(data)) is not None:
                assistance = level
    bowls = tuple(BowlTally(name, offered[name], taken[name]) for name in sorted(set(offered) | set(taken)))
    return MealSummary(
        meal_id=meal_id,
        device_id=device_id,
        started_at=started_at,
        ended_at=ended_at,
        complete=complete,
        bites_offered=sum(offered.values()),
        bites_taken=sum(taken.values()),
        bowls=bowls,
        incidents=tuple(incidents),
        triggers=tuple(sorted(triggers.items())),
        assistance_level=assistance,
        calibration_changes=calibration_changes,
    )


__all__ = [
    "SAME_INSTANT_ORDER",
    "AssistanceLevel",
    "BowlTally",
    "Incident",
    "IncidentKind",
    "JournalEvent",
    "MealSummary",
    "in_summary_order",
    "summarize_meal",
]
