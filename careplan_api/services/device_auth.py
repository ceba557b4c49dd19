"""Which device an ingest request comes from: its token's SHA-256 digest looked up in the database
once per worker process, then remembered in a small bounded cache (digest -> device and citizen).

Nothing that can change is trusted from the cache: whether the device is still active is checked by
the ingest transaction's one UPDATE of the device row, which also takes the quota
(`ingest_quota.take` raises `InactiveDevice`), so every worker refuses a revoked device at its next
request. An unknown or revoked token is never cached: it asks the database every time (401).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from careplan_api.bounded_cache import BoundedCache
from careplan_api.models import Device, table_of
from careplan_api.services.security import device_token_sha256

MAX_CACHED_DEVICES = 10_000  # ~1 MB a worker; more devices than that only cost a SELECT each

_DEVICES = table_of(Device)
_ACTIVE_BY_DIGEST = select(_DEVICES.c.id, _DEVICES.c.citizen_id, _DEVICES.c.last_seen_at).where(
    _DEVICES.c.token_sha256 == bindparam("digest"), _DEVICES.c.revoked_at.is_(None)
)


@dataclass(frozen=True)
class IngestingDevice:
    """The device of an ingest request: its id, its citizen, and when it was last seen (as known)."""

    id: uuid.UUID
    citizen_id: uuid.UUID
    last_seen_at: datetime | None = None


class DeviceCache(BoundedCache[str, IngestingDevice]):
    """Active devices by token digest, least recently used out."""

    def __init__(self, max_devices: int = MAX_CACHED_DEVICES) -> None:
        super().__init__(max_devices)


def active_device(session: Session, token: str, cache: DeviceCache | None = None) -> IngestingDevice | None:
    """The active device whose token this is (from `cache` when it was seen before: the caller
    must then check that it is still active, as `ingest_quota.take` does), else None."""
    digest = device_token_sha256(token)
    if cache is not None and (hit := cache.get(digest)) is not None:
        return hit
    row = session.execute(_ACTIVE_BY_DIGEST, {"digest": digest}).first()
    if row is None:
        return None
    device = IngestingDevice(row.id, row.citizen_id, row.last_seen_at)
    if cache is not None:
        cache.put(digest, device)
    return device
