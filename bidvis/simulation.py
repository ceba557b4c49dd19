"""The simulated meal: the real controller wired to the simulated world (composition root).

`SimulatedMeal` builds everything a meal needs without hardware and runs it on one simulated clock:

    MuJoCo world (sim.world) <- MujocoPlant <- virtual XM430 servos (sim.virtual_bus)
        <- bidvis-sim:// serial port <- firmware_bridge.DynamixelBus <- controller.loop.run_meal
    citizen (sim.citizen) -> camera (sim.camera: face frames -> vision.MouthTracker, or the
        ground-truth fallback) -> MouthObservation -> the loop's mouth source
    citizen's switch, or mouth gesture on those observations (controller.triggers, as the
        profile's trigger_kind says) -> UserCommand -> the loop;  journal -> UsageJournal

`run_simulated_meal` runs one meal and returns a `MealSummary` (what `bidvis demo` prints);
`run_safety_scenario` runs a scenario plus a host-silence probe and returns the
`sim.safety_report.ScenarioResult` that `bidvis safety-report` tabulates.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from controller.config import (
    CameraMount as CalibrationCameraMount,
)
from controller.config import (
    CitizenProfile,
    RobotCalibration,
    SafetyLimits,
    TriggerKind,
    demo_calibration,
    demo_profile,
    demo_safety_limits,
)
from controller.feeding import CommandKind, FeedingState, UserCommand
from controller.journal import UsageJournal
from controller.loop import CommandQueue, LatestValue, MealController, run_meal
from controller.triggers import MouthGesture, TriggerMerger, triggers_for
from firmware_bridge import DynamixelBus
from sim.camera import (
    CameraIntrinsics,
    CameraMount,
    FaceFrameSource,
    FaceMeasure,
    FaceShape,
    FacesUnavailable,
    GroundTruthMouthSource,
    PinholeCamera,
    true_mouth,
)
from sim.citizen import Citizen
from sim.safety_report import ReportLimits, ScenarioResult, StaleAdvanceCounter, time_to_stop
from sim.scenario import Scenario, load_scenarios
from sim.virtual_bus import SimulatedClock, VirtualServoBus
from sim.world import PhysicsUnstable, World, WorldConfig
from sim.world_plant import MujocoPlant
from vision.errors import VisionError
from vision.observation import MouthObservation

log = logging.getLogger(__name__)

SILENCE_PROBE_SPEED_M_S = 0.02  # the host falls silent once the spoon moves at least this fast
SILENCE_WATCH_S = 0.6
SERVO_TICK_S = 0.001  # a servo's own control period, at which it checks its Bus Watchdog
GESTURE_RETRY_S = 3.0  # a citizen whose gesture brought no spoon asks again this long after asking
_TRACKING_STATES = (FeedingState.APPROACH, FeedingState.AT_MOUTH)


class CameraMode(str, Enum):
    """Where mouth observations come from in the simulation."""

    AUTO = "auto"  # face frames through the vision pipeline when the photos are there, else ground truth
    FACES = "faces"
    GROUND_TRUTH = "ground_truth"


@dataclass
class MealSummary:
    """What a simulated meal did (the `bidvis demo` summary)."""

    scenario: str
    bites_offered: int
    bites_taken: int
    bite_timeouts: int
    duration_s: float
    wall_s: float
    realtime_factor: float
    safety_stops: int
    safety_reasons: dict[str, int]
    safety_stop_reasons: dict[str, int]  # the journal's `safety_stop` events by their reason
    peak_face_force_n: float
    max_speed_near_mouth_m_s: float
    max_approach_speed_m_s: float
    closest_approach_m: float
    advances_on_stale_mouth: int
    final_state: str
    camera_mode: str
    ground_truth_camera: bool
    events: dict[str, int]
    citizen_bites_taken: int
    aborted: str | None = None
    citizen_log: list[tuple[float, str]] = field(default_factory=list)
    face_scale: float | None = None  # the tracker's calibration of the citizen's face (face frames only)
    camera_reason: str = ""  # why the ground-truth camera stood in for the vision pipeline, when it did
    mouth_error_m: dict[str, float] | None = None  # vision vs truth, 3-D (face frames only)
    trigger_kind: str = TriggerKind.SWITCH.value
    gesture: dict[str, int] | None = None  # the mouth gesture's triggers, misfires, speech openings

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class PacedClock(SimulatedClock):
    """Simulated time that never runs ahead of wall time x `speed` (1.0 = real time): the loop's
    sleeps wait for the wall clock; bus reads still advance simulated time as they need."""

    def __init__(self, speed: float) -> None:
        if not (math.isfinite(speed) and speed > 0.0):
            raise ValueError(f"speed must be a positive factor of real time, got {speed}")
        super().__init__()
        self.speed = speed
        self._wall_start = time.monotonic()

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        ahead_s = self.now() / self.speed - (time.monotonic() - self._wall_start)
        if ahead_s > 0.0:
            time.sleep(ahead_s)


class _CountingJournal:
    """Passes events to the real journal and counts them by type."""

    def __init__(self, journal: Any) -> None:
        self._journal = journal
        self.counts: Counter[str] = Counter()
        self.safety_stop_reasons: Counter[str] = Counter()

    def start_meal(self, data: Mapping[str, Any] | None = None) -> Any:
        self.counts["meal_started"] += 1
        return self._journal.start_meal(data)

    def record(self, event_type: Any, data: Mapping[str, Any] | None = None) -> Any:
        kind = str(getattr(event_type, "value", event_type))
        self.counts[kind] += 1
        if kind == "safety_stop":
            self.safety_stop_reasons[str((data or {}).get("reason"))] += 1
        return self._journal.record(event_type, data)

    def end_meal(self, reason: str = "completed", data: Mapping[str, Any] | None = None) -> Any:
        self.counts["meal_ended"] += 1
        return self._journal.end_meal(reason, data)


def sim_calibration(calibration: RobotCalibration, camera: PinholeCamera) -> RobotCalibration:
    """The robot calibration of the simulated robot: the given one with the simulated camera's
    mount (its pose in the base frame), so vision positions land where the simulator put them."""
    matrix = np.eye(4)
    matrix[:3, :3] = camera.mount.rotation_world_from_camera()
    matrix[:3, 3] = camera.mount.position_m
    mount = CalibrationCameraMount(intrinsics_ref="simulated-camera", camera_to_base=matrix.tolist())
    return calibration.model_copy(update={"camera": mount})


def vision_face_measure(models: Any, focal_px: float) -> FaceMeasure:
    """The simulated camera's `FaceMeasure`, by the vision pipeline itself: the photo's face mesh
    from `vision.MouthTracker`, placed in metres as if the photo had been taken with focal length
    `focal_px` about its centre, with the mouth at the distance that `vision.head_pose` fits
    against the mean face and the mesh's relative depths around it.

    Rendered at its true distance, the photo's face then has the mean face's size: seen straight on,
    the tracker's default `face_scale` of 1.0 reads its distance right. Its proportions are still the
    photographed person's (`calibrate_face_scale` absorbs most of that for side views).
    """
    from vision import CameraIntrinsics as VisionIntrinsics
    from vision import MouthTracker
    from vision.head_pose import estimate_head_pose
    from vision.mouth import LOWER_INNER_LIP, UPPER_INNER_LIP

    def measure(image_bgr: np.ndarray) -> FaceShape | None:
        tracker = MouthTracker(models=models)
        tracker.update(image_bgr, 0.0)
        points = tracker.landmarks_px
        if points is None:
            return None
        h, w = image_bgr.shape[:2]
        pose = estimate_head_pose(points, VisionIntrinsics(focal_px, focal_px, w / 2.0, h / 2.0, w, h))
        if pose is None:
            return None
        mouth_depth_m = float(pose.mouth_position_m()[2])
        mesh_mouth_z = (points[UPPER_INNER_LIP, 2] + points[LOWER_INNER_LIP, 2]) / 2.0
        depth = mouth_depth_m * (1.0 + (points[:, 2] - mesh_mouth_z) / focal_px)  # mesh z is in pixels
        metres = np.column_stack(
            [(points[:, 0] - w / 2.0) * depth / focal_px, (points[:, 1] - h / 2.0) * depth / focal_px, depth]
        )
        return FaceShape(points[:, :2].astype(float), metres)

    return measure


def calibrate_face_scale(frames: FaceFrameSource, intrinsics: Any, models: Any, views: int = 3) -> float:
    """The citizen's `face_scale` as staff set it up: the tracker looks at the face a few times
    while the mouth's distance from the camera is known (on the robot: the spoon held at the lips;
    here: the simulator's truth), and `vision.head_pose.face_scale_from_depth` does the rest.

    Raises `FacesUnavailable` when the tracker finds no face in the set-up view.
    """
    from vision import MouthTracker
    from vision.head_pose import face_scale_from_depth

    tracker = MouthTracker(intrinsics=intrinsics, models=models)
    for k in range(views):
        tracker.update(frames.compose(), -1.0 + 0.01 * k)
    truth = true_mouth(frames.world, frames.camera)
    if tracker.landmarks_px is None or truth is None:
        raise FacesUnavailable("no face in the set-up view: the citizen's face_scale cannot be calibrated")
    try:
        scale = face_scale_from_depth(tracker.landmarks_px, intrinsics, float(truth.position_cam_m[2]))
    except ValueError as exc:
        raise FacesUnavailable(f"the citizen's face_scale cannot be calibrated: {exc}") from exc
    log.info("simulated citizen's face_scale calibrated to %.3f", scale)
    return scale


class SimulatedMeal:
    """One simulated meal, built and ready to `run()`; see the module docstring.

    `speed` None runs as fast as the machine allows; a number paces simulated time to that
    multiple of real time (1.0 = real time, for watching). `face_scale` is the tracker's calibration
    of the citizen's face in face-frame mode; None calibrates it at set-up (`calibrate_face_scale`).
    """

    def __init__(
        self,
        scenario: Scenario,
        journal: Any,
        *,
        profile: CitizenProfile | None = None,
        calibration: RobotCalibration | None = None,
        limits: SafetyLimits | None = None,
        camera_mode: CameraMode = CameraMode.GROUND_TRUTH,
        faces_dir: Path | None = None,
        camera_intrinsics: CameraIntrinsics | None = None,
        camera_mount: CameraMount | None = None,
        report_limits: ReportLimits = ReportLimits(),
        speed: float | None = None,
        face_scale: float | None = None,
        camera_fps: float = 30.0,
    ) -> None:
        if not (math.isfinite(camera_fps) and 1.0 <= camera_fps <= 120.0):
            raise ValueError(f"camera_fps must be 1-120 frames per second, got {camera_fps}")
        self.camera_fps = camera_fps
        if face_scale is not None and not (math.isfinite(face_scale) and face_scale > 0.0):
            raise ValueError(f"face_scale must be a positive factor of the mean face, got {face_scale}")
        self.scenario = scenario
        self.profile = profile or demo_profile()
        self.limits = limits or demo_safety_limits()
        self.camera = PinholeCamera(camera_intrinsics, camera_mount)
        self.calibration = sim_calibration(calibration or demo_calibration(), self.camera)
        spoon = self.calibration.spoon
        self.world = World(WorldConfig(spoon_offset_m=(spoon.x_m, spoon.z_m)))
        self.world.set_arm_pose(self.calibration.ready_pose_rad)
        self.clock = SimulatedClock() if speed is None else PacedClock(speed)
        ids = tuple(self.calibration.joint_servo_ids)
        self.bus = VirtualServoBus.start(
            ids,
            clock=self.clock,
            plant=MujocoPlant(self.world, ids),
            tick_s=1.0 / self.calibration.rate_hz,
            baudrate=self.calibration.baudrate,
        )
        self.face_scale = face_scale
        self.mouth_errors_m: list[float] = []
        try:
            self.host = DynamixelBus(self.bus.url, baudrate=self.calibration.baudrate)
            self.camera_reason = ""
            self.camera_mode, self._frames, self._sightings, self._tracker = self._open_camera(camera_mode, faces_dir)
        except BaseException:
            self.bus.close()
            raise
        self.citizen = Citizen(self.world, scenario)
        self.journal = _CountingJournal(journal)
        self.mouth: LatestValue[MouthObservation] = LatestValue()
        self.inputs = CommandQueue()  # the citizen's switch and panel; the loop polls `triggers`
        self._state = FeedingState.IDLE
        self.triggers: TriggerMerger = triggers_for(
            self.profile, armed=lambda: self._state is FeedingState.READY, switches=(self.inputs,)
        )
        self._last_ask_s = -math.inf
        self.report_limits = report_limits
        self.stale_advances = StaleAdvanceCounter(report_limits.stale_mouth_s, 1.0 / self.calibration.rate_hz)
        self._started = False
        self._ended = False
        self._asked_in_ready = False
        self._last_spoon: np.ndarray | None = None
        self._last_sighting_t: float | None = None
        self._mouth_content_t: float | None = None  # when the scene of the latest observation was captured

    def _open_camera(self, mode: CameraMode, faces_dir: Path | None):
        faults = self.scenario.camera_faults
        seed = self.scenario.seed
        if mode in (CameraMode.AUTO, CameraMode.FACES):
            try:
                from vision import CameraIntrinsics as VisionIntrinsics
                from vision import FaceModels, MouthTracker, TrackerConfig

                models = FaceModels.load()
                ci = self.camera.intrinsics
                intrinsics = VisionIntrinsics(ci.fx, ci.fy, ci.cx, ci.cy, ci.width_px, ci.height_px)
                frames = FaceFrameSource(
                    self.world,
                    self.camera,
                    faults,
                    faces_dir=faces_dir,
                    seed=seed,
                    measure_face=vision_face_measure(models, ci.fx),
                    fps=self.camera_fps,
                )
                if self.face_scale is None:
                    self.face_scale = calibrate_face_scale(frames, intrinsics, models)
                tracker = MouthTracker(TrackerConfig(face_scale=self.face_scale), intrinsics=intrinsics, models=models)
                return CameraMode.FACES, frames, None, tracker
            except (FacesUnavailable, VisionError, ImportError, OSError) as exc:
                if mode is CameraMode.FACES:
                    raise
                reason = f"face frames unavailable ({exc})"
        else:
            reason = "ground-truth camera chosen"
        self.camera_reason = reason
        sightings = GroundTruthMouthSource(
            self.world, self.camera, faults, seed=seed, reason=reason, fps=self.camera_fps
        )
        return CameraMode.GROUND_TRUTH, None, sightings, None

    # -- one tick of the world, after each controller tick -----------------------------------------

    def _observe(self, now_s: float) -> None:
        if self._frames is not None:
            delivered = self._frames.poll(now_s)
            if delivered is not None:
                observation = self._tracker.update(delivered[1], delivered[0])
                if observation is not None:
                    self.mouth.put(observation)
                    self._mouth_content_t = self._frames.delivered_content_t
                    truth = self._frames.delivered_truth_m
                    if observation.position_m is not None and truth is not None:
                        self.mouth_errors_m.append(float(np.linalg.norm(np.subtract(observation.position_m, truth))))
            return
        sighting = self._sightings.poll(now_s)
        if sighting is not None and sighting.t != self._last_sighting_t:
            self._last_sighting_t = sighting.t
            self._mouth_content_t = sighting.content_t
            self.mouth.put(
                MouthObservation(
                    sighting.center_px,
                    sighting.width_px,
                    sighting.open_ratio,
                    sighting.is_open,
                    sighting.confidence,
                    sighting.t,
                    sighting.position_m,
                )
            )

    def _ask(self, controller: MealController, now_s: float) -> None:
        """The citizen at the meal: start it, ask for each bite the way the profile's
        `trigger_kind` says (auto-pace needs no asking), end it once the scenario's bites are eaten."""
        state = self._state = controller.state
        if not self._started:
            self.inputs.push(UserCommand(CommandKind.START_MEAL, source="switch"))
            self._started = True
            return
        if state is not FeedingState.READY:
            self._asked_in_ready = False
            return
        if self.citizen.bites_taken >= self.scenario.bites and not self._ended:
            self.inputs.push(UserCommand(CommandKind.END_MEAL, source="panel"))
            self._ended = True
        elif not self.citizen.wants_bite:
            return
        elif self.profile.trigger_kind is TriggerKind.MOUTH_GESTURE:
            if not self.citizen.gesturing(now_s) and (
                not self._asked_in_ready or now_s - self._last_ask_s >= GESTURE_RETRY_S
            ):
                self.citizen.ask_for_bite(now_s)
                self._asked_in_ready, self._last_ask_s = True, now_s
        elif self.profile.trigger_kind is not TriggerKind.AUTO_PACE and not self._asked_in_ready:
            self.inputs.push(UserCommand(CommandKind.NEXT_BITE, source=self.profile.trigger_kind.value))
            self._asked_in_ready = True

    def _measure(self, now_s: float, controller: MealController) -> None:
        spoon = np.asarray(controller.motion.spoon_pose[:3], dtype=float)
        if self._last_spoon is not None and controller.state in _TRACKING_STATES:
            to_mouth = self.world.mouth_position() - spoon
            distance = float(np.linalg.norm(to_mouth))
            velocity = (spoon - self._last_spoon) / controller.period_s
            toward = float(velocity @ to_mouth / distance) if distance > 1e-9 else 0.0
            # the age of what the controller knows: a frozen frame looks fresh but shows the past
            age = math.inf if self._mouth_content_t is None else now_s - self._mouth_content_t
            self.stale_advances.update(age, toward)
        self._last_spoon = spoon

    def on_tick(self, controller: MealController) -> None:
        """The simulator's part of one control tick (after the controller's sync write)."""
        now_s = self.clock.now()
        self.citizen.spoon_waiting = controller.state is FeedingState.READY
        self.citizen.update(now_s)
        self._observe(now_s)
        self._ask(controller, now_s)
        self._measure(now_s, controller)

    # -- running --------------------------------------------------------------------------------

    def run(self, stop_when: Callable[[MealController], bool] | None = None, on_progress=None):
        """Run the meal until it ends, the scenario's time is up, or `stop_when`; returns the
        loop's `MealReport` (or raises `PhysicsUnstable`)."""

        def on_tick(controller: MealController) -> None:
            self.on_tick(controller)
            if on_progress is not None:
                on_progress(self, controller)

        return run_meal(
            self.host,
            self.mouth,
            self.triggers,
            self.clock,
            self.journal,
            self.profile,
            self.calibration,
            self.limits,
            rate_hz=self.calibration.rate_hz,
            max_duration_s=self.scenario.max_duration_s,
            stop_when=stop_when,
            on_tick=on_tick,
        )

    def close(self) -> None:
        """Close the host port and unregister the virtual bus."""
        self.host.close()
        self.bus.close()

    def __enter__(self) -> SimulatedMeal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def host_silence_stop_s(self, watch_s: float = SILENCE_WATCH_S) -> float:
        """With the host silent from now on, step the servos and physics alone and return the
        seconds until the spoon stands still (NaN if it does not within `watch_s`)."""
        silent_from = self.clock.now()
        # The meal steps the virtual servos once per control period (5 ms) for speed, so a servo
        # would check its Bus Watchdog only that often and stop up to a period late; a servo checks
        # it every millisecond, so the probe steps them at that (the virtual bus's own default).
        self.bus.tick_s = min(self.bus.tick_s, SERVO_TICK_S)
        speeds = []
        t = silent_from
        tick = self.world.timestep_s
        while t < silent_from + watch_s:
            t += tick
            self.clock.advance_to(t)
            self.bus.advance_to(t)
            speeds.append((t, self.world.spoon_tip_speed()))
        return time_to_stop(speeds, silent_from)


