"""The effect the municipality pays for, from logged meals only: pure functions, no database.

- Staff minutes freed: for each meal eaten with the robot (at least one bite taken), the minutes of
  hand-feeding per meal that staff recorded in the care plan (the newest recording at or before the
  meal); a meal before any recording frees nothing on paper and is counted as "without a recorded
  time" instead (never guessed).
- The share of bites the citizen started themself: bites offered minus the bites staff triggered
  (`MealSummary.staff_assists`), over bites offered. (A staff trigger the robot ignored still counts
  as staff's: the share errs on the low side.)
- Meals per week, and the FSIII functional level (0-4, assessed by staff) in force at the end of
  each week, beside them.

Reports show this per citizen (staff, the citizen, relatives with a fuldmagt), the FHIR export as one
Observation per week, and the dashboard per group of at least five citizens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from careplan_api.meal_summary import MealSummary

WEEK_TZ = ZoneInfo("Europe/Copenhagen")  # weeks are Danish weeks, Monday to Sunday


@dataclass(frozen=True, slots=True)
class LevelAssessment:
    """One FSIII "Spise og drikke" assessment by staff: the level (0-4) and, if recorded, the minutes
    a staff member spends feeding the citizen by hand at one meal."""

    assessed_at: datetime
    level: int
    hand_feeding_minutes: float | None = None


@dataclass(frozen=True, slots=True)
class WeekEffect:
    """The effect figures of one ISO week."""

    year: int
    week: int
    monday: date
    meals: int  # eaten with the robot (at least one bite taken)
    staff_minutes_freed: float  # from the meals with a recorded hand-feeding time
    meals_without_feeding_time: int
    bites_offered: int
    citizen_started_bites: int
    fsiii_level: int | None  # in force at the end of the week

    @property
    def self_started_share(self) -> float | None:
        return self.citizen_started_bites / self.bites_offered if self.bites_offered else None


@dataclass(frozen=True, slots=True)
class EffectSummary:
    """The effect figures of a period (the sums and means of its weeks)."""

    weeks: tuple[WeekEffect, ...]
    meals: int
    meals_per_week: float
    staff_minutes_freed: float
    meals_without_feeding_time: int
    self_started_share: float | None
    fsiii_first: int | None
    fsiii_last: int | None


def eaten_with_robot(meal: MealSummary) -> bool:
    """A meal counts when the citizen took at least one bite from the robot."""
    return meal.bites_taken > 0


def in_force(assessments: Sequence[LevelAssessment], when: datetime) -> LevelAssessment | None:
    """The newest assessment at or before `when`."""
    earlier = [a for a in assessments if a.assessed_at <= when]
    return max(earlier, key=lambda a: a.assessed_at) if earlier else None


def feeding_minutes_at(assessments: Sequence[LevelAssessment], when: datetime) -> float | None:
    """The newest recorded hand-feeding minutes per meal at or before `when` (None: none recorded)."""
    recorded = [a for a in assessments if a.assessed_at <= when and a.hand_feeding_minutes is not None]
    return max(recorded, key=lambda a: a.assessed_at).hand_feeding_minutes if recorded else None


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_of(meal: MealSummary) -> date:
    """The Monday of the (Danish) week in which the meal started."""
    return _monday(meal.started_at.astimezone(WEEK_TZ).date())


def week_effect(monday: date, meals: Sequence[MealSummary], assessments: Sequence[LevelAssessment]) -> WeekEffect:
    """The figures of the week starting `monday` from its meals (any meal; only robot meals count)."""
    counted = [m for m in meals if eaten_with_robot(m)]
    minutes = [feeding_minutes_at(assessments, m.started_at) for m in counted]
    offered = sum(m.bites_offered for m in counted)
    staff = sum(min(m.staff_assists, m.bites_offered) for m in counted)
    week_end = datetime.combine(monday + timedelta(days=7), time.min, tzinfo=WEEK_TZ)
    level = in_force(assessments, week_end)
    year, week, _ = monday.isocalendar()
    return WeekEffect(
        year=year,
        week=week,
        monday=monday,
        meals=len(counted),
        staff_minutes_freed=sum(m for m in minutes if m is not None),
        meals_without_feeding_time=sum(m is None for m in minutes),
        bites_offered=offered,
        citizen_started_bites=offered - staff,
        fsiii_level=level.level if level is not None else None,
    )


def weekly_effect(
    meals: Sequence[MealSummary], assessments: Sequence[LevelAssessment], *, weeks: int, until: date
) -> list[WeekEffect]:
    """One `WeekEffect` per week of the `weeks` weeks ending with the week of `until` (weeks without
    meals included, with zeros)."""
    last = _monday(until)
    mondays = [last - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    by_week: dict[date, list[MealSummary]] = {monday: [] for monday in mondays}
    for meal in meals:
        monday = week_of(meal)
        if monday in by_week:
            by_week[monday].append(meal)
    return [week_effect(monday, by_week[monday], assessments) for monday in mondays]


def effect_summary(weeks: Sequence[WeekEffect]) -> EffectSummary:
    """Sums over the weeks; the self-started share over all their bites; the first and last known level."""
    offered = sum(w.bites_offered for w in weeks)
    levels = [w.fsiii_level for w in weeks if w.fsiii_level is not None]
    meals = sum(w.meals for w in weeks)
    return EffectSummary(
        weeks=tuple(weeks),
        meals=meals,
        meals_per_week=meals / len(weeks) if weeks else 0.0,
        staff_minutes_freed=sum(w.staff_minutes_freed for w in weeks),
        meals_without_feeding_time=sum(w.meals_without_feeding_time for w in weeks),
        self_started_share=sum(w.citizen_started_bites for w in weeks) / offered if offered else None,
        fsiii_first=levels[0] if levels else None,
        fsiii_last=levels[-1] if levels else None,
    )


__all__ = [
    "EffectSummary",
    "LevelAssessment",
    "WeekEffect",
    "eaten_with_robot",
    "effect_summary",
    "feeding_minutes_at",
    "in_force",
    "week_effect",
    "weekly_effect",
]
