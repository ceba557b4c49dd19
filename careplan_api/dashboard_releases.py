"""The dashboard's figures per closed calendar month, computed once and then only ever shown as stored.

A month is released once it has ended and `delay_days` more have passed (so that meals a robot
synced late are in). Its figures are computed by `dashboard.build_dashboard` from the meals that
started in it and the FSIII level in force at its end, stored in `dashboard_releases`, and from then
on every query, by any worker, gets exactly the stored figures: no later query (a re-assessment, a
late meal, another filter) can be differenced against a release. Months overlap in nothing, so
figures of different months are about different meals.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from careplan_api.care_record import load_assessments, load_meal_summaries
from careplan_api.dashboard import MIN_GROUP_SIZE, CitizenStats, build_dashboard
from careplan_api.effect import WEEK_TZ, eaten_with_robot, feeding_minutes_at, in_force
from careplan_api.meal_summary import IncidentKind
from careplan_api.models import Citizen, DashboardRelease, Meal, Unit

NOT_ASSESSED = "none"  # the level label of citizens without an FSIII assessment, as stored
MAX_MONTHS = 24


def month_start(period: str) -> datetime:
    """Midnight (Danish time) on the first day of `period` ("YYYY-MM")."""
    year, month = (int(part) for part in period.split("-"))
    return datetime.combine(date(year, month, 1), time.min, tzinfo=WEEK_TZ)


def next_month(period: str) -> str:
    year, month = (int(part) for part in period.split("-"))
    return f"{year + month // 12}-{month % 12 + 1:02d}"


def released_months(now: datetime, count: int, delay_days: float) -> list[str]:
    """The `count` newest months that may be released at `now`, newest first."""
    local = now.astimezone(WEEK_TZ)
    period = f"{local.year}-{local.month:02d}"
    months: list[str] = []
    for _ in range(count + 2):
        year, month = (int(part) for part in period.split("-"))
        period = f"{year - (month == 1)}-{(month - 2) % 12 + 1:02d}"  # the month before
        if month_start(next_month(period)) + timedelta(days=delay_days) <= now:
            months.append(period)
    return months[:count]


def citizen_stats(session: Session, since: datetime, until: datetime, no_unit_label: str) -> list[CitizenStats]:
    """Per-citizen figures of the meals eaten with the robot that started in [since, until), with
    the FSIII level in force at `until`."""
    citizen_ids = session.scalars(
        select(Meal.citizen_id).where(Meal.started_at >= since, Meal.started_at < until).distinct()
    ).all()
    units: dict[uuid.UUID, str] = dict(
        session.execute(
            select(Citizen.id, Unit.name).outerjoin(Unit, Unit.id == Citizen.unit_id).where(Citizen.id.in_(citizen_ids))
        ).all()
    )
    stats = []
    for citizen_id in sorted(citizen_ids):
        meals = [m for m in load_meal_summaries(session, citizen_id, since=since, until=until) if eaten_with_robot(m)]
        if not meals:
            continue
        assessments = load_assessments(session, citizen_id)
        level = in_force(assessments, until)
        staff = sum(min(m.staff_assists, m.bites_offered) for m in meals)
        offered = sum(m.bites_offered for m in meals)
        stats.append(
            CitizenStats(
                citizen=citizen_id,
                unit=units.get(citizen_id) or no_unit_label,
                assessed_level=level.level if level is not None else None,
                meals=len(meals),
                bites_taken=sum(m.bites_taken for m in meals),
                duration_s=sum(m.duration_s for m in meals),
                safety_stops=sum(1 for m in meals for i in m.incidents if i.kind is IncidentKind.SAFETY_STOP),
                staff_minutes_freed=sum(feeding_minutes_at(assessments, m.started_at) or 0.0 for m in meals),
                bites_offered=offered,
                citizen_started_bites=offered - staff,
            )
        )
    return stats


def compute_release(session: Session, period: str, min_group_size: int = MIN_GROUP_SIZE) -> dict[str, Any]:
    """The figures of `period` as they would be released now (not stored)."""
    since, until = month_start(period), month_start(next_month(period))
    dashboard = build_dashboard(
        citizen_stats(session, since, until, no_unit_label=""),
        min_group_size=min_group_size,
        no_level_label=NOT_ASSESSED,
    )
    return {"period": period, "since": since.isoformat(), "until": until.isoformat(), **asdict(dashboard)}


def release(session: Session, period: str, now: datetime, delay_days: float) -> dict[str, Any] | None:
    """The stored figures of `period`, released now if they were not yet (None: the month may not be
    released yet). Concurrent first releases by several workers store one and all return it."""
    stored = session.get(DashboardRelease, period)
    if stored is not None:
        return stored.content
    if month_start(next_month(period)) + timedelta(days=delay_days) > now:
        return None
    content = compute_release(session, period)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(
        insert(DashboardRelease)
        .values(period=period, released_at=now, content=content)
        .on_conflict_do_nothing(index_elements=["period"])
    )
    session.commit()
    session.expire_all()
    winner = session.get(DashboardRelease, period)
    return winner.content if winner is not None else content


def releases(session: Session, now: datetime, months: int, delay_days: float) -> list[dict[str, Any]]:
    """The released figures of the `months` newest months that may be released, newest first."""
    found = (release(session, period, now, delay_days) for period in released_months(now, months, delay_days))
    return [content for content in found if content is not None]
