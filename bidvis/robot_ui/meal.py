"""The meal as the citizen's panel runs it: start, commands, STOP, and clearing a stop.

While a meal runs (`controller.loop.run_meal`) it holds the arm: `ArmControl` lends it the arm
with its lease, so no meal starts while a staff screen holds the arm, and every set-up move is
refused until it ends. STOP during a meal is an e-stop command to it. The meal opens the servo port
itself, one way wherever its loop runs (`bidvis.motion_runtime.worker.open_servo_bus`): with the
reply allowance the timing budget assumes, and only once the budget holds; a budget that does not
hold ends the meal before anything is written, and the pages say why in words.

With `own_process` (what `bidvis run` uses) the loop runs in the controller process
(`bidvis.motion_runtime`), apart from the web server: no request, however large or many, can
delay a tick, and a web server that hangs or dies stops the meal. Without it the loop runs in a
thread of this process (the simulator's in-process servos, tests), on `in_process_port` when one
is given: the simulator's servos as this process reaches them (`bidvis-sim://`, no pseudo-terminal
between a thread and its own process's servos; the set-up process opens their pseudo-terminal).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any, Protocol

from bidvis.motion_runtime.messages import State
from bidvis.motion_runtime.runner import ControllerProcess
from bidvis.motion_runtime.wall_clock import WallClock
from bidvis.motion_runtime.worker import Setup, open_servo_bus
from bidvis.robot_ui.arm import ArmError
from bidvis.robot_ui.arm_control import ArmControl
from bidvis.robot_ui.documents import RobotDocuments, check_operator
from bidvis.robot_ui.errors import Busy, SessionError, TriggerRefused
from careplan_api.schemas import UsageEventType
from controller.causes import Cause, cause_message
from controller.config import SafetyLimits, TriggerKind
from controller.feeding import CommandKind, FeedingState
from controller.loop import LatestValue, MealController, run_meal
from controller.messages import Language, Message
from controller.safety import SafetyReason
from controller.triggers import PanelInput, triggers_for

log = logging.getLogger(__name__)


def reason_shown(state: FeedingState | None, stopped_by: SafetyReason | None) -> str | None:
    """The reason the pages give for a stopped arm: after a safe stop (FAULT), or while the meal
    pauses itself for a person (contact away from the face, a mouth out of reach; the machine
    clears `stopped_by` when a person resumes); None otherwise."""
    if stopped_by is None or state not in (FeedingState.FAULT, FeedingState.PAUSED):
        return None
    return stopped_by.value


class MouthFeed(Protocol):
    """What the meal reads the mouth from (`controller.loop.LatestValue` filled by vision)."""

    def latest(self) -> Any: ...


class MealRuntime:
    """The citizen's meal over `documents` and the `arm` (see the module docstring)."""

    def __init__(
        self,
        documents: RobotDocuments,
        arm: ArmControl,
        limits: SafetyLimits,
        mouth: MouthFeed | None = None,
        switches: Sequence[Any] = (),
        *,
        own_process: bool = False,
        in_process_port: str | None = None,
    ) -> None:
        self.documents = documents
        self.own_process = own_process
        self.in_process_port = in_process_port
        self.process: ControllerProcess | None = None  # the meal's controller process (own_process)
        self.arm = arm
        self.limits = limits
        self.mouth = mouth or LatestValue()
        self.switches = tuple(switches)
        self.panel = PanelInput(bowls=documents.profile.bowls_used)
        self.message: Message | None = None  # what went wrong handing the arm back, for the status display
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._state: FeedingState | None = None
        self._result: Message | None = None
        self._stopped_by: SafetyReason | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def require_no_meal(self) -> None:
        if self.running:
            raise Busy(Message("refusal.meal_running"))

    def panel_command(self, kind: CommandKind, bowl: int | None, source: str) -> None:
        """A button on the citizen's panel (pressed by `source`): start the meal if none runs,
        then pass the command on. The next bite only when the profile's trigger is the panel
        (else `TriggerRefused`, journalled in a running meal as a trigger not accepted)."""
        with self._lock:
            profile = self.documents.profile
            self.panel.bowls = profile.bowls_used
            PanelInput(bowls=self.panel.bowls).push(kind, bowl)  # validate before anything starts
            if kind is CommandKind.NEXT_BITE and profile.trigger_kind is not TriggerKind.PANEL:
                reason = f"the citizen asks for a bite by {profile.trigger_kind.value}, not on the panel"
                if self.running and self.documents.journal.open_meal_id is not None:
                    self.documents.journal.record(
                        UsageEventType.TRIGGER,
                        {"kind": TriggerKind.PANEL.value, "accepted": False, "ignored_because": reason},
                    )
                trigger = Message(f"trigger.{profile.trigger_kind.value}")
                raise TriggerRefused(Message("refusal.not_the_profiles_trigger", trigger=trigger))
            if not self.running and self._state is FeedingState.FAULT:
                raise Busy(Message("refusal.stopped_until_cleared"))
            if not self.running and kind in (CommandKind.SELECT_BOWL, CommandKind.NEXT_BITE, CommandKind.START_MEAL):
                self.start(source)
            self._command(kind, bowl, source)

    def start(self, source: str) -> None:
        """Borrow the arm and its lease from the set-up arm and start the meal loop (journalled as
        started by `source`); `ArmHeld` while a staff screen holds the arm."""
        with self._lock:
            self.require_no_meal()
            self.arm.lend_arm(source)
            self._state, self._result = FeedingState.IDLE, None
            self.process = None
            target = self._run
            if self.own_process:
                self.process = self._controller_process()
                target = self._run_process
            stale = self.panel.drop_queued()  # left by a meal that ended before reading them: no one's now
            if stale:
                log.warning("dropped %d panel command(s) no meal read: %s", len(stale), [c.kind.value for c in stale])
            self._command(CommandKind.START_MEAL, None, source)
            self._thread = threading.Thread(target=target, name="meal", daemon=True)
            self._thread.start()

    def _setup(self) -> Setup:
        """What the meal's loop runs with, wherever it runs (its port opened by `open_servo_bus`)."""
        docs = self.documents
        noise = docs.contact_noise()
        in_process_port = None if self.own_process else self.in_process_port
        return Setup(
            port=in_process_port or self.arm.port,
            baudrate=docs.calibration.baudrate,
            profile=docs.profile.model_dump(mode="json"),
            calibration=docs.calibration.model_dump(mode="json"),
            limits=self.limits.model_dump(mode="json"),
            reply_allowance_s=self.arm.reply_allowance_s,
            contact_noise_a=None if noise is None else (noise.rest_a, noise.moving_a),
        )

    def _controller_process(self) -> ControllerProcess:
        def on_state(state: State) -> None:
            self._state, self._stopped_by = state.state, state.stopped_by

        return ControllerProcess(
            self._setup(), self.documents.journal, self.mouth, on_state=on_state, switches=self.switches
        )

    def _command(self, kind: CommandKind, bowl: int | None, source: str | None) -> None:
        """Pass a command to the running meal (its controller process, or its panel source)."""
        process = self.process
        if process is None:
            self.panel.push(kind, bowl, source=source)
        elif kind is CommandKind.ESTOP:
            process.stop(source or TriggerKind.PANEL.value)
        else:
            process.panel(kind, bowl, source or TriggerKind.PANEL.value)

    def _run_process(self) -> None:
        process = self.process
        assert process is not None
        try:
            process.start()
            process.wait()
            finished = process.finished
            if finished is not None and finished.error is not None:
                log.error("the meal failed: %s", finished.error)
                self._result = Message("fault.meal_failed", cause=(finished.cause or Cause.UNKNOWN).message())
                self._state = FeedingState.FAULT
            elif finished is not None and finished.final_state is not None:
                self._result = self._ended(finished.final_state)
        except Exception as exc:  # the meal's thread must report, never vanish
            log.exception("controller process failed")
            self._result = Message("fault.meal_failed", cause=cause_message(exc))
            self._state = FeedingState.FAULT
        finally:
            self._give_back()

    def _give_back(self) -> None:
        with self._lock:
            try:
                self.arm.take_back()  # staff get the arm back, held where the meal left it
            except (SessionError, ArmError) as exc:
                self.message = Message("fault.arm_not_taken_back", cause=exc.message)
            self._thread = None

    def _run(self) -> None:
        docs = self.documents

        def armed() -> bool:
            return self._state is FeedingState.READY

        def on_tick(controller: MealController) -> None:
            self._state = controller.state
            self._stopped_by = controller.machine.stopped_by

        inputs = triggers_for(docs.profile, armed=armed, panel=self.panel, switches=self.switches)
        try:
            with open_servo_bus(self._setup(), docs.calibration, self.limits) as bus:
                report = run_meal(
                    bus,
                    self.mouth,
                    inputs,
                    WallClock(),
                    docs.journal,
                    docs.profile,
                    docs.calibration,
                    self.limits,
                    rate_hz=docs.calibration.rate_hz,
                    on_tick=on_tick,
                    contact_noise=docs.contact_noise(),
                )
            self._result = self._ended(report.final_state)
        except Exception as exc:  # the meal's thread must report, never vanish
            log.exception("meal loop failed")
            self._result = Message("fault.meal_failed", cause=cause_message(exc))
            self._state = FeedingState.FAULT
        finally:
            self._give_back()

    def _ended(self, final_state: FeedingState) -> Message:
        """What the pages say when a meal has ended in `final_state`."""
        if final_state is FeedingState.FAULT and self._stopped_by is not None:
            # Staff page and panel say why in plain words; a person must clear it (`clear_stop`).
            return Message("fault.meal_stopped", reason=Message(f"safety.{self._stopped_by.value}"))
        return Message("done.meal_ended", state=Message(f"meal_state.{final_state.value}"))

    def estop(self, source: str | None = None) -> None:
        """STOP the meal: an e-stop journalled with its real `source` (who, from which client)."""
        self._command(CommandKind.ESTOP, None, source)

    def clear_stop(self, operator: str) -> None:
        """Staff have checked the citizen and the arm after a stop: the panel may start a meal again."""
        who = check_operator(operator)
        with self._lock:
            self.require_no_meal()
            if self._state is FeedingState.FAULT:
                log.info("stop cleared by %s", who)
                self._state, self._result = None, Message("done.stop_cleared_by", who=who)

    def status(self, language: Language = Language.ENGLISH) -> dict[str, Any]:
        """The meal's state and last result; `*_text` in `language` for the page, the rest for scripts."""
        state, result = self._state, self._result
        return {
            "running": self.running,
            "state": None if state is None else state.value,
            "state_text": Message(f"meal_state.{state.value if state is not None else 'none'}").text(language),
            "result": "" if result is None else str(result),
            "result_text": "" if result is None else result.text(language),
            "stopped_by": reason_shown(state, self._stopped_by),
        }

    def close(self) -> None:
        """End a running meal by e-stop and wait for its thread."""
        thread, process = self._thread, self.process
        if thread is not None and thread.is_alive():
            if process is not None:
                process.end()
            else:
                self.panel.push(CommandKind.ESTOP)
                self.panel.push(CommandKind.END_MEAL)
            thread.join(timeout=5.0)
