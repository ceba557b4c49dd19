"""The audit log: who did what to whose personal data, when and why.

Rows are only ever added (the database refuses UPDATE/DELETE). Callers add an entry in the same
transaction as the access it records, or commit it on its own for refused attempts.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session

from careplan_api.models import ActorKind, AuditAction, AuditEntry, Device, User, table_of, utcnow

MAX_RESOURCE_CHARS = 300
MAX_PURPOSE_CHARS = 200
_INSERT = insert(table_of(AuditEntry))


def _values(
    actor: User | Device | None,
    action: AuditAction,
    resource: str,
    citizen_id: uuid.UUID | None,
    purpose: str,
    outcome: str,
) -> dict[str, Any]:
    if isinstance(actor, User):
        kind, actor_id, name, role = ActorKind.USER, actor.id, actor.username, actor.role.value
    elif isinstance(actor, Device):
        kind, actor_id, name, role = ActorKind.DEVICE, actor.id, f"device {actor.id}", "device"
    else:
        kind, actor_id, name, role = ActorKind.SYSTEM, None, "system", ""
    return {
        "at": utcnow(),
        "actor_kind": kind,
        "actor_id": actor_id,
        "actor_name": name,
        "actor_role": role,
        "action": action,
        "resource": resource[:MAX_RESOURCE_CHARS],
        "citizen_id": citizen_id,
        "purpose": purpose[:MAX_PURPOSE_CHARS],
        "outcome": outcome,
    }


def record(
    session: Session,
    *,
    actor: User | Device | None,
    action: AuditAction,
    resource: str,
    citizen_id: uuid.UUID | None = None,
    purpose: str = "",
    outcome: str = "ok",
) -> AuditEntry:
    """Add one audit entry to `session` (the caller commits). `actor=None` means the system itself."""
    entry = AuditEntry(**_values(actor, action, resource, citizen_id, purpose, outcome))
    session.add(entry)
    return entry


def append(
    connection: Connection,
    *,
    actor: User | Device | None,
    action: AuditAction,
    resource: str,
    citizen_id: uuid.UUID | None = None,
    purpose: str = "",
    outcome: str = "ok",
) -> None:
    """`record` as one Core INSERT on `connection`, in its transaction (the caller commits): no ORM
    flush, for the ingest path, which writes one entry per batch."""
    connection.execute(_INSERT, _values(actor, action, resource, citizen_id, purpose, outcome))


def entries_for_citizen(
    session: Session, citizen_id: uuid.UUID, limit: int = 500, offset: int = 0
) -> Sequence[AuditEntry]:
    """The log of accesses to one citizen's data, newest first."""
    return session.scalars(
        select(AuditEntry)
        .where(AuditEntry.citizen_id == citizen_id)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
