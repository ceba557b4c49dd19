"""Importing fuldmagter from a national fuldmagt register (docs/fuldmagt.md).

The adapter interface is `FuldmagtRegister`: one method, `changes(since)`, that gives the register's
fuldmagter created or changed after a cursor, and the next cursor. `HttpFuldmagtRegister` speaks the
JSON feed described in docs/fuldmagt.md over HTTP (httpx); an adapter for another register's
protocol implements the same method. `import_changes` applies a page to the database:

- the grantor is found by their CPR number's keyed hash (`Citizen.cpr_hmac`); an entry for someone
  who is not our citizen is skipped (counted, nothing stored);
- the holder is kept by name and CPR hash only: they hold it once they log in with a national
  identifier (`services.access.held_by`); CPR numbers are hashed here and never stored;
- an entry seen before (its `ref`) updates the end date and the ending, so an ending in the register
  ends it here;
- an entry with an unknown scope, bad dates or a text holding a character that is not printable (a
  NUL, a control character), or whose holder is the citizen themself, is refused on its own (with
  the reason); the others go on. An entry given twice with the same contents counts
  once; a `ref` given twice with different contents is refused, so that an import never depends on
  the order of the register's answer (running it again changes nothing).

`FileFuldmagtRegister` reads the same page from a JSON file: the local stand-in of a register, and
the way to import an export of one (`bidvis careplan import-fuldmagter`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Protocol

import httpx
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from careplan_api.errors import CareplanError
from careplan_api.models import AuditAction, Citizen, Fuldmagt, FuldmagtScope, FuldmagtSource
from careplan_api.services import audit
from careplan_api.services.security import cpr_hmac

MAX_ENTRIES_PER_PAGE = 10_000


class RegisterError(CareplanError):
    """The register could not be read (unreachable, an error answer, a malformed page)."""


def _printable(value: str) -> str:
    """`value` if every character is printable: a NUL (which PostgreSQL refuses in text), another
    control character, a line break or a direction mark in a text from the register refuses it."""
    bad = next((c for c in value if not c.isprintable()), None)
    if bad is not None:
        raise ValueError(f"holds a character that is not printable (U+{ord(bad):04X})")
    return value


RegisterText = Annotated[str, AfterValidator(_printable)]


class RegisterEntry(BaseModel):
    """One fuldmagt as the register gives it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    ref: RegisterText = Field(min_length=1, max_length=100, description="the register's id of the fuldmagt")
    grantor_cpr: RegisterText = Field(min_length=10, max_length=11)
    holder_cpr: RegisterText = Field(min_length=10, max_length=11)
    holder_name: RegisterText = Field(min_length=1, max_length=200)
    scope: RegisterText = Field(max_length=32, description="care_plan, audit_log or full")
    valid_from: AwareDatetime
    valid_until: AwareDatetime | None = None
    revoked_at: AwareDatetime | None = None


class RegisterPage(BaseModel):
    """Changes after a cursor, and the cursor to ask from next time."""

    model_config = ConfigDict(extra="ignore")

    entries: list[dict[str, object]] = Field(max_length=MAX_ENTRIES_PER_PAGE)
    cursor: RegisterText = Field(max_length=200)


class FuldmagtRegister(Protocol):
    """A national fuldmagt register, as the import sees it."""

    def changes(self, since: str | None) -> RegisterPage:
        """Fuldmagter created or changed after the cursor `since` (all of them for None)."""
        ...


class HttpFuldmagtRegister:
    """The register's JSON feed: `GET {base_url}/fuldmagter?since=CURSOR` -> a `RegisterPage`."""

    def __init__(self, client: httpx.Client, base_url: str) -> None:
        self.client, self.base_url = client, base_url.rstrip("/")

    def changes(self, since: str | None) -> RegisterPage:
        params = {"since": since} if since else {}
        try:
            answer = self.client.get(f"{self.base_url}/fuldmagter", params=params)
            answer.raise_for_status()
            return RegisterPage.model_validate_json(answer.content)
        except httpx.HTTPError as exc:
            raise RegisterError(f"the fuldmagt register at {self.base_url} could not be read: {exc}") from exc
        except ValidationError as exc:
            raise RegisterError(f"the fuldmagt register sent a malformed page: {exc.error_count()} errors") from exc