def _summary(meal: SimulatedMeal, report, wall_s: float, aborted: str | None) -> MealSummary:
    metrics = meal.world.metrics
    feeding = report.feeding if report is not None else None
    reasons = {} if report is None else {str(k): v for k, v in report.controller.reasons.items()}
    duration = meal.clock.now()
    return MealSummary(
        scenario=meal.scenario.name,
        bites_offered=feeding.bites_offered if feeding else 0,
        bites_taken=feeding.bites_taken if feeding else 0,
        bite_timeouts=feeding.bite_timeouts if feeding else 0,
        duration_s=round(duration, 3),
        wall_s=round(wall_s, 3),
        realtime_factor=round(duration / wall_s, 2) if wall_s > 0 else math.inf,
        safety_stops=feeding.safety_stops if feeding else 0,
        safety_reasons=reasons,
        safety_stop_reasons=dict(meal.journal.safety_stop_reasons),
        peak_face_force_n=round(metrics.peak_face_force_n, 4),
        max_speed_near_mouth_m_s=round(metrics.max_speed_near_mouth_m_s, 4),
        max_approach_speed_m_s=round(metrics.max_approach_speed_m_s, 4),
        closest_approach_m=round(metrics.closest_approach_m, 4),
        advances_on_stale_mouth=meal.stale_advances.count,
        final_state=str(report.final_state.value) if report is not None else "aborted",
        camera_mode=meal.camera_mode.value,
        ground_truth_camera=meal.camera_mode is CameraMode.GROUND_TRUTH,
        camera_reason=meal.camera_reason,
        events=dict(meal.journal.counts),
        citizen_bites_taken=meal.citizen.bites_taken,
        aborted=aborted,
        citizen_log=list(meal.citizen.log),
        face_scale=None if meal.face_scale is None else round(meal.face_scale, 4),
        mouth_error_m=_error_stats(meal.mouth_errors_m),
        trigger_kind=meal.profile.trigger_kind.value,
        gesture=_gesture_counts(meal.triggers),
    )


