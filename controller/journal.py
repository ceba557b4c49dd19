"""The usage journal: a local SQLite outbox of meal events, and its sync to the care-plan service.

`UsageJournal` stores every event (`careplan_api.schemas.UsageEventType`) the moment it happens,
durably: the database runs in WAL mode with `synchronous=FULL`, so an event whose `record()` has
returned survives a power cut. Recording touches only the local disk, never the network.

`JournalSync` is a background thread that sends pending events in batches through a
`UsageSender` (anything with `send(batch) -> IngestResult`, such as the care-plan HTTP client),
backing off exponentially with jitter while the service is down and honouring Retry-After.
Accepted and duplicate events are marked sent; rejected ones stay in the journal, flagged with the
service's reason, and are never deleted silently. See docs/journal.md.
"""

from __future__ import annotations

import json
import logging
import os
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import httpx
from pydantic import ValidationError

from careplan_api.client import BatchRefused, CareplanClient, RateLimited, backoff_delay_s
from careplan_api.schemas import (
    MAX_EVENTS_PER_BATCH,
    IngestResult,
    UsageBatch,
    UsageEvent,
    UsageEventType,
)

logger = logging.getLogger(__name__)

APPLICATION_ID = 0x42445653  # "BDVS": marks a SQLite file as a bidvis journal
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    meal_id TEXT NOT NULL,
    type TEXT NOT NULL,
    at TEXT NOT NULL,
    data TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    sent_at TEXT,
    reason TEXT
);
CREATE INDEX events_by_state ON events (state, seq);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_OPEN_MEAL = "open_meal_id"


class JournalError(Exception):
    """Base of every journal error."""


class JournalOpenError(JournalError):
    """The journal file cannot be opened or created (missing directory, a directory, no access)."""


class JournalCorruptError(JournalError):
    """The file is not a SQLite database, or the database is damaged."""


class JournalForeignError(JournalError):
    """The file is a SQLite database, but not a bidvis journal (or a newer schema)."""


class JournalWriteError(JournalError):
    """An event could not be stored (I/O error)."""


class JournalFullError(JournalWriteError):
    """The disk, or the journal's size limit, is full."""


class JournalReadOnlyError(JournalWriteError):
    """The journal file or its directory is read-only."""


class JournalDataError(JournalError, ValueError):
    """An event was given a wrong type, a naive time, or data that is not JSON."""


class NoOpenMealError(JournalError):
    """An event was recorded outside a meal without an explicit `meal_id`."""


class EventState(StrEnum):
    """Where an event is in the outbox."""

    PENDING = "pending"
    SENT = "sent"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class JournalCounts:
    """How many events are in each state."""

    pending: int
    sent: int
    rejected: int

    @property
    def total(self) -> int:
        return self.pending + self.sent + self.rejected


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    """An event the service refused, with its reason, kept for staff to inspect or requeue."""

    event: UsageEvent
    reason: str
    attempts: int


def _sqlite_error(exc: sqlite3.Error, path: Path, doing: str) -> JournalError:
    """Translate a sqlite3 error into the journal's error tree, with a message saying what to do."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    message = f"journal {path}: {doing} failed: {exc}"
    if code == sqlite3.SQLITE_FULL:
        return JournalFullError(f"{message} (free disk space or raise the journal's size limit)")
    if code == sqlite3.SQLITE_READONLY:
        return JournalReadOnlyError(f"{message} (the file or its directory is read-only)")
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return JournalCorruptError(
            f"{message} (the file is damaged or not a journal; move it aside and start a new one)"
        )
    if code == sqlite3.SQLITE_CANTOPEN:
        if _read_only_place(path):
            return JournalReadOnlyError(
                f"{message} (the file or its directory is read-only, and a WAL journal writes beside "
                "its file; remount read-write or move the journal)"
            )
        return JournalOpenError(message)
    if code == sqlite3.SQLITE_IOERR:
        return JournalWriteError(message)
    return JournalError(message)


def _read_only_place(path: Path) -> bool:
    """Whether the journal's file or directory cannot be written (read-only mount or mode)."""
    directory = path.parent
    try:
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return True
    except OSError:
        return False
    return not os.access(directory, os.W_OK) or (path.exists() and not os.access(path, os.W_OK))


