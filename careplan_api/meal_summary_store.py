"""Meal summaries kept in the database (table `meal_summaries`), so that reading a year of meals
reads one row per meal instead of its ~60 journal events.

- Ingest reads the stored events of the meals a batch added events to (`read_meal_events`) and
  stores their summaries (`store_meal_summaries`), in the transaction that stores the events: each summary is made again from all the meal's stored events
  (`summarize_meal`), so it equals the from-scratch summary however the events arrived (out of
  order, resent, split over batches, concurrently: PostgreSQL batches of one meal are serialised
  by ingest's lock on the meal row, SQLite has one writer).
- Each row also holds the meal's FHIR Observation and Provenance as encoded JSON
  (`fhir.encoding.encode_meal_resources`), which `$everything` puts into its Bundle as they are.
- `load_stored_meals` reads them back; with a `StoredMealCache` it reads in full only the rows whose
  `revision` (1, raised by every refresh) it has not seen yet. A meal without a row, or with a row
  written by an older summariser or mapping (`derived_version` other than `DERIVED_VERSION`), is
  summarised from its events again in memory (so is a row that cannot be read back), so a reader
  never gets a stale summary; bump
  `DERIVED_VERSION` (with a migration that calls `rebuild_meal_summaries`) whenever
  `summarize_meal` or the meal mapping changes output.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from itertools import groupby
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Connection, Insert, Select, String, Text, bindparam, cast, select, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from careplan_api.bounded_cache import BoundedCache
from careplan_api.fhir.encoding import encode_meal_resources
from careplan_api.meal_summary import (
    AssistanceLevel,
    BowlTally,
    Incident,
    IncidentKind,
    MealSummary,
    summarize_meal,
)
from careplan_api.models import Meal, MealSummaryRecord, UsageEventRecord, table_of, utcnow

DERIVED_VERSION = 2  # 2: FHIR bowl text as the panel names it (migration 0006); 1: "Skål {index}"
REBUILD_CHUNK_MEALS = 500

_TABLE = table_of(MealSummaryRecord)
_log = logging.getLogger("careplan_api")
_INCIDENT_KINDS = {kind.value: kind for kind in IncidentKind}  # a dict lookup: 1,000s per export
_LEVELS = {int(level): level for level in AssistanceLevel}


class StoredMeal(NamedTuple):
    """A meal's summary with its FHIR Observation and Provenance as stored (None: not stored)."""

    summary: MealSummary
    encoded: tuple[bytes, bytes] | None


class StoredMealCache(BoundedCache[tuple[uuid.UUID, int], StoredMeal]):
    """Stored meals by (meal id, revision), least recently used out (about 4 KB a meal)."""

    def __init__(self, max_meals: int = 20_000) -> None:
        super().__init__(max_meals)


class StoredEvent(NamedTuple):  # a tuple: ~66,000 of them are made for a year of meals
    """One stored usage event as a summary reads it."""

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
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _as_data(value: Mapping[str, Any] | str | None) -> Mapping[str, Any] | None:
    # raw column values: SQLite gives JSON text, PostgreSQL (jsonb) a dict
    if isinstance(value, str):
        return None if value in ("{}", "null", "") else orjson.loads(value)
    return value


def summarise_from_events(connection: Connection, meal_filter: Sequence[ColumnElement[bool]]) -> list[MealSummary]:
    """Summaries of the meals matching `meal_filter` (conditions on `Meal`) made from their stored
    events; a meal without events has none.

    Events are read as raw column values (no ORM objects; ids and JSON cast to text in SQL so that
    neither driver builds a UUID or parses JSON per row)."""
    return [summary for _citizen_id, summary in _summarise(connection, meal_filter)]


class MealEvents(NamedTuple):
    """A meal's stored events as read for its summary (times aware, in UTC; data as dicts)."""

    meal_id: uuid.UUID
    device_id: uuid.UUID
    citizen_id: uuid.UUID
    events: list[StoredEvent]


_EventsQuery = Select[str, str, str, str, str, str]  # meal, device, citizen, type, at, data


def _events_query(meal_filter: Sequence[ColumnElement[bool]]) -> _EventsQuery:
    return (
        select(
            cast(Meal.id, String),
            cast(Meal.device_id, String),
            cast(Meal.citizen_id, String),
            UsageEventRecord.type,
            type_coerce(UsageEventRecord.at, String),
            cast(UsageEventRecord.data, Text),
        )
        .join(Meal, Meal.id == UsageEventRecord.meal_id)
        .where(*meal_filter)
        .order_by(UsageEventRecord.meal_id)
    )


