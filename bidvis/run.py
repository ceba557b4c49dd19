"""`bidvis run` and `bidvis ui`: the product on a real robot, and its web app on real or virtual servos.

`preflight` is what `bidvis run` checks before anything moves; it refuses to start, with a
`RefusedToStart` that says what is wrong and what to do, when

- the citizen profile or the robot calibration is missing, unreadable or invalid, or the profile
  uses a bowl the calibration has not taught;
- the calibration is stale: made for other servos than the bus has (an id missing, another baud
  rate), or for another camera (its intrinsics file is missing, or the
  camera's picture has another size than the intrinsics were computed for);
- a servo is of a model bidvis cannot drive: one without a control table in
  `firmware_bridge.control_table`, or one that does not measure its motor current (the XL430-W250
  reports Present Load, an estimate in 0.1 % of its stall torque, where contact detection needs
  Present Current);
- the arm has no commissioning record that passed for these servos (ids and model numbers) at
  the gains and Bus Watchdog of the safety limits (`bidvis commission`, docs/commissioning.md);
- the serial port cannot be opened, or the camera does not open or gives no picture.

`build_robot` then wires the robot's parts (journal, camera, mouth tracking, `RobotSession`) and
`sim_robot` does the same on virtual servos and a simulated camera (for `bidvis ui --sim`, the
browser tests and the screenshots).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bidvis.robot_ui.session import RobotSession
from bidvis.robot_ui.web_guard import SiteAddress
from controller.config import (
    CitizenProfile,
    ConfigError,
    RobotCalibration,
    SafetyLimits,
    check_profile_fits,
    demo_calibration,
    demo_profile,
    demo_safety_limits,
    load_calibration,
    load_profile,
    load_safety_limits,
    save_config,
)
from controller.loop import LatestValue
from firmware_bridge.control_table import driven_models, unsupported_reason
from vision.observation import MouthObservation

log = logging.getLogger(__name__)

CAMERA_FIRST_FRAME_S = 3.0
SIM_PORT_LINK = "ttyARM"  # the simulated robot's servo port, in its directory


class RefusedToStart(Exception):
    """`bidvis run` will not start: the message says what is wrong and what to do."""


@dataclass
class Preflight:
    """Everything `bidvis run` checked, ready to use."""

    profile: CitizenProfile
    calibration: RobotCalibration
    limits: SafetyLimits
    intrinsics: Any  # vision.CameraIntrinsics
    servos: dict[int, int] = field(default_factory=dict)  # id -> model number
    camera: Any = None  # vision.capture.CameraCapture, started
    switches: list[Any] = field(default_factory=list)  # controller.triggers.EvdevSwitch, open
    notes: list[str] = field(default_factory=list)
    face_models: Any = None  # vision.FaceModels, loaded

    def close(self) -> None:
        """Release what the checks opened (the camera, the switches)."""
        if self.camera is not None:
            self.camera.stop()
        for switch in self.switches:
            switch.close()


def _load(kind: str, path: Path | None, loader) -> Any:
    if path is None:
        raise RefusedToStart(f"no {kind} file given")
    if not path.exists():
        raise RefusedToStart(f"the {kind} file {path} does not exist; set the robot up with `bidvis ui` first")
    try:
        return loader(path)
    except ConfigError as exc:
        raise RefusedToStart(f"the {kind} file is not valid:\n{exc}") from None


def check_configuration(profile_path: Path, calibration_path: Path, safety_path: Path | None) -> Preflight:
    """Load and cross-check the profile, the calibration, the safety limits and the intrinsics."""
    from vision import CameraIntrinsics
    from vision.errors import CalibrationError

    profile = _load("citizen profile", profile_path, load_profile)
    calibration = _load("robot calibration", calibration_path, load_calibration)
    limits = demo_safety_limits() if safety_path is None else _load("safety limits", safety_path, load_safety_limits)
    try:
        check_profile_fits(profile, calibration)
    except ConfigError as exc:
        raise RefusedToStart(f"the profile does not fit this robot's calibration:\n{exc}") from None
    notes = (
        []
        if profile.face_scale is not None
        else [
            (
                "the citizen's face size is not calibrated: the mouth's depth assumes the mean face and may be off by "
                "several cm; measure it in the staff page's face size step"
            )
        ]
    )
    intrinsics_path = calibration_path.parent / Path(calibration.camera.intrinsics_ref).name
    try:
        intrinsics = CameraIntrinsics.load(intrinsics_path)
    except CalibrationError as exc:
        raise RefusedToStart(
            f"the camera calibration {intrinsics_path} named by the robot calibration is missing or broken ({exc}); "
            "calibrate the camera with `bidvis ui`"
        ) from None
    return Preflight(profile, calibration, limits, intrinsics, notes=notes)


def check_servos(port: str, calibration: RobotCalibration, timeout_s: float = 0.05) -> dict[int, int]:
    """Ping every servo of the calibration at its baud rate; returns id -> model number."""
    from firmware_bridge import BridgeError, DynamixelBus, PortError

    try:
        bus = DynamixelBus(port, baudrate=calibration.baudrate, timeout=timeout_s)
    except PortError as exc:
        raise RefusedToStart(f"cannot open the servo port: {exc}; check the U2D2 cable and --port") from None
    missing, wrong, found = [], [], {}
    with bus:
        for servo_id in calibration.servo_ids:
            try:
                model = bus.ping(servo_id)
            except BridgeError:
                missing.append(servo_id)
                continue
            found[servo_id] = model
            problem = unsupported_reason(model)
            if problem is not None:
                wrong.append(f"id {servo_id} is {problem}")
    if len(missing) == len(calibration.servo_ids):
        raise RefusedToStart(
            f"no arm on {port}: none of the servos {list(calibration.servo_ids)} answered at {calibration.baudrate} baud; "
            "check power and cable, or find the servos with `bidvis bus scan`"
        )
    if missing:
        raise RefusedToStart(
            f"the calibration is stale or the arm is incomplete: servo(s) {missing} did not answer on {port} at "
            f"{calibration.baudrate} baud (answered: {sorted(found)}); check the cable, or re-calibrate with `bidvis ui`"
        )
    if wrong:
        raise RefusedToStart(f"wrong servo model: {'; '.join(wrong)}; bidvis drives {driven_models()}")
    return found


def check_commissioning(calibration_path: Path, servos: dict[int, int], limits: SafetyLimits) -> None:
    """Refuse unless the commissioning record next to the calibration passed for `servos` (id ->
    model number, as pinged) at the gains and Bus Watchdog of `limits`."""
    from controller.commissioning import CommissioningError, check_record_fits, load_record, record_path

    path = record_path(calibration_path)
    if not path.exists():
        raise RefusedToStart(
            f"the arm is not commissioned: no {path.name} next to the calibration; measure it with "
            f"`bidvis commission --port PORT --dir {path.parent}` (docs/commissioning.md)"
        )
    try:
        check_record_fits(load_record(path), servos, limits)
    except CommissioningError as exc:
        raise RefusedToStart(f"{exc}") from None
    except ConfigError as exc:
        problem = " ".join(line.strip() for line in str(exc).splitlines())
        raise RefusedToStart(f"the commissioning record is not valid ({problem}); commission again") from None


def camera_capture(source: str) -> Any:
    """The camera `source` names: an index (`0`), a device (`/dev/video0`), or a video file or
    image folder, which plays in a loop as a stand-in camera (for demos and tests). Not started.
    Raises `vision.errors.CameraError` when it does not open."""
    from vision.capture import CameraCapture

    return CameraCapture(int(source) if source.isdigit() else source, loop=True)


def open_camera(source: str, intrinsics: Any) -> Any:
    """Open the camera and check its first picture against the intrinsics' size."""
    from vision.errors import CameraError

    try:
        camera = camera_capture(source)
    except CameraError as exc:
        raise RefusedToStart(
            f"the camera does not open: {exc}; check --camera (an index such as 0, or /dev/video0)"
        ) from None
    camera.start()
    frame = camera.read(timeout_s=CAMERA_FIRST_FRAME_S)
    if frame is None:
        camera.stop()
        raise RefusedToStart(f"the camera {source!r} opened but gave no picture within {CAMERA_FIRST_FRAME_S:.0f} s")
    height, width = frame.image.shape[:2]
    if (width, height) != (intrinsics.width, intrinsics.height):
        camera.stop()
        raise RefusedToStart(
            f"the camera calibration is stale: it was made for {intrinsics.width}x{intrinsics.height} pictures, "
            f"the camera gives {width}x{height}; calibrate the camera again with `bidvis ui`"
        )
    return camera


