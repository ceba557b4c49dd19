"""The robot as staff and citizen meet it: one `RobotSession` behind the web pages.

It holds the robot's files (calibration, citizen profile), the servo bus and the set-up
`ArmDriver`, the guided camera calibration, the panel's trigger source and the meal when one runs.
Every change of the calibration or the profile is validated (a bad value is refused with the
field named), saved atomically, and journalled as `calibration_changed` with who made it.

While a meal runs (`controller.loop.run_meal` in its own thread) the meal owns the bus: jogging,
teaching and calibration are refused until it ends; the STOP button still works (an e-stop
command to the meal).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, ValidationError

from bidvis.bus_commands import X_SERIES_BAUD_RATES, FoundServo, scan_port
from bidvis.robot_ui.arm import SETUP_WATCHDOG_STEPS, ArmDriver, ArmError, ArmMode, ArmNotConnected
from bidvis.robot_ui.camera_setup import CheckerboardViews, HandEyeViews, ViewResult
from bidvis.robot_ui.face_size import (
    FACE_SIZE_VIEWS,
    FaceSize,
    FaceSizeRefused,
    ImplausibleDistance,
    check_lips_distance,
    measure_face_scale,
)
from careplan_api.schemas import UsageEventType
from controller.config import (
    CitizenProfile,
    ConfigValidationError,
    RobotCalibration,
    SafetyLimits,
    calibration_change,
    check_profile_fits,
    save_config,
)
from controller.feeding import CommandKind, FeedingState
from controller.journal import JournalError
from controller.loop import LatestValue, MealController, run_meal
from controller.messages import Language, Message, MessageError
from controller.triggers import PanelInput, triggers_for
from firmware_bridge import BridgeError, DynamixelBus
from vision import CameraIntrinsics, FaceModels
from vision.capture import Frame
from vision.errors import CalibrationError

log = logging.getLogger(__name__)

MAX_OPERATOR_CHARS = 80


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
        super().__init__(Message("refusal.field", field=field, why=message))


class Unjournalled(SessionError):
    """A change was undone because the journal could not record it."""


class FrameSource(Protocol):
    """A camera: `read(timeout_s)` gives the newest frame or None (`vision.capture.CameraCapture`)."""

    def read(self, timeout_s: float = 0.0) -> Frame | None: ...


class MouthFeed(Protocol):
    """What the meal reads the mouth from (`controller.loop.LatestValue` filled by vision)."""

    def latest(self) -> Any: ...


class WallClock:
    """The meal loop's clock on real hardware: monotonic time, real sleeps."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


def check_operator(operator: str | None) -> str:
    """The staff member's name as journalled: required, trimmed, at most 80 characters."""
    name = (operator or "").strip()
    if not name:
        raise FieldError("operator", Message("refusal.operator_missing"))
    if len(name) > MAX_OPERATOR_CHARS:
        raise FieldError("operator", Message("refusal.too_long", max=MAX_OPERATOR_CHARS))
    return name


