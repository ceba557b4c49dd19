"""The messages between the web server and the controller process: JSON, one per pipe message,
each validated on arrival (a size cap first, then the schema: unknown kinds, extra fields, values
out of range and non-finite numbers are refused with `ProtocolError`).

To the controller: `Heartbeat` (the web server is alive), `Mouth` (the latest mouth observation),
`Panel` (a button of the citizen's panel), `Command` (a switch's), `Stop` (STOP, with its real source), `End` (close).
From the controller: `State` (the meal's state, on change), `JournalEvent` (a usage event for the
journal, which the web server writes), `Timing` (tick intervals of the last window), `Finished`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from careplan_api.schemas import UsageEventType
from controller.causes import Cause
from controller.config import TriggerKind
from controller.feeding import CommandKind, FeedingState
from controller.safety import SafetyReason
from vision.observation import MouthObservation, MouthStatus

MAX_MESSAGE_BYTES = 64 * 1024
Finite = Annotated[float, Field(allow_inf_nan=False)]
Source = Annotated[str, Field(min_length=1, max_length=200)]


class ProtocolError(ValueError):
    """A message that is not one of ours: too large, not JSON, or not valid."""


class Validated(BaseModel):
    """A message of the motion runtime: extra fields refused, frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Heartbeat(Validated):
    kind: Literal["heartbeat"] = "heartbeat"


class Mouth(Validated):
    """A `vision.MouthObservation`; `t` on the monotonic clock both processes share."""

    kind: Literal["mouth"] = "mouth"
    center_px: tuple[Finite, Finite]
    width_px: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    open_ratio: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    is_open: bool
    confidence: Annotated[float, Field(ge=0, le=1)]
    t: Finite
    position_m: tuple[Finite, Finite, Finite] | None = None
    status: MouthStatus = MouthStatus.TRACKED

    @classmethod
    def of(cls, observation: MouthObservation) -> Mouth:
        return cls(
            center_px=observation.center_px,
            width_px=observation.width_px,
            open_ratio=observation.open_ratio,
            is_open=observation.is_open,
            confidence=observation.confidence,
            t=observation.t,
            position_m=observation.position_m,
            status=observation.status,
        )

    def observation(self) -> MouthObservation:
        return MouthObservation(
            self.center_px,
            self.width_px,
            self.open_ratio,
            self.is_open,
            self.confidence,
            self.t,
            self.position_m,
            self.status,
        )


class Panel(Validated):
    kind: Literal["panel"] = "panel"
    command: CommandKind
    bowl: Annotated[int, Field(ge=0, le=7)] | None = None
    source: Source


class Command(Validated):
    """A command of a local trigger source of the web server's (a switch), with its kind of source."""

    kind: Literal["command"] = "command"
    command: CommandKind
    bowl: Annotated[int, Field(ge=0, le=7)] | None = None
    source: TriggerKind


class Stop(Validated):
    kind: Literal["stop"] = "stop"
    source: Source


class End(Validated):
    kind: Literal["end"] = "end"


class State(Validated):
    """The meal's state, and why the last safe stop came (what people are told)."""

    kind: Literal["state"] = "state"
    state: FeedingState
    stopped_by: SafetyReason | None = None


class JournalEvent(Validated):
    kind: Literal["journal"] = "journal"
    event_type: UsageEventType
    data: dict[str, Any]


class Timing(Validated):
    """The loop's tick intervals (s) over the last window, measured in the controller process."""

    kind: Literal["timing"] = "timing"
    intervals_s: Annotated[list[Finite], Field(max_length=1000)]


class Finished(Validated):
    kind: Literal["finished"] = "finished"
    final_state: FeedingState | None
    error: Annotated[str, Field(max_length=2000)] | None = None  # English, for the log
    cause: Cause | None = None  # the error's kind, which a person reads in words
    ticks: Annotated[int, Field(ge=0)] = 0
    overruns: Annotated[int, Field(ge=0)] = 0


ToControllerMessage = Heartbeat | Mouth | Panel | Command | Stop | End
FromControllerMessage = State | JournalEvent | Timing | Finished
ToController = Annotated[ToControllerMessage, Field(discriminator="kind")]
FromController = Annotated[FromControllerMessage, Field(discriminator="kind")]
_TO_CONTROLLER: TypeAdapter[ToController] = TypeAdapter(ToController)
_FROM_CONTROLLER: TypeAdapter[FromController] = TypeAdapter(FromController)


def encode(message: Validated) -> bytes:
    data = message.model_dump_json().encode()
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"{message.__class__.__name__} of {len(data)} bytes is over {MAX_MESSAGE_BYTES}")
    return data


def decode(adapter: TypeAdapter[Any], data: bytes) -> Any:
    """`data` as one message of `adapter`s, or `ProtocolError` (the size cap first, then the schema)."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"a message of {len(data)} bytes is over {MAX_MESSAGE_BYTES}")
    try:
        return adapter.validate_json(data)
    except ValidationError as exc:
        raise ProtocolError(f"not a valid message: {exc.errors(include_input=False, include_url=False)}") from None


def to_controller(data: bytes) -> ToControllerMessage:
    """Decode a message for the controller process, or raise `ProtocolError`."""
    return decode(_TO_CONTROLLER, data)


def from_controller(data: bytes) -> FromControllerMessage:
    """Decode a message from the controller process, or raise `ProtocolError`."""
    message = decode(_FROM_CONTROLLER, data)
    if isinstance(message, JournalEvent) and not _finite(message.data):
        raise ProtocolError("a journal event with a non-finite number")
    return message


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True