def open_switches(paths: list[str], profile: CitizenProfile) -> list[Any]:
    """Open the citizen's switch interfaces (Linux input devices that type a key)."""
    from controller.config import TriggerKind
    from controller.triggers import EvdevSwitch, TriggerDeviceError

    if profile.trigger_kind is TriggerKind.SWITCH and not paths:
        raise RefusedToStart(
            "the profile's trigger is a switch, but no --switch was given "
            "(e.g. --switch /dev/input/by-id/usb-...-event-kbd)"
        )
    switches: list[Any] = []
    for path in paths:
        try:
            switches.append(EvdevSwitch(path))
        except TriggerDeviceError as exc:
            for switch in switches:
                switch.close()
            raise RefusedToStart(f"the citizen's switch does not open: {exc}") from None
    return switches


def preflight(
    port: str,
    camera: str,
    profile_path: Path,
    calibration_path: Path,
    safety_path: Path | None = None,
    switches: list[str] | None = None,
) -> Preflight:
    """Every check of `bidvis run`, cheapest first; raises `RefusedToStart`."""
    checked = check_configuration(profile_path, calibration_path, safety_path)
    checked.face_models = load_face_models()
    if port != checked.calibration.port:
        checked.notes.append(f"the calibration was made on port {checked.calibration.port}; using {port}")
    checked.servos = check_servos(port, checked.calibration)
    check_commissioning(calibration_path, checked.servos, checked.limits)
    checked.switches = open_switches(list(switches or ()), checked.profile)
    try:
        checked.camera = open_camera(camera, checked.intrinsics)
    except RefusedToStart:
        checked.close()
        raise
    return checked


