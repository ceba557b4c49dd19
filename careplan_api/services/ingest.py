"""Storing a device's batch of usage events: each event once, meals kept up to date.

The rule for a batch (docs/careplan.md, "Ingest"):
- the body must be `{"events": [...]}` with at most `MAX_EVENTS_PER_BATCH` items, else the whole
  request is refused (4xx) and nothing is stored;
- each event is then checked on its own; an invalid one is listed in `rejected` with its id (when it
  has a readable one) and the reason, and the valid ones are stored all the same;
- an event whose id is already stored for this device, or repeated within the batch, counts as a
  duplicate and changes nothing; an event id or meal id that belongs to another device is rejected;
- meal counters are recomputed from the stored events, so order and repetition do not matter.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from sqlalchemy import Connection, Insert, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from careplan_api.db import pipelined
from careplan_api.meal_summary_store import MealEvents, read_meal_events, store_meal_summaries
from careplan_api.models import AuditAction, Device, Meal, MealStatus, UsageEventRecord, table_of, utcnow
from careplan_api.schemas import IngestResult, RejectedEvent, UsageEvent, UsageEventType
from careplan_api.services import audit
from careplan_api.services.device_auth import IngestingDevice
from careplan_api.services.event_insert import insert_usage_events

EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)
MAX_REPORTED_ID_CHARS = 64
LAST_SEEN_RESOLUTION = timedelta(seconds=60)  # a device's last_seen_at is written at most this often


class _Data(BaseModel):
    model_config = ConfigDict(extra="allow")


class _BiteData(_Data):
    bowl: int | str | None = None
    duration_s: float | None = Field(default=None, ge=0, le=3600)


class _TriggerData(_Data):
    kind: str | None = Field(default=None, max_length=64)


class _SafetyStopData(_Data):
    reason: str = Field(min_length=1, max_length=200)


class _BowlData(_Data):
    bowl: int | str | None = None


# The keys of `data` that the service reads, per event type; other keys are kept as sent.
DATA_SCHEMAS: dict[UsageEventType, type[_Data]] = {
    UsageEventType.BITE_OFFERED: _BiteData,
    UsageEventType.BITE_TAKEN: _BiteData,
    UsageEventType.BITE_TIMEOUT: _BiteData,
    UsageEventType.BOWL_SELECTED: _BowlData,
    UsageEventType.TRIGGER: _TriggerData,
    UsageEventType.MISFIRE: _TriggerData,
    UsageEventType.SAFETY_STOP: _SafetyStopData,
}

_COUNTERS = {
    UsageEventType.BITE_OFFERED: "bites_offered",
    UsageEventType.BITE_TAKEN: "bites_taken",
    UsageEventType.BITE_TIMEOUT: "bite_timeouts",
    UsageEventType.TRIGGER: "triggers",
    UsageEventType.MISFIRE: "misfires",
    UsageEventType.SAFETY_STOP: "safety_stops",
    UsageEventType.FAULT: "faults",
    UsageEventType.CALIBRATION_CHANGED: "calibration_changes",
}


_EVENT_LIST = TypeAdapter(list[UsageEvent])


@dataclass(frozen=True)
class IngestLimits:
    max_event_data_bytes: int = 4096
    max_clock_skew_s: float = 300.0


def _reported_id(raw: Any) -> str | None:
    if isinstance(raw, dict) and isinstance(raw.get("id"), str):
        return raw["id"][:MAX_REPORTED_ID_CHARS]
    return None


def _explain(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error["loc"]) or "event"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def check_event(raw: Any, limits: IngestLimits, now: datetime) -> UsageEvent | str:
    """The parsed event, or the reason it cannot be stored."""
    if not isinstance(raw, dict):
        return "an event is a JSON object"
    try:
        event = UsageEvent.model_validate(raw)
    except ValidationError as exc:
        return _explain(exc)
    return check_parsed_event(event, limits, now)


def check_parsed_event(event: UsageEvent, limits: IngestLimits, now: datetime) -> UsageEvent | str:
    """The rules beyond the wire schema: data size and finiteness, plausible time, per-type data."""
    try:
        encoded = pydantic_core.to_json(event.data, inf_nan_mode="constants")
    except pydantic_core.PydanticSerializationError:
        return "data: text must be valid Unicode (a lone surrogate such as \\ud800 cannot be stored)"
    if (b"NaN" in encoded or b"Infinity" in encoded) and not _finite(event.data):
        return "data: numbers must be finite (no NaN or Infinity)"
    if b"\\u0000" in encoded and _has_nul(event.data):  # jsonb cannot hold it; one rule for both databases
        return "data: text must not contain the NUL character (\\u0000)"
    if len(encoded) > limits.max_event_data_bytes:
        return f"data: {len(encoded)} bytes is more than the limit of {limits.max_event_data_bytes}"
    if event.at > now + timedelta(seconds=limits.max_clock_skew_s):
        return f"at: {event.at.isoformat()} is more than {limits.max_clock_skew_s:g} s in the future; check the device clock"
    if event.at < EARLIEST_EVENT_TIME:
        return f"at: {event.at.isoformat()} is before {EARLIEST_EVENT_TIME.date()}; check the device clock"
    schema = DATA_SCHEMAS.get(event.type)
    if schema is not None:
        try:
            schema.model_validate(event.data)
        except ValidationError as exc:
            return f"{event.type.value} " + _explain(exc).replace("event:", "data:", 1)
    return event


def check_batch(raw_events: Sequence[Any], limits: IngestLimits, now: datetime) -> list[UsageEvent | str]:
    """`check_event` for every item; a clean batch is parsed in one pass (the fast path)."""
    try:
        parsed = _EVENT_LIST.validate_python(raw_events)
    except ValidationError:
        return [check_event(raw, limits, now) for raw in raw_events]
    return [check_parsed_event(event, limits, now) for event in parsed]


def _finite(data: Any) -> bool:
    try:
        json.dumps(data, allow_nan=False)
    except ValueError:
        return False
    return True


def _has_nul(data: Any) -> bool:
    if isinstance(data, str):
        return "\x00" in data
    if isinstance(data, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in data.items())
    return isinstance(data, list) and any(_has_nul(v) for v in data)


@functools.cache
def _claim_meals(dialect: str) -> Insert:
    """Create the batch's meals that are new and lock them all (`ON CONFLICT DO UPDATE` locks the
    row; PostgreSQL then serialises concurrent batches of one meal), returning those of this device:
    a meal of another device is not changed and not returned."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    meals = table_of(Meal)
    statement = insert(meals)
    return statement.on_conflict_do_update(
        index_elements=[meals.c.id],
        set_={"updated_at": statement.excluded.updated_at},
        where=meals.c.device_id == statement.excluded.device_id,
    ).returning(meals.c.id)


