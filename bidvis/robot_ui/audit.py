"""The robot's audit trail: who did what to it, when, from which client, and what changed.

`AuditLog(path)` is an append-only SQLite file in the robot's data dir (`AUDIT_FILE`, mode 0600,
WAL, `synchronous=FULL`: an entry whose `record()` returned survives a power cut). Each entry has
the time (UTC), the `actor` (`staff:NAME`, `panel:ID`, `cli`, `anonymous`), the `client` (its
address, or `local` for the command line), the `action` (`AuditAction`), what it acted on
(`target`), the `old` and `new` values and more `detail` (JSON). Entries are never changed or
deleted by bidvis.

The audit trail stays on the robot. What the care plan must know goes there as usage events
through the usage journal (`controller.journal`): a meal start with who started it and from
where, a STOP with its real source, calibration and profile changes with their old and new values.
See docs/ui.md, "Audit".
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

AUDIT_FILE = "audit.sqlite3"
APPLICATION_ID = 0x42444155  # "BDAU": marks a SQLite file as a bidvis audit trail
_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    client TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    old TEXT,
    new TEXT,
    detail TEXT
);
"""
MAX_TEXT_CHARS = 200  # actor, client and target as stored (a hostile value cannot grow the file)


class AuditError(Exception):
    """The audit trail cannot be opened or written: the web app then refuses actions (STOP never)."""


class AuditAction(StrEnum):
    """What an audit entry records."""

    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGIN_LOCKED = "login_locked"  # an account from an address, or an address, reached its failure limit
    LOGOUT = "logout"
    SESSIONS_ENDED = "sessions_ended"  # every session of an account (password change, disabled account)
    PASSWORD_CHANGED = "password_changed"
    ACCOUNT_ADDED = "account_added"
    ACCOUNT_REMOVED = "account_removed"
    ACCOUNT_DISABLED = "account_disabled"
    ACCOUNT_ENABLED = "account_enabled"
    PAIRING_CODE_ISSUED = "pairing_code_issued"
    PANEL_PAIRED = "panel_paired"
    PAIRING_FAILED = "pairing_failed"
    PANEL_REVOKED = "panel_revoked"
    TORQUE_ON = "torque_on"
    TORQUE_OFF = "torque_off"
    JOG = "jog"
    JOG_RELEASED = "jog_released"
    POSE_MOVE = "pose_move"
    TEST_BITE = "test_bite"
    PARK = "park"  # park and power down asked: to the rest pose, then torque off
    ARM_HELD = "arm_held"  # a move or a meal start refused: someone else holds the arm (`detail`: who, doing what)
    MEAL_START = "meal_start"
    STOP = "stop"
    CLEAR_STOP = "clear_stop"
    TRIGGER_REFUSED = "trigger_refused"
    CALIBRATION_CHANGED = "calibration_changed"
    PROFILE_CHANGED = "profile_changed"
    FACE_SIZE_OVERRIDDEN = "face_size_overridden"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One entry as stored (`old`, `new`, `detail`: decoded JSON, or None)."""

    seq: int
    at: datetime
    actor: str
    client: str
    action: AuditAction
    target: str | None
    old: Any
    new: Any
    detail: Any


def _now() -> datetime:
    return datetime.now(UTC)


def _clip(text: str | None) -> str | None:
    return None if text is None else str(text)[:MAX_TEXT_CHARS]


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, allow_nan=False, ensure_ascii=False, default=str, separators=(",", ":"))


class AuditLog:
    """The audit trail in `path` (see the module docstring). Thread-safe."""

    def __init__(self, path: str | Path, *, clock: Callable[[], datetime] = _now) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        self.failure: str | None = None  # why the last record failed (cleared by the next that works)
        try:
            if not self.path.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
        except (OSError, sqlite3.Error) as exc:
            raise AuditError(f"audit trail {self.path}: cannot open ({exc})") from exc
        try:
            application_id = self._db.execute("PRAGMA application_id").fetchone()[0]
            tables = self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables and application_id != APPLICATION_ID:
                raise AuditError(
                    f"audit trail {self.path}: a SQLite database of another kind (application_id "
                    f"{application_id:#x}); move it aside"
                )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(f"BEGIN;{_SCHEMA}PRAGMA application_id={APPLICATION_ID};COMMIT;")
        except sqlite3.Error as exc:
            self._db.close()
            raise AuditError(f"audit trail {self.path}: unreadable ({exc}); move it aside") from exc
        except AuditError:
            self._db.close()
            raise

    def record(
        self,
        action: AuditAction,
        *,
        actor: str,
        client: str,
        target: str | None = None,
        old: Any = None,
        new: Any = None,
        detail: Mapping[str, Any] | None = None,
    ) -> int:
        """Store one entry durably and return its sequence number; raises `AuditError`."""
        row = (
            self._clock().isoformat(),
            _clip(actor),
            _clip(client),
            AuditAction(action).value,
            _clip(target),
            _json(old),
            _json(new),
            _json(None if detail is None else dict(detail)),
        )
        with self._lock:
            try:
                cursor = self._db.execute(
                    "INSERT INTO audit (at, actor, client, action, target, old, new, detail) VALUES (?,?,?,?,?,?,?,?)",
                    row,
                )
            except sqlite3.Error as exc:
                self.failure = f"audit trail {self.path}: cannot record {action.value} ({exc})"
                raise AuditError(self.failure) from exc
        self.failure = None
        return int(cursor.lastrowid or 0)

    def require_working(self) -> None:
        """Raise `AuditError` while the last record failed: an action that would go unaudited is
        refused before it starts."""
        if self.failure is not None:
            raise AuditError(f"{self.failure}; actions are refused until it works again")

    def entries(self, action: AuditAction | None = None, limit: int = 1000) -> list[AuditEntry]:
        """The newest `limit` entries (of one `action`, when given), oldest first."""
        where, args = ("WHERE action = ?", (action.value,)) if action is not None else ("", ())
        with self._lock:
            rows = self._db.execute(
                f"SELECT seq, at, actor, client, action, target, old, new, detail FROM audit {where} "
                "ORDER BY seq DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [
            AuditEntry(
                seq,
                datetime.fromisoformat(at),
                actor,
                client,
                AuditAction(kind),
                target,
                *(None if v is None else json.loads(v) for v in (old, new, detail)),
            )
            for seq, at, actor, client, kind, target, old, new, detail in reversed(rows)
        ]

    def close(self) -> None:
        with self._lock:
            self._db.close()
