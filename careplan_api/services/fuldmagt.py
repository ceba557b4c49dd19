"""Fuldmagter the way people give them (the caller commits; each function audits what it changes).

- A logged-in citizen grants one to a named person who has a relative's login, with a scope and an
  end date, sees every one they have granted, and ends one at once (`grant_by_citizen`,
  `granted_for`, `end`).
- The holder sees which they hold and for whom (`held_by`), and may end their own.
- Staff of the citizen's unit register one given on paper, and end one, each with the reason
  (`register_paper`, `end`).
- The national fuldmagt register's entries come in through `careplan_api.fuldmagt_register`;
  a holder known there only by CPR number holds it once they log in with a national identifier
  (`services.access.held_by`).

Access follows at once: every request checks the fuldmagter anew (`services.access`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from careplan_api.errors import Forbidden, InvalidInput, NotFound
from careplan_api.models import AuditAction, Citizen, Fuldmagt, FuldmagtScope, FuldmagtSource, Role, User, utcnow
from careplan_api.services import access, audit, people
from careplan_api.services.access import Need, may_access

MAX_HOLDER_NAME_CHARS = 200
MIN_REASON_CHARS = 3
MAX_REASON_CHARS = 1000
MAX_YEARS = 10  # the longest a fuldmagt given here may run
ENDED = "fuldmagt ended"
ENDED_PREFIX = f"{ENDED}: "  # and the reason, when staff end one


@dataclass(frozen=True)
class Held:
    """A fuldmagt its holder sees: for whom, and the fuldmagt."""

    fuldmagt: Fuldmagt
    citizen: Citizen


def _holder(session: Session, username: str) -> User:
    holder = session.scalar(select(User).where(User.username == username.strip()))
    if holder is None or holder.role is not Role.RELATIVE or not holder.is_active:
        raise NotFound(
            "no relative's login has that user name: ask the person for the user name shown on their own fuldmagt page"
        )
    return holder


def _name(holder_name: str) -> str:
    name = " ".join(holder_name.split())
    if not 1 <= len(name) <= MAX_HOLDER_NAME_CHARS or not name.isprintable():
        raise InvalidInput(f"the holder's name is 1 to {MAX_HOLDER_NAME_CHARS} printable characters")
    return name


def _end_date(valid_until: datetime, now: datetime) -> datetime:
    if valid_until.tzinfo is None:
        raise InvalidInput("the end date needs a time zone")
    if valid_until <= now:
        raise InvalidInput("the end date must be in the future")
    if valid_until > now + timedelta(days=366 * MAX_YEARS):
        raise InvalidInput(f"a fuldmagt given here runs at most {MAX_YEARS} years")
    return valid_until


def grant_by_citizen(
    session: Session,
    citizen_user: User,
    holder_username: str,
    holder_name: str,
    scope: FuldmagtScope,
    valid_until: datetime,
) -> Fuldmagt:
    """The logged-in citizen gives the person with the login `holder_username` a fuldmagt."""
    if citizen_user.role is not Role.CITIZEN or citizen_user.citizen_id is None:
        raise Forbidden("only the citizen themself grants a fuldmagt here; staff register one given on paper")
    now = utcnow()
    fuldmagt = people.grant_fuldmagt(
        session,
        _holder(session, holder_username),
        citizen_user.citizen_id,
        scope,
        _end_date(valid_until, now),
        now,
        source=FuldmagtSource.CITIZEN,
        granted_by=citizen_user,
        holder_name=_name(holder_name),
    )
    _audit(session, citizen_user, AuditAction.CREATE, fuldmagt, "fuldmagt granted by the citizen")
    return fuldmagt


def register_paper(
    session: Session,
    staff: User,
    citizen_id: uuid.UUID,
    holder_username: str,
    holder_name: str,
    scope: FuldmagtScope,
    valid_until: datetime | None,
    reason: str,
) -> Fuldmagt:
    """Staff of the citizen's unit register a fuldmagt the citizen gave on paper, saying why it
    could not be given digitally; audited with that reason."""
    citizen = session.get(Citizen, citizen_id)
    if staff.role is not Role.STAFF or citizen is None or not may_access(session, staff, citizen, Need.WRITE_CARE_PLAN):
        raise Forbidden("only staff of the citizen's unit register a fuldmagt given on paper")
    reason = _reason(reason)
    now = utcnow()
    fuldmagt = people.grant_fuldmagt(
        session,
        _holder(session, holder_username),
        citizen_id,
        scope,
        None if valid_until is None else _end_date(valid_until, now),
        now,
        source=FuldmagtSource.PAPER,
        granted_by=staff,
        holder_name=_name(holder_name),
        reason=reason,
    )
    _audit(session, staff, AuditAction.CREATE, fuldmagt, f"fuldmagt on paper: {reason}")
    return fuldmagt


def _reason(reason: str) -> str:
    reason = " ".join(reason.split())
    if not MIN_REASON_CHARS <= len(reason) <= MAX_REASON_CHARS or not reason.isprintable():
        raise InvalidInput(f"the reason is {MIN_REASON_CHARS} to {MAX_REASON_CHARS} printable characters")
    return reason


def may_end(session: Session, user: User, fuldmagt: Fuldmagt) -> bool:
    """The citizen who gave it, its holder, staff of the citizen's unit, and administrators."""
    match user.role:
        case Role.CITIZEN:
            return user.citizen_id == fuldmagt.citizen_id
        case Role.RELATIVE:
            return user.id == fuldmagt.relative_user_id or (
                user.national_id_hmac is not None and user.national_id_hmac == fuldmagt.holder_national_id_hmac
            )
        case Role.STAFF:
            citizen = session.get(Citizen, fuldmagt.citizen_id)
            return citizen is not None and may_access(session, user, citizen, Need.WRITE_CARE_PLAN)
        case Role.ADMIN:
            return True
        case _:
            return False


