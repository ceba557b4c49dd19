"""The audit log: who did what to whose personal data, when and why.

Rows are only ever added (the database refuses UPDATE/DELETE). Callers add an entry in the same
transaction as the access it records, or commit it on its own for refused attempts.
"""

from __future__ import annotations

import getpass
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session

from careplan_api.models import ActorKind, AuditAction, AuditEntry, Device, User, table_of, utcnow
from careplan_api.services.device_auth import IngestingDevice

MAX_RESOURCE_CHARS = 300
MAX_PURPOSE_CHARS = 200
_INSERT = insert(table_of(AuditEntry)).inline()  # no RETURNING of the new id: nobody reads it, and ingest pipelines it
OPERATOR_ENV = "BIDVIS_OPERATOR"


@dataclass(frozen=True)
class Operator:
    """A person running an administration command on the server's command line."""

    name: str

    @classmethod
    def current(cls) -> Operator:
        """`$BIDVIS_OPERATOR` if set (e.g. your initials behind a shared account), else the login name."""
        name = os.environ.get(OPERATOR_ENV, "").strip()
        if not name:
            try:
                name = getpass.getuser()
            except (KeyError, OSError):  # no passwd entry for this uid (a container)
                name = f"uid {os.getuid()}"
        return cls(name[:120])


Actor = User | Device | IngestingDevice | Operator | None


def _values(
    actor: Actor,
    action: AuditAction,
    resource: str,
    citizen_id: uuid.UUID | None,
    purpose: str,
    outcome: str,
) -> dict[str, Any]:
    if isinstance(actor, User):
        kind, actor_id, name, role = ActorKind.USER, actor.id, actor.username, actor.role.value
    elif isinstance(actor, Device | IngestingDevice):
        kind, actor_id, name, role = ActorKind.DEVICE, actor.id, f"device {actor.id}", "device"
    elif isinstance(actor, Operator):
        kind, actor_id, name, role = ActorKind.SYSTEM, None, f"{actor.name} (command line)", "operator"
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
    actor: Actor,
    action: AuditAction,
    resource: str,
    citizen_id: uuid.UUID | None = None,
    purpose: str = "",
    outcome: str = "ok",
) -> AuditEntry:
    """Add one audit entry to `session` (the caller commits). `actor=None` means the service itself."""
    entry = AuditEntry(**_values(actor, action, resource, citizen_id, purpose, outcome))
    session.add(entry)
    return entry


def append(
    connection: Connection,
    *,
    actor: User | Device | IngestingDevice | None,
    action: AuditAction,
    resource: str,
    citizen_id: uuid.UUID | None = None,
    purpose: str = "",
    outcome: str = "ok",
) -> None:
    """`record` as one Core INSERT on `connection`, in its transaction (the caller commits): no ORM
    flush, for the ingest path, which writes one entry per batch."""
    connection.execute(_INSERT, _values(actor, action, resource, citizen_id, purpose, outcome))


def record_listing(
    session: Session, actor: Actor, resource: str, purpose: str, citizen_ids: Sequence[uuid.UUID]
) -> None:
    """A list or search that showed several citizens: one `search` entry without a citizen (how
    many were found) and one per citizen shown, so that each sees it in their own access log."""
    session.add(
        AuditEntry(**_values(actor, AuditAction.SEARCH, f"{resource} ({len(citizen_ids)} found)", None, purpose, "ok"))
    )
    shown = list(dict.fromkeys(citizen_ids))
    if shown:
        session.execute(
            _INSERT,
            [
                _values(actor, AuditAction.SEARCH, f"{resource} (in a list of {len(shown)})", c, purpose, "ok")
                for c in shown
            ],
        )


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
