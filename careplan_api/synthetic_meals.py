"""Synthetic meal journals (no real person): for demos, screenshots, benchmarks and tests.

Deterministic for a given `random.Random`, so a seeded run always produces the same meals.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import datetime, time, timedelta
from uuid import UUID

from careplan_api.fhir.records import AuditRecord, CitizenRecord, DeviceRecord, GoalAssessment, PowerOfAttorney
from careplan_api.meal_summary import AssistanceLevel, summarize_meal
from careplan_api.schemas import UsageEvent, UsageEventType

MEAL_TIMES = (time(8, 0), time(12, 0), time(17, 30))
TRIGGER_KINDS = ("switch", "gesture", "panel", "auto", "staff")
STOP_REASONS = ("contact", "mouth_lost", "estop")  # as the controller journals them (controller.safety.SafetyReason)


def _uuid(rng: random.Random) -> UUID:
    return UUID(int=rng.getrandbits(128), version=4)


def synthetic_meal_events(
    meal_id: UUID,
    start: datetime,
    rng: random.Random,
    *,
    bites: int = 20,
    bowls: Sequence[int] = (0, 1),  # as the robot numbers them (the panel's "Skål 1" is 0)
    assistance_level: int | None = 2,
) -> list[UsageEvent]:
    """The journal of one plausible meal: bowl choices, triggers, bites offered and mostly taken,
    now and then a misfire, a timeout or a safety stop, then meal_ended."""
    events: list[UsageEvent] = []
    now = start

    def add(event_type: UsageEventType, **data: object) -> None:
        events.append(UsageEvent(id=_uuid(rng), meal_id=meal_id, type=event_type, at=now, data=data))

    add(UsageEventType.MEAL_STARTED)
    for bite in range(bites):
        if bite % max(1, bites // len(bowls)) == 0:
            add(UsageEventType.BOWL_SELECTED, bowl=bowls[(bite // max(1, bites // len(bowls))) % len(bowls)])
        now += timedelta(seconds=rng.uniform(4.0, 20.0))
        if rng.random() < 0.04:
            add(UsageEventType.MISFIRE, reason="talking")
        add(UsageEventType.TRIGGER, kind=rng.choice(TRIGGER_KINDS))
        add(UsageEventType.BITE_OFFERED)
        now += timedelta(seconds=rng.uniform(2.0, 6.0))
        if rng.random() < 0.02:
            add(UsageEventType.SAFETY_STOP, reason=rng.choice(STOP_REASONS))
        elif rng.random() < 0.08:
            add(UsageEventType.BITE_TIMEOUT)
        else:
            add(UsageEventType.BITE_TAKEN)
    now += timedelta(seconds=5)
    if assistance_level is None:
        add(UsageEventType.MEAL_ENDED)
    else:
        add(UsageEventType.MEAL_ENDED, assistance_level=assistance_level)
    return events


def synthetic_meals(
    first_day: datetime, days: int, rng: random.Random, *, meals_per_day: int = 3
) -> Iterator[tuple[UUID, list[UsageEvent]]]:
    """(meal_id, events) for `meals_per_day` meals a day over `days` days from `first_day`'s date;
    the citizen slowly eats more bites and needs less help over time."""
    for day in range(days):
        date_ = (first_day + timedelta(days=day)).date()
        for slot in MEAL_TIMES[:meals_per_day]:
            start = datetime.combine(date_, slot, tzinfo=first_day.tzinfo) + timedelta(minutes=rng.uniform(-20, 20))
            progress = day / max(1, days - 1)
            bites = max(1, round(rng.gauss(14 + 8 * progress, 3)))
            level = min(4, max(0, round(3 - 1.5 * progress + rng.gauss(0, 0.4))))
            meal_id = _uuid(rng)
            yield meal_id, synthetic_meal_events(meal_id, start, rng, bites=bites, assistance_level=level)


def synthetic_citizen_record(first_day: datetime, days: int, seed: int) -> CitizenRecord:
    """A whole synthetic citizen for the FHIR export: one robot, `days` days of meals, an FSIII goal
    (assessed 3, target 2), one valid and one expired fuldmagt, and two audit-log lines."""
    rng = random.Random(seed)
    citizen_id, device_id = _uuid(rng), _uuid(rng)
    meals = tuple(
        summarize_meal(meal_id, device_id, events) for meal_id, events in synthetic_meals(first_day, days, rng)
    )
    return CitizenRecord(
        citizen_id=citizen_id,
        created_at=first_day - timedelta(days=30),
        devices=(DeviceRecord(device_id, first_day - timedelta(days=7)),),
        meals=meals,
        goal=GoalAssessment(AssistanceLevel.SEVERE, (first_day - timedelta(days=14)).date(), AssistanceLevel.MODERATE),
        powers_of_attorney=(
            PowerOfAttorney(_uuid(rng), _uuid(rng), "care_plan", first_day - timedelta(days=10)),
            PowerOfAttorney(
                _uuid(rng), _uuid(rng), "full", first_day - timedelta(days=60), first_day - timedelta(days=1)
            ),
        ),
        audit=(
            AuditRecord(_uuid(rng), first_day, _uuid(rng), "staff", "read", "care", "GET /reports/citizens"),
            AuditRecord(_uuid(rng), first_day, None, "device", "create", "device ingest", "POST /api/v1/usage-events"),
        ),
    )