def _gesture_counts(triggers: TriggerMerger) -> dict[str, int] | None:
    """What the mouth gesture detector saw, when the profile's trigger is the gesture."""
    for source in triggers.sources:
        if isinstance(source, MouthGesture):
            return {"triggers": source.triggers, "misfires": source.misfires, "speech_openings": source.speech_openings}
    return None


def _error_stats(errors_m: list[float]) -> dict[str, float] | None:
    """Median, 90th percentile and largest of the vision pipeline's 3-D mouth errors (m), and their count."""
    if not errors_m:
        return None
    median, p90 = np.percentile(errors_m, [50, 90])
    return {
        "median": round(float(median), 4),
        "p90": round(float(p90), 4),
        "max": round(max(errors_m), 4),
        "count": len(errors_m),
    }


def run_simulated_meal(
    scenario: Scenario,
    journal: Any,
    *,
    on_progress: Callable[[SimulatedMeal, MealController], None] | None = None,
    **options: Any,
) -> MealSummary:
    """Build and run one simulated meal; the journal gets the meal's events. `options` go to
    `SimulatedMeal` (profile, calibration, limits, camera_mode, faces_dir, ...)."""
    with SimulatedMeal(scenario, journal, **options) as meal:
        started = time.perf_counter()
        report, aborted = None, None
        try:
            report = meal.run(on_progress=on_progress)
        except PhysicsUnstable as exc:
            log.error("simulated meal stopped: %s", exc)
            aborted = str(exc)
        return _summary(meal, report, time.perf_counter() - started, aborted)