def load_face_models() -> Any:
    """The face networks on their runtime (`vision.FaceModels`); a missing model or runtime refuses to start."""
    from vision import FaceModels, VisionError

    try:
        return FaceModels.load()
    except VisionError as exc:
        raise RefusedToStart(f"the face models do not load: {exc}") from None


def mouth_tracker(profile: CitizenProfile, intrinsics: Any, models: Any = None) -> Any:
    """The citizen's `vision.MouthTracker`: their face size (the mean face, 1.0, when not calibrated)."""
    from vision import MouthTracker, TrackerConfig

    face_scale = 1.0 if profile.face_scale is None else profile.face_scale
    return MouthTracker(TrackerConfig(face_scale=face_scale), intrinsics=intrinsics, models=models)


class MouthFeed:
    """Camera frames through `vision.MouthTracker` into the meal's latest mouth observation."""

    def __init__(self, camera: Any, tracker: Any) -> None:
        self.camera = camera
        self.tracker = tracker
        self.latest: LatestValue[MouthObservation] = LatestValue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mouth-feed", daemon=True)

    def start(self) -> MouthFeed:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            frame = self.camera.read(timeout_s=0.1)
            if frame is None:
                continue
            try:
                observation = self.tracker.update(frame.image, frame.t)
            except Exception:  # a bad frame must not end tracking; the safety supervisor sees it stale
                log.exception("mouth tracking failed on one frame")
                continue
            if observation is not None:
                self.latest.put(observation)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)


def build_robot(
    port: str,
    checked: Preflight,
    profile_path: Path,
    calibration_path: Path,
    journal_path: Path,
    careplan: tuple[str, str] | None = None,
) -> tuple[RobotSession, list[Callable[[], None]]]:
    """The robot session over checked parts, and what must be closed after it (in order).

    `careplan` is (service URL, device token): the journal's events are then sent in the
    background (kept and resent while the service is down).
    """
    from controller.journal import CareplanSender, JournalSync, UsageJournal

    journal = UsageJournal(journal_path)
    closers: list[Callable[[], None]] = []
    if careplan is not None:
        sender = CareplanSender(*careplan)
        sync = JournalSync(journal, sender)
        sync.start()
        closers += [sync.stop, sender.close]
    feed = MouthFeed(checked.camera, mouth_tracker(checked.profile, checked.intrinsics, checked.face_models)).start()
    session = RobotSession(
        port=port,
        calibration=checked.calibration,
        calibration_path=calibration_path,
        profile=checked.profile,
        profile_path=profile_path,
        limits=checked.limits,
        journal=journal,
        camera=None,
        mouth=feed.latest,
        switches=checked.switches,
        controller_process=True,  # the meal's loop apart from the web server (bidvis.motion_runtime)
    )
    return session, [session.close, feed.close, checked.close, *closers, journal.close]


@dataclass
class SimRobot:
    """A robot session on virtual servos and a simulated camera (see `sim_robot`)."""

    session: RobotSession
    bus: Any  # sim.virtual_bus.VirtualServoBus
    journal: Any
    pty: Any  # sim.virtual_bus_pty.PtyBusThread: the servos' port, which the set-up process opens

    @property
    def port(self) -> str:
        """The virtual servos' port (a pseudo-terminal)."""
        return str(self.pty.server.path)

    def close(self) -> None:
        self.session.close()
        self.pty.close()
        self.bus.close()
        self.journal.close()


def _hold_ready_pose(bus: Any, calibration: RobotCalibration) -> None:
    """Leave the virtual arm as staff leave the robot between meals: at its ready pose, the servos
    set up and holding it (torque on, Bus Watchdog off). The flawed arm's joints fall with their
    torque off, so an arm left free would be wherever the time to the first connect let it fall."""
    from controller.servos import ArmServos
    from firmware_bridge import DynamixelBus

    for servo_id, q in zip(calibration.joint_servo_ids, calibration.ready_pose_rad, strict=True):
        bus.plant.set_position(servo_id, q)
    with DynamixelBus(bus.url, baudrate=calibration.baudrate, timeout=0.05) as port:
        ArmServos(calibration.joint_servo_ids).prepare(port, watchdog_steps=0)


