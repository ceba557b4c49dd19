"""The controller process: the meal's control loop on the servo port, apart from the web server.

`serve(connection, setup)` is the process's body (`runner.ControllerProcess` starts it with the
"spawn" method, so it shares nothing with the web server but the pipe). It opens the port, runs
`controller.loop.run_meal` at the calibration's rate and talks to the web server through the pipe
only from its own threads, never from the loop:

- a receiver thread (`pipe.Pipe.receive`) validates every message (`messages.to_controller`) and hands it on: panel
  buttons and STOP to the panel trigger source, the web server's switches to a trigger source of
  their own, mouth observations to the latest-value slot. A
  message that is not valid is dropped and logged. A web server that falls silent (no message
  for `silence_s`) or goes away (the pipe closes) is a STOP: the meal stops the arm as for any
  e-stop (an ordinary stop target), then ends;
- a sender thread passes on what the loop reports (state changes, usage events for the journal,
  tick intervals), so a web server that reads slowly can never hold up a tick.

The servos' Bus Watchdog stays armed (`run_meal` prepares the servos), so the arm stops by itself
if this process dies. A Ctrl-C at the terminal (SIGINT, sent to the whole process group) is
ignored here: the web server ends the meal as for any close, with a stop first. Before anything moves, `open_servo_bus` opens the port with the reply
allowance the timing budget assumes (docs/controller.md, "Timing budget": one lost reply costs
the sync read's reply timeout, ~6.3 ms) and refuses, in one line, a budget that does not hold
for the figures the loop will run with (`servo_port.open_budgeted_bus`, which every port that
drives the arm goes through; the in-process meal of `bidvis.robot_ui.meal` calls `open_servo_bus`
too).
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from bidvis.motion_runtime import messages
from bidvis.motion_runtime.pipe import WEB_SERVER_SILENCE_S, Pipe
from bidvis.motion_runtime.servo_port import open_budgeted_bus
from bidvis.motion_runtime.wall_clock import WallClock
from careplan_api.schemas import UsageEventType
from controller.causes import cause_of
from controller.config import CitizenProfile, RobotCalibration, SafetyLimits
from controller.feeding import CommandKind, FeedingState, UserCommand
from controller.loop import CommandQueue, LatestValue, MealController, run_meal
from controller.safety import JointNoise, SafetyReason
from controller.triggers import InvalidCommand, PanelInput, triggers_for

if TYPE_CHECKING:
    from firmware_bridge import DynamixelBus

log = logging.getLogger(__name__)

TIMING_WINDOW_TICKS = 200  # tick intervals sent per `Timing` message
REAL_TIME_PRIORITY = 10  # SCHED_FIFO priority asked for the controller process (docs/benchmarks.md)
SILENT_WEB_SERVER = "the web server fell silent"
GONE_WEB_SERVER = "the web server went away"


@dataclass(frozen=True)
class Setup:
    """What the controller process needs, as plain data (validated again in the process)."""

    port: str
    baudrate: int
    profile: dict[str, Any]
    calibration: dict[str, Any]
    limits: dict[str, Any]
    # The allowance (s) for the OS and USB on top of each reply's wire time; None: the bus's own
    # (5 ms, plus the FTDI latency timer when Linux reports one), which the timing budget assumes.
    reply_allowance_s: float | None = None
    silence_s: float = WEB_SERVER_SILENCE_S
    # the joints' commissioned current noise (A), at rest and moving (`controller.safety.JointNoise`)
    contact_noise_a: tuple[tuple[float, float, float, float], tuple[float, float, float, float]] | None = None


class Outbox:
    """What the loop reports, sent by a thread of its own; `put` never blocks."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._queue: queue.SimpleQueue[messages.FromControllerMessage | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="controller-outbox", daemon=True)
        self._thread.start()

    def put(self, message: messages.FromControllerMessage) -> None:
        self._queue.put(message)

    def _run(self) -> None:
        while (message := self._queue.get()) is not None:
            try:
                self.connection.send_bytes(messages.encode(message))
            except (OSError, messages.ProtocolError) as exc:
                log.warning("cannot tell the web server %s: %s", message.kind, exc)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5.0)


