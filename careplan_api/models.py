"""Database tables of the care-plan service (SQLAlchemy 2, typed).

Personal data rules in the schema itself:
- a citizen is known everywhere by a random pseudonymous UUID (`Citizen.id`); the CPR number is
  kept only as a keyed hash (HMAC-SHA256 with `Settings.cpr_hmac_key`), enough to find a citizen
  by CPR but not to read it back;
- device tokens and passwords are stored only hashed;
- `audit_log` is append-only: a database trigger (SQLite and PostgreSQL) refuses UPDATE and DELETE.

The schema is created and changed only by the Alembic migrations in `careplan_api/migrations`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

FSIII_CODE_SYSTEM = "http://kl.dk/fhir/common/caresocial/CodeSystem/FSIII"
FSIII_EATING_CONDITION = "41c201d5-6d3d-4576-b3d2-510a9b105631"
FSIII_EATING_DISPLAY = "Spise og drikke"


class Role(StrEnum):
    """What a person logging in may do; see docs/careplan.md for the access table."""

    STAFF = "staff"
    RELATIVE = "relative"
    CITIZEN = "citizen"
    ANALYST = "analyst"
    ADMIN = "admin"


class FuldmagtScope(StrEnum):
    """What a relative's power of attorney (fuldmagt) covers."""

    CARE_PLAN = "care_plan"  # meals, goal, notes, reports, FHIR export
    AUDIT_LOG = "audit_log"  # who looked at the citizen's data
    FULL = "full"  # both

    def covers(self, needed: FuldmagtScope) -> bool:
        return self is FuldmagtScope.FULL or self is needed


class AuditAction(StrEnum):
    """Kinds of access to personal data that the audit log records."""

    READ = "read"
    SEARCH = "search"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    EXPORT = "export"
    LOGIN = "login"
    DENIED = "denied"


class ActorKind(StrEnum):
    USER = "user"
    DEVICE = "device"
    SYSTEM = "system"


class MealStatus(StrEnum):
    OPEN = "open"
    ENDED = "ended"


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (also on SQLite)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


def _enum(enum_cls: type[StrEnum], name: str) -> SAEnum:
    return SAEnum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda cls: [m.value for m in cls],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    pass


def table_of(model: type[Base]) -> Table:
    """The Core `Table` of a mapped class (SQLAlchemy types `__table__` as the wider FromClause)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class Unit(Base):
    """A care unit (e.g. one nursing home wing); staff see the citizens of their unit."""

    __tablename__ = "units"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Citizen(Base):
    """A person who eats with the robot. `id` is the pseudonym used everywhere else."""

    __tablename__ = "citizens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    cpr_hmac: Mapped[str | None] = mapped_column(String(64), unique=True)
    unit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    """A person who logs in: staff, relative, citizen, analyst or admin."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role != 'staff' OR unit_id IS NOT NULL", name="staff_has_unit"),
        CheckConstraint("role != 'citizen' OR citizen_id IS NOT NULL", name="citizen_user_has_citizen"),
        UniqueConstraint("national_id_hmac", name="uq_users_national_id_hmac"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    unit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"))
    citizen_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("citizens.id", ondelete="RESTRICT"))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # tokens issued before this are refused: set by a password change, an admin reset, a reactivation
    tokens_valid_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # the person's national identifier (CPR) as a keyed hash, to link an OpenID login (never the number)
    national_id_hmac: Mapped[str | None] = mapped_column(String(64))


NO_PASSWORD = "!"  # `User.password_hash` of a person who logs in only through an OpenID Provider


class IdentityLink(Base):
    """A person at an OpenID Provider (issuer and pseudonymous subject) who logs in as `user_id`."""

    __tablename__ = "identity_links"
    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_identity_links_issuer_subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PendingOpenIdLogin(Base):
    """A login sent to an OpenID Provider and not back yet: used once (deleted), or dropped when old.

    The state and the browser's binding cookie are kept as SHA-256 only."""

    __tablename__ = "pending_openid_logins"

    state_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    browser_sha256: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(32))
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[str] = mapped_column(String(128))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    next_path: Mapped[str] = mapped_column(String(2000), default="")
    language: Mapped[str] = mapped_column(String(8), default="")
    created_s: Mapped[float] = mapped_column(Float, index=True)


