"""Each device's ingest quota: a token bucket of events kept on its `devices` row.

A device may post `max_batch_events` events at once (the bucket's size) and `events_per_s` events a
second on average (its refill). A batch takes as many tokens as it holds events, in one atomic
`UPDATE ... WHERE there are enough ... RETURNING` in the ingest transaction, so every worker process
answers the same and a refused batch takes nothing. A batch the bucket cannot hold now gets
`QuotaExceeded` (HTTP 429, `Retry-After` = seconds until it can); a batch larger than the bucket
can never pass and says so (`max_batch_events`), so that the device splits it. The same statement
records when the device was last seen.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Float, bindparam, case, func, literal, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from careplan_api.models import Device


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


def _level(dialect: str, quota: IngestQuota):  # type: ignore[no-untyped-def]
    """SQL for the events the device may post now: its stored level plus the refill since, capped."""
    least = func.least if dialect == "postgresql" else func.min  # SQLite's two-argument min() is scalar
    now = bindparam("now_s", type_=Float)
    stored = func.coalesce(Device.quota_events, literal(float(quota.max_batch_events), Float))
    refill = (now - func.coalesce(Device.quota_at_s, now)) * literal(quota.events_per_s, Float)
    return least(literal(float(quota.max_batch_events), Float), stored + case((refill > 0, refill), else_=0.0))


def take(
    session: Session, device: Device, events: int, quota: IngestQuota, now_s: float | None = None
) -> QuotaExceeded | None:
    """Take `events` tokens from `device`'s bucket (in the session's transaction; the caller
    commits), or say why not and when to retry. Also sets `last_seen_at`."""
    now_s = time.time() if now_s is None else now_s
    if events > quota.max_batch_events:
        return QuotaExceeded(
            1,
            f"a batch of {events} events is larger than this device's limit of {quota.max_batch_events}; "
            "send smaller batches",
            quota.events_per_s,
            quota.max_batch_events,
        )
    dialect = session.get_bind().dialect.name
    level = _level(dialect, quota)
    seen = datetime.fromtimestamp(now_s, UTC)
    taken = session.execute(
        update(Device)
        .where(Device.id == device.id, level >= events)
        .values(quota_events=level - events, quota_at_s=bindparam("now_s", type_=Float), last_seen_at=seen)
        .returning(Device.id)
        .execution_options(synchronize_session=False),
        {"now_s": now_s},
    ).first()
    if taken is not None:
        set_committed_value(device, "last_seen_at", seen)
        return None
    available = session.scalar(select(level).where(Device.id == device.id), {"now_s": now_s}) or 0.0
    wait_s = max(1, math.ceil((events - available) / quota.events_per_s))
    return QuotaExceeded(
        wait_s,
        f"this device may post {quota.events_per_s:g} events a second on average ({quota.max_batch_events} at "
        f"once); {events} now would exceed that: retry in {wait_s} s",
        quota.events_per_s,
        quota.max_batch_events,
    )