def end(session: Session, user: User, fuldmagt_id: uuid.UUID, reason: str | None = None) -> Fuldmagt:
    """End a fuldmagt now: the holder's next request is refused. Staff say why (`reason`, audited
    as `fuldmagt ended: <reason>`); the citizen and the holder may."""
    fuldmagt = session.get(Fuldmagt, fuldmagt_id)
    if fuldmagt is None or not may_end(session, user, fuldmagt):
        raise NotFound(f"no fuldmagt {fuldmagt_id} that you may end")  # the same answer: ids cannot be probed
    if reason is None and user.role is Role.STAFF:
        raise InvalidInput("staff give the reason when they end a fuldmagt")
    purpose = ENDED if reason is None else f"{ENDED_PREFIX}{_reason(reason)}"
    if fuldmagt.revoked_at is None:
        people.revoke_fuldmagt(session, fuldmagt.id, by=user)
        _audit(session, user, AuditAction.UPDATE, fuldmagt, purpose)
    return fuldmagt


def granted_for(session: Session, citizen_id: uuid.UUID) -> list[Fuldmagt]:
    """Every fuldmagt over the citizen, valid or not, newest first."""
    query = select(Fuldmagt).where(Fuldmagt.citizen_id == citizen_id)
    return list(session.scalars(query.order_by(Fuldmagt.created_at.desc(), Fuldmagt.id)))


def held_by(session: Session, user: User) -> list[Held]:
    """Every fuldmagt `user` holds, valid or not, newest first, with the citizen it is for."""
    rows = session.execute(
        select(Fuldmagt, Citizen)
        .join(Citizen, Citizen.id == Fuldmagt.citizen_id)
        .where(access.held_by(user))
        .order_by(Fuldmagt.created_at.desc(), Fuldmagt.id)
    )
    return [Held(fuldmagt, citizen) for fuldmagt, citizen in rows]


def link_pending(session: Session, user: User, national_id_hmac: str) -> int:
    """Record `user` (a relative's login) as the holder of the register's fuldmagter for their CPR
    number (`national_id_hmac`, as `services.security.cpr_hmac` makes it); how many. The OpenID
    login calls it; access does not wait for it (`services.access.held_by` matches the hash too)."""
    if user.role is not Role.RELATIVE:
        return 0
    result = session.execute(
        update(Fuldmagt)
        .where(Fuldmagt.relative_user_id.is_(None), Fuldmagt.holder_national_id_hmac == national_id_hmac)
        .values(relative_user_id=user.id)
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _audit(session: Session, actor: audit.Actor, action: AuditAction, fuldmagt: Fuldmagt, purpose: str) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        resource=f"fuldmagt {fuldmagt.id}",
        citizen_id=fuldmagt.citizen_id,
        purpose=purpose,
    )