class LoginFailure(Base):
    """A failed (or in-flight) login, counted by the login throttle (`services.login_throttle`)."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_account_address", "account", "address"),
        Index("ix_login_failures_address", "address"),
        Index("ix_login_failures_at_s", "at_s"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(150))
    address: Mapped[str] = mapped_column(String(150))
    at_s: Mapped[float] = mapped_column(Float)  # seconds since the epoch (the throttle's clock)
    from_known: Mapped[bool] = mapped_column(Boolean, default=False)


class KnownLoginAddress(Base):
    """A client address from which a user has logged in successfully (exempt from the account-wide throttle)."""

    __tablename__ = "login_known_addresses"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    address: Mapped[str] = mapped_column(String(150), primary_key=True)
    last_success_s: Mapped[float] = mapped_column(Float)


class FuldmagtSource(StrEnum):
    """How a fuldmagt came to the service."""

    CITIZEN = "citizen"  # the citizen granted it here, logged in
    PAPER = "paper"  # given on paper; registered by staff, with the reason
    REGISTER = "register"  # imported from the national fuldmagt register (`careplan_api.fuldmagt_register`)
    ADMIN = "admin"  # registered by an administrator (CLI `add-user --role relative`, the admin API)


class Fuldmagt(Base):
    """A digital power of attorney: the citizen lets one person (the holder) see their data within
    `scope`; void after `valid_until` or when ended (`revoked_at`).

    The holder is a relative's login (`relative_user_id`) or, until that person first logs in, a
    keyed hash of their CPR number (`holder_national_id_hmac`, from the national register);
    `holder_name` is how the citizen named them.
    """

    __tablename__ = "fuldmagter"
    __table_args__ = (
        Index("ix_fuldmagter_relative_citizen", "relative_user_id", "citizen_id"),
        CheckConstraint(
            "relative_user_id IS NOT NULL OR holder_national_id_hmac IS NOT NULL", name="fuldmagt_has_holder"
        ),
        CheckConstraint("source != 'paper' OR reason != ''", name="paper_fuldmagt_has_reason"),
        UniqueConstraint("register_ref", name="uq_fuldmagter_register_ref"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    relative_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    citizen_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("citizens.id", ondelete="RESTRICT"), index=True)
    scope: Mapped[FuldmagtScope] = mapped_column(_enum(FuldmagtScope, "fuldmagt_scope"))
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    holder_name: Mapped[str] = mapped_column(String(200), default="")
    holder_national_id_hmac: Mapped[str | None] = mapped_column(String(64), index=True)
    source: Mapped[FuldmagtSource] = mapped_column(
        _enum(FuldmagtSource, "fuldmagt_source"), default=FuldmagtSource.ADMIN, server_default="admin"
    )
    granted_by_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    register_ref: Mapped[str | None] = mapped_column(String(100))  # the national register's id of it
    revoked_by_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))

    def is_valid_at(self, at: datetime) -> bool:
        return self.revoked_at is None and self.valid_from <= at and (self.valid_until is None or at < self.valid_until)


class RegisterCursor(Base):
    """Where the fuldmagt import got to in one register (a feed's URL or a file): the register's
    cursor after the last import that stored its entries, asked from by the next import."""

    __tablename__ = "fuldmagt_register_cursors"

    source_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)  # of the register's name
    source: Mapped[str] = mapped_column(String(2000))  # the register's name, any URL password masked
    cursor: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # when the register gave the cursor


class Device(Base):
    """A robot registered to one citizen. Its bearer token is stored only as SHA-256."""

    __tablename__ = "devices"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    citizen_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("citizens.id", ondelete="RESTRICT"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # the ingest quota's token bucket (`services.ingest_quota`): events allowed now, as of when
    quota_events: Mapped[float | None] = mapped_column(Float)
    quota_at_s: Mapped[float | None] = mapped_column(Float)


class Meal(Base):
    """One meal, created and kept up to date from the device's events (`meal_started`..`meal_ended`).

    The counters are recomputed from the stored events after every ingest, so they do not depend
    on the order or the number of times events arrive.
    """

    __tablename__ = "meals"
    __table_args__ = (Index("ix_meals_citizen_started", "citizen_id", "started_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # the device's meal_id
    citizen_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("citizens.id", ondelete="RESTRICT"))
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id", ondelete="RESTRICT"), index=True)
    status: Mapped[MealStatus] = mapped_column(_enum(MealStatus, "meal_status"), default=MealStatus.OPEN)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bites_offered: Mapped[int] = mapped_column(Integer, default=0)
    bites_taken: Mapped[int] = mapped_column(Integer, default=0)
    bite_timeouts: Mapped[int] = mapped_column(Integer, default=0)
    triggers: Mapped[int] = mapped_column(Integer, default=0)
    misfires: Mapped[int] = mapped_column(Integer, default=0)
    safety_stops: Mapped[int] = mapped_column(Integer, default=0)
    faults: Mapped[int] = mapped_column(Integer, default=0)
    calibration_changes: Mapped[int] = mapped_column(Integer, default=0)
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return max(0.0, (self.ended_at - self.started_at).total_seconds())


class MealSummaryRecord(Base):
    """The stored summary of one meal (`careplan_api.meal_summary.MealSummary`) and its FHIR
    Observation and Provenance as encoded JSON, kept up to date by ingest in the transaction that
    stores the meal's events (`careplan_api.meal_summary_store`). Derived data: it always equals
    summarising all the meal's stored events; a row with an older `derived_version` is not used.
    """

    __tablename__ = "meal_summaries"
    __table_args__ = (CheckConstraint("assistance_level BETWEEN 0 AND 4", name="summary_fsiii_level_0_4"),)

    meal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meals.id", ondelete="CASCADE"), primary_key=True)
    citizen_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("citizens.id", ondelete="RESTRICT"), index=True)
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id", ondelete="RESTRICT"))
    derived_version: Mapped[int] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(Integer)  # 1, then +1 at every refresh: keys readers' caches
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)  # first event (not only meal_started)
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime)
    complete: Mapped[bool] = mapped_column(Boolean)
    bites_offered: Mapped[int] = mapped_column(Integer)
    bites_taken: Mapped[int] = mapped_column(Integer)
    assistance_level: Mapped[int | None] = mapped_column(Integer)
    calibration_changes: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # the long values last: SQLite reads a row's columns in order, through its overflow pages
    details: Mapped[dict[str, Any]] = mapped_column(JSONType)  # bowls, incidents, triggers
    fhir_observation: Mapped[str] = mapped_column(Text)  # the meal's Observation, JSON as exported
    fhir_provenance: Mapped[str] = mapped_column(Text)


class UsageEventRecord(Base):
    """One stored device event; `id` is the device's UUID, so a resend cannot store it twice."""

    __tablename__ = "usage_events"
    __table_args__ = (Index("ix_usage_events_meal_at", "meal_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    meal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meals.id", ondelete="RESTRICT"))
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id", ondelete="RESTRICT"))
    citizen_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("citizens.id", ondelete="RESTRICT"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EatingGoal(Base):
    """The citizen's goal for FSIII "Spise og drikke" with the assessed level (0 none .. 4 total help).

    One row per assessment; the newest (`assessed_at`) is the current one.
    """

    __tablename__ = "eating_goals"
    __table_args__ = (CheckConstraint("level BETWEEN 0 AND 4", name="fsiii_level_0_4"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    citizen_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("citizens.id", ondelete="RESTRICT"), index=True)
    code_system: Mapped[str] = mapped_column(String(200), default=FSIII_CODE_SYSTEM)
    condition_code: Mapped[str] = mapped_column(String(64), default=FSIII_EATING_CONDITION)
    level: Mapped[int] = mapped_column(Integer)
    goal_text: Mapped[str] = mapped_column(Text, default="")
    # minutes a staff member spends feeding the citizen by hand at one meal (for "staff time freed")
    hand_feeding_minutes: Mapped[float | None] = mapped_column(Float)
    assessed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    assessed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffNote(Base):
    """A note by staff in the citizen's care plan."""

    __tablename__ = "staff_notes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    citizen_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("citizens.id", ondelete="RESTRICT"), index=True)
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RevokedToken(Base):
    """Server-side revocation list of access tokens (by JWT id); a listed token is refused."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DashboardRelease(Base):
    """The municipality dashboard's figures for one closed period, computed once and then only
    ever shown as stored, so that later queries cannot be differenced against it (docs/reports.md)."""

    __tablename__ = "dashboard_releases"

    period: Mapped[str] = mapped_column(String(16), primary_key=True)  # "2026-11"
    released_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    content: Mapped[dict[str, Any]] = mapped_column(JSONType)


class AuditEntry(Base):
    """Who did what to whose personal data, when and why. Append-only (enforced by triggers)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_citizen_at", "citizen_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_kind: Mapped[ActorKind] = mapped_column(_enum(ActorKind, "actor_kind"))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_name: Mapped[str] = mapped_column(String(150), default="")
    actor_role: Mapped[str] = mapped_column(String(32), default="")
    action: Mapped[AuditAction] = mapped_column(_enum(AuditAction, "audit_action"))
    resource: Mapped[str] = mapped_column(String(300))
    citizen_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    purpose: Mapped[str] = mapped_column(String(200), default="")
    outcome: Mapped[str] = mapped_column(String(32), default="ok")
