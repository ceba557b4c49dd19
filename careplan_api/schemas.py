"""Wire schemas of the care-plan service.

The first part (usage events, batches, the ingest result) is shared with the devices that post to
the service: the controller's journal builds them, the service validates them (DESIGN.md, "Devices
post usage in batches"). This module imports nothing but pydantic, so the controller can use it.
The second part describes the people-facing API's requests and answers.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

MAX_EVENTS_PER_BATCH = 1000


class UsageEventType(StrEnum):
    """What happened at the table; the names are part of the public ingest contract."""

    MEAL_STARTED = "meal_started"
    BOWL_SELECTED = "bowl_selected"
    BITE_OFFERED = "bite_offered"
    BITE_TAKEN = "bite_taken"
    BITE_TIMEOUT = "bite_timeout"
    TRIGGER = "trigger"
    MISFIRE = "misfire"
    SAFETY_STOP = "safety_stop"
    FAULT = "fault"
    CALIBRATION_CHANGED = "calibration_changed"
    MEAL_ENDED = "meal_ended"


class UsageEvent(BaseModel):
    """One event of a meal, with the device's own UUID so that resending stores it once."""

    model_config = ConfigDict(extra="forbid")

    id: UUID
    meal_id: UUID
    type: UsageEventType
    at: AwareDatetime = Field(description="RFC 3339 time with offset")
    data: dict[str, Any] = Field(default_factory=dict)


class UsageBatch(BaseModel):
    """A batch of events as a device posts it to `POST /api/v1/usage-events`."""

    model_config = ConfigDict(extra="forbid")

    events: list[UsageEvent] = Field(max_length=MAX_EVENTS_PER_BATCH)


class RejectedEvent(BaseModel):
    """An event of a batch that was not stored, and why."""

    id: str | None
    reason: str


class IngestResult(BaseModel):
    """The service's answer to a batch."""

    accepted: int
    duplicates: int
    rejected: list[RejectedEvent] = Field(default_factory=list)


class QuotaAnswer(BaseModel):
    """The 429 answer to a batch over the device's quota (with a Retry-After header); nothing was stored."""

    detail: str
    events_per_s: float = Field(description="the device's sustained rate")
    max_batch_events: int = Field(description="the largest batch the device may post")


EXAMPLE_ID = "6f1c2a9e-5b7d-4c3e-9a8f-0d1e2f3a4b5c"  # placeholder ids of the OpenAPI examples


class RawUsageBatch(BaseModel):
    """What `POST /api/v1/usage-events` accepts before each event is checked on its own.

    Each item should be a `UsageEvent`; an item that is not is rejected alone (see IngestResult).
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "events": [
                        {
                            "id": "0b7c3a55-6c0d-4d0e-9a43-1d9e8c7a0001",
                            "meal_id": "0b7c3a55-6c0d-4d0e-9a43-1d9e8c7a0002",
                            "type": "bite_taken",
                            "at": "2026-11-30T12:00:05+01:00",
                            "data": {"bowl": 1, "duration_s": 4.5},
                        }
                    ]
                }
            ]
        },
    )

    events: list[Any] = Field(
        max_length=MAX_EVENTS_PER_BATCH,
        description="UsageEvent objects: {id, meal_id, type, at, data}; invalid ones are rejected one by one",
    )


# People-facing API ------------------------------------------------------------------------------


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class UserCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"username": "sofie", "password": "a long password", "role": "staff", "unit": "Plejehjemmet"}]
        },
    )

    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=8, max_length=1024)
    role: str = Field(pattern="^(staff|relative|citizen|analyst|admin)$")
    unit: str | None = Field(default=None, min_length=1, max_length=200, description="staff: the unit's name")
    citizen_id: UUID | None = Field(default=None, description="citizen and relative users: whose")
    valid_until: AwareDatetime | None = Field(default=None, description="relative: when the fuldmagt ends")


class PasswordChange(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"current_password": "your current password", "new_password": "a new long password"}]
        },
    )

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=8, max_length=1024)


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"new_password": "a new long password"}]})

    new_password: str = Field(min_length=8, max_length=1024, description="tell the user; they should change it")


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    username: str
    role: str
    unit_id: UUID | None
    citizen_id: UUID | None
    is_active: bool


class CitizenCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "Ellen", "unit": "Plejehjemmet"}]}
    )

    name: str = Field(min_length=1, max_length=200)
    cpr: str | None = Field(default=None, pattern=r"^\d{6}-?\d{4}$", description="stored only as a keyed hash")
    unit: str | None = Field(default=None, min_length=1, max_length=200)


class CitizenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID = Field(description="pseudonymous id")
    name: str
    unit_id: UUID | None
    created_at: datetime


class DeviceCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"citizen_id": EXAMPLE_ID, "label": "robot 2"}]}
    )

    citizen_id: UUID
    label: str = Field(default="", max_length=200)


class DeviceEnrolled(BaseModel):
    device_id: UUID
    citizen_id: UUID
    token: str = Field(description="shown once; the service keeps only its hash")


class DeviceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    citizen_id: UUID
    label: str
    created_at: datetime
    revoked_at: datetime | None
    last_seen_at: datetime | None


class FuldmagtCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"relative_user_id": EXAMPLE_ID, "citizen_id": EXAMPLE_ID, "scope": "care_plan"}]
        },
    )

    relative_user_id: UUID
    citizen_id: UUID
    scope: str = Field(default="full", pattern="^(care_plan|audit_log|full)$")
    valid_until: AwareDatetime | None = None


class FuldmagtOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    relative_user_id: UUID | None = Field(
        description="the holder's login; empty until a holder from the register logs in"
    )
    citizen_id: UUID
    scope: str
    valid_from: datetime
    valid_until: datetime | None
    revoked_at: datetime | None
    holder_name: str = ""
    source: str = Field(default="admin", description="citizen, paper, register or admin")


class FuldmagtGrant(BaseModel):
    """A fuldmagt the logged-in citizen gives: to whom (their login's user name, and the name the
    citizen knows them by), what it covers, and when it ends."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "holder_username": "sofie",
                    "holder_name": "Sofie Jensen",
                    "scope": "care_plan",
                    "valid_until": "2027-12-31T23:00:00Z",
                }
            ]
        },
    )

    holder_username: str = Field(min_length=1, max_length=150)
    holder_name: str = Field(min_length=1, max_length=200)
    scope: str = Field(pattern="^(care_plan|audit_log|full)$")
    valid_until: AwareDatetime


