"""Trigger sources: how the citizen (or staff) asks for the next bite, a bowl, a pause or a stop.

Every source implements the loop's `CommandSource` role, `poll(now_s, mouth) -> list[UserCommand]`,
and never blocks:

- `EvdevSwitch`: a USB switch interface that presents itself as a keyboard (any key), read from a
  Linux input device (`/dev/input/event*`) as the kernel's `struct input_event` stream;
- `SerialButton`: a button on a serial line (any byte, or the CTS line), through pyserial;
- `PanelInput`: the touch panel; the web UI pushes commands from its own thread;
- `MouthGesture`: open the mouth and hold it for a dwell time; hysteresis and debouncing keep
  speech from triggering, and suspected misfires are counted and journalled;
- `AutoPace`: the next bite after N seconds of the mouth being free while the spoon waits ready.

`TriggerMerger` polls all of them for the loop. Commands are `controller.feeding.UserCommand`s with
`source` set to the `controller.config.TriggerKind` value of the source. See docs/configuration.md.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import math
import os
import stat
import struct
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import serial

from careplan_api.schemas import UsageEventType
from controller.config import CitizenProfile, GestureSettings, TriggerKind
from controller.feeding import CommandKind, UserCommand
from controller.messages import Message, MessageError
from controller.roles import CommandSource, EventSink
from vision.observation import MouthObservation

logger = logging.getLogger(__name__)


class TriggerError(Exception):
    """Base of the trigger errors."""


class TriggerDeviceError(TriggerError):
    """A trigger device cannot be opened, or was lost (unplugged, I/O error)."""


class InvalidCommand(MessageError, TriggerError, ValueError):
    """A command pushed by the panel is malformed (unknown kind, missing or stray bowl, a bowl not in
    use); its message numbers bowls as the panel does, from 1."""


def _always() -> bool:
    return True


# ---- (a) USB switch interface as a keyboard: Linux evdev ---------------------------------------

EV_KEY = 0x01
KEY_RELEASE, KEY_PRESS, KEY_REPEAT = 0, 1, 2

# struct input_event { struct timeval time; __u16 type; __u16 code; __s32 value; } (native layout)
INPUT_EVENT = struct.Struct("llHHi")
# ioctl EVIOCGRAB = _IOW('E', 0x90, int): take the device for ourselves, so that the switch's
# "key presses" do not also reach the desktop (and press buttons in the panel's browser).
EVIOCGRAB = (1 << 30) | (struct.calcsize("i") << 16) | (ord("E") << 8) | 0x90


@dataclass(frozen=True, slots=True)
class InputEvent:
    """One kernel input event: time (s, the kernel's clock), type, code, value."""

    t_s: float
    type: int
    code: int
    value: int


class InputEventParser:
    """Splits a byte stream into `InputEvent`s; keeps a partial event until the rest arrives."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[InputEvent]:
        self._buffer += data
        whole = len(self._buffer) - len(self._buffer) % INPUT_EVENT.size
        events = [
            InputEvent(sec + usec / 1e6, kind, code, value)
            for sec, usec, kind, code, value in INPUT_EVENT.iter_unpack(bytes(self._buffer[:whole]))
        ]
        del self._buffer[:whole]
        return events


_MAX_READS_PER_POLL = 4  # x 64 events


class EvdevSwitch:
    """A switch interface that types a key: every key press is a command (NEXT_BITE by default).

    `device` is a path (`/dev/input/event3`, or a FIFO/file in tests) opened non-blocking, or an
    already open file descriptor. An input device (a character device) is grabbed (EVIOCGRAB)
    so its keys reach no other program; `grab=False` leaves it shared. `key_map` maps key codes
    to other commands (e.g. a second switch sending KEY_ESC to ESTOP). Key repeats and releases
    are ignored; presses closer than `debounce_s` (kernel time) to the previous one count once.
    """

    def __init__(
        self,
        device: str | Path | int,
        *,
        key_map: Mapping[int, CommandKind] | None = None,
        default: CommandKind = CommandKind.NEXT_BITE,
        debounce_s: float = 0.15,
        grab: bool = True,
    ) -> None:
        self.name = str(device)
        try:
            if isinstance(device, int):
                self._fd = device
                os.set_blocking(self._fd, False)
            else:
                self._fd = os.open(device, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise TriggerDeviceError(f"switch {device}: cannot open: {exc.strerror}") from exc
        self.grabbed = False
        if grab and stat.S_ISCHR(os.fstat(self._fd).st_mode):
            try:
                fcntl.ioctl(self._fd, EVIOCGRAB, 1)
            except OSError as exc:
                os.close(self._fd)
                raise TriggerDeviceError(
                    f"switch {device}: cannot take the device for bidvis ({exc.strerror}); "
                    "another program holds it, or it is not an input device"
                ) from exc
            self.grabbed = True
        self.key_map = dict(key_map or {})
        self.default = default
        self.debounce_s = debounce_s
        self.presses = 0
        self._parser = InputEventParser()
        self._last_press_s = -math.inf

    def poll(self, now_s: float, mouth: MouthObservation | None = None) -> list[UserCommand]:
        commands = []
        for event in self._parser.feed(self._read_available()):
            if event.type != EV_KEY or event.value != KEY_PRESS:
                continue
            if event.t_s - self._last_press_s < self.debounce_s:
                continue
            self._last_press_s = event.t_s
            self.presses += 1
            commands.append(UserCommand(self.key_map.get(event.code, self.default), TriggerKind.SWITCH.value))
        return commands

    def _read_available(self) -> bytes:
        """What the device has now, at most `_MAX_READS_PER_POLL` reads (a flood waits for the
        next tick instead of stretching this one)."""
        chunks = []
        for _ in range(_MAX_READS_PER_POLL):
            try:
                chunk = os.read(self._fd, INPUT_EVENT.size * 64)
            except BlockingIOError:
                break
            except OSError as exc:
                reason = "unplugged" if exc.errno == errno.ENODEV else exc.strerror
                raise TriggerDeviceError(f"switch {self.name}: lost ({reason})") from exc
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        os.close(self._fd)


# ---- (b) serial / GPIO button ----------------------------------------------------------------


class SerialButtonMode(StrEnum):
    """How a serial button signals a press."""

    ANY_BYTE = "any_byte"  # a microcontroller sends a byte per press
    CTS = "cts"  # a plain switch between RTS (or DTR) and CTS


class SerialButton:
    """A button on a serial port (`port` is anything `serial.serial_for_url` takes, e.g.
    `/dev/ttyACM0` or `loop://`). A press is a received byte, or a rising CTS edge; presses
    closer than `debounce_s` (the loop's clock) count once."""

    def __init__(
        self,
        port: str,
        *,
        mode: SerialButtonMode = SerialButtonMode.ANY_BYTE,
        command: CommandKind = CommandKind.NEXT_BITE,
        baudrate: int = 9600,
        debounce_s: float = 0.15,
    ) -> None:
        try:
            self.serial = serial.serial_for_url(port, baudrate=baudrate, timeout=0)
        except (serial.SerialException, ValueError) as exc:
            raise TriggerDeviceError(f"serial button {port}: cannot open: {exc}") from exc
        self.port = port
        self.mode = SerialButtonMode(mode)
        self.command = command
        self.debounce_s = debounce_s
        self.presses = 0
        self._last_press_s = -math.inf
        self._cts = self._read_cts() if self.mode is SerialButtonMode.CTS else False

    def _read_cts(self) -> bool:
        return bool(self.serial.cts)

    def poll(self, now_s: float, mouth: MouthObservation | None = None) -> list[UserCommand]:
        try:
            if self.mode is SerialButtonMode.ANY_BYTE:
                pressed = bool(self.serial.read(max(1, self.serial.in_waiting)))
            else:
                cts = self._read_cts()
                pressed, self._cts = cts and not self._cts, cts
        except (serial.SerialException, OSError) as exc:
            raise TriggerDeviceError(f"serial button {self.port}: lost ({exc})") from exc
        if not pressed or now_s - self._last_press_s < self.debounce_s:
            return []
        self._last_press_s = now_s
        self.presses += 1
        return [UserCommand(self.command, TriggerKind.SWITCH.value)]

    def close(self) -> None:
        self.serial.close()


# ---- (c) the touch panel ---------------------------------------------------------------------


class PanelInput:
    """Commands from the touch panel: the web UI calls `push` from its own thread; the loop polls.

    `push` validates: SELECT_BOWL needs a bowl number >= 0 (and one of `bowls` when given), the
    other commands take none. At most `max_queued` commands wait; beyond that the oldest go
    (a panel cannot flood the loop). A NEXT_BITE is always from the panel; who sent any other
    command may be said in `source` (a STOP from "staff Anna from 10.0.0.7"), else "panel".
    """

    def __init__(self, bowls: Sequence[int] | None = None, max_queued: int = 32) -> None:
        self.bowls = None if bowls is None else tuple(bowls)
        self._queue: deque[UserCommand] = deque(maxlen=max_queued)
        self._lock = threading.Lock()

    def push(self, kind: CommandKind | str, bowl: int | None = None, source: str | None = None) -> UserCommand:
        try:
            kind = CommandKind(kind)
        except ValueError:
            raise InvalidCommand(Message("refusal.unknown_command"), cause=f"unknown command {kind!r}") from None
        if kind is CommandKind.SELECT_BOWL:
            if not isinstance(bowl, int) or isinstance(bowl, bool) or bowl < 0:
                raise InvalidCommand(Message("refusal.bowl_needed"), cause=f"got {bowl!r}")
            if self.bowls is not None and bowl not in self.bowls:
                in_use = f"in use: {list(self.bowls)}, counted from 0"
                raise InvalidCommand(Message("refusal.bowl_not_in_use", bowl=bowl + 1), cause=in_use)
        elif bowl is not None:
            raise InvalidCommand(Message("refusal.no_bowl_for_command"), cause=f"{kind.value} got bowl {bowl!r}")
        if kind is CommandKind.NEXT_BITE or source is None:
            source = TriggerKind.PANEL.value
        command = UserCommand(kind, source, bowl)
        with self._lock:
            self._queue.append(command)
        return command

    def poll(self, now_s: float, mouth: MouthObservation | None = None) -> list[UserCommand]:
        return self.drop_queued()

    def drop_queued(self) -> list[UserCommand]:
        """Take every queued command off the queue and return them (to the loop that polls, or to
        be discarded: a meal that ended before it read them leaves them to nobody)."""
        with self._lock:
            commands = list(self._queue)
            self._queue.clear()
        return commands


# ---- (d) mouth gesture: open and hold ---------------------------------------------------------


_TIME_EPS_S = 1e-6  # frame times are sums of floats: 3 frames at 30 fps are 0.1 s, not 0.0999...
# Between frames the loop's clock runs ahead of the last capture time by the camera's latency and
# frame period (at 15 fps with 50 ms latency: up to ~120 ms) and a dropped frame adds a period: a
# camera that delivers nothing is a gap only this much later than a face that is not seen.
CAMERA_SILENCE_GRACE_S = 0.25


class GesturePhase(StrEnum):
    """Where the gesture detector is."""

    CLOSED = "closed"  # waiting for an opening
    OPEN = "open"  # mouth open: timing this run against the dwell
    CLOSING = "closing"  # closed, but not yet for `debounce_s`: the episode may go on
    HELD = "held"  # fired (or must not fire): waiting for a debounced close


class MisfireReason(StrEnum):
    """Why an opening is suspected to be a failed or unintended trigger."""

    RELEASED_BEFORE_DWELL = "released_before_dwell"  # longer than speech, shorter than the dwell
    REOPEN_AFTER_TRIGGER = "reopen_after_trigger"  # opened again right after a trigger


class MouthGesture:
    """Open the mouth and hold it for `settings.dwell_s`: one NEXT_BITE.

    Level, with hysteresis: the mouth is open from `open_ratio >= open_threshold` until
    `open_ratio <= close_threshold`. A trigger needs one unbroken open run of `dwell_s`. An
    episode of openings ends when the mouth stays closed for `debounce_s`; its longest run
    classifies it: shorter than `misfire_min_s` is speech (ignored, counted in
    `speech_openings`), from `misfire_min_s` up to the dwell is a misfire (released too early).
    Opening again within `refractory_s` of a trigger is a misfire too (a double trigger), and
    does not fire. Misfires are counted and reported to `events` as `misfire`.

    Frames with confidence below `min_confidence` or a non-finite ratio, and no face, are gaps: a
    gap up to `debounce_s` (between capture times) is bridged, a longer one ends the episode
    without trigger or misfire; so does a camera that delivers no frame for `debounce_s` +
    `CAMERA_SILENCE_GRACE_S` (latency and dropped frames of a slow camera are not gaps).
    Each frame is used once (by its `t`). The gesture is armed only while `armed()` (the spoon
    waits ready): a mouth still open when it becomes armed must close first.
    """

    def __init__(
        self,
        settings: GestureSettings,
        *,
        armed: Callable[[], bool] = _always,
        events: EventSink | None = None,
    ) -> None:
        self.settings = settings
        self.armed = armed
        self.events = events
        self.phase = GesturePhase.HELD  # a mouth open at start must close first
        self.triggers = 0
        self.misfires = 0
        self.speech_openings = 0
        self._is_open = False
        self._run_start_s = 0.0
        self._longest_run_s = 0.0
        self._close_since_s: float | None = None
        self._last_valid_s: float | None = None
        self._last_t: float | None = None
        self._last_trigger_s = -math.inf

    def poll(self, now_s: float, mouth: MouthObservation | None) -> list[UserCommand]:
        """Feed the latest observation; returns NEXT_BITE when a hold completes."""
        if mouth is None or mouth.t == self._last_t:
            self._check_gap(now_s - CAMERA_SILENCE_GRACE_S)
            return []
        self._last_t = mouth.t
        if not self._valid(mouth):
            self._check_gap(mouth.t)
            return []
        self._last_valid_s = mouth.t
        s = self.settings
        if mouth.open_ratio >= s.open_threshold:
            self._is_open = True
        elif mouth.open_ratio <= s.close_threshold:
            self._is_open = False
        if not self.armed():
            self.phase = GesturePhase.HELD if self._is_open else GesturePhase.CLOSED
            self._close_since_s = None
            return []
        return self._step(mouth.t)

    def _valid(self, mouth: MouthObservation | None) -> bool:
        return (
            mouth is not None and math.isfinite(mouth.open_ratio) and mouth.confidence >= self.settings.min_confidence
        )

    def _check_gap(self, t_s: float) -> None:
        if self._last_valid_s is None or t_s - self._last_valid_s <= self.settings.debounce_s:
            return
        if self.phase in (GesturePhase.OPEN, GesturePhase.CLOSING):
            self.phase = GesturePhase.CLOSED  # lost the face mid-episode: neither trigger nor misfire
        self._is_open = False
        self._close_since_s = None

    def _step(self, t_s: float) -> list[UserCommand]:
        s, phase = self.settings, self.phase
        if phase is GesturePhase.CLOSED:
            if self._is_open:
                if t_s - self._last_trigger_s < s.refractory_s:
                    self._misfire(MisfireReason.REOPEN_AFTER_TRIGGER, 0.0)
                    self._hold()
                else:
                    self.phase, self._run_start_s, self._longest_run_s = GesturePhase.OPEN, t_s, 0.0
        elif phase is GesturePhase.OPEN:
            if not self._is_open:
                self._longest_run_s = max(self._longest_run_s, t_s - self._run_start_s)
                self.phase, self._close_since_s = GesturePhase.CLOSING, t_s
            elif t_s - self._run_start_s >= s.dwell_s - _TIME_EPS_S:
                self.triggers += 1
                self._last_trigger_s = t_s
                self._hold()
                return [UserCommand(CommandKind.NEXT_BITE, TriggerKind.MOUTH_GESTURE.value)]
        elif phase is GesturePhase.CLOSING:
            if self._is_open:
                self.phase, self._run_start_s = GesturePhase.OPEN, t_s
            elif self._close_since_s is not None and t_s - self._close_since_s >= s.debounce_s - _TIME_EPS_S:
                self.phase = GesturePhase.CLOSED
                if self._longest_run_s >= s.misfire_min_s:
                    self._misfire(MisfireReason.RELEASED_BEFORE_DWELL, self._longest_run_s)
                else:
                    self.speech_openings += 1
        elif self._is_open:  # HELD
            self._close_since_s = None
        elif self._close_since_s is None:
            self._close_since_s = t_s
        elif t_s - self._close_since_s >= s.debounce_s - _TIME_EPS_S:
            self.phase = GesturePhase.CLOSED
        return []

    def _hold(self) -> None:
        self.phase, self._close_since_s = GesturePhase.HELD, None

    def _misfire(self, reason: MisfireReason, open_s: float) -> None:
        self.misfires += 1
        if self.events is not None:
            self.events.put(
                UsageEventType.MISFIRE,
                {"kind": TriggerKind.MOUTH_GESTURE.value, "reason": reason.value, "open_s": round(open_s, 3)},
            )


# ---- (e) auto-pace --------------------------------------------------------------------------


class AutoPace:
    """The next bite after `pace_s` of the mouth being free (seen, closed) while `armed()` (the
    spoon waits ready, no bite in progress). Open mouth, no fresh confident face (older than
    `stale_after_s`), or not armed restart the count; it repeats every `pace_s` while unanswered."""

    def __init__(
        self,
        pace_s: float,
        *,
        armed: Callable[[], bool] = _always,
        min_confidence: float = 0.5,
        stale_after_s: float = 0.5,
    ) -> None:
        if not (math.isfinite(pace_s) and pace_s > 0):
            raise ValueError(f"pace_s must be a positive number of seconds, got {pace_s}")
        self.pace_s = pace_s
        self.armed = armed
        self.min_confidence = min_confidence
        self.stale_after_s = stale_after_s
        self.triggers = 0
        self._free_since_s: float | None = None

    def poll(self, now_s: float, mouth: MouthObservation | None) -> list[UserCommand]:
        free = (
            self.armed()
            and mouth is not None
            and now_s - mouth.t <= self.stale_after_s
            and mouth.confidence >= self.min_confidence
            and not mouth.is_open
        )
        if not free:
            self._free_since_s = None
            return []
        if self._free_since_s is None:
            self._free_since_s = now_s
        if now_s - self._free_since_s < self.pace_s:
            return []
        self._free_since_s = now_s
        self.triggers += 1
        return [UserCommand(CommandKind.NEXT_BITE, TriggerKind.AUTO_PACE.value)]


# ---- the merger -----------------------------------------------------------------------------

# Within one tick: a meal's start first (so that a STOP or Done pressed right after it belongs to
# the meal, and is journalled in it), then STOP, pause and end. The arm's target is computed after
# every command of the tick, so nothing delays a STOP.
_PRIORITY = {CommandKind.START_MEAL: 0, CommandKind.ESTOP: 1, CommandKind.PAUSE: 2, CommandKind.END_MEAL: 3}


class TriggerMerger:
    """Polls every source once per tick and hands the loop their commands, e-stops first (after a
    meal's start in the same tick: `_PRIORITY`).

    The merger is also the sources' `EventSink`: usage events (misfires, lost devices) go to
    `events` when given (e.g. `controller.loop.JournalWriter`), else they wait, at most
    `max_pending_events`, for the loop to `drain_events()`.

    A source that fails (`TriggerError`: a switch unplugged) is dropped: the merger reports a
    `fault`, and issues one PAUSE so the meal waits for staff instead of going on without the
    citizen's control.

    With `trigger_kind` (the profile's), a NEXT_BITE from any other kind of source is refused:
    dropped, and reported as a `trigger` event with `accepted` false. Bowls, pause, done and STOP
    pass from every source.
    """

    def __init__(
        self,
        sources: Sequence[CommandSource] = (),
        *,
        events: EventSink | None = None,
        max_pending_events: int = 256,
        trigger_kind: TriggerKind | None = None,
    ) -> None:
        self.sources = list(sources)
        self.events = events
        self.trigger_kind = trigger_kind
        self.failed: list[tuple[CommandSource, str]] = []
        self._pending: deque[tuple[UsageEventType, dict[str, Any]]] = deque(maxlen=max_pending_events)

    def add(self, source: CommandSource) -> None:
        """Poll `source` too from now on."""
        self.sources.append(source)

    def put(self, event_type: UsageEventType, data: dict[str, Any]) -> None:
        """Report a usage event (never blocks)."""
        if self.events is not None:
            self.events.put(event_type, data)
        else:
            self._pending.append((event_type, data))

    def drain_events(self) -> list[tuple[UsageEventType, dict[str, Any]]]:
        """Usage events reported since the last call (when no `events` sink was given)."""
        drained = list(self._pending)
        self._pending.clear()
        return drained

    def poll(self, now_s: float, mouth: MouthObservation | None) -> list[UserCommand]:
        commands: list[UserCommand] = []
        for source in list(self.sources):
            try:
                commands.extend(source.poll(now_s, mouth))
            except TriggerError as exc:
                self.sources.remove(source)
                self.failed.append((source, str(exc)))
                logger.error("trigger source dropped: %s", exc)
                self.put(UsageEventType.FAULT, {"reason": "trigger_lost", "detail": str(exc)})
                commands.append(UserCommand(CommandKind.PAUSE, TriggerKind.PANEL.value))
        if self.trigger_kind is not None:
            commands = [c for c in commands if self._allowed(c)]
        commands.sort(key=lambda c: _PRIORITY.get(c.kind, 4))
        return commands

    def _allowed(self, command: UserCommand) -> bool:
        """False (and reported) for a NEXT_BITE from a kind of trigger the profile does not name."""
        if command.kind is not CommandKind.NEXT_BITE or command.source == self.trigger_kind:
            return True
        self.put(
            UsageEventType.TRIGGER,
            {
                "kind": command.source,
                "accepted": False,
                "ignored_because": f"not the citizen's trigger (the profile names {self.trigger_kind})",
            },
        )
        return False


def triggers_for(
    profile: CitizenProfile,
    *,
    armed: Callable[[], bool],
    panel: PanelInput | None = None,
    switches: Sequence[CommandSource] = (),
    events: EventSink | None = None,
) -> TriggerMerger:
    """The sources a citizen's profile asks for: the panel (always: bowls, pause, done, STOP),
    the given switch sources, and the mouth gesture or auto-pace when that is the profile's
    `trigger_kind`. Only the profile's kind of trigger may ask for the next bite (`TriggerMerger`).
    `armed()` says whether the spoon waits at the ready pose for a trigger."""
    merger = TriggerMerger(
        [panel or PanelInput(bowls=profile.bowls_used), *switches], events=events, trigger_kind=profile.trigger_kind
    )
    if profile.trigger_kind is TriggerKind.MOUTH_GESTURE:
        merger.add(MouthGesture(profile.gesture, armed=armed, events=merger))
    elif profile.trigger_kind is TriggerKind.AUTO_PACE:
        merger.add(AutoPace(profile.auto_pace_s, armed=armed, min_confidence=profile.gesture.min_confidence))
    return merger


__all__ = [
    "EVIOCGRAB",
    "EV_KEY",
    "INPUT_EVENT",
    "AutoPace",
    "CommandSource",
    "EvdevSwitch",
    "EventSink",
    "GesturePhase",
    "InputEvent",
    "InputEventParser",
    "InvalidCommand",
    "MisfireReason",
    "MouthGesture",
    "PanelInput",
    "SerialButton",
    "SerialButtonMode",
    "TriggerDeviceError",
    "TriggerError",
    "TriggerMerger",
    "triggers_for",
]
