"""The web server's side of the controller process: `ControllerProcess`.

`start()` starts `worker.serve` in a process of its own ("spawn": nothing of the web server is
inherited but the pipe). Then two threads of the web server talk to it:

- the sender, every `heartbeat_s`: a heartbeat, the mouth observation when a new one came, and
  what the local switches gave (the controller stops the meal when these stop coming: a web
  server that hangs is a STOP);
- the receiver: validates every message (`messages.from_controller`), writes the usage events to
  the robot's journal in order, keeps the meal's state and the loop's tick intervals, and notes
  how the meal ended. A controller process that dies is noticed here (the pipe closes): the meal
  is over with a fault, and a meal left open in the journal is closed as interrupted. The servos'
  Bus Watchdog has stopped the arm by then.

Commands (`panel`, `stop`, `end`) are sent at once from the caller's thread.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from bidvis.motion_runtime import messages
from bidvis.motion_runtime.pipe import HEARTBEAT_S, Pipe, keep_beating
from bidvis.motion_runtime.worker import Setup, serve
from careplan_api.schemas import UsageEventType
from controller.causes import Cause
from controller.config import TriggerKind
from controller.feeding import CommandKind, FeedingState
from controller.safety import SafetyReason
from controller.triggers import TriggerError

log = logging.getLogger(__name__)

MAX_KEPT_INTERVALS = 100_000  # the loop's tick intervals kept for the status and the benchmark


class ControllerProcess:
    """One meal in the controller process (see the module docstring). `journal` is the robot's
    `controller.journal.UsageJournal`; `mouth.latest()` gives the latest `MouthObservation`."""

    def __init__(
        self,
        setup: Setup,
        journal: Any,
        mouth: Any,
        *,
        heartbeat_s: float = HEARTBEAT_S,
        on_state: Callable[[messages.State], None] | None = None,
        switches: Sequence[Any] = (),
    ) -> None:
        self.setup = setup
        self.journal = journal
        self.mouth = mouth
        self.switches = list(switches)
        self.heartbeat_s = heartbeat_s
        self.on_state = on_state
        self.state: FeedingState | None = None
        self.stopped_by: SafetyReason | None = None  # why the last safe stop came
        self.finished: messages.Finished | None = None
        self.intervals_s: list[float] = []
        self.journal_errors = 0
        self._done = threading.Event()
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe(duplex=True)
        self._pipe = Pipe(self._connection, messages.from_controller, "the controller")
        self._process = context.Process(target=serve, args=(child, setup), name="bidvis-controller", daemon=True)
        self._child = child
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._process.start()
        self._child.close()  # only the controller holds its end: its death closes the pipe
        for target, name in ((self._receive, "controller-receiver"), (self._beat, "controller-heartbeat")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    @property
    def refused(self) -> int:
        """Messages from the controller that were not valid."""
        return self._pipe.refused

    @property
    def pid(self) -> int | None:
        return self._process.pid

    # -- commands ------------------------------------------------------------------------------

    def send(self, message: messages.ToControllerMessage) -> bool:
        """Send one message; False when the controller is gone."""
        return self._pipe.send(message)

    def panel(self, command: CommandKind, bowl: int | None, source: str) -> None:
        self.send(messages.Panel(command=command, bowl=bowl, source=source))

    def stop(self, source: str) -> None:
        """STOP: the meal stops the arm (journalled with `source`)."""
        self.send(messages.Stop(source=source))

    def end(self, timeout_s: float = 5.0) -> None:
        """Close the meal (a stop, then the end) and wait for the process; kill it if it hangs
        (the servos' watchdog then stops the arm)."""
        self.send(messages.End())
        self.wait(timeout_s)
        self._process.join(timeout=timeout_s)
        if self._process.is_alive():
            log.error("the controller process did not end: killing it")
            self._process.kill()
            self._process.join(timeout=timeout_s)
        self._done.wait(timeout_s)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait until the meal is over; True when it is."""
        return self._done.wait(timeout_s)

    # -- threads -------------------------------------------------------------------------------

    def _beat(self) -> None:
        last: list[Any] = [None]  # the observation sent last

        def beat() -> bool:
            observation = self.mouth.latest()
            ok = (
                self.send(messages.Mouth.of(observation))
                if observation is not None and observation is not last[0]
                else self.send(messages.Heartbeat())
            )
            last[0] = observation
            return ok and self._forward_switches(observation)

        keep_beating(self.heartbeat_s, self._done, beat)

    def _forward_switches(self, observation: Any) -> bool:
        """Pass on what the local switches gave since the last beat; a switch that fails is dropped."""
        for switch in list(self.switches):
            try:
                commands = switch.poll(time.monotonic(), observation)
            except TriggerError as exc:
                log.error("switch lost: %s", exc)
                self.switches.remove(switch)
                continue
            for command in commands:
                if not self.send(
                    messages.Command(command=command.kind, bowl=command.bowl, source=TriggerKind(command.source))
                ):
                    return False
        return True

    def _receive(self) -> None:
        try:
            self._pipe.receive(self._handle)
        finally:
            self._connection.close()
            if self.finished is None:
                self.finished = messages.Finished(
                    final_state=FeedingState.FAULT,
                    error="the controller process ended unexpectedly",
                    cause=Cause.CONTROLLER_ENDED,
                )
                self._set_state(messages.State(state=FeedingState.FAULT, stopped_by=self.stopped_by))
            self._close_open_meal()
            self._done.set()

    def _handle(self, message: messages.FromControllerMessage) -> None:
        if isinstance(message, messages.State):
            self._set_state(message)
        elif isinstance(message, messages.JournalEvent):
            self._write(message.event_type, message.data)
        elif isinstance(message, messages.Timing):
            if len(self.intervals_s) < MAX_KEPT_INTERVALS:
                self.intervals_s.extend(message.intervals_s)
        else:
            self.finished = message

    def _set_state(self, state: messages.State) -> None:
        self.state, self.stopped_by = state.state, state.stopped_by
        if self.on_state is not None:
            self.on_state(state)

    def _write(self, event_type: UsageEventType, data: dict[str, Any]) -> None:
        try:
            if event_type is UsageEventType.MEAL_STARTED:
                self.journal.start_meal(data)
            elif event_type is UsageEventType.MEAL_ENDED:
                rest = dict(data)
                self.journal.end_meal(str(rest.pop("reason", "completed")), rest)
            else:
                self.journal.record(event_type, data)
        except Exception as exc:  # the journal's trouble must not end the receiver: the meal goes on
            self.journal_errors += 1
            log.error("journal could not store %s: %s", event_type.value, exc)

    def _close_open_meal(self) -> None:
        if self.journal.open_meal_id is None:
            return
        try:
            self.journal.end_meal("interrupted", {"detail": self.finished.error if self.finished else None})
        except Exception as exc:
            log.error("cannot close the interrupted meal in the journal: %s", exc)