def sim_robot(directory: Path, *, name: str | None = None) -> SimRobot:
    """Virtual XM430 servos, a camera that sees a checkerboard on the tool, and the demo files.
    The arm starts at the calibration's ready pose, holding it (`_hold_ready_pose`).

    The calibration and profile files are created in `directory` from the embedded demo defaults
    when absent (and kept: changes made in the pages are saved there). The servos are served on a
    pseudo-terminal (`SimRobot.port`, linked as `directory`/ttyARM): the set-up loop runs in a
    process of its own (`bidvis.motion_runtime.setup_worker`) and opens it as it opens a real port.
    """
    import numpy as np

    from bidvis.robot_ui.board_camera import BoardCamera
    from controller.journal import UsageJournal
    from sim.virtual_bus import VirtualServoBus
    from sim.virtual_bus_pty import PtyBusThread
    from vision import CameraIntrinsics

    directory.mkdir(parents=True, exist_ok=True)
    calibration_path, profile_path = directory / "robot_calibration.toml", directory / "citizen_profile.toml"
    if not calibration_path.exists():
        save_config(demo_calibration(), calibration_path)
    if not profile_path.exists():
        save_config(demo_profile(), profile_path)
    calibration, profile = load_calibration(calibration_path), load_profile(profile_path)
    bus = VirtualServoBus.start(ids=calibration.servo_ids, baudrate=calibration.baudrate, name=name)
    _hold_ready_pose(bus, calibration)
    pty = PtyBusThread(bus, directory / SIM_PORT_LINK)
    journal = UsageJournal(directory / "journal.sqlite3")
    truth = np.asarray(demo_calibration().camera.camera_to_base)  # where the simulated camera really is
    session = RobotSession(
        port=pty.server.path,
        in_process_port=bus.url,  # the meal's thread reaches the servos in this process directly
        calibration=calibration,
        calibration_path=calibration_path,
        profile=profile,
        profile_path=profile_path,
        limits=demo_safety_limits(),
        journal=journal,
    )

    def joints() -> np.ndarray:
        driver = session.arm.driver
        return driver.measured_q() if driver is not None else np.zeros(4)

    session.camera = BoardCamera(joints, CameraIntrinsics.from_fov(640, 480, 70.0), truth)
    return SimRobot(session, bus, journal, pty)


def is_loopback(host: str) -> bool:
    """True for an address only this computer reaches (127.0.0.1, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def site_for(host: str, directory: Path, load_certificate: Callable[[Path], Any]) -> tuple[SiteAddress, Any]:
    """What the pages answer to when listening on `host`, and the certificate to serve them with.

    On a loopback address: plain HTTP, the loopback names. On any other address: HTTPS with the
    robot's certificate from `directory` (`load_certificate`, e.g.
    `bidvis.robot_ui.certificate.load_certificate`), answering to the names in it; without one,
    `ValueError` saying how to make it."""
    if is_loopback(host):
        return SiteAddress.local([host]), None
    certificate = load_certificate(directory)
    if certificate is None:
        raise ValueError(
            f"{host} is on the network, and the robot serves the network only over HTTPS: make its certificate "
            f"first with `bidvis ui make-certificate --dir {directory} --name HOSTNAME --name ADDRESS`"
        )
    return SiteAddress.local(certificate.names, https=True, fingerprint=certificate.fingerprint), certificate


def serve(app: Any, host: str, port: int, certificate: Any = None) -> None:
    """Serve the robot's web app until interrupted (over HTTPS with `certificate`, a
    `bidvis.robot_ui.certificate.RobotCertificate`).

    The start-up heap is frozen first (`settle_heap`): the staff page's set-up loop runs in this
    process, and a full garbage collection holds the interpreter lock while it walks every object;
    with the start-up objects frozen it walks only what requests made since. Unfrozen, one such
    collection in a request's thread stalled the set-up loop on a loaded machine for longer than
    the servos' 200 ms set-up watchdog."""
    import uvicorn

    from careplan_api.garbage_collection import settle_heap

    log.info("start-up objects frozen: %d", settle_heap())
    uvicorn.run(app, host=host, port=port, log_level="warning", **uvicorn_tls(certificate))


def uvicorn_tls(certificate: Any) -> dict[str, Any]:
    """uvicorn's options to serve HTTPS with `certificate` (none for None: plain HTTP)."""
    if certificate is None:
        return {}
    return {"ssl_certfile": str(certificate.certificate_path), "ssl_keyfile": str(certificate.key_path)}
