"""The errors a request to the robot can get; the web app maps each kind to one HTTP status."""

from __future__ import annotations

from controller.invalid_values import field_name
from controller.messages import Message, MessageError


class SessionError(MessageError):
    """Base of the errors a request to the robot session can get; each carries a robot `Message`."""


class Busy(SessionError):
    """The robot is doing something that excludes this request (a meal runs, the arm is connected)."""


class NotReady(SessionError):
    """Something the request needs is missing (no camera, no intrinsics yet, not connected)."""


class FieldError(SessionError, ValueError):
    """One named request field is invalid."""

    def __init__(self, field: str, message: Message) -> None:
        self.field = field
        super().__init__(Message("refusal.field", field=field_name(field), why=message))


class Unjournalled(SessionError):
    """A change was undone because the journal could not record it."""


class TriggerRefused(SessionError):
    """A panel asked for the next bite, but the citizen's profile names another trigger."""