def _now() -> datetime:
    return datetime.now(UTC)


def _event_type(value: UsageEventType | str) -> UsageEventType:
    """A type `record` accepts: one of the contract's, and not meal start/end."""
    try:
        event_type = UsageEventType(value)
    except ValueError:
        raise JournalDataError(
            f"unknown event type {value!r}; expected one of {[t.value for t in UsageEventType]}"
        ) from None
    if event_type in (UsageEventType.MEAL_STARTED, UsageEventType.MEAL_ENDED):
        raise JournalDataError(f"record {event_type.value} with start_meal()/end_meal()")
    return event_type


class UsageJournal:
    """A durable local outbox of usage events (SQLite, WAL, synchronous=FULL). Thread-safe.

    `path` is the journal file; it is created (with its schema) when absent. `max_bytes` bounds
    what new events may fill (a full journal raises `JournalFullError` rather than filling the
    disk; marking sent and pruning keep working, so it can drain).
    `read_only` opens an existing journal for inspection. `clock` gives the time of events
    recorded without `at` (timezone-aware).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_bytes: int | None = None,
        read_only: bool = False,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        self._max_pages: int | None = None
        if self.path.is_dir():
            raise JournalOpenError(f"journal {self.path}: is a directory, expected a file")
        if not self.path.parent.is_dir():
            raise JournalOpenError(f"journal {self.path}: directory {self.path.parent} does not exist")
        if read_only and not self.path.exists():
            raise JournalOpenError(f"journal {self.path}: does not exist (opened read-only)")
        mode = "ro" if read_only else "rwc"
        try:
            self._db = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode={mode}",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
                timeout=10.0,
            )
        except sqlite3.Error as exc:
            raise _sqlite_error(exc, self.path, "opening") from exc
        try:
            self._prepare(max_bytes, read_only)
            self._open_meal = self._read_open_meal()
        except BaseException:
            self._db.close()
            raise

    def _prepare(self, max_bytes: int | None, read_only: bool) -> None:
        try:
            application_id = self._db.execute("PRAGMA application_id").fetchone()[0]
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            tables = self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        except sqlite3.Error as exc:
            raise _sqlite_error(exc, self.path, "reading the header") from exc
        if application_id == 0 and tables == 0 and not read_only:
            self._create_schema()
        elif application_id != APPLICATION_ID:
            raise JournalForeignError(
                f"journal {self.path}: a SQLite database of another application "
                f"(application_id {application_id:#x}, expected {APPLICATION_ID:#x}); "
                "point the journal at a new file"
            )
        elif version > SCHEMA_VERSION:
            raise JournalForeignError(
                f"journal {self.path}: schema version {version} is newer than this software "
                f"({SCHEMA_VERSION}); upgrade bidvis"
            )
        try:
            if not read_only:
                mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if mode != "wal":
                    raise JournalOpenError(f"journal {self.path}: cannot use WAL mode (got {mode!r})")
            self._db.execute("PRAGMA synchronous=FULL")
            if max_bytes is not None:
                # New events may fill `max_bytes`; the outbox's own bookkeeping (marking sent,
                # pruning) gets headroom beyond it, so a full journal can always drain.
                page_size = self._db.execute("PRAGMA page_size").fetchone()[0]
                self._max_pages = max(1, int(max_bytes) // page_size)
                headroom = max(64, self._max_pages // 4)
                self._db.execute(f"PRAGMA max_page_count={self._max_pages + headroom}")
            check = self._db.execute("PRAGMA quick_check").fetchall()
        except sqlite3.Error as exc:
            raise _sqlite_error(exc, self.path, "opening") from exc
        if check != [("ok",)]:
            raise JournalCorruptError(
                f"journal {self.path}: integrity check failed ({check[0][0]}); move the file aside and start a new one"
            )

    def _create_schema(self) -> None:
        try:
            self._db.executescript(
                "BEGIN;"
                + _SCHEMA
                + f"PRAGMA application_id={APPLICATION_ID};PRAGMA user_version={SCHEMA_VERSION};COMMIT;"
            )
        except sqlite3.Error as exc:
            raise _sqlite_error(exc, self.path, "creating the schema") from exc

    def _read_open_meal(self) -> UUID | None:
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (_OPEN_MEAL,)).fetchone()
            return None if row is None else UUID(row[0])
        except (sqlite3.Error, ValueError) as exc:
            raise JournalCorruptError(
                f"journal {self.path}: its meal record is damaged ({exc}); move the file aside and start a new one"
            ) from exc

    # ---- recording -------------------------------------------------------------------------

    @property
    def open_meal_id(self) -> UUID | None:
        """The meal in progress (survives a restart), or None."""
        return self._open_meal

    def start_meal(self, data: Mapping[str, Any] | None = None, at: datetime | None = None) -> UUID:
        """Start a meal: record `meal_started` and return the new meal's id.

        A meal still open (e.g. after a power cut) is first ended with reason "interrupted", at
        the time of its last event, so its duration is not stretched over the outage.
        """
        meal_id = uuid.uuid4()
        with self._lock:
            statements: list[tuple[str, tuple[Any, ...]]] = []
            if self._open_meal is not None:
                last = self._db.execute(
                    "SELECT at FROM events WHERE meal_id = ? ORDER BY seq DESC LIMIT 1", (str(self._open_meal),)
                ).fetchone()
                ended_at = datetime.fromisoformat(last[0]) if last else at
                statements.append(
                    self._insert(UsageEventType.MEAL_ENDED, {"reason": "interrupted"}, ended_at, self._open_meal)
                )
            statements.append(self._insert(UsageEventType.MEAL_STARTED, data, at, meal_id))
            statements.append(("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (_OPEN_MEAL, str(meal_id))))
            self._check_room("starting a meal")
            self._write(statements, "starting a meal")
            self._open_meal = meal_id
        return meal_id

    def end_meal(
        self, reason: str = "completed", data: Mapping[str, Any] | None = None, at: datetime | None = None
    ) -> UUID:
        """End the open meal: record `meal_ended` with `reason` (and `data`); return the event id."""
        with self._lock:
            if self._open_meal is None:
                raise NoOpenMealError(f"journal {self.path}: end_meal() without an open meal")
            merged = {"reason": reason, **(data or {})}
            insert = self._insert(UsageEventType.MEAL_ENDED, merged, at, self._open_meal)
            self._check_room("ending a meal")
            self._write([insert, ("DELETE FROM meta WHERE key = ?", (_OPEN_MEAL,))], "ending a meal")
            self._open_meal = None
        return UUID(insert[1][0])

    def record(
        self,
        event_type: UsageEventType | str,
        data: Mapping[str, Any] | None = None,
        at: datetime | None = None,
        meal_id: UUID | None = None,
    ) -> UUID:
        """Store one event durably and return its id. Never touches the network.

        The event belongs to `meal_id`, or to the open meal; with neither, `NoOpenMealError`.
        `at` defaults to the journal clock and must be timezone-aware. `data` must be JSON
        (finite numbers, string keys). Meal start and end go through `start_meal`/`end_meal`.
        """
        (event_id,) = self.record_many([(event_type, data, at)], meal_id=meal_id)
        return event_id

    def record_many(
        self,
        events: Iterable[tuple[UsageEventType | str, Mapping[str, Any] | None, datetime | None]],
        meal_id: UUID | None = None,
    ) -> list[UUID]:
        """Store several `(type, data, at)` events in one durable transaction (one fsync), all
        or none, and return their ids; each is checked as by `record`. For a writer that found
        several events queued."""
        checked = [(_event_type(kind), data, at) for kind, data, at in events]
        if not checked:
            return []
        doing = f"recording {', '.join(sorted({kind.value for kind, _, _ in checked}))}"
        with self._lock:
            owner = meal_id or self._open_meal
            if owner is None:
                raise NoOpenMealError(
                    f"journal {self.path}: {checked[0][0].value} outside a meal; start a meal or pass meal_id"
                )
            inserts = [self._insert(kind, data, at, owner) for kind, data, at in checked]
            self._check_room(doing)
            self._write(inserts, doing)
        return [UUID(insert[1][0]) for insert in inserts]

    def _insert(
        self, event_type: UsageEventType, data: Mapping[str, Any] | None, at: datetime | None, meal_id: UUID
    ) -> tuple[str, tuple[Any, ...]]:
        when = self._clock() if at is None else at
        if not isinstance(when, datetime) or when.utcoffset() is None:
            raise JournalDataError(f"event time must be a timezone-aware datetime, got {when!r}")
        if data is not None and not isinstance(data, Mapping):
            raise JournalDataError(f"event data must be a mapping, got {type(data).__name__}")
        try:
            text = json.dumps(dict(data or {}), allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise JournalDataError(f"{event_type.value} data is not JSON (finite numbers only): {exc}") from exc
        return (
            "INSERT INTO events (id, meal_id, type, at, data) VALUES (?, ?, ?, ?, ?)",
            (str(uuid.uuid4()), str(meal_id), event_type.value, when.isoformat(), text),
        )

    def _check_room(self, doing: str) -> None:
        """Refuse a new event when the pages in use reach `max_bytes` (caller holds the lock)."""
        if self._max_pages is None:
            return
        try:
            used = (
                self._db.execute("PRAGMA page_count").fetchone()[0]
                - self._db.execute("PRAGMA freelist_count").fetchone()[0]
            )
        except sqlite3.Error as exc:
            raise _sqlite_error(exc, self.path, doing) from exc
        if used >= self._max_pages:
            raise JournalFullError(
                f"journal {self.path}: {doing} failed: the journal's size limit is reached "
                f"({used} of {self._max_pages} pages); deliver and prune sent events, or raise max_bytes"
            )

    def _write(self, statements: Iterable[tuple[str, tuple[Any, ...]]], doing: str) -> None:
        """Run statements in one durable transaction (caller holds the lock)."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, parameters in statements:
                    self._db.execute(sql, parameters)
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        except sqlite3.Error as exc:
            raise _sqlite_error(exc, self.path, doing) from exc

    def _rollback(self) -> None:
        """Undo an unfinished transaction; SQLite may already have (after SQLITE_FULL or I/O errors)."""
        if self._db.in_transaction:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:
                logger.exception("journal %s: rollback failed", self.path)

    # ---- the outbox --------------------------------------------------------------------------

    def pending(self, limit: int = MAX_EVENTS_PER_BATCH) -> list[UsageEvent]:
        """The oldest `limit` events not yet sent, in recording order.

        A row that no longer parses (tampered with on disk) is flagged rejected with the reason,
        so it cannot block the outbox.
        """
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT id, meal_id, type, at, data FROM events WHERE state = 'pending' ORDER BY seq LIMIT ?",
                    (int(limit),),
                ).fetchall()
            except sqlite3.Error as exc:
                raise _sqlite_error(exc, self.path, "reading pending events") from exc
            events: list[UsageEvent] = []
            unreadable: list[tuple[str, tuple[Any, ...]]] = []
            for event_id, meal_id, event_type, at, data in rows:
                try:
                    events.append(
                        UsageEvent(id=event_id, meal_id=meal_id, type=event_type, at=at, data=json.loads(data))
                    )
                except (ValidationError, ValueError, TypeError) as exc:
                    reason = f"unreadable in the local journal: {exc}".splitlines()[0]
                    unreadable.append(
                        ("UPDATE events SET state = 'rejected', reason = ? WHERE id = ?", (reason, event_id))
                    )
            if unreadable:
                logger.error("journal %s: %d unreadable event(s) flagged rejected", self.path, len(unreadable))
                self._write(unreadable, "flagging unreadable events")
            return events

    def mark_sent(self, ids: Iterable[UUID]) -> int:
        """Mark pending events as delivered; returns how many changed."""
        now = self._clock().isoformat()
        return self._update(
            "UPDATE events SET state = 'sent', sent_at = ?, attempts = attempts + 1 WHERE id = ? AND state = 'pending'",
            [(now, str(i)) for i in ids],
            "marking events sent",
        )

    def mark_rejected(self, reasons: Mapping[UUID, str]) -> int:
        """Flag pending events the service refused, keeping them with the reason."""
        return self._update(
            "UPDATE events SET state = 'rejected', reason = ?, attempts = attempts + 1 "
            "WHERE id = ? AND state = 'pending'",
            [(reason, str(i)) for i, reason in reasons.items()],
            "flagging rejected events",
        )

    def requeue_rejected(self, ids: Iterable[UUID] | None = None) -> int:
        """Put rejected events (all, or `ids`) back in the outbox, e.g. after a service fix."""
        if ids is None:
            return self._update("UPDATE events SET state = 'pending' WHERE state = 'rejected'", [()], "requeueing")
        return self._update(
            "UPDATE events SET state = 'pending' WHERE id = ? AND state = 'rejected'",
            [(str(i),) for i in ids],
            "requeueing",
        )

    def prune_sent(self, before: datetime) -> int:
        """Delete delivered events recorded before `before` (pending and rejected never go)."""
        if before.utcoffset() is None:
            raise JournalDataError("prune_sent() needs a timezone-aware datetime")
        with self._lock:
            rows = self._db.execute("SELECT id, at FROM events WHERE state = 'sent'").fetchall()
        old = [(i,) for i, at in rows if datetime.fromisoformat(at) < before]
        return self._update("DELETE FROM events WHERE id = ? AND state = 'sent'", old, "pruning")

    def _update(self, sql: str, rows: list[tuple[Any, ...]], doing: str) -> int:
        if not rows:
            return 0
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    changed = sum(self._db.execute(sql, row).rowcount for row in rows)
                    self._db.execute("COMMIT")
                except BaseException:
                    self._rollback()
                    raise
            except sqlite3.Error as exc:
                raise _sqlite_error(exc, self.path, doing) from exc
        return changed

    def rejected(self) -> list[RejectedRecord]:
        """Every event the service (or the journal itself) refused, with its reason."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, meal_id, type, at, data, reason, attempts FROM events WHERE state = 'rejected' ORDER BY seq"
            ).fetchall()
        return [
            RejectedRecord(event=_event_or_raw(i, m, t, a, d), reason=reason or "", attempts=attempts)
            for i, m, t, a, d, reason, attempts in rows
        ]

    def counts(self) -> JournalCounts:
        """How many events are pending, sent and rejected."""
        with self._lock:
            try:
                rows = dict(self._db.execute("SELECT state, count(*) FROM events GROUP BY state").fetchall())
            except sqlite3.Error as exc:
                raise _sqlite_error(exc, self.path, "counting events") from exc
        return JournalCounts(
            pending=rows.get(EventState.PENDING, 0),
            sent=rows.get(EventState.SENT, 0),
            rejected=rows.get(EventState.REJECTED, 0),
        )

    def events(self, meal_id: UUID | None = None) -> list[tuple[UsageEvent, EventState]]:
        """All events (of one meal, if given) with their state, in recording order."""
        sql = "SELECT id, meal_id, type, at, data, state FROM events"
        parameters: tuple[Any, ...] = ()
        if meal_id is not None:
            sql += " WHERE meal_id = ?"
            parameters = (str(meal_id),)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY seq", parameters).fetchall()
        return [(_event_or_raw(i, m, t, a, d), EventState(s)) for i, m, t, a, d, s in rows]

    def close(self) -> None:
        """Close the database (idempotent)."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> UsageJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _event_or_raw(event_id: str, meal_id: str, event_type: str, at: str, data: str) -> UsageEvent:
    """The stored event; a row damaged on disk comes back unvalidated, its raw text in `data`."""
    try:
        return UsageEvent(id=event_id, meal_id=meal_id, type=event_type, at=at, data=json.loads(data))
    except (ValidationError, ValueError, TypeError):
        unvalidated: dict[str, Any] = {"id": event_id, "meal_id": meal_id, "type": event_type, "at": at}
        return UsageEvent.model_construct(**unvalidated, data={"raw": data})


