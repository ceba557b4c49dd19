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
- an entry with an unknown scope or bad dates is refused on its own (with the reason); the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from careplan_api.errors import CareplanError
from careplan_api.models import AuditAction, Citizen, Fuldmagt, FuldmagtScope, FuldmagtSource
from careplan_api.services import audit
from careplan_api.services.security import cpr_hmac

MAX_ENTRIES_PER_PAGE = 10_000


class RegisterError(CareplanError):
    """The register could not be read (unreachable, an error answer, a malformed page)."""


class RegisterEntry(BaseModel):
    """One fuldmagt as the register gives it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    ref: str = Field(min_length=1, max_length=100, description="the register's id of the fuldmagt")
    grantor_cpr: str = Field(min_length=10, max_length=11)
    holder_cpr: str = Field(min_length=10, max_length=11)
    holder_name: str = Field(min_length=1, max_length=200)
    scope: str = Field(max_length=32, description="care_plan, audit_log or full")
    valid_from: AwareDatetime
    valid_until: AwareDatetime | None = None
    revoked_at: AwareDatetime | None = None


class RegisterPage(BaseModel):
    """Changes after a cursor, and the cursor to ask from next time."""

    model_config = ConfigDict(extra="ignore")

    entries: list[dict[str, object]] = Field(max_length=MAX_ENTRIES_PER_PAGE)
    cursor: str = Field(max_length=200)


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


@dataclass
class ImportReport:
    """What one import did."""

    cursor: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    not_our_citizen: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (ref or position, reason)


def import_changes(session: Session, register: FuldmagtRegister, since: str | None, cpr_key: bytes) -> ImportReport:
    """Apply the register's changes after `since` (the caller commits); each change is audited."""
    page = register.changes(since)
    report = ImportReport(cursor=page.cursor)
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
        citizen = session.scalar(select(Citizen).where(Citizen.cpr_hmac == grantor_hmac))
        if citizen is None:
            report.not_our_citizen += 1
            continue
        _apply(session, report, citizen, entry, scope, holder_hmac)
    return report


def _apply(
    session: Session, report: ImportReport, citizen: Citizen, entry: RegisterEntry, scope: FuldmagtScope, holder: str
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
        _audit(session, AuditAction.CREATE, fuldmagt, "fuldmagt from the national register")
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
    _audit(session, AuditAction.UPDATE, known, "fuldmagt changed in the national register")


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))
    return str(exc)  # a scope we do not know, or a CPR number that is not one (the number is not repeated)


def _audit(session: Session, action: AuditAction, fuldmagt: Fuldmagt, purpose: str) -> None:
    audit.record(
        session,
        actor=None,
        action=action,
        resource=f"fuldmagt {fuldmagt.id}",
        citizen_id=fuldmagt.citizen_id,
        purpose=purpose,
    )
