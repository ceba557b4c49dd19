"""Wire schemas shared by the care-plan service and the devices that post to it.

The controller's journal builds these; the service validates them. See DESIGN.md
("Devices post usage in batches").
"""

from __future__ import annotations

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


__all__ = [
    "MAX_EVENTS_PER_BATCH",
    "IngestResult",
    "RejectedEvent",
    "UsageBatch",
    "UsageEvent",
    "UsageEventType",
]
