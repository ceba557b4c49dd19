"""Each device's ingest quota: a token bucket of events kept on its `devices` row.

A device may post `max_batch_events` events at once (the bucket's size) and `events_per_s` events a
second on average (its refill). A batch takes as many tokens as it holds events, in one atomic
`UPDATE ... WHERE there are enough ... RETURNING` in the ingest transaction, so every worker process
answers the same and a refused batch takes nothing. A batch the bucket cannot hold now gets
`QuotaExceeded` (HTTP 429, `Retry-After` = seconds until it can); a batch larger than the bucket
can never pass and says so (`max_batch_events`), so that the device splits it. The same statement
records when the device was last seen and checks that the device is still active (not revoked), so
that the ingest route may remember which device a token belongs to (`device_auth`).
"""

from __future__ import annotations

import functools
import math
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, Select, bindparam, case, func, literal, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningUpdate

from careplan_api.errors import CareplanError
from careplan_api.models import Device, table_of


@dataclass(frozen=True)
class IngestQuota:
    events_per_s: float = 50.0
    max_batch_events: int = 1000

    def __post_init__(self) -> None:
        if not self.events_per_s > 0 or self.max_batch_events < 1:
            raise ValueError(f"an ingest quota needs events_per_s > 0 and max_batch_events >= 1, got {self}")


@dataclass(frozen=True)
class QuotaExceeded:
    """A batch refused by the device's quota; nothing was stored. Resend after `retry_after_s`,
    in batches of at most `max_batch_events`."""

    retry_after_s: int
    detail: str
    events_per_s: float
    max_batch_events: int


class InactiveDevice(CareplanError):
    """The device is revoked (or gone) since its token was looked up; nothing was taken."""


_DEVICES = table_of(Device)


def _level(dialect: str, quota: IngestQuota) -> ColumnElement[float]:
    """SQL for the events the device may post now: its stored level plus the refill since, capped."""
    least = func.least if dialect == "postgresql" else func.min  # SQLite's two-argument min() is scalar
    now = bindparam("now_s", type_=Float)
    stored = func.coalesce(_DEVICES.c.quota_events, literal(float(quota.max_batch_events), Float))
    refill = (now - func.coalesce(_DEVICES.c.quota_at_s, now)) * literal(quota.events_per_s, Float)
    return least(literal(float(quota.max_batch_events), Float), stored + case((refill > 0, refill), else_=0.0))


@functools.cache
def _statements(dialect: str, quota: IngestQuota) -> tuple[ReturningUpdate[Any], Select[Any]]:
    """The taking UPDATE and the level's SELECT for `quota`, built once (building them cost more
    than running them)."""
    level = _level(dialect, quota)
    events = bindparam("events", type_=Float)
    active = (_DEVICES.c.id == bindparam("device_id"), _DEVICES.c.revoked_at.is_(None))
    taking = (
        update(_DEVICES)
        .where(*active, level >= events)
        .values(
            quota_events=level - events,
            quota_at_s=bindparam("now_s", type_=Float),
            last_seen_at=bindparam("seen", type_=_DEVICES.c.last_seen_at.type),
        )
        .returning(_DEVICES.c.id)
    )
    return taking, select(level).where(*active)


def take(
    session: Session, device_id: uuid.UUID, events: int, quota: IngestQuota, now_s: float | None = None
) -> QuotaExceeded | None:
    """Take `events` tokens from the bucket of the active device `device_id` (in the session's
    transaction; the caller commits), or say why not and when to retry. Also sets `last_seen_at`.
    Raises `InactiveDevice` when the device is revoked or gone."""
    now_s = time.time() if now_s is None else now_s
    taking, level = _statements(session.get_bind().dialect.name, quota)
    if events <= quota.max_batch_events:
        seen = datetime.fromtimestamp(now_s, UTC)
        params = {"device_id": device_id, "events": float(events), "now_s": now_s, "seen": seen}
        if session.execute(taking, params).first() is not None:
            return None
    available = session.execute(level, {"device_id": device_id, "now_s": now_s}).first()
    if available is None:
        raise InactiveDevice(f"device {device_id} is not active")
    if events > quota.max_batch_events:
        return QuotaExceeded(
            1,
            f"a batch of {events} events is larger than this device's limit of {quota.max_batch_events}; "
            "send smaller batches",
            quota.events_per_s,
            quota.max_batch_events,
        )
    wait_s = max(1, math.ceil((events - (available[0] or 0.0)) / quota.events_per_s))
    return QuotaExceeded(
        wait_s,
        f"this device may post {quota.events_per_s:g} events a second on average ({quota.max_batch_events} at "
        f"once); {events} now would exceed that: retry in {wait_s} s",
        quota.events_per_s,
        quota.max_batch_events,
    )
