"""Creating and changing people, units, devices, fuldmagter, goals and notes (the caller commits)."""

from __future__ import annotations

import uuid
from datetime import datetime

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from careplan_api.errors import Conflict, InvalidInput, NotFound
from careplan_api.models import (
    Citizen,
    Device,
    EatingGoal,
    Fuldmagt,
    FuldmagtScope,
    FuldmagtSource,
    Role,
    StaffNote,
    Unit,
    User,
    utcnow,
)
from careplan_api.services.security import cpr_hmac, device_token_sha256, hash_password, new_device_token

DEFAULT_UNIT_NAME = "default"
MIN_PASSWORD_CHARS = 8


def get_or_create_unit(session: Session, name: str = DEFAULT_UNIT_NAME) -> Unit:
    name = name.strip()
    if not name:
        raise InvalidInput("a unit needs a name")
    unit = session.scalar(select(Unit).where(Unit.name == name))
    if unit is None:
        unit = Unit(name=name)
        session.add(unit)
        session.flush()
    return unit


def get_citizen(session: Session, citizen_id: uuid.UUID) -> Citizen:
    citizen = session.get(Citizen, citizen_id)
    if citizen is None:
        raise NotFound(f"no citizen with id {citizen_id}")
    return citizen


def create_citizen(
    session: Session, name: str, cpr_key: bytes, cpr: str | None = None, unit: Unit | None = None
) -> Citizen:
    """A citizen with a new pseudonymous id; the CPR number, if given, is stored only as a keyed hash."""
    name = name.strip()
    if not name:
        raise InvalidInput("a citizen needs a name")
    digest = cpr_hmac(cpr, cpr_key) if cpr else None
    if digest is not None and session.scalar(select(Citizen.id).where(Citizen.cpr_hmac == digest)) is not None:
        raise Conflict("a citizen with this CPR number is already registered")
    citizen = Citizen(id=uuid.uuid4(), name=name, cpr_hmac=digest, unit_id=(unit or get_or_create_unit(session)).id)
    session.add(citizen)
    session.flush()
    return citizen


def find_citizen_by_cpr(session: Session, cpr: str, cpr_key: bytes) -> Citizen | None:
    return session.scalar(select(Citizen).where(Citizen.cpr_hmac == cpr_hmac(cpr, cpr_key)))


def create_user(
    session: Session,
    username: str,
    password: str,
    role: Role,
    *,
    hasher: PasswordHasher,
    unit: Unit | None = None,
    citizen_id: uuid.UUID | None = None,
) -> User:
    """A login. Staff belong to a unit (the default unit if none is given); a citizen user is linked to
    their citizen; a relative's access comes from fuldmagter (see `grant_fuldmagt`)."""
    username = username.strip()
    if not username or len(username) > 150:
        raise InvalidInput("a username is 1 to 150 characters")
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"a password has at least {MIN_PASSWORD_CHARS} characters")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"the username {username!r} is taken")
    if role in (Role.CITIZEN, Role.RELATIVE):
        if citizen_id is None:
            raise InvalidInput(f"a {role.value} user needs --citizen (the citizen's id)")
        get_citizen(session, citizen_id)
    elif citizen_id is not None:
        raise InvalidInput(f"a {role.value} user is not linked to a citizen")
    user = User(
        id=uuid.uuid4(),
        username=username,
        password_hash=hash_password(password, hasher),
        role=role,
        unit_id=(unit or get_or_create_unit(session)).id if role is Role.STAFF else None,
        citizen_id=citizen_id if role is Role.CITIZEN else None,
    )
    session.add(user)
    session.flush()
    return user