class FastestMotion:
    """Where in a meal the arm drove the spoon fastest (the worst moment for the host to fall
    silent): during the approach to the mouth, and in any state after the first second. The
    commanded speed, so that a spoon knocked about in its holder does not count. Pass `update` as
    a meal's `on_progress`."""

    def __init__(self) -> None:
        self.approach = (0.0, math.nan)  # (commanded spoon speed m/s, simulated time s)
        self.any_state = (0.0, math.nan)

    def update(self, meal: SimulatedMeal, controller: MealController) -> None:
        speed, now = controller.motion.spoon_speed_m_s, meal.clock.now()
        if speed > self.approach[0] and controller.state in _TRACKING_STATES:
            self.approach = (speed, now)
        if speed > self.any_state[0] and now > 1.0:
            self.any_state = (speed, now)


def _silence_probe(scenario: Scenario, journal_dir: Path, options: dict[str, Any], at_s: float, name: str) -> float:
    """Replay the scenario (seeded: the same meal) to simulated time `at_s`, then silence the host;
    NaN if the spoon does not move there."""
    journal = UsageJournal(journal_dir / f"probe-{name}.sqlite3")
    try:
        with SimulatedMeal(scenario, journal, **options) as meal:
            meal.run(stop_when=lambda controller: meal.clock.now() >= at_s)
            if meal.world.spoon_tip_speed() <= SILENCE_PROBE_SPEED_M_S:
                return math.nan
            return meal.host_silence_stop_s()
    finally:
        journal.close()