class FileFuldmagtRegister:
    """A register kept as a JSON file holding one page (`{"entries": [...], "cursor": "..."}`, the
    cursor optional): all of its fuldmagter, whatever the cursor asked from. The local stand-in of
    a national register, and an export of one."""

    MAX_BYTES = 64 * 1024 * 1024

    def __init__(self, path: Path) -> None:
        self.path = path

    def changes(self, since: str | None) -> RegisterPage:
        try:
            if self.path.stat().st_size > self.MAX_BYTES:
                raise RegisterError(f"the fuldmagt register file {self.path} is larger than {self.MAX_BYTES} bytes")
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            raise RegisterError(f"the fuldmagt register file {self.path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise RegisterError(f"the fuldmagt register file {self.path} could not be read: {exc}") from None
        except json.JSONDecodeError as exc:
            raise RegisterError(
                f"the fuldmagt register file {self.path} is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            ) from None
        if isinstance(data, dict):
            data.setdefault("cursor", "")
        try:
            return RegisterPage.model_validate(data)
        except ValidationError as exc:
            where = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'the file'}: {e['msg']}" for e in exc.errors()[:3])
            raise RegisterError(
                f"the fuldmagt register file {self.path} is not a register page "
                f'({{"entries": [...], "cursor": "..."}}): {where}'
            ) from None


@dataclass
class ImportReport:
    """What one import did."""

    cursor: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0  # the same entry given again in the page: counted once
    not_our_citizen: int = 0
    other_citizens: int = 0  # entries for another of our citizens than the one asked for
    refused: list[tuple[str, str]] = field(default_factory=list)  # (ref or position, reason)


def import_changes(
    session: Session,
    register: FuldmagtRegister,
    since: str | None,
    cpr_key: bytes,
    *,
    actor: audit.Actor = None,
    citizen_id: uuid.UUID | None = None,
) -> ImportReport:
    """Apply the register's changes after `since` (the caller commits); each change is audited, by
    `actor` (None: the system). With `citizen_id`, only that citizen's fuldmagter are imported."""
    page = register.changes(since)
    report = ImportReport(cursor=page.cursor)
    by_ref: dict[str, list[tuple[RegisterEntry, FuldmagtScope, str, str]]] = {}
    for position, raw in enumerate(page.entries):
        try:
            entry = RegisterEntry.model_validate(raw)
            scope = FuldmagtScope(entry.scope)
            holder_hmac = cpr_hmac(entry.holder_cpr, cpr_key)
            grantor_hmac = cpr_hmac(entry.grantor_cpr, cpr_key)
        except (ValidationError, ValueError) as exc:
            report.refused.append((str(raw.get("ref", f"#{position}"))[:100], _reason(exc)))
            continue
        ends = [t for t in (entry.valid_until, entry.revoked_at) if t is not None]
        if any(end <= entry.valid_from for end in ends):
            report.refused.append((entry.ref, "it ends before it starts"))
            continue
        if holder_hmac == grantor_hmac:
            report.refused.append((entry.ref, "the holder is the citizen themself"))
            continue
        by_ref.setdefault(entry.ref, []).append((entry, scope, holder_hmac, grantor_hmac))
    for ref, given in by_ref.items():
        if any(other[0] != given[0][0] for other in given[1:]):
            report.refused.append((ref, f"the register gives this fuldmagt {len(given)} times, differently"))
            continue
        report.duplicates += len(given) - 1
        entry, scope, holder_hmac, grantor_hmac = given[0]
        citizen = session.scalar(select(Citizen).where(Citizen.cpr_hmac == grantor_hmac))
        if citizen is None:
            report.not_our_citizen += 1
            continue
        if citizen_id is not None and citizen.id != citizen_id:
            report.other_citizens += 1
            continue
        _apply(session, report, citizen, entry, scope, holder_hmac, actor)
    return report


def _apply(
    session: Session,
    report: ImportReport,
    citizen: Citizen,
    entry: RegisterEntry,
    scope: FuldmagtScope,
    holder: str,
    actor: audit.Actor,
) -> None:
    known = session.scalar(select(Fuldmagt).where(Fuldmagt.register_ref == entry.ref))
    if known is None:
        fuldmagt = Fuldmagt(
            citizen_id=citizen.id,
            scope=scope,
            valid_from=entry.valid_from,
            valid_until=entry.valid_until,
            revoked_at=entry.revoked_at,
            holder_name=" ".join(entry.holder_name.split()),
            holder_national_id_hmac=holder,
            source=FuldmagtSource.REGISTER,
            register_ref=entry.ref,
        )
        session.add(fuldmagt)
        session.flush()
        report.created += 1
        _audit(session, actor, AuditAction.CREATE, fuldmagt, "fuldmagt from the national register")
        return
    if known.citizen_id != citizen.id or known.source is not FuldmagtSource.REGISTER:
        report.refused.append((entry.ref, "the register changed whose fuldmagt this is"))
        return
    if (known.scope, known.valid_until, known.revoked_at) == (scope, entry.valid_until, entry.revoked_at):
        report.unchanged += 1
        return
    known.scope, known.valid_until, known.revoked_at = scope, entry.valid_until, entry.revoked_at
    session.flush()
    report.updated += 1
    _audit(session, actor, AuditAction.UPDATE, known, "fuldmagt changed in the national register")


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))
    return str(exc)  # a scope we do not know, or a CPR number that is not one (the number is not repeated)


def _audit(session: Session, actor: audit.Actor, action: AuditAction, fuldmagt: Fuldmagt, purpose: str) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        resource=f"fuldmagt {fuldmagt.id}",
        citizen_id=fuldmagt.citizen_id,
        purpose=purpose,
    )
