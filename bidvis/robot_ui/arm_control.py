"""The arm as staff move it during set-up: scan the bus, connect, jog, pose moves, test bites, STOP.

`ArmControl` owns the set-up arm while no meal runs, and the arm's one
lease (`arm_lease.ArmLease`): a jog, a pose move or a test bite takes it for the screen that asked,
and a meal for the one who started it; anyone else is refused with `ArmHeld` naming the holder.
The set-up loop (`ArmDriver` and its tick thread) runs in a process of its own, never in the web
server's: Connect starts it (`bidvis.motion_runtime.setup_runner.ArmProcess`), and every set-up
request goes to it over a pipe of validated messages; what it refuses comes back as the same error,
in the same words. A set-up process that died (the servos' Bus Watchdog has stopped the arm) shows
as a fault in words, and Connect starts a new one. A meal borrows the arm (`lend_arm`: the set-up
process ends and the port is closed, for the meal's own process to open it as its loop needs it)
and gives it back when it ends (`take_back`: a new set-up process); while it is lent, every set-up
move is refused with `Busy`. The set-up process opens its port as the meal's is
(`bidvis.motion_runtime.setup_worker.open_setup_bus`): the same reply allowance, and a timing
budget judged for the set-up loop (its period and its Bus Watchdog, `SETUP_WATCHDOG_STEPS` at
least) before anything is written; a budget that does not hold refuses Connect in words. STOP
(`stop`) is never refused, reaches the set-up process at once from any request thread, and frees
the lease.
A meal starts only from where it may move the arm (`outside_meal_space`): an arm left above the
workspace, beyond a joint limit or on a hard stop (by a meal stopped there, or sagged with its
torque off) is
refused with `NotReady`, saying to bring it to the ready pose, instead of a meal that stops at once,
again and again.

Park and power down (`park`), for the end of the day: the arm goes to the calibration's rest pose
at set-up speed and its torque goes off once the measured arm is there (`ArmDriver.park`). From
then on a meal is refused with `NotReady` until staff have sent the arm to its ready pose again
(Connect turns the torque on, holding the arm where it lies, then Go to ready pose). An arm
found at its rest pose (`at_rest_pose`: the robot was parked, switched off and started again) is
refused the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from bidvis.bus_commands import X_SERIES_BAUD_RATES, FoundServo, scan_port
from bidvis.motion_runtime.setup_runner import ArmProcess
from bidvis.motion_runtime.setup_worker import ArmSetup
from bidvis.robot_ui.arm import PARK_SPOON_SPEED_M_S, ArmFault, ArmMode, ArmNotConnected
from bidvis.robot_ui.arm_lease import MEAL_OWNER, ArmLease, ArmUse
from bidvis.robot_ui.documents import RobotDocuments
from bidvis.robot_ui.errors import Busy, FieldError, NotReady
from controller.causes import cause_message
from controller.config import SafetyLimits
from controller.kinematics import JOINT_NAMES, SpoonMount, forward_spoon
from controller.messages import Language, Message
from controller.safety import (
    OK,
    STOP_BAND_RAD,
    JointNoise,
    Reaction,
    SafetyReason,
    Verdict,
    Workspace,
    check_joint_command,
    check_workspace,
    resting_on_stops,
)
from firmware_bridge import BridgeError

MEAL_HOLDS_THE_ARM = Message("refusal.meal_running")
# Reconnecting after a meal is tried this often, `TAKE_BACK_QUIET_S` apart: the meal's last replies
# may still be on the wire when its port closes, or a busy computer may miss the start-up's deadlines.
TAKE_BACK_ATTEMPTS = 3
TAKE_BACK_QUIET_S = 0.1
# A scan pings at rates the servos may not use: no loop runs, so its replies get a long allowance.
SCAN_REPLY_ALLOWANCE_S = 0.05
# An arm this near its rest pose on every joint lies parked: on the rest pose, or settled from it
# onto its stops (0.05 rad further) with its torque off.
AT_REST_POSE_RAD = 0.1


def outside_meal_space(q_rad: Sequence[float], spoon: SpoonMount, workspace: Workspace) -> Verdict:
    """Why a meal cannot start from joint angles `q_rad` (OK when it can): a joint beyond its limit,
    or the spoon outside `workspace`, where the meal's first command would already stop it; or a
    joint lying on its hard stop (`resting_on_stops`), whose load the stop shares in a way the
    meal's contact model cannot know (set-up's *Go to ready* lifts it off)."""
    return (
        check_joint_command(list(q_rad))
        or _on_a_stop(q_rad)
        or check_workspace(forward_spoon(q_rad, spoon)[:3].tolist(), workspace)
    )


def _on_a_stop(q_rad: Sequence[float]) -> Verdict:
    """A JOINT_LIMIT stop for the first joint of `q_rad` lying on its hard stop, else OK."""
    on_stop = resting_on_stops(q_rad)
    if not on_stop.any():
        return OK
    joint = int(np.argmax(on_stop))
    return Verdict(
        Reaction.SAFE_STOP,
        SafetyReason.JOINT_LIMIT,
        f"{JOINT_NAMES[joint]} at {q_rad[joint]:.3f} rad lies on its stop (within {STOP_BAND_RAD} rad of its limit)",
    )


def at_rest_pose(q_rad: Sequence[float], rest_pose_rad: Sequence[float]) -> bool:
    """True when every joint of `q_rad` is within `AT_REST_POSE_RAD` of the rest pose."""
    return bool(np.all(np.abs(np.asarray(q_rad) - np.asarray(rest_pose_rad)) <= AT_REST_POSE_RAD))


class ArmControl:
    """Set-up motion of the arm on `port` (see the module docstring)."""

    def __init__(
        self,
        port: str,
        documents: RobotDocuments,
        limits: SafetyLimits,
        reply_allowance_s: float | None = None,
        lease: ArmLease | None = None,
    ) -> None:
        """`reply_allowance_s`: the servo port's allowance for OS and USB on each reply, for the
        set-up driver and the meal alike (None: the bus's own, which the timing budget assumes)."""
        self.port = port
        self.documents = documents
        self.limits = limits
        self.reply_allowance_s = reply_allowance_s
        self.driver: ArmProcess | None = None  # the set-up process, once connected
        self.last_scan: list[FoundServo] = []
        self.lent = False  # the bus is lent to a meal
        self.parked = False  # parked (or on the way): no meal until the arm is sent to ready again
        self.lease = lease or ArmLease()
        self._lock = threading.RLock()

    def require_no_meal(self) -> None:
        """Raise `Busy` while a meal holds the arm."""
        if self.lent:
            raise Busy(MEAL_HOLDS_THE_ARM)

    def scan(self, all_rates: bool = False) -> list[FoundServo]:
        """Find servos on the port at the calibration's baud rate, or at every X-series rate
        (slow: seconds per rate). The arm must be disconnected."""
        with self._lock:
            self.require_no_meal()
            if self.driver is not None:
                raise Busy(Message("refusal.disconnect_before_scan"))
            rates = X_SERIES_BAUD_RATES if all_rates else (self.documents.calibration.baudrate,)
            try:
                self.last_scan = scan_port(self.port, rates, None, timeout_s=SCAN_REPLY_ALLOWANCE_S)
            except BridgeError as exc:
                raise NotReady(
                    Message("refusal.cannot_scan", port=self.port, cause=cause_message(exc)), cause=exc
                ) from exc
            return self.last_scan

    def connect(self) -> None:
        """Start the set-up process: it opens the port at the calibration's baud rate once the set-up
        loop's timing budget holds (`NotReady` in words otherwise, nothing written), prepares the
        joint servos and runs the driver. Again after a fault, a park or a process that ended: a
        new process opens the port afresh (it may have been re-plugged) and starts up again, the
        goal = where the arm is before torque on."""
        with self._lock:
            self.require_no_meal()
            if self.driver is not None:
                if self.driver.status().mode not in (ArmMode.FAULT, ArmMode.PARKED):
                    return
                self._release_arm()
            self.driver = ArmProcess.connect(self.arm_setup())

    def arm_setup(self) -> ArmSetup:
        """What the set-up process runs with: the documents as they are now."""
        noise = self.documents.contact_noise() or JointNoise.uniform(self.limits.uncommissioned_current_noise_ma / 1e3)
        return ArmSetup(
            port=self.port,
            calibration=self.documents.calibration.model_dump(mode="json"),
            limits=self.limits.model_dump(mode="json"),
            contact_noise_a=(noise.rest_a, noise.moving_a),
            reply_allowance_s=self.reply_allowance_s,
        )

    def disconnect(self, owner: str) -> None:
        """End the set-up process: the arm stops and the port is closed (the servos keep their
        torque until their watchdog stops them). Refused during a meal, and while another screen holds the arm (`ArmHeld`,
        naming who): a disconnect would cut its jog, pose move or park short."""
        with self._lock:
            self.require_no_meal()
            self.lease.check(owner)
            self._release_arm()
            self.lease.free()

    def _release_arm(self) -> None:
        if self.driver is not None:
            self.driver.stop()
            self.driver.close()
            self.driver = None

    def driver_or_refuse(self) -> ArmProcess:
        """The connected set-up arm (raises `ArmNotConnected`, or `Busy` during a meal)."""
        self.require_no_meal()
        if self.driver is None:
            raise ArmNotConnected(Message("refusal.not_connected"))
        return self.driver

    def stop(self) -> None:
        """Stop any set-up motion now, whoever asks (sent at once, never waiting for a Connect or a
        move that holds this object's lock); the arm is free for the next screen."""
        driver = self.driver
        if driver is not None:
            driver.stop()
        with self._lock:
            if not self.lent:
                self.lease.free()

    def hold(self, owner: str, operator: str, joint: int, direction: int, press: int = 0) -> bool:
        """One heartbeat of a held jog button (see `ArmDriver.hold`): takes or renews the lease."""
        with self._lock:
            driver = self.driver_or_refuse()
            self.lease.check(owner)
            moving = driver.hold(owner, joint, direction, press)
            if moving:
                self.lease.take(owner, operator, ArmUse.JOG)
            return moving

    def release(self, owner: str, press: int | None = None) -> None:
        """The jog button was let go: stop now."""
        self.driver_or_refuse().release(owner, press)

    def current_q(self) -> np.ndarray:
        """The joint angles read after this call (rad): where the arm is now."""
        return self.driver_or_refuse().current_q()

    def go_to_ready(self, owner: str, operator: str) -> None:
        """To the ready pose at the citizen's speed; after a park, a meal may start again."""
        docs = self.documents
        with self._lock:
            self._move_through(
                [docs.calibration.ready_pose_rad], docs.profile.speed_m_s, owner, operator, ArmUse.POSE_MOVE
            )
            self.parked = False

    def park(self, owner: str, operator: str) -> None:
        """Park and power down: to the calibration's rest pose at set-up speed, then torque off
        once the measured arm is there (`ArmDriver.park`); no meal until the arm is sent to ready."""
        with self._lock:
            rest = self.documents.calibration.rest_pose
            self._move_through([rest], PARK_SPOON_SPEED_M_S, owner, operator, ArmUse.PARK, power_down=True)
            self.parked = True

    def test_bite(self, bowl: int, owner: str, operator: str) -> None:
        """Ready pose, the taught scoop of `bowl`, back to ready: at the citizen's speed, no citizen."""
        calibration = self.documents.calibration
        if not 0 <= bowl < len(calibration.bowls):
            raise FieldError("bowl", Message("refusal.bowl_not_taught", bowl=bowl, last=len(calibration.bowls) - 1))
        ready = calibration.ready_pose_rad
        poses = [ready, *calibration.bowls[bowl].waypoints_rad, ready]
        self._move_through(poses, self.documents.profile.speed_m_s, owner, operator, ArmUse.TEST_BITE)

    def _move_through(
        self,
        poses: Sequence[Sequence[float]],
        speed_m_s: float,
        owner: str,
        operator: str,
        use: ArmUse,
        *,
        power_down: bool = False,
    ) -> None:
        """Move through `poses` for `owner`, who holds the arm until the move ends (with
        `power_down`: a park to the one pose given)."""
        with self._lock:
            driver = self.driver_or_refuse()
            self.lease.check(owner)
            if power_down:
                driver.park(poses[-1], speed_m_s)
            else:
                driver.move_through(poses, speed_m_s)
            self.lease.take(owner, operator, use, running=lambda: driver.busy)

    def use_spoon(self, spoon: SpoonMount) -> None:
        """The spoon offset changed: the driver's spoon speed caps and status use the new one."""
        if self.driver is not None:
            self.driver.use_spoon(spoon)

    def lend_arm(self, started_by: str) -> None:
        """Connect if needed, check the arm may start a meal from where it stands, and lend it to a
        meal started by `started_by` (who, from where), which then holds the arm's lease: the set-up
        process ends and the port is closed; the meal opens it itself (`worker.open_servo_bus`).
        `ArmHeld` while a screen holds the arm."""
        with self._lock:
            self.require_no_meal()
            self.lease.check(MEAL_OWNER)
            if self.parked:
                raise NotReady(Message("refusal.arm_parked_no_meal"))
            if self.driver is None:
                self.connect()
            driver = self.driver
            assert driver is not None
            q = driver.measured_q().tolist()
            if at_rest_pose(q, self.documents.calibration.rest_pose):
                raise NotReady(Message("refusal.arm_parked_no_meal"))
            outside = outside_meal_space(q, self.documents.calibration.spoon, Workspace())
            if outside:
                raise NotReady(Message("refusal.arm_outside_meal_space"), cause=outside.detail)  # the detail is English
            self._release_arm()
            self.lent = True
            self.lease.take(MEAL_OWNER, started_by, ArmUse.MEAL, running=lambda: self.lent)

    def take_back(self) -> None:
        """The meal ended (its process and port closed): start the set-up process again, so staff
        have the arm held where it stopped
        (tried `TAKE_BACK_ATTEMPTS` times, `TAKE_BACK_QUIET_S` apart; the last `ArmFault` raised)."""
        with self._lock:
            self.lent = False
            self.lease.free(MEAL_OWNER)
            for attempt in range(1, TAKE_BACK_ATTEMPTS + 1):
                try:
                    self.connect()
                    return
                except ArmFault:
                    if attempt == TAKE_BACK_ATTEMPTS:
                        raise
                    time.sleep(TAKE_BACK_QUIET_S)

    def status(self, language: Language = Language.ENGLISH) -> dict[str, Any] | None:
        """The set-up arm's status with who holds the arm (`jog_operator`: the holder, by name),
        or None when it is not connected."""
        driver = self.driver
        if driver is None:
            return None
        with self._lock:
            holder = self.lease.holder()
        return {
            **driver.status().as_dict(language),
            "parked": self.parked,
            "jog_operator": None if holder is None else holder.operator,
            "holder_use": None if holder is None else holder.use.value,
        }

    def close(self) -> None:
        with self._lock:
            self._release_arm()
