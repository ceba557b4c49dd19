"""OpenID Connect logins on the database: logins on their way (one use each), and the person who
comes back linked to a user of the care plan (the caller commits).

Who a person is here (docs/identity.md):
1. an identity link (issuer, pseudonymous subject) made at an earlier login or by an administrator;
2. else a user whose national identifier hash (`User.national_id_hmac`) equals the hash of the
   provider's national identifier claim (a relative registered for a fuldmagt, say);
3. else, for the role `citizen`: the citizen record whose CPR hash equals it gets a citizen login;
   a person who holds a fuldmagt known so far by their CPR hash only (from the national register,
   `services.fuldmagt`) gets a relative's login;
4. else, for staff, analysts and administrators (roles and units from claims): a new user.
A citizen or relative whom none of these finds is refused (or, when the provider's `unknown_people` is
`relative`, gets a relative's login without any fuldmagt): the claims alone give nobody personal data.
At every login a relative gets the fuldmagter waiting for their CPR hash (`fuldmagt.link_pending`).
Staff's role and unit follow the claims at every login; citizens' and relatives' come from our records.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from careplan_api.identity_mapping import Person
from careplan_api.models import NO_PASSWORD, Citizen, Fuldmagt, IdentityLink, PendingOpenIdLogin, Role, User, utcnow
from careplan_api.openid import PENDING_LOGIN_TTL_S, ClaimsRefused, OpenIdProvider, PendingLogin, StateUnknown
from careplan_api.services import fuldmagt
from careplan_api.services.people import get_or_create_unit
from careplan_api.services.security import cpr_hmac

PEOPLE_ROLES = frozenset({Role.CITIZEN, Role.RELATIVE})  # roles that come from our records, not from claims
MAX_USERNAME_CHARS = 150


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def save_pending(session: Session, pending: PendingLogin, browser_secret: str, next_path: str, language: str) -> None:
    """Keep a login on its way (state and browser binding hashed); logins older than the TTL go."""
    session.execute(
        delete(PendingOpenIdLogin).where(PendingOpenIdLogin.created_s < pending.created_s - PENDING_LOGIN_TTL_S)
    )
    session.add(
        PendingOpenIdLogin(
            state_sha256=_sha256(pending.state),
            browser_sha256=_sha256(browser_secret),
            provider=pending.provider,
            nonce=pending.nonce,
            code_verifier=pending.code_verifier,
            redirect_uri=pending.redirect_uri,
            next_path=next_path,
            language=language,
            created_s=pending.created_s,
        )
    )


@dataclass(frozen=True)
class ReturningLogin:
    pending: PendingLogin
    next_path: str
    language: str  # chosen on the page the login started from ("": none, the browser's decides)


def take_pending(session: Session, state: str, browser_secret: str | None, provider: str) -> ReturningLogin:
    """The login that `state` names, removed so that it cannot be used again; raises `StateUnknown`
    for a state we did not send, one used already (a replay), or one sent from another browser."""
    row = session.get(PendingOpenIdLogin, _sha256(state))
    if row is None:
        raise StateUnknown("this login answer is unknown or was used already; start the login again")
    deleted = session.execute(delete(PendingOpenIdLogin).where(PendingOpenIdLogin.state_sha256 == row.state_sha256))
    session.commit()  # used up now, even when a check below refuses it
    if getattr(deleted, "rowcount", 1) != 1:  # another request took it at the same moment
        raise StateUnknown("this login answer was used already; start the login again")
    if browser_secret is None or _sha256(browser_secret) != row.browser_sha256:
        raise StateUnknown("this login was started in another browser (or its cookie is gone); start again here")
    if row.provider != provider:
        raise StateUnknown("this login answer belongs to another login service; start again")
    pending = PendingLogin(row.provider, state, row.nonce, row.code_verifier, row.redirect_uri, row.created_s)
    return ReturningLogin(pending, row.next_path, row.language)


def _unique_username(session: Session, wanted: str, fallback: str) -> str:
    base = (wanted or fallback).strip()[: MAX_USERNAME_CHARS - 8] or fallback[: MAX_USERNAME_CHARS - 8]
    name, n = base, 1
    while session.scalar(select(User.id).where(User.username == name)) is not None:
        n += 1
        name = f"{base} ({n})"
    return name


def _linked_user(session: Session, person: Person) -> User | None:
    link = session.scalar(
        select(IdentityLink).where(IdentityLink.issuer == person.issuer, IdentityLink.subject == person.subject)
    )
    if link is not None:
        link.last_login_at = utcnow()
        return session.get(User, link.user_id)
    if person.national_id_hmac is None:
        return None
    user = session.scalar(select(User).where(User.national_id_hmac == person.national_id_hmac))
    if user is not None:
        link_identity(session, user, person.issuer, person.subject)
    return user


def link_identity(session: Session, user: User, issuer: str, subject: str) -> IdentityLink:
    """Link an (issuer, subject) to `user` (an administrator, or a first login); idempotent for the same user."""
    existing = session.scalar(
        select(IdentityLink).where(IdentityLink.issuer == issuer, IdentityLink.subject == subject)
    )
    if existing is not None:
        if existing.user_id != user.id:
            raise ClaimsRefused("this login identity belongs to another user of the care plan")
        return existing
    link = IdentityLink(user_id=user.id, issuer=issuer, subject=subject, last_login_at=utcnow())
    session.add(link)
    session.flush()
    return link


def set_national_id(session: Session, user: User, national_id: str, key: bytes) -> None:
    """Record `user`'s CPR number as its keyed hash, so that their first OpenID login finds them
    (a relative also gets the fuldmagter waiting for that hash)."""
    digest = cpr_hmac(national_id, key)
    other = session.scalar(select(User.id).where(User.national_id_hmac == digest, User.id != user.id))
    if other is not None:
        raise ClaimsRefused("another user of the care plan has this national identifier")
    user.national_id_hmac = digest
    fuldmagt.link_pending(session, user, digest)


def _staff_unit(session: Session, provider: OpenIdProvider, person: Person) -> uuid.UUID | None:
    if person.role is not Role.STAFF:
        return None
    if len(person.units) != 1:
        found = "no unit" if not person.units else f"{len(person.units)} units"
        raise ClaimsRefused(
            f"{provider.title} gives you {found} of this service (claim {provider.units_claim or 'none configured'}); "
            "staff see the citizens of exactly one unit: ask your IT department"
        )
    return get_or_create_unit(session, person.units[0]).id


def user_for_person(session: Session, provider: OpenIdProvider, person: Person) -> User:
    """The active user `person` logs in as (found, linked or made: the module's rules); raises
    `ClaimsRefused` when the care plan has nothing for them."""
    user = _linked_user(session, person)
    claimed_people_role = person.role in PEOPLE_ROLES
    if user is not None:
        if not user.is_active:
            raise ClaimsRefused("your login in the care plan is switched off; ask the municipality")
        if (user.role in PEOPLE_ROLES) != claimed_people_role:
            raise ClaimsRefused(
                f"{provider.title} says you log in as {person.role.value}, but the care plan knows you as "
                f"{user.role.value}: use the other login service, or ask the municipality"
            )
        if not claimed_people_role:  # staff, analysts, admins follow the claims at every login
            user.unit_id = _staff_unit(session, provider, person)
            user.role = person.role
        elif person.national_id_hmac is not None:
            fuldmagt.link_pending(session, user, person.national_id_hmac)
        return user
    if claimed_people_role:
        digest = person.national_id_hmac
        if person.role is Role.CITIZEN and digest is not None:
            citizen = session.scalar(select(Citizen).where(Citizen.cpr_hmac == digest))
            if citizen is not None:
                user = session.scalar(select(User).where(User.role == Role.CITIZEN, User.citizen_id == citizen.id))
                user = user or _new_user(session, person, Role.CITIZEN, citizen_id=citizen.id)
                if not user.is_active:
                    raise ClaimsRefused("your login in the care plan is switched off; ask the municipality")
                link_identity(session, user, person.issuer, person.subject)
                return user
        if digest is not None and session.scalar(
            select(Fuldmagt.id).where(Fuldmagt.relative_user_id.is_(None), Fuldmagt.holder_national_id_hmac == digest)
        ):
            user = _new_user(session, person, Role.RELATIVE)
            link_identity(session, user, person.issuer, person.subject)
            fuldmagt.link_pending(session, user, digest)
            return user
        if provider.unknown_people == "relative":  # a login that sees nothing until a citizen grants a fuldmagt
            user = _new_user(session, person, Role.RELATIVE)
            link_identity(session, user, person.issuer, person.subject)
            return user
        raise ClaimsRefused(
            "the care plan has no record of you and no fuldmagt for you; if you should have access, ask the municipality"
        )
    user = _new_user(session, person, person.role, unit_id=_staff_unit(session, provider, person))
    link_identity(session, user, person.issuer, person.subject)
    return user


def _new_user(
    session: Session,
    person: Person,
    role: Role,
    *,
    unit_id: uuid.UUID | None = None,
    citizen_id: uuid.UUID | None = None,
) -> User:
    user = User(
        id=uuid.uuid4(),
        username=_unique_username(session, person.display_name, f"{role.value}-{uuid.uuid4().hex[:8]}"),
        password_hash=NO_PASSWORD,
        role=role,
        unit_id=unit_id,
        citizen_id=citizen_id,
        national_id_hmac=person.national_id_hmac,
    )
    session.add(user)
    session.flush()
    return user
