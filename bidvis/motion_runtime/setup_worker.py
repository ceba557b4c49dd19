"""The set-up process: the staff page's set-up loop (`bidvis.robot_ui.arm.ArmDriver`) on the servo
port, apart from the web server (issue 13 item 7, issue 17 item 4).

`serve_setup(connection, setup)` is the process's body (`setup_runner.ArmProcess` forks it from
`multiprocessing`'s fork server, a fresh interpreter with this module imported: nothing of the web
server is inherited but the pipe). It opens the port as the meal does (`open_setup_bus`: the reply allowance and the
timing budget of the set-up loop), connects the `ArmDriver` (the servos prepared, their Bus Watchdog
armed), starts its tick thread and says `Ready`, or says why it could not (`Failed`, the error
the staff page shows) and ends. Then its threads talk to the web server, never the tick thread:

- the receiver (`pipe.Pipe.receive`) validates every message (`setup_messages.to_setup`); a
  message that is not valid is dropped and logged. STOP is handed to the driver at once, never
  queued behind a request. A web server that falls silent (no heartbeat for `silence_s`,
  `pipe.WEB_SERVER_SILENCE_S`) is a STOP: an ordinary stop target, as for the meal's STOP. A web
  server that goes away (the pipe closes) or ends the arm (`End`) stops it the same way; once the
  arm is at rest (`STOP_WAIT_S` at most) the loop ends and the port is closed;
- the answerer takes the requests in order (a `current_q` waits for a fresh reading) and answers
  each with its number: `Done`, `Status`, or `Failed` with the error raised (an `ArmError`, a
  refusal, a `ValueError`), which the web side raises again as the same class.

If this process dies, the servos' Bus Watchdog stops the arm; the web side sees the pipe close and
shows the fault in words. A Ctrl-C at the terminal (SIGINT, sent to the whole process group) is
left to the web server, which ends this process as above: the arm stops before the port closes.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from bidvis.motion_runtime import setup_messages as sm
from bidvis.motion_runtime.pipe import WEB_SERVER_SILENCE_S, Pipe
from bidvis.motion_runtime.servo_port import open_budgeted_bus
from bidvis.motion_runtime.worker import ask_real_time
from bidvis.robot_ui.arm import SETUP_WATCHDOG_STEPS, ArmDriver, ArmError, ArmFault, ArmMode, setup_contact_detector
from bidvis.robot_ui.errors import NotReady
from controller.causes import cause_message
from controller.config import BUS_WATCHDOG_STEP_MS, RobotCalibration, SafetyLimits, SpoonOffset
from controller.face_current import operating_mode
from controller.messages import Message, MessageError
from controller.safety import JointNoise
from controller.timing import TimingBudgetError
from firmware_bridge import BridgeError

if TYPE_CHECKING:
    from firmware_bridge import DynamixelBus

log = logging.getLogger(__name__)

STOP_WAIT_S = 1.0  # a set-up move stops within this (the jog's stop: 200 ms); then the loop ends anyway
QUIET_MODES = frozenset({ArmMode.IDLE, ArmMode.FAULT, ArmMode.PARKED})
Noise = tuple[tuple[float, float, float, float], tuple[float, float, float, float]]


@dataclass(frozen=True)
class ArmSetup:
    """What the set-up process needs, as plain data (validated again in the process)."""

    port: str
    calibration: dict[str, Any]
    limits: dict[str, Any]
    contact_noise_a: Noise  # the joints' current noise (A) at rest and moving: commissioned, or the uncommissioned
    reply_allowance_s: float | None = None  # None: the bus's own, which the timing budget assumes
    silence_s: float = WEB_SERVER_SILENCE_S


def setup_watchdog_steps(limits: SafetyLimits) -> int:
    """The servos' Bus Watchdog during set-up (20 ms steps): the meal's, `SETUP_WATCHDOG_STEPS` at least."""
    return max(limits.watchdog_steps, SETUP_WATCHDOG_STEPS)


def open_setup_bus(
    port: str, calibration: RobotCalibration, limits: SafetyLimits, reply_allowance_s: float | None = None
) -> DynamixelBus:
    """The staff page's servo port, opened as the meal's is (`open_budgeted_bus`) for the set-up
    loop: its period (the calibration's rate) and its Bus Watchdog (the failed reads it allows
    follow from them, `ArmDriver.max_bus_errors`, and outlast any stall the watchdog rides out)."""
    return open_budgeted_bus(
        port,
        calibration.baudrate,
        calibration.joint_servo_ids,
        period_s=1.0 / calibration.rate_hz,
        watchdog_s=setup_watchdog_steps(limits) * BUS_WATCHDOG_STEP_MS / 1000.0,
        reply_allowance_s=reply_allowance_s,
    )


def connect_driver(setup: ArmSetup) -> ArmDriver:
    """Open the port (`NotReady` in words when it cannot be opened or the budget does not hold,
    nothing written), build the driver and connect it (an `ArmError` closes the port again)."""
    calibration = RobotCalibration.model_validate(setup.calibration)
    limits = SafetyLimits.model_validate(setup.limits)
    try:
        bus = open_setup_bus(setup.port, calibration, limits, setup.reply_allowance_s)
    except BridgeError as exc:
        raise NotReady(Message("refusal.cannot_open", port=setup.port, cause=cause_message(exc)), cause=exc) from exc
    except TimingBudgetError as exc:
        raise NotReady(Message("refusal.cannot_connect", cause=cause_message(exc)), cause=exc) from exc
    period_s = 1.0 / calibration.rate_hz
    driver = ArmDriver(
        bus,
        calibration.joint_servo_ids,
        calibration.spoon,
        setup_watchdog_steps(limits),
        period_s=period_s,
        contact=setup_contact_detector(JointNoise(*setup.contact_noise_a), limits.contact_noise_sigmas, period_s),
        operating_mode=operating_mode(limits.face_current_margin_ma),
        limits=limits,
    )
    try:
        driver.connect()
    except ArmError:
        bus.close()
        raise
    return driver


def internal_error(exc: Exception) -> ArmFault:
    """An error nobody foresaw, as the staff page says it (the English in the log)."""
    log.error("set-up request failed", exc_info=exc)
    return ArmFault(Message("fault.driver_internal"), cause=str(exc))


class Answerer:
    """The requests' thread (see the module docstring). A STOP (`stop`, from the receiver) goes to
    the driver at once; a jog or a move that arrived before it and is answered after it is stopped
    again once started: the later command wins, as it would have without the queue."""

    def __init__(self, driver: ArmDriver, pipe: Pipe) -> None:
        self.driver = driver
        self.pipe = pipe
        self.stops = 0  # STOPs so far (written by the receiver thread only)
        self._requests: queue.SimpleQueue[tuple[sm.Request, int] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="setup-answerer", daemon=True)
        self._thread.start()

    def put(self, request: sm.Request) -> None:
        self._requests.put((request, self.stops))

    def stop(self) -> None:
        self.stops += 1
        self.driver.stop()

    def close(self) -> None:
        self._requests.put(None)
        self._thread.join(timeout=5.0)

    def _run(self) -> None:
        while (item := self._requests.get()) is not None:
            request, stops = item
            try:
                answer: sm.FromSetupMessage = self._answer(request)
            except (MessageError, ValueError) as exc:
                answer = sm.Failed.of(request.id, exc)
            except Exception as exc:  # the answer must come, whatever went wrong
                answer = sm.Failed.of(request.id, internal_error(exc))
            if self.stops != stops and isinstance(request, sm.Hold | sm.Move):
                self.driver.stop()  # a STOP came after it
            self.pipe.send(answer)

    def _answer(self, request: sm.Request) -> sm.FromSetupMessage:
        driver = self.driver
        if isinstance(request, sm.Hold):
            return sm.Done(
                id=request.id, moving=driver.hold(request.owner, request.joint, request.direction, request.press)
            )
        if isinstance(request, sm.Release):
            driver.release(request.owner, request.press)
        elif isinstance(request, sm.Move):
            if request.power_down:
                driver.park(request.poses[-1], request.speed_m_s)
            else:
                driver.move_through(request.poses, request.speed_m_s)
        elif isinstance(request, sm.Spoon):
            driver.spoon = SpoonOffset(x_m=request.x_m, z_m=request.z_m, pitch_rad=request.pitch_rad)
        elif request.what == "status":
            return sm.Status.of(request.id, driver.status(), driver.busy)
        else:
            q = driver.measured_q() if request.what == "measured_q" else driver.current_q()
            return sm.Done(id=request.id, q_rad=tuple(float(v) for v in q))
        return sm.Done(id=request.id)


class Receiver:
    """The receiver thread's work (see the module docstring); `run` returns once the arm is to end."""

    def __init__(self, pipe: Pipe, answerer: Answerer, silence_s: float) -> None:
        self.pipe = pipe
        self.answerer = answerer
        self.silence_s = silence_s

    def run(self) -> None:
        self.pipe.receive(self._handle, silence_s=self.silence_s, on_silence=self._silent)
        self.answerer.stop()

    def _silent(self) -> None:
        log.error("the web server fell silent for %.1f s: stopping the arm", self.silence_s)
        self.answerer.stop()

    def _handle(self, message: sm.ToSetupMessage) -> bool:
        if isinstance(message, sm.Stop):
            log.info("STOP from %s", message.source)
            self.answerer.stop()
        elif isinstance(message, sm.End):
            return True
        elif not isinstance(message, sm.Heartbeat):
            self.answerer.put(message)
        return False