def _validated(model: type[BaseModel], data: dict[str, Any], source: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigValidationError(source, exc.errors()) from exc


class RobotSession:
    """See the module docstring. `journal` is a `controller.journal.UsageJournal`."""

    def __init__(
        self,
        *,
        port: str,
        calibration: RobotCalibration,
        calibration_path: Path,
        profile: CitizenProfile,
        profile_path: Path,
        limits: SafetyLimits,
        journal: Any,
        camera: FrameSource | None = None,
        mouth: MouthFeed | None = None,
        switches: Sequence[Any] = (),
        bus_timeout_s: float = 0.05,
    ) -> None:
        self.port = port
        self.calibration = calibration
        self.calibration_path = Path(calibration_path)
        self.profile = profile
        self.profile_path = Path(profile_path)
        self.limits = limits
        self.journal = journal
        self.camera = camera
        self.mouth = mouth or LatestValue()
        self.switches = tuple(switches)
        self.bus_timeout_s = bus_timeout_s
        self.setup_id = uuid.uuid4()  # the journal's meal id for changes made outside a meal
        self.panel = PanelInput(bowls=profile.bowls_used)
        self.bus: DynamixelBus | None = None
        self.driver: ArmDriver | None = None
        self.last_scan: list[FoundServo] = []
        self.checkerboard: CheckerboardViews | None = None
        self.hand_eye: HandEyeViews | None = None
        self._face_models: FaceModels | None = None  # loaded at the first face-size measurement
        self.last_message: Message | None = None
        self._lock = threading.RLock()
        self._meal_thread: threading.Thread | None = None
        self._meal_state: FeedingState | None = None
        self._meal_result: Message | None = None

    # -- bus and arm ---------------------------------------------------------------------------

    def scan(self, all_rates: bool = False) -> list[FoundServo]:
        """Find servos on the port at the calibration's baud rate, or at every X-series rate
        (slow: seconds per rate). The arm must be disconnected."""
        with self._lock:
            self._require_no_meal()
            if self.bus is not None:
                raise Busy(Message("refusal.disconnect_before_scan"))
            rates = X_SERIES_BAUD_RATES if all_rates else (self.calibration.baudrate,)
            try:
                self.last_scan = scan_port(self.port, rates, None, timeout_s=self.bus_timeout_s)
            except BridgeError as exc:
                raise NotReady(Message("refusal.cannot_scan", port=self.port, cause=str(exc))) from exc
            return self.last_scan

    def connect(self) -> None:
        """Open the bus at the calibration's baud rate, prepare the joint servos, start the driver."""
        with self._lock:
            self._require_no_meal()
            self._connect()

    def _connect(self) -> None:
        with self._lock:
            if self.driver is not None:
                if self.driver.status().mode is not ArmMode.FAULT:
                    return
                self._release_bus()  # staff checked the arm: open the port afresh (it may have been re-plugged)
            try:
                bus = DynamixelBus(self.port, baudrate=self.calibration.baudrate, timeout=self.bus_timeout_s)
            except BridgeError as exc:
                raise NotReady(Message("refusal.cannot_open", port=self.port, cause=str(exc))) from exc
            watchdog_steps = max(self.limits.watchdog_steps, SETUP_WATCHDOG_STEPS)
            driver = ArmDriver(bus, self.calibration.joint_servo_ids, self.calibration.spoon, watchdog_steps)
            try:
                driver.connect()
            except ArmError:
                bus.close()
                raise
            driver.start()
            self.bus, self.driver = bus, driver

    def disconnect(self) -> None:
        with self._lock:
            self._require_no_meal()
            self._release_bus()

    def _release_bus(self) -> None:
        if self.driver is not None:
            self.driver.stop()
            self.driver.close()
            self.driver = None
        if self.bus is not None:
            self.bus.close()
            self.bus = None

    def arm(self) -> ArmDriver:
        """The connected set-up driver (raises `ArmNotConnected` or `Busy` during a meal)."""
        self._require_no_meal()
        if self.driver is None:
            raise ArmNotConnected(Message("refusal.not_connected"))
        return self.driver

    def stop(self) -> Message:
        """STOP: stop the arm now, whatever moves it (set-up motion, or the meal by e-stop)."""
        if self.meal_running:
            self.panel.push(CommandKind.ESTOP)
            return Message("done.meal_stopped")
        if self.driver is not None:
            self.driver.stop()
        return Message("done.arm_stopped")

    # -- calibration ---------------------------------------------------------------------------

    def _change_calibration(
        self, operator: str, *, also_changed: tuple[str, ...] = (), detail: dict[str, Any] | None = None, **updates: Any
    ) -> RobotCalibration:
        """Validate, save and journal a calibration change (`also_changed`: fields changed outside
        the calibration document, such as the intrinsics file it names; `detail`: more event data)."""
        who = check_operator(operator)
        with self._lock:
            self._require_no_meal()
            old = self.calibration
            data = {**old.model_dump(mode="python"), **updates, "changed_by": who, "changed_at": datetime.now(UTC)}
            new = _validated(RobotCalibration, data, "calibration")
            check_profile_fits(self.profile, new)
            change = calibration_change(old, new)
            change["fields"] = sorted({*change["fields"], *also_changed})
            self._save_journalled(
                new, old, self.calibration_path, {**change, "document": "calibration", **(detail or {})}
            )
            self.calibration = new
            if self.driver is not None and "spoon" in change["fields"]:
                self.driver.spoon = new.spoon
            return new

    def _journal(self, data: dict[str, Any]) -> None:
        self.journal.record(UsageEventType.CALIBRATION_CHANGED, data, meal_id=self.setup_id)

    def _save_journalled(self, new: BaseModel, old: BaseModel, path: Path, event: dict[str, Any]) -> None:
        """Save `new` and journal the change; if the journal refuses, put `old` back: no change
        stays unjournalled."""
        save_config(new, path)
        try:
            self._journal(event)
        except JournalError as exc:
            save_config(old, path)
            raise Unjournalled(Message("refusal.unjournalled", cause=str(exc))) from exc

    def teach_ready(self, operator: str) -> RobotCalibration:
        """The arm's present joint angles become the ready pose."""
        q = self.arm().current_q()
        return self._change_calibration(operator, ready_pose_rad=tuple(float(v) for v in q))

    def teach_waypoint(self, operator: str, bowl: int) -> RobotCalibration:
        """Append the present joint angles to the scoop of `bowl` (a new bowl after the last one)."""
        q = tuple(float(v) for v in self.arm().current_q())
        bowls = [b.model_dump() for b in self.calibration.bowls]
        if not 0 <= bowl <= len(bowls):
            raise FieldError("bowl", Message("refusal.no_such_bowl_to_teach", bowl=bowl, last=len(bowls)))
        if bowl == len(bowls):
            bowls.append({"name": f"bowl {bowl + 1}", "waypoints_rad": [q]})
        else:
            bowls[bowl]["waypoints_rad"] = [*bowls[bowl]["waypoints_rad"], q]
        return self._change_calibration(operator, bowls=bowls)

    def clear_bowl(self, operator: str, bowl: int) -> RobotCalibration:
        """Forget the scoop of `bowl`, to teach it again (its first waypoint is kept as the start)."""
        bowls = [b.model_dump() for b in self.calibration.bowls]
        if not 0 <= bowl < len(bowls):
            raise FieldError("bowl", Message("refusal.no_such_bowl", bowl=bowl, last=len(bowls) - 1))
        bowls[bowl]["waypoints_rad"] = bowls[bowl]["waypoints_rad"][:1]
        return self._change_calibration(operator, bowls=bowls)

    def set_spoon(self, operator: str, values: dict[str, Any]) -> RobotCalibration:
        return self._change_calibration(operator, spoon=values)

    # -- camera --------------------------------------------------------------------------------

    def _frame(self) -> np.ndarray:
        if self.camera is None:
            raise NotReady(Message("refusal.no_camera"))
        frame = self.camera.read(timeout_s=1.0)
        if frame is None:
            raise NotReady(Message("refusal.no_picture"))
        return frame.image

    def start_camera_calibration(self, board: tuple[int, int], square_mm: float) -> str:
        with self._lock:
            self._require_no_meal()
            self.checkerboard = CheckerboardViews(board, square_mm / 1000.0)
            return self.checkerboard.guidance()

    def capture_camera_view(self) -> ViewResult:
        with self._lock:
            self._require_no_meal()
            if self.checkerboard is None:
                raise NotReady(Message("refusal.camera_calibration_not_started"))
            try:
                return self.checkerboard.add(self._frame())
            except CalibrationError as exc:
                raise NotReady(Message("refusal.calibration_failed", cause=str(exc))) from exc

    def solve_camera(self, operator: str) -> float:
        """Compute and save the intrinsics; returns the RMS reprojection error (px)."""
        who = check_operator(operator)
        with self._lock:
            if self.checkerboard is None:
                raise NotReady(Message("refusal.camera_calibration_not_started"))
            try:
                intrinsics, rms = self.checkerboard.solve()
            except CalibrationError as exc:
                raise NotReady(Message("refusal.calibration_failed", cause=str(exc))) from exc
            path = self.intrinsics_path()
            previous = path.read_bytes() if path.exists() else None
            intrinsics.save(path)
            camera = {**self.calibration.camera.model_dump(), "intrinsics_ref": path.name}
            try:
                self._change_calibration(
                    who, also_changed=("camera.intrinsics",), detail={"rms_error_px": round(rms, 3)}, camera=camera
                )
            except Exception:  # the calibration change was refused or undone: so is the intrinsics file
                if previous is None:
                    path.unlink(missing_ok=True)
                else:
                    path.write_bytes(previous)
                raise
            return rms

    def intrinsics_path(self) -> Path:
        """Where the camera intrinsics file of the calibration lives (next to the calibration)."""
        return self.calibration_path.parent / Path(self.calibration.camera.intrinsics_ref).name

    def start_hand_eye(self, board: tuple[int, int], square_mm: float) -> str:
        with self._lock:
            self._require_no_meal()
            try:
                intrinsics = CameraIntrinsics.load(self.intrinsics_path())
            except CalibrationError as exc:
                raise NotReady(Message("refusal.camera_not_calibrated", cause=str(exc))) from exc
            self.hand_eye = HandEyeViews(board, square_mm / 1000.0, intrinsics)
            return self.hand_eye.guidance()

    def capture_hand_eye_view(self) -> ViewResult:
        with self._lock:
            if self.hand_eye is None:
                raise NotReady(Message("refusal.hand_eye_not_started"))
            q = self.arm().current_q()
            try:
                return self.hand_eye.add(self._frame(), q)
            except CalibrationError as exc:
                raise NotReady(Message("refusal.calibration_failed", cause=str(exc))) from exc

    def solve_hand_eye(self, operator: str) -> np.ndarray:
        with self._lock:
            if self.hand_eye is None:
                raise NotReady(Message("refusal.hand_eye_not_started"))
            try:
                pose = self.hand_eye.solve()
            except CalibrationError as exc:
                raise NotReady(Message("refusal.calibration_failed", cause=str(exc))) from exc
            camera = {**self.calibration.camera.model_dump(), "camera_to_base": [list(map(float, row)) for row in pose]}
            self._change_calibration(operator, camera=camera)
            return pose

    def measure_face_size(self, operator: str, lips_distance_m: float) -> FaceSize:
        """The citizen's face size from `FACE_SIZE_VIEWS` pictures with their lips `lips_distance_m`
        from the camera lens (tape-measured): saved as the profile's `face_scale` and journalled."""
        who = check_operator(operator)
        try:
            check_lips_distance(lips_distance_m)
        except ImplausibleDistance as exc:
            raise FieldError("distance_m", exc.message) from None
        with self._lock:
            try:
                intrinsics = CameraIntrinsics.load(self.intrinsics_path())
            except CalibrationError as exc:
                raise NotReady(Message("refusal.camera_not_calibrated", cause=str(exc))) from exc
            images = [self._frame() for _ in range(FACE_SIZE_VIEWS)]
            if self._face_models is None:
                self._face_models = FaceModels.load()
            try:
                size = measure_face_scale(images, intrinsics, lips_distance_m, self._face_models)
            except ImplausibleDistance as exc:
                raise FieldError("distance_m", exc.message) from None
            except FaceSizeRefused as exc:
                raise NotReady(exc.message) from None
            self.set_profile(
                who,
                {"face_scale": round(size.face_scale, 3)},
                detail={
                    "lips_distance_m": lips_distance_m,
                    "views_used": size.views_used,
                    "face_scale_spread": [round(v, 3) for v in size.spread],
                },
            )
            return size

    # -- profile -------------------------------------------------------------------------------

    def set_profile(
        self, operator: str, values: dict[str, Any], detail: dict[str, Any] | None = None
    ) -> CitizenProfile:
        """Change profile fields (validated together with the rest of the profile), save, journal
        (`detail`: more event data, such as how a value was measured)."""
        who = check_operator(operator)
        with self._lock:
            old = self.profile
            merged = old.model_dump(mode="python")
            for key, value in values.items():
                if isinstance(value, dict) and isinstance(merged.get(key), dict):
                    merged[key] = {**merged[key], **value}
                else:
                    merged[key] = value
            new = _validated(CitizenProfile, merged, "profile")
            check_profile_fits(new, self.calibration)
            before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
            fields = sorted(f"profile.{key}" for key in after if before.get(key) != after[key])
            self._save_journalled(
                new,
                old,
                self.profile_path,
                {
                    "changed_by": who,
                    "changed_at": datetime.now(UTC).isoformat(),
                    "fields": fields,
                    "document": "profile",
                    **(detail or {}),
                },
            )
            self.profile = new
            self.panel.bowls = new.bowls_used
            return new

    # -- test bite and taught poses ------------------------------------------------------------

    def go_to_ready(self, owner: str | None = None) -> None:
        self.arm().move_through([self.calibration.ready_pose_rad], self.profile.speed_m_s, owner)

    def test_bite(self, bowl: int, owner: str | None = None) -> None:
        """Ready pose, the taught scoop of `bowl`, back to ready: at the citizen's speed, no citizen."""
        if not 0 <= bowl < len(self.calibration.bowls):
            raise FieldError(
                "bowl", Message("refusal.bowl_not_taught", bowl=bowl, last=len(self.calibration.bowls) - 1)
            )
        ready = self.calibration.ready_pose_rad
        poses = [ready, *self.calibration.bowls[bowl].waypoints_rad, ready]
        self.arm().move_through(poses, self.profile.speed_m_s, owner)

    # -- the meal ------------------------------------------------------------------------------

    @property
    def meal_running(self) -> bool:
        return self._meal_thread is not None and self._meal_thread.is_alive()

    def _require_no_meal(self) -> None:
        if self.meal_running:
            raise Busy(Message("refusal.meal_running"))

    def panel_command(self, kind: CommandKind, bowl: int | None = None) -> None:
        """A button on the citizen's panel: start the meal if none runs, then pass the command on."""
        with self._lock:
            PanelInput(bowls=self.panel.bowls).push(kind, bowl)  # validate before anything starts
            if not self.meal_running and self._meal_state is FeedingState.FAULT:
                raise Busy(Message("refusal.stopped_until_cleared"))
            if not self.meal_running and kind in (
                CommandKind.SELECT_BOWL,
                CommandKind.NEXT_BITE,
                CommandKind.START_MEAL,
            ):
                self.start_meal()
            self.panel.push(kind, bowl)

    def start_meal(self) -> None:
        """Hand the bus to the real meal loop (the set-up driver lets go) and start the meal."""
        with self._lock:
            self._require_no_meal()
            if self.driver is None:
                self.connect()
            driver = self.driver
            if driver is not None and driver.busy:
                raise Busy(Message("refusal.arm_moving"))
            bus = self.bus
            if driver is not None:
                driver.close()
                self.driver = None
            self._meal_state, self._meal_result = FeedingState.IDLE, None
            self.panel.push(CommandKind.START_MEAL)
            self._meal_thread = threading.Thread(target=self._run_meal, args=(bus,), name="meal", daemon=True)
            self._meal_thread.start()

    def _run_meal(self, bus: DynamixelBus) -> None:
        clock = WallClock()

        def armed() -> bool:
            return self._meal_state is FeedingState.READY

        def on_tick(controller: MealController) -> None:
            self._meal_state = controller.state

        inputs = triggers_for(self.profile, armed=armed, panel=self.panel, switches=self.switches)
        try:
            report = run_meal(
                bus,
                self.mouth,
                inputs,
                clock,
                self.journal,
                self.profile,
                self.calibration,
                self.limits,
                rate_hz=self.calibration.rate_hz,
                on_tick=on_tick,
            )
            self._meal_result = Message("done.meal_ended", state=Message(f"meal_state.{report.final_state.value}"))
        except Exception as exc:  # the meal's thread must report, never vanish
            log.exception("meal loop failed")
            self._meal_result = Message("fault.meal_failed", cause=str(exc))
            self._meal_state = FeedingState.FAULT
        finally:
            with self._lock:
                self.bus = None
                bus.close()
                try:
                    self._connect()  # staff get the arm back, held where the meal left it
                except (SessionError, ArmError) as exc:
                    self.last_message = Message("fault.arm_not_taken_back", cause=exc.message)
                self._meal_thread = None

    def clear_stop(self, operator: str) -> None:
        """Staff have checked the citizen and the arm after a stop: the panel may start a meal again."""
        who = check_operator(operator)
        with self._lock:
            self._require_no_meal()
            if self._meal_state is FeedingState.FAULT:
                log.info("stop cleared by %s", who)
                self._meal_state, self._meal_result = None, Message("done.stop_cleared_by", who=who)

    def meal_status(self, language: Language = Language.ENGLISH) -> dict[str, Any]:
        """The meal's state and last result; `*_text` in `language` for the page, the rest for scripts."""
        state, result = self._meal_state, self._meal_result
        return {
            "running": self.meal_running,
            "state": None if state is None else state.value,
            "state_text": Message(f"meal_state.{state.value if state is not None else 'none'}").text(language),
            "result": "" if result is None else str(result),
            "result_text": "" if result is None else result.text(language),
        }

    # -- status --------------------------------------------------------------------------------

    def status(self, language: Language = Language.ENGLISH) -> dict[str, Any]:
        """Everything the staff page shows; texts for a person (`*_text`) in `language`."""
        driver = self.driver
        cal = self.calibration
        return {
            "port": self.port,
            "connected": driver is not None or self.meal_running,
            "arm": None if driver is None else driver.status().as_dict(language),
            "meal": self.meal_status(language),
            "calibration": {
                "changed_by": cal.changed_by,
                "changed_at": cal.changed_at.isoformat(),
                "ready_pose_rad": list(cal.ready_pose_rad),
                "bowls": [{"name": b.name, "waypoints": len(b.waypoints_rad)} for b in cal.bowls],
                "spoon": cal.spoon.model_dump(),
                "intrinsics_ref": cal.camera.intrinsics_ref,
            },
            "profile": self.profile.model_dump(mode="json"),
            "scan": [asdict(s) for s in self.last_scan],
            "camera": self.camera is not None,
            "message": "" if self.last_message is None else str(self.last_message),
            "message_text": "" if self.last_message is None else self.last_message.text(language),
        }

    def close(self) -> None:
        """Stop everything this session runs (the meal by e-stop, then the set-up driver)."""
        thread = self._meal_thread
        if thread is not None and thread.is_alive():
            self.panel.push(CommandKind.ESTOP)
            self.panel.push(CommandKind.END_MEAL)
            thread.join(timeout=5.0)
        with self._lock:
            self._release_bus()
