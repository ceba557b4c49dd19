"""Where the fuldmagt import got to in each register (docs/fuldmagt.md).

A register is named by its feed's URL or its file's path (`register_name`); its row in
`fuldmagt_register_cursors` keeps the cursor after the last import that stored its entries. The
import reads it (`stored`) when no cursor is given and moves it (`advance`) in the same transaction
as the entries it stored, so a run that fails before its commit leaves the cursor where it was and
the next run asks for the same entries again.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from careplan_api.models import AuditAction, RegisterCursor, utcnow
from careplan_api.observability import mask_url_passwords
from careplan_api.services import audit

PURPOSE = "import from the national fuldmagt register"
_TABLE = cast(Table, RegisterCursor.__table__)


def register_name(register: str) -> str:
    """The name a register's cursor is kept under: a URL without a trailing slash and with any
    password masked (a changed password is the same register), or a file's absolute path."""
    if register.startswith(("https://", "http://")):
        return mask_url_passwords(register.rstrip("/"))
    return str(Path(register).resolve())


def _key(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def stored(session: Session, name: str) -> str | None:
    """The cursor kept for the register `name`, or None when it was never imported from."""
    row = session.get(RegisterCursor, _key(name))
    return None if row is None else row.cursor


def _insert(session: Session) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into the cursors with ON CONFLICT, in the session's dialect (the service runs on these two)."""
    return postgresql.insert(_TABLE) if session.get_bind().dialect.name == "postgresql" else sqlite.insert(_TABLE)


def advance(session: Session, name: str, cursor: str, actor: audit.Actor, asked_at: datetime | None = None) -> bool:
    """Keep `cursor`, which the register `name` answered at `asked_at` (default now), unless the row
    holds one from a later answer (the caller commits, with the entries the import stored); a changed
    cursor is audited by `actor`. True when it changed.

    One INSERT ... ON CONFLICT DO UPDATE: two imports racing on a register's first cursor do not
    collide on its key, and the cursor of the register's later answer stays, whichever commits last."""
    key = _key(name)
    if session.scalar(select(RegisterCursor.cursor).where(RegisterCursor.source_sha256 == key)) == cursor:
        return False
    table, insert = _TABLE, _insert(session)
    upsert = insert.values(
        source_sha256=key, source=name[:2000], cursor=cursor, updated_at=asked_at or utcnow()
    ).on_conflict_do_update(
        index_elements=[table.c.source_sha256],
        set_={"cursor": insert.excluded.cursor, "updated_at": insert.excluded.updated_at},
        where=table.c.updated_at <= insert.excluded.updated_at,
    )
    if session.execute(upsert.returning(table.c.cursor)).first() is None:
        return False  # another import keeps a cursor from a later answer of the register
    audit.record(
        session,
        actor=actor,
        action=AuditAction.UPDATE,
        resource=f"cursor of the fuldmagt register {name}",
        purpose=PURPOSE,
    )
    return True