_EVENTS_OF_MEALS = _events_query([Meal.id.in_(bindparam("meal_ids", expanding=True))])  # ingest: built once


def _meal_events(
    connection: Connection, query: _EventsQuery, params: Mapping[str, Any] | None = None
) -> list[MealEvents]:
    rows = connection.execute(query, params).all()  # one fetch: row by row costs the drivers more than the rows
    return [
        MealEvents(
            uuid.UUID(raw_id),
            uuid.UUID(raw_device_id),
            uuid.UUID(raw_citizen_id),
            [StoredEvent(kind, _as_datetime(at), _as_data(data)) for *_ids, kind, at, data in rows_of_meal],
        )
        for (raw_id, raw_device_id, raw_citizen_id), rows_of_meal in groupby(rows, key=lambda row: row[:3])
    ]


def _summarise(
    connection: Connection, meal_filter: Sequence[ColumnElement[bool]]
) -> list[tuple[uuid.UUID, MealSummary]]:
    return [
        (meal.citizen_id, summarize_meal(meal.meal_id, meal.device_id, meal.events))
        for meal in _meal_events(connection, _events_query(meal_filter))
    ]


def summary_row(citizen_id: uuid.UUID, summary: MealSummary, now: datetime) -> dict[str, Any]:
    """The `meal_summaries` row of one summary (with its encoded FHIR resources)."""
    observation, provenance = encode_meal_resources(citizen_id, summary)
    return {
        "meal_id": summary.meal_id,
        "citizen_id": citizen_id,
        "device_id": summary.device_id,
        "started_at": summary.started_at,
        "ended_at": summary.ended_at,
        "complete": summary.complete,
        "bites_offered": summary.bites_offered,
        "bites_taken": summary.bites_taken,
        "assistance_level": None if summary.assistance_level is None else int(summary.assistance_level),
        "calibration_changes": summary.calibration_changes,
        "details": {
            "bowls": [[t.bowl, t.bites_offered, t.bites_taken] for t in summary.bowls],
            "incidents": [[i.kind.value, i.at.isoformat(), i.reason] for i in summary.incidents],
            "triggers": [[kind, count] for kind, count in summary.triggers],
        },
        "fhir_observation": observation.decode(),
        "fhir_provenance": provenance.decode(),
        "derived_version": DERIVED_VERSION,
        "revision": 1,
        "updated_at": now,
    }


def summary_from_row(
    meal_id: uuid.UUID,
    device_id: uuid.UUID,
    started_at: datetime,
    ended_at: datetime,
    complete: bool,
    bites_offered: int,
    bites_taken: int,
    assistance_level: int | None,
    calibration_changes: int,
    details: Mapping[str, Any] | str,
) -> MealSummary:
    """The `MealSummary` of a stored row (`details` as stored, or as JSON text)."""
    stored: Mapping[str, Any] = orjson.loads(details) if isinstance(details, str) else details
    return MealSummary(
        meal_id=meal_id,
        device_id=device_id,
        started_at=started_at,
        ended_at=ended_at,
        complete=bool(complete),
        bites_offered=bites_offered,
        bites_taken=bites_taken,
        bowls=tuple([BowlTally(bowl, offered, taken) for bowl, offered, taken in stored["bowls"]]),
        incidents=tuple(
            [
                Incident(_INCIDENT_KINDS[kind], datetime.fromisoformat(at), reason)
                for kind, at, reason in stored["incidents"]
            ]
        ),
        triggers=tuple([(kind, count) for kind, count in stored["triggers"]]),
        assistance_level=None if assistance_level is None else _LEVELS[assistance_level],
        calibration_changes=calibration_changes,
    )


@functools.cache
def _upsert_statement(dialect_name: str) -> Insert:
    """INSERT ... ON CONFLICT (meal_id) DO UPDATE of every column, revision + 1; built once per
    dialect (building `excluded` anew costs more than running the statement)."""
    insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    statement = insert(_TABLE)
    updates = {
        column.name: statement.excluded[column.name]
        for column in _TABLE.c
        if column.name not in ("meal_id", "revision")
    }
    return statement.on_conflict_do_update(
        index_elements=[_TABLE.c.meal_id], set_={**updates, "revision": _TABLE.c.revision + 1}
    )