# ---- sync ---------------------------------------------------------------------------------------


class UsageSender(Protocol):
    """Delivers one batch to the care-plan service; raises on any failure to deliver.

    An exception may carry `retry_after_s` (float seconds, from a Retry-After header).
    `careplan_api.client` provides the HTTP implementation.
    """

    def send(self, batch: UsageBatch) -> IngestResult: ...


class CareplanSender:
    """`UsageSender` over HTTP: posts batches with `careplan_api.client.CareplanClient`.

    The client makes `max_attempts` quick tries per batch (1 by default); the long waits of an
    outage are `JournalSync`'s backoff. `transport` is for tests (an httpx transport).
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float = 10.0,
        max_attempts: int = 1,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.client = CareplanClient(
            base_url, token, timeout_s=timeout_s, max_attempts=max_attempts, transport=transport
        )

    def send(self, batch: UsageBatch) -> IngestResult:
        """Post one batch; raises `careplan_api.client` errors when it is not delivered."""
        return self.client.post_events(batch)

    def close(self) -> None:
        self.client.close()


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    """What one sync attempt did, and when the next should be."""

    sent: int
    rejected: int
    failed: bool
    retry_in_s: float
    error: str | None = None


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """A snapshot of the sync thread for health displays."""

    running: bool
    consecutive_failures: int
    last_error: str | None
    events_sent: int
    events_rejected: int


class JournalSync:
    """Sends a journal's pending events to the care-plan service, in the background.

    `sync_once()` is one attempt (no sleeping), usable without the thread; `start()`/`stop()`
    run attempts on a daemon thread: immediately again while a backlog remains, every
    `idle_interval_s` when idle, and after a failure only when the backoff has passed.
    """

    def __init__(
        self,
        journal: UsageJournal,
        sender: UsageSender,
        *,
        batch_size: int = 500,
        idle_interval_s: float = 2.0,
        backoff_base_s: float = 1.0,
        backoff_cap_s: float = 300.0,
        max_retry_after_s: float = 3600.0,
        rng: random.Random | None = None,
    ) -> None:
        if not 1 <= batch_size <= MAX_EVENTS_PER_BATCH:
            raise ValueError(f"batch_size must be in 1..{MAX_EVENTS_PER_BATCH}, got {batch_size}")
        self.journal = journal
        self.sender = sender
        self.batch_size = batch_size
        self.idle_interval_s = idle_interval_s
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.max_retry_after_s = max_retry_after_s
        self._rng = rng or random.Random()
        self._batch_limit = batch_size
        self._server_max_batch: int | None = None  # the service's limit, once it has said one
        self._failures = 0
        self._last_error: str | None = None
        self._sent = 0
        self._rejected = 0
        self._status_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def sync_once(self) -> SyncOutcome:
        """Send one batch of pending events, if any, and say when to try next."""
        try:
            events = self.journal.pending(self._batch_limit)
        except JournalError as exc:
            return self._failed(f"reading the journal: {exc}", None)
        if not events:
            return SyncOutcome(sent=0, rejected=0, failed=False, retry_in_s=self.idle_interval_s)
        try:
            result = self.sender.send(UsageBatch(events=events))
        except BatchRefused as exc:
            return self._refused(events, exc)
        except RateLimited as exc:
            return self._rate_limited(len(events), exc)
        except Exception as exc:
            return self._failed(f"{type(exc).__name__}: {exc}", getattr(exc, "retry_after_s", None))
        ids = {event.id for event in events}
        rejected: dict[UUID, str] = {}
        for item in result.rejected:
            try:
                event_id = UUID(str(item.id))
            except ValueError:
                continue
            if event_id in ids:
                rejected[event_id] = item.reason
        if result.accepted + result.duplicates + len(rejected) != len(events):
            return self._failed(
                f"inconsistent answer for {len(events)} events: accepted {result.accepted}, "
                f"duplicates {result.duplicates}, rejected {len(result.rejected)}; resending",
                None,
            )
        try:
            self.journal.mark_rejected(rejected)
            self.journal.mark_sent(ids - rejected.keys())
        except JournalError as exc:
            # Delivered but not marked: the service stores each id once, so a resend is harmless.
            return self._failed(f"marking events sent: {exc}", None)
        for event_id, reason in rejected.items():
            logger.warning("usage event %s rejected by the care-plan service: %s", event_id, reason)
        with self._status_lock:
            self._failures = 0
            self._last_error = None
            self._sent += len(ids) - len(rejected)
            self._rejected += len(rejected)
        more = len(events) == self._batch_limit
        self._batch_limit = min(self.batch_size, self._server_max_batch or self.batch_size, self._batch_limit * 2)
        return SyncOutcome(
            sent=len(ids) - len(rejected),
            rejected=len(rejected),
            failed=False,
            retry_in_s=0.0 if more else self.idle_interval_s,
        )

    def _refused(self, events: list[UsageEvent], exc: BatchRefused) -> SyncOutcome:
        """The service refused the batch as a whole (too large or malformed): halve it and go on;
        a single event refused on its own is flagged rejected with the service's answer."""
        error = f"batch of {len(events)} refused: {exc}"
        if len(events) > 1:
            self._batch_limit = max(1, len(events) // 2)
            logger.warning("journal sync: %s; retrying with batches of %d", error, self._batch_limit)
            return SyncOutcome(sent=0, rejected=0, failed=False, retry_in_s=0.0, error=error)
        try:
            self.journal.mark_rejected({events[0].id: f"refused by the service: {exc}"})
        except JournalError as journal_exc:
            return self._failed(f"flagging a refused event: {journal_exc}", None)
        logger.warning("usage event %s refused by the care-plan service: %s", events[0].id, exc)
        with self._status_lock:
            self._rejected += 1
        return SyncOutcome(sent=0, rejected=1, failed=False, retry_in_s=0.0, error=error)

    def _rate_limited(self, sent: int, exc: RateLimited) -> SyncOutcome:
        """Over the device's quota: the events stay pending; wait what the service asked (plus up to
        10 % jitter), in batches no larger than it allows. Not a failure: no growing backoff."""
        if exc.max_batch_events is not None:
            self._server_max_batch = exc.max_batch_events
            self._batch_limit = min(self._batch_limit, exc.max_batch_events)
        delay = min(exc.retry_after_s, self.max_retry_after_s) * (1.0 + self._rng.uniform(0.0, 0.1))
        error = f"over the ingest quota with {sent} events; retrying in {delay:.1f} s"
        with self._status_lock:
            self._last_error = error
        logger.info("journal sync: %s", error)
        return SyncOutcome(sent=0, rejected=0, failed=True, retry_in_s=delay, error=error)

    def _failed(self, error: str, retry_after_s: float | None) -> SyncOutcome:
        with self._status_lock:
            self._failures += 1
            self._last_error = error
            failures = self._failures
        delay = backoff_delay_s(
            failures,
            base_s=self.backoff_base_s,
            cap_s=self.backoff_cap_s,
            rng=self._rng,
            retry_after_s=retry_after_s,
            max_retry_after_s=self.max_retry_after_s,
        )
        logger.warning("journal sync failed (%d in a row), retrying in %.1f s: %s", failures, delay, error)
        return SyncOutcome(sent=0, rejected=0, failed=True, retry_in_s=delay, error=error)

    @property
    def status(self) -> SyncStatus:
        """Consecutive failures, last error and totals, for health displays."""
        with self._status_lock:
            return SyncStatus(
                running=self._thread is not None and self._thread.is_alive(),
                consecutive_failures=self._failures,
                last_error=self._last_error,
                events_sent=self._sent,
                events_rejected=self._rejected,
            )

    def start(self) -> None:
        """Start the background thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="journal-sync", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread; an attempt in flight finishes first (bounded by the sender's timeout)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """Sync soon instead of after the idle interval (does not cut a backoff short)."""
        self._wake.set()

    def flush(self, timeout: float) -> bool:
        """Wait until nothing is pending (True) or `timeout` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        while self.journal.counts().pending:
            if time.monotonic() >= deadline:
                return False
            self.wake()
            time.sleep(0.01)
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                outcome = self.sync_once()
            except Exception as exc:
                logger.exception("journal sync attempt failed unexpectedly")
                outcome = self._failed(f"{type(exc).__name__}: {exc}", None)
            if outcome.failed:
                self._stop.wait(outcome.retry_in_s)
            elif outcome.retry_in_s > 0:
                self._wake.wait(outcome.retry_in_s)
                self._wake.clear()

    def __enter__(self) -> JournalSync:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = [
    "APPLICATION_ID",
    "CareplanSender",
    "EventState",
    "JournalCorruptError",
    "JournalCounts",
    "JournalDataError",
    "JournalError",
    "JournalForeignError",
    "JournalFullError",
    "JournalOpenError",
    "JournalReadOnlyError",
    "JournalSync",
    "JournalWriteError",
    "NoOpenMealError",
    "RejectedRecord",
    "SyncOutcome",
    "SyncStatus",
    "UsageJournal",
    "UsageSender",
]
