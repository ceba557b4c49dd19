"""Where the fuldmagt import got to in each register (docs/fuldmagt.md).

A register is named by its feed's URL or its file's path (`register_name`); its row in
`fuldmagt_register_cursors` keeps the cursor after the last import that stored its entries. The
import reads it (`stored`) when no cursor is given and moves it (`advance`) in the same transaction
as the entries it stored, so a run that fails before its commit leaves the cursor where it was and
the next run asks for the same entries again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy.orm import Session

from careplan_api.models import AuditAction, RegisterCursor, utcnow
from careplan_api.observability import mask_url_passwords
from careplan_api.services import audit

PURPOSE = "import from the national fuldmagt register"


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


def advance(session: Session, name: str, cursor: str, actor: audit.Actor) -> bool:
    """Keep `cursor` for the register `name` (the caller commits, with the entries the import stored);
    a changed cursor is audited by `actor`. True when it changed."""
    row = session.get(RegisterCursor, _key(name))
    if row is not None and row.cursor == cursor:
        return False
    if row is None:
        session.add(RegisterCursor(source_sha256=_key(name), source=name[:2000], cursor=cursor))
    else:
        row.cursor, row.updated_at = cursor, utcnow()
    audit.record(
        session,
        actor=actor,
        action=AuditAction.UPDATE,
        resource=f"cursor of the fuldmagt register {name}",
        purpose=PURPOSE,
    )
    return True