def wait_for_rest(driver: ArmDriver, wait_s: float = STOP_WAIT_S) -> None:
    """Let the tick thread bring a stopped arm to rest (`wait_s` at most)."""
    until = time.monotonic() + wait_s
    while driver.status().mode not in QUIET_MODES and time.monotonic() < until:
        time.sleep(driver.period_s)


def serve_setup(connection: Connection, setup: ArmSetup) -> None:
    """The set-up process's body: connect the arm, then serve the web server until it ends."""
    logging.basicConfig(level=logging.WARNING)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ask_real_time()
    pipe = Pipe(connection, sm.to_setup, "the web server")
    try:
        try:
            driver = connect_driver(setup)
        except (MessageError, ValueError) as exc:  # the port, the servos, or the documents
            pipe.send(sm.Failed.of(None, exc))
            return
        except Exception as exc:  # the process must say why, never vanish
            pipe.send(sm.Failed.of(None, internal_error(exc)))
            return
        driver.start()
        answerer = Answerer(driver, pipe)
        try:
            pipe.send(sm.Ready())
            Receiver(pipe, answerer, setup.silence_s).run()
            wait_for_rest(driver)
        finally:
            answerer.close()
            driver.close()
            driver.bus.close()
    finally:
        pipe.close()


__all__ = ["ArmSetup", "open_setup_bus", "serve_setup", "setup_watchdog_steps"]
