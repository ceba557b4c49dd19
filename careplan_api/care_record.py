"""Load one citizen's care-plan record from the database as the plain records that the FHIR
mapping and the reports take (`careplan_api.fhir.records`, `careplan_api.meal_summary`).

Reading only; the caller has already checked access and written the audit entry.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from itertools import groupby
from threading import Lock
from typing import Any, NamedTuple

import orjson

from sqlalchemy import String, Text, cast, select, type_coerce
from sqlalchemy.orm import Session

from careplan_api.fhir.records import AuditRecord, CitizenRecord, DeviceRecord, GoalAssessment, PowerOfAttorney
from careplan_api.meal_summary import AssistanceLevel, MealSummary, summarize_meal
from careplan_api.models import ActorKind, AuditEntry, Citizen, Device, Fuldmagt, Meal, UsageEventRecord
from careplan_api.services.people import current_goal


class SummaryCache:
    """Meal summaries by (meal id, stored event count, last update): events are only ever added, so
    an unchanged key means an unchanged meal. Bounded (least recently used out); thread-safe."""

    def __init__(self, max_meals: int = 50_000) -> None:
        self.max_meals = max_meals
        self._items: OrderedDict[tuple[object, ...], MealSummary] = OrderedDict()
        self._lock = Lock()

    def get(self, key: tuple[object, ...]) -> MealSummary | None:
        with self._lock:
            summary = self._items.get(key)
            if summary is not None:
                self._items.move_to_end(key)
            return summary

    def put(self, key: tuple[object, ...], summary: MealSummary) -> None:
        with self._lock:
            self._items[key] = summary
            self._items.move_to_end(key)
            while len(self._items) > self.max_meals:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


def summary_cache(state: Any) -> SummaryCache:
    """The app's meal-summary cache (`app.state.meal_summary_cache`), made on first use."""
    cache = getattr(state, "meal_summary_cache", None)
    if cache is None:
        cache = state.meal_summary_cache = SummaryCache()
    return cache


class _Event(NamedTuple):  # a tuple: ~66,000 of them are made for a year of meals
    type: str
    at: datetime
    data: Mapping[str, Any] | None


def _as_datetime(value: datetime | str) -> datetime:
    # raw column values: SQLite gives naive UTC text, PostgreSQL an aware datetime
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value + "+00:00")  # 4x cheaper than parse-then-replace(tzinfo)
        except ValueError:  # a text that already carries an offset
            value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _as_data(value: Mapping[str, Any] | str | None) -> Mapping[str, Any] | None:
    # raw column values: SQLite gives JSON text, PostgreSQL (jsonb) a dict
    if isinstance(value, str):
        return None if value in ("{}", "null", "") else orjson.loads(value)
    return value


def load_meal_summaries(
    session: Session,
    citizen_id: uuid.UUID,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    cache: SummaryCache | None = None,
) -> list[MealSummary]:
    """Summaries of the citizen's meals that started in [since, until), oldest first.

    Events are read as raw column values (no ORM objects; ids and JSON cast to text in SQL so that
    neither driver builds a UUID or parses JSON per row) because a year of meals is ~66,000 events;
    with a `cache`, only meals that changed since the last call are read at all.
    """
    meal_filter = [Meal.citizen_id == citizen_id, Meal.started_at.is_not(None)]
    if since is not None:
        meal_filter.append(Meal.started_at >= since)
    if until is not None:
        meal_filter.append(Meal.started_at < until)
    meals = session.execute(
        select(Meal.id, cast(Meal.id, String).label("raw_id"), Meal.device_id, Meal.event_count, Meal.updated_at).where(*meal_filter)
    ).all()
    summaries: list[MealSummary] = []
    missing: dict[object, tuple[uuid.UUID, uuid.UUID, tuple[object, ...]]] = {}
    for meal_id, raw_id, device_id, event_count, updated_at in meals:
        key = (meal_id, event_count, updated_at)
        cached = cache.get(key) if cache is not None else None
        if cached is not None:
            summaries.append(cached)
        else:
            missing[raw_id] = (meal_id, device_id, key)
    if missing:
        event_query = (
            select(cast(UsageEventRecord.meal_id, String).label("raw_meal_id"), UsageEventRecord.type,
                   type_coerce(UsageEventRecord.at, String).label("raw_at"),
                   cast(UsageEventRecord.data, Text).label("raw_data"))
            .where(UsageEventRecord.citizen_id == citizen_id)
            .order_by(UsageEventRecord.meal_id, UsageEventRecord.at)
        )
        if len(missing) == len(meals):
            event_query = event_query.join(Meal, Meal.id == UsageEventRecord.meal_id).where(*meal_filter)
        else:
            event_query = event_query.where(UsageEventRecord.meal_id.in_([m[0] for m in missing.values()]))
        rows = session.execute(event_query)
        for raw_id, rows_of_meal in groupby(rows, key=lambda row: row[0]):
            meal_id, device_id, key = missing[raw_id]
            events = [_Event(kind, _as_datetime(at), _as_data(data)) for _, kind, at, data in rows_of_meal]
            summary = summarize_meal(meal_id, device_id, events)
            if cache is not None:
                cache.put(key, summary)
            summaries.append(summary)
    summaries.sort(key=lambda meal: (meal.started_at, str(meal.meal_id)))
    return summaries


def load_citizen_record(
    session: Session,
    citizen: Citizen,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    include_audit: bool = True,
    cache: SummaryCache | None = None,
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
    if include_audit:  # people's accesses; the device's own ingest is told by each meal's Provenance
        audit = tuple(
            AuditRecord(entry_id, at, actor_id, role, action.value, purpose, resource, outcome)
            for entry_id, at, actor_id, role, action, purpose, resource, outcome in session.execute(
                select(AuditEntry.id, AuditEntry.at, AuditEntry.actor_id, AuditEntry.actor_role, AuditEntry.action,
                       AuditEntry.purpose, AuditEntry.resource, AuditEntry.outcome)
                .where(AuditEntry.citizen_id == citizen.id, AuditEntry.actor_kind != ActorKind.DEVICE)
                .order_by(AuditEntry.at, AuditEntry.id)
            )
        )
    return CitizenRecord(
        citizen_id=citizen.id,
        created_at=citizen.created_at,
        devices=devices,
        meals=tuple(load_meal_summaries(session, citizen.id, since=since, until=until, cache=cache)),
        goal=goal,
        powers_of_attorney=fuldmagter,
        audit=audit,
    )


def iter_citizen_records(
    session: Session, *, include_audit: bool = True, cache: SummaryCache | None = None
) -> Iterator[CitizenRecord]:
    """Every citizen's record, one at a time (for the bulk export)."""
    citizen_ids = session.scalars(select(Citizen.id).order_by(Citizen.created_at, Citizen.id)).all()
    for citizen_id in citizen_ids:
        citizen = session.get(Citizen, citizen_id)
        if citizen is not None:
            yield load_citizen_record(session, citizen, include_audit=include_audit, cache=cache)