@dataclass(frozen=True)
class CheckedBatch:
    """A batch after the checks that need no database: the valid events by id (the first of each),
    the rejected ones, the repeats within the batch, and the time it was received."""

    events: dict[uuid.UUID, UsageEvent]
    rejected: list[RejectedEvent]
    duplicates: int
    now: datetime


def check_events(raw_events: Sequence[Any], limits: IngestLimits, now: datetime | None = None) -> CheckedBatch:
    """`check_batch` and the repeats within the batch; no database (so it can run outside a write lock)."""
    now = now or utcnow()
    rejected: list[RejectedEvent] = []
    events: dict[uuid.UUID, UsageEvent] = {}
    duplicates = 0
    for raw, checked in zip(raw_events, check_batch(raw_events, limits, now), strict=True):
        if isinstance(checked, str):
            rejected.append(RejectedEvent(id=_reported_id(raw), reason=checked))
        elif checked.id in events:
            duplicates += 1
        else:
            events[checked.id] = checked
    return CheckedBatch(events, rejected, duplicates, now)


def ingest_batch(
    session: Session,
    device: Device,
    raw_events: Sequence[Any],
    limits: IngestLimits,
    now: datetime | None = None,
) -> IngestResult:
    """Store a batch for `device` and commit; see the module docstring for the rules."""
    ingesting = IngestingDevice(device.id, device.citizen_id, device.last_seen_at)
    return store_batch(session, ingesting, check_events(raw_events, limits, now))


