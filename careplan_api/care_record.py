"""Load one citizen's care-plan record from the database as the plain records that the FHIR
mapping and the reports take (`careplan_api.fhir.records`, `careplan_api.meal_summary`).

Reading only; the caller has already checked access and written the audit entry.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from careplan_api.effect import WEEK_TZ, EffectSummary, LevelAssessment, effect_summary, weekly_effect
from careplan_api.fhir.records import (
    AuditRecord,
    CitizenRecord,
    DeviceRecord,
    GoalAssessment,
    PowerOfAttorney,
)
from careplan_api.meal_summary import AssistanceLevel, MealSummary
from careplan_api.meal_summary_store import StoredMealCache, load_stored_meals
from careplan_api.models import ActorKind, AuditEntry, Citizen, Device, EatingGoal, Fuldmagt, utcnow
from careplan_api.services.people import current_goal


def stored_meal_cache(state: Any) -> StoredMealCache:
    """The app's cache of stored meals (`app.state.stored_meal_cache`), made on first use."""
    cache = getattr(state, "stored_meal_cache", None)
    if cache is None:
        cache = state.stored_meal_cache = StoredMealCache()
    return cache


def load_meal_summaries(
    session: Session,
    citizen_id: uuid.UUID,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    cache: StoredMealCache | None = None,
) -> list[MealSummary]:
    """Summaries of the citizen's meals that started in [since, until), oldest first, as stored by
    ingest (`careplan_api.meal_summary_store`)."""
    return [meal.summary for meal in load_stored_meals(session, citizen_id, since=since, until=until, cache=cache)]


def load_assessments(session: Session, citizen_id: uuid.UUID) -> tuple[LevelAssessment, ...]:
    """Every FSIII assessment of the citizen, oldest first (level and hand-feeding minutes)."""
    return tuple(
        LevelAssessment(at, level, minutes)
        for at, level, minutes in session.execute(
            select(EatingGoal.assessed_at, EatingGoal.level, EatingGoal.hand_feeding_minutes)
            .where(EatingGoal.citizen_id == citizen_id)
            .order_by(EatingGoal.assessed_at, EatingGoal.id)
        )
    )


def citizen_effect(
    session: Session, citizen_id: uuid.UUID, weeks: int, cache: StoredMealCache | None = None
) -> EffectSummary:
    """The citizen's effect figures for the `weeks` weeks up to now (Danish weeks)."""
    today = utcnow().astimezone(WEEK_TZ).date()
    first_monday = today - timedelta(days=today.weekday(), weeks=weeks - 1)
    since = datetime.combine(first_monday, time.min, tzinfo=WEEK_TZ)
    meals = load_meal_summaries(session, citizen_id, since=since, cache=cache)
    return effect_summary(weekly_effect(meals, load_assessments(session, citizen_id), weeks=weeks, until=today))


def load_citizen_record(
    session: Session,
    citizen: Citizen,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    include_audit: bool = True,
    cache: StoredMealCache | None = None,
) -> CitizenRecord:
    """The whole record of one citizen for export: devices, goal, fuldmagter, meals, audit log."""
    devices = tuple(
        DeviceRecord(device.id, device.created_at, device.revoked_at, device.label or "bidvis")
        for device in session.scalars(
            select(Device).where(Device.citizen_id == citizen.id).order_by(Device.created_at, Device.id)
        )
    )
    goal_row = current_goal(session, citizen.id)
    goal = (
        GoalAssessment(AssistanceLevel(goal_row.level), goal_row.assessed_at.date(), note=goal_row.goal_text or None)
        if goal_row is not None
        else None
    )
    fuldmagter = tuple(
        PowerOfAttorney(
            f.id, f.relative_user_id, f.scope.value, f.valid_from, f.valid_until, f.revoked_at, f.source.value
        )
        for f in session.scalars(
            select(Fuldmagt).where(Fuldmagt.citizen_id == citizen.id).order_by(Fuldmagt.valid_from, Fuldmagt.id)
        )
    )
    audit: tuple[AuditRecord, ...] = ()
    if include_audit:  # people's accesses; the device's own ingest is told by each meal's Provenance
        audit = tuple(
            AuditRecord(entry_id, at, actor_id, role, action.value, purpose, resource, outcome)
            for entry_id, at, actor_id, role, action, purpose, resource, outcome in session.execute(
                select(
                    AuditEntry.id,
                    AuditEntry.at,
                    AuditEntry.actor_id,
                    AuditEntry.actor_role,
                    AuditEntry.action,
                    AuditEntry.purpose,
                    AuditEntry.resource,
                    AuditEntry.outcome,
                )
                .where(AuditEntry.citizen_id == citizen.id, AuditEntry.actor_kind != ActorKind.DEVICE)
                .order_by(AuditEntry.at, AuditEntry.id)
            )
        )
    meals = load_stored_meals(session, citizen.id, since=since, until=until, cache=cache)
    return CitizenRecord(
        citizen_id=citizen.id,
        created_at=citizen.created_at,
        devices=devices,
        meals=tuple(meal.summary for meal in meals),
        goal=goal,
        powers_of_attorney=fuldmagter,
        audit=audit,
        assessments=load_assessments(session, citizen.id),
        encoded_meals={meal.summary.meal_id: meal.encoded for meal in meals if meal.encoded is not None},
    )


def iter_citizen_records(
    session: Session, *, include_audit: bool = True, cache: StoredMealCache | None = None
) -> Iterator[CitizenRecord]:
    """Every citizen's record, one at a time (for the bulk export)."""
    citizen_ids = session.scalars(select(Citizen.id).order_by(Citizen.created_at, Citizen.id)).all()
    for citizen_id in citizen_ids:
        citizen = session.get(Citizen, citizen_id)
        if citizen is not None:
            yield load_citizen_record(session, citizen, include_audit=include_audit, cache=cache)
