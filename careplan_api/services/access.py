"""Who may see which citizen's data: the one access policy, used by every person-data route.

| role     | citizen record | care plan (meals, goal, notes, reports, FHIR) | audit log of the citizen |
|----------|----------------|-----------------------------------------------|--------------------------|
| staff    | own unit       | own unit (and may write notes/goal)           | own unit                 |
| relative | valid fuldmagt | valid fuldmagt with scope care_plan or full   | fuldmagt audit_log/full  |
| citizen  | themself       | themself                                      | themself                 |
| analyst  | never          | never (aggregates only)                       | never                    |
| admin    | all (manage)   | never                                         | all                      |
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Session

from careplan_api.models import Citizen, Fuldmagt, FuldmagtScope, Role, User, utcnow


class Need(StrEnum):
    """What a route wants to do with one citizen's data."""

    RECORD = "record"  # name and unit
    CARE_PLAN = "care_plan"  # meals, events, goal, notes, reports, FHIR export
    WRITE_CARE_PLAN = "write_care_plan"  # add notes, assess the goal
    AUDIT_LOG = "audit_log"


_FULDMAGT_SCOPE = {
    Need.RECORD: FuldmagtScope.CARE_PLAN,
    Need.CARE_PLAN: FuldmagtScope.CARE_PLAN,
    Need.AUDIT_LOG: FuldmagtScope.AUDIT_LOG,
}


def held_by(user: User) -> ColumnElement[bool]:
    """The fuldmagter `user` holds: given to their login, or (from the national register) to their
    CPR number's keyed hash, which an OpenID login with a national identifier sets."""
    if user.national_id_hmac is None:
        return Fuldmagt.relative_user_id == user.id
    return or_(Fuldmagt.relative_user_id == user.id, Fuldmagt.holder_national_id_hmac == user.national_id_hmac)


def valid_fuldmagt(session: Session, relative: User, citizen_id: uuid.UUID, at: datetime) -> list[Fuldmagt]:
    rows = session.scalars(select(Fuldmagt).where(held_by(relative), Fuldmagt.citizen_id == citizen_id)).all()
    return [f for f in rows if f.is_valid_at(at)]


def may_access(session: Session, user: User, citizen: Citizen, need: Need, at: datetime | None = None) -> bool:
    """True when `user` may do `need` with `citizen`'s data now (see the module's table)."""
    at = at or utcnow()
    match user.role:
        case Role.STAFF:
            return user.unit_id is not None and user.unit_id == citizen.unit_id
        case Role.CITIZEN:
            return user.citizen_id == citizen.id and need is not Need.WRITE_CARE_PLAN
        case Role.RELATIVE:
            scope = _FULDMAGT_SCOPE.get(need)
            if scope is None:
                return False
            if need is Need.RECORD:
                return bool(valid_fuldmagt(session, user, citizen.id, at))
            return any(f.scope.covers(scope) for f in valid_fuldmagt(session, user, citizen.id, at))
        case Role.ADMIN:
            return need in (Need.RECORD, Need.AUDIT_LOG)
        case _:
            return False


def visible_citizens(user: User, at: datetime | None = None) -> Select[Citizen] | None:
    """A query of the citizens `user` may list, or None for a role that may list none (analyst)."""
    at = at or utcnow()
    query = select(Citizen).order_by(Citizen.created_at, Citizen.id)
    match user.role:
        case Role.STAFF:
            return query.where(Citizen.unit_id == user.unit_id)
        case Role.CITIZEN:
            return query.where(Citizen.id == user.citizen_id)
        case Role.RELATIVE:
            valid = (
                select(Fuldmagt.citizen_id)
                .where(held_by(user), Fuldmagt.revoked_at.is_(None), Fuldmagt.valid_from <= at)
                .where((Fuldmagt.valid_until.is_(None)) | (Fuldmagt.valid_until > at))
            )
            return query.where(Citizen.id.in_(valid))
        case Role.ADMIN:
            return query
        case _:
            return None