def store_batch(session: Session, device: IngestingDevice, batch: CheckedBatch) -> IngestResult:
    """The database part of `ingest_batch`, for a batch already checked (`check_events`); commits."""
    events, now = batch.events, batch.now
    rejected, duplicates = list(batch.rejected), batch.duplicates
    accepted = 0
    if events:
        connection = session.connection()  # Core statements: no ORM bookkeeping for thousands of rows
        meal_ids = sorted({e.meal_id for e in events.values()})  # one lock order for every batch
        owned = set(
            connection.execute(
                _claim_meals(connection.dialect.name),
                [
                    {
                        "id": m,
                        "citizen_id": device.citizen_id,
                        "device_id": device.id,
                        "status": MealStatus.OPEN,
                        "updated_at": now,
                    }
                    for m in meal_ids
                ],
            ).scalars()
        )
        rows: list[dict[str, Any]] = []
        for event in events.values():
            if event.meal_id not in owned:
                rejected.append(RejectedEvent(id=str(event.id), reason="meal_id belongs to another device"))
                continue
            rows.append(
                {
                    "id": event.id,
                    "meal_id": event.meal_id,
                    "device_id": device.id,
                    "citizen_id": device.citizen_id,
                    "type": event.type.value,
                    "at": event.at,
                    "data": event.data,
                    "received_at": now,
                }
            )
        inserted = insert_usage_events(connection, rows)
        accepted = len(inserted)
        not_inserted = [r["id"] for r in rows if r["id"] not in inserted]
        if not_inserted:
            stored_by = dict(
                session.execute(
                    select(UsageEventRecord.id, UsageEventRecord.device_id).where(UsageEventRecord.id.in_(not_inserted))
                ).all()
            )
            for event_id in not_inserted:
                if stored_by.get(event_id, device.id) == device.id:
                    duplicates += 1
                else:
                    rejected.append(RejectedEvent(id=str(event_id), reason="event id already used by another device"))
        meals = read_meal_events(connection, sorted({r["meal_id"] for r in rows if r["id"] in inserted}))
        with pipelined(connection):  # the writes whose answers nobody reads: one round trip
            store_meal_summaries(connection, meals, now)
            refresh_meals(connection, meals, now)
            if accepted:
                audit.append(
                    connection,
                    actor=device,
                    action=AuditAction.CREATE,
                    citizen_id=device.citizen_id,
                    resource=f"POST /api/v1/usage-events ({accepted} events)",
                    purpose="device ingest",
                )
    if device.last_seen_at is None or now - device.last_seen_at > LAST_SEEN_RESOLUTION:
        session.execute(update(Device).where(Device.id == device.id).values(last_seen_at=now))
    session.commit()
    return IngestResult(accepted=accepted, duplicates=duplicates, rejected=rejected)


_MEAL_FIELDS = (*_COUNTERS.values(), "event_count", "started_at", "ended_at", "status", "updated_at")
_UPDATE_MEAL = (
    update(table_of(Meal))
    .where(table_of(Meal).c.id == bindparam("b_id"))
    .values({name: bindparam(f"b_{name}") for name in _MEAL_FIELDS})
)


def refresh_meals(connection: Connection, meals: Sequence[MealEvents], now: datetime) -> None:
    """Set the counters, start, end and status of `meals` from all their stored events (as
    `read_meal_events` gives them), in one executemany UPDATE."""
    rows = []
    for meal in meals:
        counts: Counter[str] = Counter()
        first: dict[str, datetime] = {}
        for event in meal.events:
            counts[event.type] += 1
            if event.type not in first or event.at < first[event.type]:
                first[event.type] = event.at
        ended = first.get(UsageEventType.MEAL_ENDED.value)
        row: dict[str, Any] = {f"b_{attr}": counts[kind.value] for kind, attr in _COUNTERS.items()}
        row.update(
            b_id=meal.meal_id,
            b_event_count=len(meal.events),
            b_started_at=first.get(UsageEventType.MEAL_STARTED.value, min(first.values(), default=None)),
            b_ended_at=ended,
            b_status=(MealStatus.ENDED if ended else MealStatus.OPEN).value,
            b_updated_at=now,
        )
        rows.append(row)
    if rows:
        connection.execute(_UPDATE_MEAL, rows)