def grant_fuldmagt(
    session: Session,
    relative: User,
    citizen_id: uuid.UUID,
    scope: FuldmagtScope = FuldmagtScope.FULL,
    valid_until: datetime | None = None,
    valid_from: datetime | None = None,
    *,
    source: FuldmagtSource = FuldmagtSource.ADMIN,
    granted_by: User | None = None,
    holder_name: str = "",
    reason: str = "",
) -> Fuldmagt:
    """A fuldmagt for `relative` (a relative's login) over `citizen_id`; `services.fuldmagt` has the
    citizen's, staff's and the register's ways to one."""
    if relative.role is not Role.RELATIVE:
        raise InvalidInput("only a relative user can hold a fuldmagt")
    get_citizen(session, citizen_id)
    valid_from = valid_from or utcnow()
    if valid_until is not None and valid_until <= valid_from:
        raise InvalidInput("a fuldmagt must end after it starts")
    fuldmagt = Fuldmagt(
        relative_user_id=relative.id,
        citizen_id=citizen_id,
        scope=scope,
        valid_from=valid_from,
        valid_until=valid_until,
        source=source,
        granted_by_user_id=granted_by.id if granted_by else None,
        holder_name=holder_name or relative.username,
        reason=reason,
    )
    session.add(fuldmagt)
    session.flush()
    return fuldmagt


def revoke_fuldmagt(session: Session, fuldmagt_id: uuid.UUID, by: User | None = None) -> Fuldmagt:
    """End a fuldmagt now (ending one already ended changes nothing)."""
    fuldmagt = session.get(Fuldmagt, fuldmagt_id)
    if fuldmagt is None:
        raise NotFound(f"no fuldmagt with id {fuldmagt_id}")
    if fuldmagt.revoked_at is None:
        fuldmagt.revoked_at = utcnow()
        fuldmagt.revoked_by_user_id = by.id if by else None
        session.flush()
    return fuldmagt


def enroll_device(session: Session, citizen_id: uuid.UUID, label: str = "") -> tuple[Device, str]:
    """Register a device to a citizen; returns it with its bearer token (shown once, stored hashed)."""
    get_citizen(session, citizen_id)
    token = new_device_token()
    device = Device(id=uuid.uuid4(), citizen_id=citizen_id, token_sha256=device_token_sha256(token), label=label[:200])
    session.add(device)
    session.flush()
    return device, token


def revoke_device(session: Session, device_id: uuid.UUID) -> Device:
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"no device with id {device_id}")
    if device.revoked_at is None:
        device.revoked_at = utcnow()
    return device


MAX_HAND_FEEDING_MINUTES = 240.0


def assess_goal(
    session: Session,
    citizen_id: uuid.UUID,
    level: int,
    goal_text: str,
    assessor: User | None,
    hand_feeding_minutes: float | None = None,
) -> EatingGoal:
    """Record a new FSIII "Spise og drikke" assessment (level 0-4; and, when staff know it, the
    minutes of hand-feeding one meal takes); the newest one is current."""
    if not 0 <= level <= 4:
        raise InvalidInput("the FSIII level is 0 (no limitation) to 4 (complete limitation)")
    if hand_feeding_minutes is not None and not 0 <= hand_feeding_minutes <= MAX_HAND_FEEDING_MINUTES:
        raise InvalidInput(f"hand-feeding minutes per meal are 0 to {MAX_HAND_FEEDING_MINUTES:g}")
    _storable(goal_text)
    goal = EatingGoal(
        citizen_id=citizen_id,
        level=level,
        goal_text=goal_text,
        assessed_by=assessor.id if assessor else None,
        hand_feeding_minutes=hand_feeding_minutes,
    )
    session.add(goal)
    session.flush()
    return goal


def _storable(text: str) -> str:
    if "\x00" in text:  # PostgreSQL's text cannot hold it
        raise InvalidInput("text cannot hold a NUL character")
    return text


def current_goal(session: Session, citizen_id: uuid.UUID) -> EatingGoal | None:
    return session.scalar(
        select(EatingGoal).where(EatingGoal.citizen_id == citizen_id).order_by(EatingGoal.assessed_at.desc()).limit(1)
    )


def notes(session: Session, citizen_id: uuid.UUID, limit: int) -> list[StaffNote]:
    """The citizen's newest staff notes, newest first."""
    query = select(StaffNote).where(StaffNote.citizen_id == citizen_id)
    return list(session.scalars(query.order_by(StaffNote.created_at.desc(), StaffNote.id).limit(limit)))


def add_note(session: Session, citizen_id: uuid.UUID, author: User, text: str) -> StaffNote:
    text = _storable(text).strip()
    if not text:
        raise InvalidInput("a note needs text")
    note = StaffNote(citizen_id=citizen_id, author_id=author.id, text=text)
    session.add(note)
    session.flush()
    return note