class PaperFuldmagt(BaseModel):
    """A fuldmagt the citizen gave on paper, registered by staff with the reason."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "holder_username": "sofie",
                    "holder_name": "Sofie Jensen",
                    "scope": "full",
                    "reason": "signed on paper at the care home; the citizen has no MitID",
                }
            ]
        },
    )

    holder_username: str = Field(min_length=1, max_length=150)
    holder_name: str = Field(min_length=1, max_length=200)
    scope: str = Field(pattern="^(care_plan|audit_log|full)$")
    valid_until: AwareDatetime | None = None
    reason: str = Field(min_length=3, max_length=1000, description="why it was given on paper (audited)")


class FuldmagtEnd(BaseModel):
    """Why a fuldmagt is ended: staff give it (audited); the citizen and the holder need not."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "the citizen asked us to"}]})

    reason: str = Field(min_length=3, max_length=1000, description="why it is ended (audited)")


class HeldFuldmagtOut(FuldmagtOut):
    """A fuldmagt its holder sees, with the name of the citizen it is for."""

    citizen_name: str


class MealOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    citizen_id: UUID
    device_id: UUID
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    bites_offered: int
    bites_taken: int
    bite_timeouts: int
    triggers: int
    misfires: int
    safety_stops: int
    faults: int
    calibration_changes: int
    event_count: int


class StoredUsageEvent(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    meal_id: UUID
    type: str
    at: datetime
    data: dict[str, Any]
    received_at: datetime


class MealDetail(MealOut):
    events: list[StoredUsageEvent]


class GoalAssessment(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"level": 2, "goal_text": "Spiser selv med robotten", "hand_feeding_minutes": 20}]
        },
    )

    level: int = Field(ge=0, le=4, description="FSIII assessed level: 0 none .. 4 complete limitation")
    goal_text: str = Field(default="", max_length=2000)
    hand_feeding_minutes: float | None = Field(
        default=None, ge=0, le=240, description="minutes a staff member spends feeding the citizen by hand at one meal"
    )


class GoalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    citizen_id: UUID
    code_system: str
    condition_code: str
    level: int
    goal_text: str
    hand_feeding_minutes: float | None
    assessed_by: UUID | None
    assessed_at: datetime


class WeekEffectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    year: int
    week: int
    monday: date
    meals: int = Field(description="meals eaten with the robot (at least one bite taken)")
    staff_minutes_freed: float
    meals_without_feeding_time: int
    bites_offered: int
    citizen_started_bites: int
    self_started_share: float | None
    fsiii_level: int | None


class EffectOut(BaseModel):
    """The effect figures of a period, per week and in sum (docs/reports.md)."""

    model_config = ConfigDict(from_attributes=True)

    meals: int
    meals_per_week: float
    staff_minutes_freed: float
    meals_without_feeding_time: int
    self_started_share: float | None
    fsiii_first: int | None
    fsiii_last: int | None
    weeks: list[WeekEffectOut]


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"text": "Spiste godt i dag"}]})

    text: str = Field(min_length=1, max_length=10_000)


class NoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    citizen_id: UUID
    author_id: UUID
    text: str
    created_at: datetime


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    actor_kind: str
    actor_name: str
    actor_role: str
    action: str
    resource: str
    purpose: str
    outcome: str


__all__ = [
    "MAX_EVENTS_PER_BATCH",
    "IngestResult",
    "QuotaAnswer",
    "RawUsageBatch",
    "RejectedEvent",
    "UsageBatch",
    "UsageEvent",
    "UsageEventType",
]
