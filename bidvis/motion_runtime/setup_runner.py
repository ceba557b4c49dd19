"""The web server's side of the set-up process: `ArmProcess`, the set-up arm as `ArmControl` uses it.

`ArmProcess.connect(setup)` starts `setup_worker.serve_setup` in a process of its own and returns
once the arm is connected there, or raises the error the process gave (`NotReady`, an `ArmError`:
the same class, `Message` and cause, so the staff page says the same words). The process is forked
from `multiprocessing`'s fork server ("forkserver"): a fresh interpreter, started once from the web
server as a "spawn" process is, with the set-up process's modules imported. So nothing of the web
server is inherited but the pipe, and a Connect (again after a fault, after each meal) does not
wait for those imports again. Then `hold`, `release`, `move_through`, `park`, `use_spoon`,
`status`, `measured_q` and `current_q` are requests answered by the process; `stop` is sent at once
from the caller's thread and answered by nobody (the process hands it to the driver before any
request). Two threads of the web server keep the pipe: a heartbeat every `HEARTBEAT_S` (the process stops
the arm when these stop coming: `pipe.WEB_SERVER_SILENCE_S`) and the receiver, which validates
every answer and hands it to whoever waits for it.

A set-up process that dies is noticed when its pipe closes (or when it does not answer within
`REPLY_TIMEOUT_S`: it is killed then): the servos' own Bus Watchdog has stopped the arm, the status
is a fault that says so in words, requests are refused with it (`ArmFault`), and `ArmControl.connect`
starts a new process.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import threading
from collections.abc import Callable, Sequence

import numpy as np

from bidvis.motion_runtime import setup_messages as sm
from bidvis.motion_runtime.messages import Heartbeat, Stop
from bidvis.motion_runtime.pipe import HEARTBEAT_S, Pipe, keep_beating
from bidvis.motion_runtime.setup_worker import ArmSetup, serve_setup
from bidvis.robot_ui.arm import ArmFault, ArmMode, ArmStatus
from controller.kinematics import SpoonMount
from controller.messages import Message

log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0  # spawning, imports, opening the port and preparing the servos, on a loaded computer
REPLY_TIMEOUT_S = 10.0  # the longest request (`current_q`) waits 1 s in the process
END_TIMEOUT_S = 5.0  # the arm brought to rest (`setup_worker.STOP_WAIT_S`) and the port closed
PROCESS_ENDED = Message("fault.setup_process_ended")
STOP_SOURCE = "the staff page"


class _Answer:
    """Where the receiver puts the answer to one request (None: the process ended first)."""

    def __init__(self) -> None:
        self.message: sm.FromSetupMessage | None = None
        self._came = threading.Event()

    def give(self, message: sm.FromSetupMessage) -> None:
        self.message = message
        self._came.set()

    def end(self) -> None:
        """No answer will come."""
        self._came.set()

    def wait(self, timeout_s: float) -> sm.FromSetupMessage | None:
        self._came.wait(timeout_s)
        return self.message


class ArmProcess:
    """The set-up arm in its own process (see the module docstring)."""

    def __init__(self, setup: ArmSetup, *, heartbeat_s: float = HEARTBEAT_S) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([serve_setup.__module__])  # read by the server's first start only
        connection, self._child = context.Pipe(duplex=True)
        self._process = context.Process(
            target=serve_setup, args=(self._child, setup), name="bidvis-setup-arm", daemon=True
        )
        self._pipe = Pipe(connection, sm.from_setup, "the set-up process")
        self.heartbeat_s = heartbeat_s
        self._ended = threading.Event()  # the pipe closed: the process is gone, or going
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._waiting: dict[int, _Answer] = {}
        self._ready = _Answer()
        self._last = ArmStatus(ArmMode.FAULT, (), (), (), 0.0, PROCESS_ENDED, 0.0)  # shown once it ended

    @classmethod
    def connect(cls, setup: ArmSetup, *, heartbeat_s: float = HEARTBEAT_S) -> ArmProcess:
        """Start the process and wait until the arm is connected in it (raises what it refused with)."""
        arm = cls(setup, heartbeat_s=heartbeat_s)
        arm._process.start()
        arm._child.close()  # only the process holds its end: its death closes the pipe
        for target, name in ((arm._receive, "setup-receiver"), (arm._beat, "setup-heartbeat")):
            threading.Thread(target=target, name=name, daemon=True).start()
        answer = arm._ready.wait(START_TIMEOUT_S)
        if not isinstance(answer, sm.Ready):
            arm.close()
            if isinstance(answer, sm.Failed):
                raise answer.exception()
            raise arm._gone()
        return arm

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def ended(self) -> bool:
        """True once the process is gone (or was closed)."""
        return self._ended.is_set()

    # -- requests ------------------------------------------------------------------------------

    def hold(self, owner: str, joint: int, direction: int, press: int = 0) -> bool:
        answer = self._call(
            lambda i: sm.Hold(id=i, owner=owner, joint=joint, direction=direction, press=press)  # type: ignore[arg-type]
        )
        assert isinstance(answer, sm.Done)
        return bool(answer.moving)

    def release(self, owner: str, press: int | None = None) -> None:
        self._call(lambda i: sm.Release(id=i, owner=owner, press=press))

    def move_through(self, poses: Sequence[Sequence[float]], speed_m_s: float) -> None:
        self._move(poses, speed_m_s, power_down=False)

    def park(self, rest_pose: Sequence[float], speed_m_s: float) -> None:
        self._move([rest_pose], speed_m_s, power_down=True)

    def _move(self, poses: Sequence[Sequence[float]], speed_m_s: float, *, power_down: bool) -> None:
        joints = [tuple(float(q) for q in pose) for pose in poses]
        self._call(lambda i: sm.Move(id=i, poses=joints, speed_m_s=speed_m_s, power_down=power_down))  # type: ignore[arg-type]

    def use_spoon(self, spoon: SpoonMount) -> None:
        """The spoon offset changed: the driver's speed caps and status use the new one."""
        self._call(lambda i: sm.Spoon(id=i, x_m=spoon.x_m, z_m=spoon.z_m, pitch_rad=spoon.pitch_rad))

    def stop(self) -> None:
        """STOP: sent at once, from the caller's thread (a process that ended has stopped the arm)."""
        self._pipe.send(Stop(source=STOP_SOURCE))

    def status(self) -> ArmStatus:
        """The driver's status; once the process has ended, a fault saying so."""
        return self._status()[0]

    @property
    def busy(self) -> bool:
        """True while the arm moves on its own (a pose move, a test bite, a park)."""
        return self._status()[1]

    def _status(self) -> tuple[ArmStatus, bool]:
        try:
            answer = self._call(lambda i: sm.Ask(id=i, what="status"))
        except ArmFault:
            if not self.ended:
                raise
            return self._last, False
        assert isinstance(answer, sm.Status)
        status = answer.status()
        self._last = ArmStatus(ArmMode.FAULT, status.q_rad, status.spoon_xyz_m, (), 0.0, PROCESS_ENDED, status.at)
        return status, answer.busy

    def measured_q(self) -> np.ndarray:
        """The joint angles last read from the servos (rad)."""
        return self._q("measured_q")

    def current_q(self) -> np.ndarray:
        """The joint angles read after this call (rad), never a stale reading (`ArmDriver.current_q`)."""
        return self._q("current_q")

    def _q(self, what: str) -> np.ndarray:
        answer = self._call(lambda i: sm.Ask(id=i, what=what))  # type: ignore[arg-type]
        assert isinstance(answer, sm.Done) and answer.q_rad is not None
        return np.array(answer.q_rad)

    def _call(self, request: Callable[[int], sm.Request]) -> sm.FromSetupMessage:
        """Send `request` (given its number) and wait for its answer; raise what the process raised."""
        answer = _Answer()
        with self._lock:
            request_id = next(self._ids)
            self._waiting[request_id] = answer
        try:
            if self.ended or not self._pipe.send(request(request_id)):
                raise self._gone()
            message = answer.wait(REPLY_TIMEOUT_S)
        finally:
            with self._lock:
                self._waiting.pop(request_id, None)
        if message is None:
            if not self.ended:
                log.error("the set-up process did not answer within %.0f s: ending it", REPLY_TIMEOUT_S)
                self._process.kill()
            raise self._gone()
        if isinstance(message, sm.Failed):
            raise message.exception()
        return message

    @staticmethod
    def _gone() -> ArmFault:
        return ArmFault(Message("fault.arm_fault", fault=PROCESS_ENDED))

    def close(self) -> None:
        """End the process: the arm stops (an ordinary stop target) and the port is closed; a
        process that hangs is killed (the servos' watchdog then stops the arm)."""
        self._pipe.send(sm.End())
        self._process.join(timeout=END_TIMEOUT_S)
        if self._process.is_alive():
            log.error("the set-up process did not end: killing it")
            self._process.kill()
            self._process.join(timeout=END_TIMEOUT_S)
        self._ended.wait(END_TIMEOUT_S)

    # -- threads -------------------------------------------------------------------------------

    def _beat(self) -> None:
        keep_beating(self.heartbeat_s, self._ended, lambda: self._pipe.send(Heartbeat()))

    def _receive(self) -> None:
        try:
            self._pipe.receive(self._hand_on)
        finally:
            self._pipe.close()
            self._ended.set()
            with self._lock:
                waiting = list(self._waiting.values())
            for answer in (*waiting, self._ready):
                answer.end()

    def _hand_on(self, message: sm.FromSetupMessage) -> None:
        if isinstance(message, sm.Ready) or message.id is None:
            self._ready.give(message)
            return
        with self._lock:
            answer = self._waiting.get(message.id)
        if answer is None:
            log.warning("an answer nobody waits for (request %d): dropped", message.id)
            return
        answer.give(message)
