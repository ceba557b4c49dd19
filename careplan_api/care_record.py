"""Load one citizen's care-plan record from the database as the plain records that the FHIR
mapping and the reports take (`careplan_api.fhir.records`, `careplan_api.meal_summary`).

Reading only; the caller has already checked access and written the audit entry.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from itertools import groupby

from sqlalchemy import select
from sqlalchemy.orm import Session

from careplan_api.fhir.records import AuditRecord, CitizenRecord, DeviceRecord, GoalAssessment, PowerOfAttorney
from careplan_api.meal_summary import AssistanceLevel, MealSummary, summarize_meal
from careplan_api.models import AuditEntry, Citizen, Device, Fuldmagt, Meal, UsageEventRecord
from careplan_api.services.people import current_goal


def load_meal_summaries(
    session: Session, citizen_id: uuid.UUID, *, since: datetime | None = None, until: datetime | None = None
) -> list[MealSummary]:
    """Summaries of the citizen's meals that started in [since, until), oldest first."""
    meal_filter = [Meal.citizen_id == citizen_id, Meal.started_at.is_not(None)]
    if since is not None:
        meal_filter.append(Meal.started_at >= since)
    if until is not None:
        meal_filter.append(Meal.started_at < until)
    devices = dict(session.execute(select(Meal.id, Meal.device_id).where(*meal_filter)).tuples().all())
    if not devices:
        return []
    rows = session.execute(
        select(UsageEventRecord.meal_id, UsageEventRecord.type, UsageEventRecord.at, UsageEventRecord.data)
        .join(Meal, Meal.id == UsageEventRecord.meal_id)
        .where(UsageEventRecord.citizen_id == citizen_id, *meal_filter)
        .order_by(UsageEventRecord.meal_id, UsageEventRecord.at)
    ).all()
    summaries = [
        summarize_meal(meal_id, devices[meal_id], list(events))
        for meal_id, events in groupby(rows, key=lambda row: row.meal_id)
    ]
    summaries.sort(key=lambda meal: (meal.started_at, str(meal.meal_id)))
    return summaries


def load_citizen_record(
    session: Session,
    citizen: Citizen,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    include_audit: bool = True,
) -> CitizenRecord:
    """The whole record of one citizen for export: devices, goal, fuldmagter, meals, audit log."""
    devices = tuple(
        DeviceRecord(device.id, device.created_at, device.revoked_at, device.label or "bidvis")
        for device in session.scalars(select(Device).where(Device.citizen_id == citizen.id).order_by(Device.created_at, Device.id))
    )
    goal_row = current_goal(session, citizen.id)
    goal = (
        GoalAssessment(AssistanceLevel(goal_row.level), goal_row.assessed_at.date(), note=goal_row.goal_text or None)
        if goal_row is not None
        else None
    )
    fuldmagter = tuple(
        PowerOfAttorney(f.id, f.relative_user_id, f.scope.value, f.valid_from, f.valid_until, f.revoked_at)
        for f in session.scalars(select(Fuldmagt).where(Fuldmagt.citizen_id == citizen.id).order_by(Fuldmagt.valid_from, Fuldmagt.id))
    )
    audit: tuple[AuditRecord, ...] = ()
    if include_audit:
        audit = tuple(
            AuditRecord(e.id, e.at, e.actor_id, e.actor_role, e.action.value, e.purpose, e.resource, e.outcome)
            for e in session.scalars(select(AuditEntry).where(AuditEntry.citizen_id == citizen.id).order_by(AuditEntry.at, AuditEntry.id))
        )
    return CitizenRecord(
        citizen_id=citizen.id,
        created_at=citizen.created_at,
        devices=devices,
        meals=tuple(load_meal_summaries(session, citizen.id, since=since, until=until)),
        goal=goal,
        powers_of_attorney=fuldmagter,
        audit=audit,
    )


def iter_citizen_records(session: Session, *, include_audit: bool = True) -> Iterator[CitizenRecord]:
    """Every citizen's record, one at a time (for the bulk export)."""
    citizen_ids = session.scalars(select(Citizen.id).order_by(Citizen.created_at, Citizen.id)).all()
    for citizen_id in citizen_ids:
        citizen = session.get(Citizen, citizen_id)
        if citizen is not None:
            yield load_citizen_record(session, citizen, include_audit=include_audit)
