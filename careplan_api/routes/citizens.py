"""A citizen's personal data: record, meals, goal, notes and the audit log of who looked.

Every route here requires a purpose (`X-Purpose` header or `purpose` query) and writes an audit
entry through `deps.citizen_access`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from sqlalchemy import select

from careplan_api.care_record import citizen_effect, stored_meal_cache
from careplan_api.deps import (
    CurrentUser,
    Purpose,
    ReadAuditLog,
    ReadCarePlan,
    ReadRecord,
    SessionDep,
    WriteCarePlan,
)
from careplan_api.effect import EffectSummary
from careplan_api.models import AuditAction, Citizen, EatingGoal, Meal, StaffNote, UsageEventRecord
from careplan_api.reports import MAX_TREND_WEEKS
from careplan_api.schemas import (
    AuditEntryOut,
    CitizenOut,
    EffectOut,
    GoalAssessment,
    GoalOut,
    MealDetail,
    MealOut,
    NoteCreate,
    NoteOut,
)
from careplan_api.services import audit, people
from careplan_api.services.access import visible_citizens

router = APIRouter(prefix="/api/v1/citizens", tags=["citizens"])

Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


@router.get("", response_model=list[CitizenOut])
def list_citizens(
    request: Request, session: SessionDep, user: CurrentUser, purpose: Purpose, limit: Limit = 100, offset: Offset = 0
) -> list[Citizen]:
    """The citizens the caller may see (staff: their unit; relative: valid fuldmagt; citizen: themself)."""
    query = visible_citizens(user)
    if query is None:
        audit.record(
            session,
            actor=user,
            action=AuditAction.DENIED,
            resource=f"GET {request.url.path}",
            purpose=purpose,
            outcome="denied",
        )
        session.commit()
        raise HTTPException(status.HTTP_403_FORBIDDEN, "analysts see aggregates only, never a list of persons")
    citizens = list(session.scalars(query.limit(limit).offset(offset)))
    audit.record_listing(session, user, f"GET {request.url.path}", purpose, [c.id for c in citizens])
    session.commit()
    return citizens


@router.get("/{citizen_id}", response_model=CitizenOut)
def read_citizen(access: ReadRecord) -> Citizen:
    """One citizen's record."""
    return access.citizen


@router.get("/{citizen_id}/meals", response_model=list[MealOut])
def list_meals(
    access: ReadCarePlan,
    session: SessionDep,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[Meal]:
    """The citizen's meals, newest first, optionally within [since, until)."""
    query = select(Meal).where(Meal.citizen_id == access.citizen.id)
    if since is not None:
        query = query.where(Meal.started_at >= _aware(since))
    if until is not None:
        query = query.where(Meal.started_at < _aware(until))
    return list(session.scalars(query.order_by(Meal.started_at.desc(), Meal.id).limit(limit).offset(offset)))


@router.get("/{citizen_id}/meals/{meal_id}", response_model=MealDetail)
def read_meal(access: ReadCarePlan, session: SessionDep, meal_id: uuid.UUID) -> MealDetail:
    """One meal with its events in time order."""
    meal = session.get(Meal, meal_id)
    if meal is None or meal.citizen_id != access.citizen.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no meal {meal_id} for this citizen")
    events = session.scalars(
        select(UsageEventRecord)
        .where(UsageEventRecord.meal_id == meal.id)
        .order_by(UsageEventRecord.at, UsageEventRecord.id)
    ).all()
    return MealDetail.model_validate({**MealOut.model_validate(meal).model_dump(), "events": events})


@router.get("/{citizen_id}/goal", response_model=GoalOut)
def read_goal(access: ReadCarePlan, session: SessionDep) -> EatingGoal:
    """The current FSIII "Spise og drikke" assessment and goal."""
    goal = people.current_goal(session, access.citizen.id)
    if goal is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no eating goal has been assessed for this citizen")
    return goal


@router.put("/{citizen_id}/goal", response_model=GoalOut)
def assess_goal(access: WriteCarePlan, session: SessionDep, body: GoalAssessment) -> EatingGoal:
    """Record a new FSIII assessment (staff of the citizen's unit)."""
    goal = people.assess_goal(
        session, access.citizen.id, body.level, body.goal_text, access.user, body.hand_feeding_minutes
    )
    session.commit()
    return goal


@router.get("/{citizen_id}/effect", response_model=EffectOut)
def read_effect(
    access: ReadCarePlan,
    session: SessionDep,
    request: Request,
    weeks: Annotated[int, Query(ge=1, le=MAX_TREND_WEEKS, description="how many weeks back, this week included")] = 12,
) -> EffectSummary:
    """Staff minutes freed, the share of bites the citizen started, meals per week and the FSIII
    level, per week and in sum, from the logged meals."""
    return citizen_effect(session, access.citizen.id, weeks, stored_meal_cache(request.app.state))


@router.get("/{citizen_id}/notes", response_model=list[NoteOut])
def list_notes(access: ReadCarePlan, session: SessionDep, limit: Limit = 100, offset: Offset = 0) -> list[StaffNote]:
    """Staff notes, newest first."""
    query = select(StaffNote).where(StaffNote.citizen_id == access.citizen.id)
    return list(session.scalars(query.order_by(StaffNote.created_at.desc()).limit(limit).offset(offset)))


@router.post("/{citizen_id}/notes", response_model=NoteOut, status_code=status.HTTP_201_CREATED)
def add_note(access: WriteCarePlan, session: SessionDep, body: NoteCreate) -> StaffNote:
    """Add a staff note (staff of the citizen's unit)."""
    note = people.add_note(session, access.citizen.id, access.user, body.text)
    session.commit()
    return note


@router.get("/{citizen_id}/audit", response_model=list[AuditEntryOut])
def read_audit_log(access: ReadAuditLog, session: SessionDep, limit: Limit = 500, offset: Offset = 0) -> list:
    """Who accessed this citizen's data, when, how and why (newest first); this read is logged too."""
    return list(audit.entries_for_citizen(session, access.citizen.id, limit, offset))


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "times need an offset (RFC 3339), e.g. 2026-01-01T00:00:00Z"
        )
    return value
