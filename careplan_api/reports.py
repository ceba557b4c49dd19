"""The meal report of one citizen and its weekly trend: pure functions over `MealSummary`.

The web page (`routes/reports.py`) shows `meal_rows` as a table and `weekly_trend` as a plot
(`report_plots.trend_svg`) with the same numbers in a table beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from statistics import fmean

from careplan_api.errors import InvalidInput
from careplan_api.i18n import DISPLAY_TZ
from careplan_api.meal_summary import AssistanceLevel, Incident, IncidentKind, MealSummary

MAX_TREND_WEEKS = 260


@dataclass(frozen=True, slots=True)
class MealRow:
    """One line of the meal table."""

    meal_id: str
    started_at: datetime
    complete: bool
    duration_min: float
    bites_offered: int
    bites_taken: int
    pace_bites_per_min: float | None
    bowls: tuple[tuple[str, int, int], ...]  # (bowl, taken, offered)
    assistance_level: AssistanceLevel | None
    staff_assists: int
    incidents: tuple[Incident, ...]


@dataclass(frozen=True, slots=True)
class WeekPoint:
    """The meals of one ISO week (Monday to Sunday, Danish local time); means are None without meals."""

    year: int
    week: int
    monday: date
    meals: int
    bites_taken: int
    mean_bites_taken: float | None
    mean_pace_bites_per_min: float | None
    mean_duration_min: float | None
    mean_assistance_level: float | None
    safety_stops: int
    incidents: int


@dataclass(frozen=True, slots=True)
class PeriodSummary:
    """Totals of the meals in the report's period."""

    meals: int
    bites_offered: int
    bites_taken: int
    mean_pace_bites_per_min: float | None
    mean_duration_min: float | None
    staff_assists: int
    safety_stops: int
    incidents: int


def period_summary(meals: Sequence[MealSummary]) -> PeriodSummary:
    """Totals and means over all `meals`."""
    paces = [p for m in meals if (p := m.pace_bites_per_min) is not None]
    return PeriodSummary(
        meals=len(meals),
        bites_offered=sum(m.bites_offered for m in meals),
        bites_taken=sum(m.bites_taken for m in meals),
        mean_pace_bites_per_min=_mean(paces),
        mean_duration_min=_mean([m.duration_s / 60.0 for m in meals]),
        staff_assists=sum(m.staff_assists for m in meals),
        safety_stops=sum(m.count(IncidentKind.SAFETY_STOP) for m in meals),
        incidents=sum(len(m.incidents) for m in meals),
    )


def meal_rows(meals: Sequence[MealSummary]) -> list[MealRow]:
    """The meal table, newest meal first."""
    return [
        MealRow(
            meal_id=str(meal.meal_id),
            started_at=meal.started_at,
            complete=meal.complete,
            duration_min=meal.duration_s / 60.0,
            bites_offered=meal.bites_offered,
            bites_taken=meal.bites_taken,
            pace_bites_per_min=meal.pace_bites_per_min,
            bowls=tuple((tally.bowl, tally.bites_taken, tally.bites_offered) for tally in meal.bowls),
            assistance_level=meal.assistance_level,
            staff_assists=meal.staff_assists,
            incidents=meal.incidents,
        )
        for meal in sorted(meals, key=lambda m: m.started_at, reverse=True)
    ]


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _mean(values: list[float]) -> float | None:
    return fmean(values) if values else None


def weekly_trend(meals: Sequence[MealSummary], *, weeks: int, until: date) -> list[WeekPoint]:
    """One point per ISO week for the `weeks` weeks ending with the week of `until`, oldest first.

    Weeks without meals are kept (meals=0, means None) so that a gap shows as a gap. Meals are put
    in the week of their start in Danish local time.
    """
    if not 1 <= weeks <= MAX_TREND_WEEKS:
        raise InvalidInput(f"weeks must be 1 to {MAX_TREND_WEEKS}, not {weeks}")
    last_monday = _monday(until)
    mondays = [last_monday - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    buckets: dict[date, list[MealSummary]] = {monday: [] for monday in mondays}
    for meal in meals:
        monday = _monday(meal.started_at.astimezone(DISPLAY_TZ).date())
        if monday in buckets:
            buckets[monday].append(meal)
    points = []
    for monday in mondays:
        group = buckets[monday]
        year, week, _ = monday.isocalendar()
        paces = [p for m in group if (p := m.pace_bites_per_min) is not None]
        levels = [float(m.assistance_level) for m in group if m.assistance_level is not None]
        points.append(
            WeekPoint(
                year=year,
                week=week,
                monday=monday,
                meals=len(group),
                bites_taken=sum(m.bites_taken for m in group),
                mean_bites_taken=_mean([float(m.bites_taken) for m in group]),
                mean_pace_bites_per_min=_mean(paces),
                mean_duration_min=_mean([m.duration_s / 60.0 for m in group]),
                mean_assistance_level=_mean(levels),
                safety_stops=sum(m.count(IncidentKind.SAFETY_STOP) for m in group),
                incidents=sum(len(m.incidents) for m in group),
            )
        )
    return points


__all__ = ["MAX_TREND_WEEKS", "MealRow", "PeriodSummary", "WeekPoint", "meal_rows", "period_summary", "weekly_trend"]