def run_safety_scenario(
    scenario: Scenario, *, report_limits: ReportLimits = ReportLimits(), workdir: Path | None = None, **options: Any
) -> ScenarioResult:
    """Run one safety scenario with the real controller and measure it (plus the silence probe)."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        notes: list[str] = []
        main = UsageJournal(Path(tmp) / "meal.sqlite3")
        fastest = FastestMotion()
        try:
            summary = run_simulated_meal(
                scenario, main, report_limits=report_limits, on_progress=fastest.update, **options
            )
        finally:
            main.close()
        probe_options = {"report_limits": report_limits, **options}
        try:
            # The worst moment of the approach: where the spoon moved fastest toward the face.
            stop_s = _silence_probe(scenario, Path(tmp), probe_options, fastest.approach[1], "approach")
            if math.isnan(stop_s):
                stop_s = _silence_probe(scenario, Path(tmp), probe_options, fastest.any_state[1], "any")
                notes.append(
                    "host-silence probe: no approach to the mouth in this scenario, probed where the spoon moved fastest"
                )
        except PhysicsUnstable as exc:
            stop_s = math.nan
            notes.append(f"silence probe aborted: {exc}")
    if math.isnan(stop_s):
        notes.append("host-silence probe: the arm never moved, so no stop time was measured")
    if summary.bites_taken < min(scenario.bites, summary.bites_offered):
        notes.append(f"{summary.bites_taken} of {summary.bites_offered} bites offered were taken")
    return ScenarioResult(
        scenario=scenario.name,
        peak_face_force_n=summary.peak_face_force_n,
        max_speed_near_mouth_m_s=summary.max_speed_near_mouth_m_s,
        max_approach_speed_m_s=summary.max_approach_speed_m_s,
        closest_approach_m=summary.closest_approach_m,
        advances_on_stale_mouth=summary.advances_on_stale_mouth,
        stop_after_host_silence_s=stop_s,
        bites_offered=summary.bites_offered,
        bites_taken=summary.bites_taken,
        safety_stops=summary.safety_stops,
        safety_stop_reasons=tuple(sorted(summary.safety_stop_reasons.items())),
        duration_s=summary.duration_s,
        ground_truth_camera=summary.ground_truth_camera,
        aborted=summary.aborted,
        notes=tuple(notes),
    )


def run_safety_scenarios(path: Path | None = None, **options: Any) -> list[ScenarioResult]:
    """Every scenario of a file (the built-in ones by default), in order."""
    scenarios = load_scenarios(path) if path is not None else load_scenarios()
    return [run_safety_scenario(s, **options) for s in scenarios]
