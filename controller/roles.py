"""The roles the controller's loop is a function over, one Protocol each (DESIGN.md, "Data flow of one
tick"): the servo bus, where the mouth comes from, where the citizen's commands come from, the clock,
the journal, and where command sources report events. Real parts and the simulator's parts fill the
same roles; tests fill them with real, small parts, never mocks of our own code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from uuid import UUID

from careplan_api.schemas import UsageEventType
from controller.feeding import UserCommand
from vision.observation import MouthObservation


class ServoBus(Protocol):
    """The part of `firmware_bridge.DynamixelBus` the loop uses (the simulator's virtual bus too)."""

    def sync_read(self, address: int, length: int, ids: Sequence[int]) -> dict[int, bytes]: ...

    def sync_write(self, address: int, data: Mapping[int, bytes]) -> None: ...

    def read(self, servo_id: int, address: int, length: int) -> bytes: ...

    def write(self, servo_id: int, address: int, data: bytes) -> None: ...


class MouthSource(Protocol):
    """The newest mouth observation, put there by the vision thread (`controller.loop.LatestValue`)."""

    def latest(self) -> MouthObservation | None: ...


class CommandSource(Protocol):
    """What the loop polls once per tick for the citizen's commands; must return at once
    (`controller.triggers`: switch, panel, mouth gesture, auto-pace, and their merger)."""

    def poll(self, now_s: float, mouth: MouthObservation | None) -> Sequence[UserCommand]: ...


class Clock(Protocol):
    """Monotonic time in seconds and a way to wait (wall time on the robot, simulated in the simulator)."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class Journal(Protocol):
    """The part of `controller.journal.UsageJournal` the loop uses."""

    def start_meal(self, data: Mapping[str, Any] | None = None) -> UUID: ...

    def record(self, event_type: UsageEventType, data: Mapping[str, Any] | None = None) -> UUID: ...

    def end_meal(self, reason: str = "completed", data: Mapping[str, Any] | None = None) -> UUID: ...


class EventSink(Protocol):
    """Where command sources report usage events (misfires, lost devices) without blocking, such as
    `controller.loop.JournalWriter`."""

    def put(self, event_type: UsageEventType, data: dict[str, Any]) -> None: ...