class ForwardedJournal:
    """The usage journal as the loop sees it (`controller.roles.Journal`): every event goes to the
    web server, which writes it to the robot's one journal. The ids returned are this process's
    own; the loop does not use them."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def start_meal(self, data: Mapping[str, Any] | None = None) -> uuid.UUID:
        return self.record(UsageEventType.MEAL_STARTED, data)

    def end_meal(self, reason: str = "completed", data: Mapping[str, Any] | None = None) -> uuid.UUID:
        return self.record(UsageEventType.MEAL_ENDED, {"reason": reason, **(data or {})})

    def record(self, event_type: UsageEventType, data: Mapping[str, Any] | None = None) -> uuid.UUID:
        self.outbox.put(messages.JournalEvent(event_type=event_type, data=dict(data or {})))
        return uuid.uuid4()


class Inbox:
    """The receiver thread: see the module docstring."""

    def __init__(
        self, connection: Connection, panel: PanelInput, switches: CommandQueue, mouth: LatestValue, silence_s: float
    ) -> None:
        self.pipe = Pipe(connection, messages.to_controller, "the web server")
        self.panel = panel
        self.switches = switches
        self.mouth = mouth
        self.silence_s = silence_s
        self._thread = threading.Thread(target=self._run, name="controller-inbox", daemon=True)
        self._thread.start()

    def _stop(self, source: str) -> None:
        self.panel.push(CommandKind.ESTOP, source=source)

    def _run(self) -> None:
        self.pipe.receive(self._handle, refuse=(InvalidCommand,), silence_s=self.silence_s, on_silence=self._silent)
        log.error("%s: ending the meal", GONE_WEB_SERVER)
        self._stop(GONE_WEB_SERVER)
        self.panel.push(CommandKind.END_MEAL, source=GONE_WEB_SERVER)

    def _silent(self) -> None:
        log.error("%s for %.1f s: stopping the meal", SILENT_WEB_SERVER, self.silence_s)
        self._stop(SILENT_WEB_SERVER)

    def _handle(self, message: messages.ToControllerMessage) -> None:
        if isinstance(message, messages.Mouth):
            self.mouth.put(message.observation())
        elif isinstance(message, messages.Panel):
            self.panel.push(message.command, message.bowl, source=message.source)
        elif isinstance(message, messages.Command):
            self.switches.push(UserCommand(message.command, message.source.value, message.bowl))
        elif isinstance(message, messages.Stop):
            self._stop(message.source)
        elif isinstance(message, messages.End):
            self._stop("the web server closed the meal")
            self.panel.push(CommandKind.END_MEAL)


def ask_real_time() -> None:
    """Real-time scheduling for this process when the system allows it (root, or CAP_SYS_NICE):
    then no ordinary process, the web server included, can take the CPU from a tick. Without it
    the loop runs at normal priority (still apart from the web server's interpreter lock)."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REAL_TIME_PRIORITY))
    except (AttributeError, OSError) as exc:
        log.warning("the motion runtime process runs without real-time priority (%s)", exc)


def open_servo_bus(setup: Setup, calibration: RobotCalibration, limits: SafetyLimits) -> DynamixelBus:
    """The servo port as the meal's loop will use it, once the timing budget holds for it: the
    loop's period, the reply timeout of its sync read on this bus, the Bus Watchdog and the bus
    errors allowed (`servo_port.open_budgeted_bus`; `TimingBudgetError`, a `ValueError`, in one
    line otherwise). The controller process and the in-process meal both open their port here."""
    return open_budgeted_bus(
        setup.port,
        setup.baudrate,
        calibration.joint_servo_ids,
        period_s=1.0 / calibration.rate_hz,
        watchdog_s=limits.watchdog_ms / 1000.0,
        max_bus_errors=limits.max_consecutive_bus_errors,
        reply_allowance_s=setup.reply_allowance_s,
    )


def serve(connection: Connection, setup: Setup) -> None:
    """The controller process's body: run one meal, then report how it ended."""
    from firmware_bridge import BridgeError

    logging.basicConfig(level=logging.WARNING)
    # A Ctrl-C at the terminal reaches the whole process group: the web server ends the meal (a
    # stop, then the end, `RobotSession.close`), not the interrupt in the middle of a tick.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ask_real_time()
    outbox = Outbox(connection)
    finished = messages.Finished(final_state=FeedingState.FAULT, error="the meal did not start")
    try:
        profile = CitizenProfile.model_validate(setup.profile)
        calibration = RobotCalibration.model_validate(setup.calibration)
        limits = SafetyLimits.model_validate(setup.limits)
        noise = None if setup.contact_noise_a is None else JointNoise(*setup.contact_noise_a)
        panel = PanelInput(bowls=profile.bowls_used)
        mouth: LatestValue = LatestValue()
        switches = CommandQueue()
        Inbox(connection, panel, switches, mouth, setup.silence_s)
        state: list[FeedingState | None] = [None]
        stopped_by: list[SafetyReason | None] = [None]
        intervals: list[float] = []
        last_tick: list[float | None] = [None]

        def on_tick(controller: MealController) -> None:
            now = time.monotonic()
            if last_tick[0] is not None:
                intervals.append(now - last_tick[0])
                if len(intervals) >= TIMING_WINDOW_TICKS:
                    outbox.put(messages.Timing(intervals_s=intervals[:]))
                    intervals.clear()
            last_tick[0] = now
            if controller.state is not state[0] or controller.machine.stopped_by is not stopped_by[0]:
                state[0], stopped_by[0] = controller.state, controller.machine.stopped_by
                outbox.put(messages.State(state=controller.state, stopped_by=controller.machine.stopped_by))

        inputs = triggers_for(profile, armed=lambda: state[0] is FeedingState.READY, panel=panel, switches=[switches])
        with open_servo_bus(setup, calibration, limits) as bus:
            report = run_meal(
                bus,
                mouth,
                inputs,
                WallClock(),
                ForwardedJournal(outbox),
                profile,
                calibration,
                limits,
                rate_hz=calibration.rate_hz,
                on_tick=on_tick,
                contact_noise=noise,
            )
        if intervals:
            outbox.put(messages.Timing(intervals_s=intervals[:]))
        finished = messages.Finished(
            final_state=report.final_state, ticks=report.loop.ticks, overruns=report.loop.overruns
        )
    except (BridgeError, ValueError) as exc:  # the port, the servos, or the documents
        log.exception("the meal could not run")
        finished = messages.Finished(final_state=FeedingState.FAULT, error=str(exc)[:2000], cause=cause_of(exc))
    except Exception as exc:  # the process must report, never vanish
        log.exception("the meal loop failed")
        finished = messages.Finished(
            final_state=FeedingState.FAULT, error=f"internal error: {exc}"[:2000], cause=cause_of(exc)
        )
    finally:
        outbox.put(finished)
        outbox.close()
        connection.close()