def _upsert(connection: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        connection.execute(_upsert_statement(connection.dialect.name), rows)


def _store(connection: Connection, meal_filter: Sequence[ColumnElement[bool]], now: datetime) -> int:
    rows = [summary_row(citizen_id, summary, now) for citizen_id, summary in _summarise(connection, meal_filter)]
    _upsert(connection, rows)
    return len(rows)


def read_meal_events(connection: Connection, meal_ids: Sequence[uuid.UUID]) -> list[MealEvents]:
    """All the stored events of `meal_ids`, by meal (a meal without events is left out)."""
    return _meal_events(connection, _EVENTS_OF_MEALS, {"meal_ids": list(meal_ids)}) if meal_ids else []


def store_meal_summaries(connection: Connection, meals: Sequence[MealEvents], now: datetime) -> None:
    """Summarise each of `meals` (all its stored events, as `read_meal_events` gives them) and store
    the summaries, in the connection's transaction. Returns nothing, so that it can be pipelined."""
    _upsert(
        connection, [summary_row(m.citizen_id, summarize_meal(m.meal_id, m.device_id, m.events), now) for m in meals]
    )


def refresh_meal_summaries(session: Session, meal_ids: Sequence[uuid.UUID], now: datetime | None = None) -> None:
    """Summarise `meal_ids` again from all their stored events and store the summaries, in the
    session's transaction (ingest does this in two steps after storing a batch)."""
    connection = session.connection()
    store_meal_summaries(connection, read_meal_events(connection, meal_ids), now or utcnow())


def rebuild_meal_summaries(connection: Connection, chunk_meals: int = REBUILD_CHUNK_MEALS) -> int:
    """Summarise every meal from its events and store it (the backfill of a migration); returns
    the number of meals stored. Works through `chunk_meals` meals at a time."""
    meal_ids = connection.execute(select(Meal.id).order_by(Meal.id)).scalars().all()
    now = utcnow()
    return sum(
        _store(connection, [Meal.id.in_(meal_ids[i : i + chunk_meals])], now)
        for i in range(0, len(meal_ids), chunk_meals)
    )


def load_stored_meals(
    session: Session,
    citizen_id: uuid.UUID,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    cache: StoredMealCache | None = None,
) -> list[StoredMeal]:
    """The citizen's meals that started in [since, until), oldest first, from `meal_summaries`
    (see the module docstring for the cache and for meals without a current row)."""
    meal_filter = [Meal.citizen_id == citizen_id, Meal.started_at.is_not(None)]
    if since is not None:
        meal_filter.append(Meal.started_at >= since)
    if until is not None:
        meal_filter.append(Meal.started_at < until)
    s = _TABLE.c
    heads = session.execute(
        select(Meal.id, s.derived_version, s.revision).outerjoin(_TABLE, s.meal_id == Meal.id).where(*meal_filter)
    ).all()
    meals: list[StoredMeal] = []
    unread: list[uuid.UUID] = []
    outdated: list[uuid.UUID] = []
    for meal_id, version, revision in heads:
        if version != DERIVED_VERSION:
            outdated.append(meal_id)
        elif cache is not None and (hit := cache.get((meal_id, revision))) is not None:
            meals.append(hit)
        else:
            unread.append(meal_id)
    if unread:
        rows = session.execute(
            select(
                s.meal_id,
                s.revision,
                s.device_id,
                s.started_at,
                s.ended_at,
                s.complete,
                s.bites_offered,
                s.bites_taken,
                s.assistance_level,
                s.calibration_changes,
                cast(s.details, Text),
                s.fhir_observation,
                s.fhir_provenance,
            )
            .join(Meal, Meal.id == s.meal_id)
            .where(
                *(meal_filter if len(unread) == len(heads) else [Meal.id.in_(unread)]),
                s.derived_version == DERIVED_VERSION,
            )
        )
        for meal_id, revision, *fields, observation, provenance in rows:
            try:
                stored = StoredMeal(summary_from_row(meal_id, *fields), (observation.encode(), provenance.encode()))
            except (KeyError, TypeError, ValueError) as exc:  # a damaged row: the events still tell
                _log.warning(
                    "stored meal summary unreadable; summarising the meal's events",
                    extra={"fields": {"error": type(exc).__name__}},
                )
                outdated.append(meal_id)
                continue
            if cache is not None:
                cache.put((meal_id, revision), stored)
            meals.append(stored)
    if outdated:
        connection = session.connection()
        meals.extend(
            StoredMeal(summary, None) for summary in summarise_from_events(connection, [Meal.id.in_(outdated)])
        )
    meals.sort(key=lambda meal: (meal.summary.started_at, str(meal.summary.meal_id)))
    return meals


__all__ = [
    "DERIVED_VERSION",
    "MealEvents",
    "StoredEvent",
    "StoredMeal",
    "StoredMealCache",
    "load_stored_meals",
    "read_meal_events",
    "rebuild_meal_summaries",
    "refresh_meal_summaries",
    "store_meal_summaries",
    "summarise_from_events",
    "summary_from_row",
    "summary_row",
]
