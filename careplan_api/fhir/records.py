"""Plain input records of the FHIR mapping: what the service knows about one citizen.

The routes load these from the database; the mapping (`careplan_api.fhir.mapping`) turns them into
resources without touching the database, so it is tested and benchmarked on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from uuid import UUID

from careplan_api.effect import LevelAssessment
from careplan_api.meal_summary import AssistanceLevel, MealSummary


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A robot registered to the citizen; `revoked_at` set when its token was withdrawn."""

    device_id: UUID
    registered_at: datetime
    revoked_at: datetime | None = None
    label: str = "bidvis"
    software_version: str | None = None


@dataclass(frozen=True, slots=True)
class GoalAssessment:
    """The citizen's FSIII "Spise og drikke" assessment and goal.

    `assessed_level` is the level staff assessed on `assessed_on`; `target_level` the level the
    goal aims for (None: keep the assessed level).
    """

    assessed_level: AssistanceLevel
    assessed_on: date
    target_level: AssistanceLevel | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class PowerOfAttorney:
    """A fuldmagt for the citizen: who (pseudonymous user id; None while the holder, known from the
    national register, has not logged in yet), what, until when, and how it was given (`source`:
    citizen, paper, register, admin)."""

    fuldmagt_id: UUID
    relative_id: UUID | None
    scope: str
    valid_from: datetime
    valid_until: datetime | None = None
    revoked_at: datetime | None = None
    source: str = "admin"

    @property
    def ends_at(self) -> datetime | None:
        """The end date or, when it was ended earlier, that moment."""
        return min((t for t in (self.valid_until, self.revoked_at) if t is not None), default=None)

    def is_valid_at(self, when: datetime) -> bool:
        """True while the fuldmagt has started, has not ended and was not revoked."""
        ends = [t for t in (self.valid_until, self.revoked_at) if t is not None]
        return self.valid_from <= when and all(when < end for end in ends)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One line of the audit log about this citizen's data (`action` as the audit log names it:
    read, search, create, update, delete, export, login, denied)."""

    entry_id: int | UUID
    at: datetime
    actor_id: UUID | None
    actor_role: str
    action: str
    purpose: str
    what: str
    outcome: str = "ok"


@dataclass(frozen=True, slots=True)
class CitizenRecord:
    """Everything the FHIR export says about one citizen. No name and no CPR number: only the
    pseudonymous `citizen_id`."""

    citizen_id: UUID
    created_at: datetime
    active: bool = True
    devices: tuple[DeviceRecord, ...] = ()
    meals: tuple[MealSummary, ...] = ()
    goal: GoalAssessment | None = None
    powers_of_attorney: tuple[PowerOfAttorney, ...] = ()
    audit: tuple[AuditRecord, ...] = ()
    assessments: tuple[LevelAssessment, ...] = ()  # every FSIII assessment, oldest first (effect figures)
    # Optional: a meal's Observation and Provenance already encoded as JSON by `fhir.encoding.
    # encode_meal_resources` (stored by the database); `everything_json` uses them as they are.
    encoded_meals: Mapping[UUID, tuple[bytes, bytes]] = field(default_factory=dict, compare=False, hash=False)


__all__ = [
    "AuditRecord",
    "CitizenRecord",
    "DeviceRecord",
    "GoalAssessment",
    "PowerOfAttorney",
]
