"""The simulated camera as the controller sees it: mouth observations from face frames through
the real vision pipeline, or from the ground-truth source; and the robot calibration that puts
the simulated camera where the simulator has it."""

from __future__ import annotations

import math
from enum import Enum
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bidvis.simulation.face_vision import calibrate_face_scale, vision_face_measure
from controller.config import CameraMount as CalibrationCameraMount
from controller.config import RobotCalibration
from controller.loop import LatestValue
from sim.calibration_error import believed_face_scale, believed_intrinsics, seen_position_m
from sim.camera import FaceFrameSource, FacesUnavailable, GroundTruthMouthSource, PinholeCamera
from sim.scenario import CalibrationError, CameraFault, CameraVision, Scenario
from sim.world import World
from vision.errors import VisionError
from vision.observation import MouthObservation

VISION_HYSTERESIS_M = 0.02


class CameraMode(str, Enum):
    """Where mouth observations come from in the simulation."""

    AUTO = "auto"  # face frames through the vision pipeline when the photos are there, else ground truth
    FACES = "faces"
    GROUND_TRUTH = "ground_truth"


def sim_calibration(
    calibration: RobotCalibration, camera: PinholeCamera, error: CalibrationError = CalibrationError()
) -> RobotCalibration:
    """The robot calibration of the simulated robot: the given one with the simulated camera's
    mount (its pose in the base frame), so vision positions land where the simulator put them,
    or off by `error` (what the controller then believes about its camera)."""
    matrix = np.eye(4)
    matrix[:3, :3] = camera.mount.rotation_world_from_camera()
    matrix[:3, 3] = camera.mount.position_m
    if error != CalibrationError():
        turn, _ = cv2.Rodrigues(np.asarray(error.camera_rotation_rad, dtype=float))
        matrix[:3, :3] = turn @ matrix[:3, :3]
        matrix[:3, 3] += error.camera_translation_m
    mount = CalibrationCameraMount(intrinsics_ref="simulated-camera", camera_to_base=matrix.tolist())
    return calibration.model_copy(update={"camera": mount})


class MouthFeed:
    """The camera, polled once per control tick: puts each new mouth observation into `mouth`
    (the loop's mouth source) and remembers when the scene it shows was captured (`content_t`:
    a frozen frame looks fresh but shows the past).

    `mode` AUTO opens face frames when the photos and models are there, else the ground-truth
    source, saying why in `reason` and the log; FACES (or a scenario whose camera asks for `faces`)
    opens face frames or raises what stops them (`FacesUnavailable`, a `VisionError` such as
    `ModelRuntimeError`, ...); `face_scale` None calibrates the tracker's face scale at set-up
    (face frames only).
    """

    def __init__(
        self,
        world: World,
        camera: PinholeCamera,
        scenario: Scenario,
        mode: CameraMode,
        *,
        faces_dir: Path | None = None,
        face_scale: float | None = None,
        fps: float = 30.0,
    ) -> None:
        if not (math.isfinite(fps) and 1.0 <= fps <= 120.0):
            raise ValueError(f"camera_fps must be 1-120 frames per second, got {fps}")
        if face_scale is not None and not (math.isfinite(face_scale) and face_scale > 0.0):
            raise ValueError(f"face_scale must be a positive factor of the mean face, got {face_scale}")
        self.world = world
        self.camera = camera
        self.calibration_error = scenario.calibration_error
        self.fps = fps
        self.face_scale = face_scale
        self.mouth: LatestValue[MouthObservation] = LatestValue()
        self.content_t: float | None = None  # when the scene of the latest observation was captured
        self.mouth_errors_m: list[float] = []  # vision against truth (face frames only)
        self._newest_t = -math.inf  # capture time of the newest observation handed on
        self._frames: FaceFrameSource | None = None
        self._tracker: Any = None
        self._sightings: GroundTruthMouthSource | None = None
        self._vision_within_m: float | None = None  # face frames only this near (else ground truth)
        self._vision_on = True
        self.reason = ""  # why the ground-truth camera stands in for the vision pipeline, when it does
        self.mode = self._open(scenario, mode, faces_dir)

    def _open(self, scenario: Scenario, mode: CameraMode, faces_dir: Path | None) -> CameraMode:
        faults, seed, settings = scenario.camera_faults, scenario.seed, scenario.camera
        if settings.vision is CameraVision.FACES:
            # The scenario asks for the vision pipeline in the loop (a campaign's vision run): face frames
            # through the tracker, or the error that stops them. Never the ground-truth camera in its place,
            # which would pass the run as a vision run that never saw a face (issue 12).
            mode = CameraMode.FACES
        elif settings.vision is CameraVision.GROUND_TRUTH:
            mode = CameraMode.GROUND_TRUTH
        if mode in (CameraMode.AUTO, CameraMode.FACES):
            try:
                from vision import CameraIntrinsics as VisionIntrinsics
                from vision import FaceModels, MouthTracker, TrackerConfig
                from vision.camera_health import HealthLimits

                models = FaceModels.load()
                ci = self.camera.intrinsics
                believed = believed_intrinsics(ci.fx, ci.fy, ci.cx, ci.cy, self.calibration_error)
                intrinsics = VisionIntrinsics(*believed, ci.width_px, ci.height_px)
                frames = FaceFrameSource(
                    self.world,
                    self.camera,
                    faults,
                    faces_dir=faces_dir,
                    seed=seed,
                    measure_face=vision_face_measure(models, ci.fx),
                    fps=self.fps,
                    light=settings.light,
                    sensor_noise=settings.sensor_noise,
                )
                if self.face_scale is None:
                    self.face_scale = calibrate_face_scale(frames, intrinsics, models)
                self.face_scale = believed_face_scale(self.face_scale, self.calibration_error)
                # The content check a real camera gets (vision.capture runs it on live cameras).
                config = TrackerConfig(face_scale=self.face_scale, health=HealthLimits())
                self._tracker = MouthTracker(config, intrinsics=intrinsics, models=models)
                self._frames = frames
                if settings.vision_within_m is not None:
                    self._vision_within_m = settings.vision_within_m
                    self._sightings = self._ground_truth(scenario, "far from the face")
                return CameraMode.FACES
            except (FacesUnavailable, VisionError, ImportError, OSError) as exc:
                if mode is CameraMode.FACES:
                    raise
                reason = f"face frames unavailable ({exc})"
        else:
            reason = "ground-truth camera chosen"
        self.reason = reason
        self._sightings = self._ground_truth(scenario, reason)
        return CameraMode.GROUND_TRUTH

    def _ground_truth(self, scenario: Scenario, reason: str) -> GroundTruthMouthSource:
        settings, faults, seed = scenario.camera, scenario.camera_faults, scenario.seed
        return GroundTruthMouthSource(
            self.world,
            self.camera,
            faults,
            seed=seed,
            reason=reason,
            fps=self.fps,
            latency_s=settings.latency_s,
            noise_px=settings.noise_px / settings.light,
            depth_noise=settings.depth_noise / settings.light,
            depth_noise_time_s=settings.depth_noise_time_s,
            dropout_probability=settings.dropout_probability,
            face_size=scenario.face_size,
        )

    def add_fault(self, fault: CameraFault) -> None:
        """Inject a camera fault into every camera of the feed (face frames and ground truth)."""
        for source in (self._frames, self._sightings):
            if source is not None:
                source.faults.add(fault)

    def poll(self, now_s: float) -> None:
        """Take what the camera delivers by `now_s` and hand it on."""
        if self._vision_within_m is not None:
            distance = float(np.linalg.norm(self.world.spoon_tip_position() - self.world.mouth_position()))
            # a little hysteresis, so that a spoon at the edge does not flip the source every tick
            self._vision_on = distance < self._vision_within_m + (VISION_HYSTERESIS_M if self._vision_on else 0.0)
        if self._frames is not None and self._vision_on:
            delivered = self._frames.poll(now_s)
            if delivered is not None:
                observation = self._tracker.update(delivered[1], delivered[0])
                if observation is not None:
                    self._newest_t = max(self._newest_t, observation.t)
                    self.mouth.put(observation)
                    self.content_t = self._frames.delivered_content_t
                    truth = self._frames.delivered_truth_m
                    if observation.position_m is not None and truth is not None:
                        self.mouth_errors_m.append(float(np.linalg.norm(np.subtract(observation.position_m, truth))))
            return
        assert self._sightings is not None
        sighting = self._sightings.poll(now_s)
        if sighting is not None and sighting.t > self._newest_t:  # never an older one after face frames
            self._newest_t = sighting.t
            self.content_t = sighting.content_t
            position = sighting.position_m
            if position is not None:
                ci = self.camera.intrinsics
                position = seen_position_m(position, ci.fx, ci.fy, ci.cx, ci.cy, self.calibration_error)
            self.mouth.put(
                MouthObservation(
                    sighting.center_px,
                    sighting.width_px,
                    sighting.open_ratio,
                    sighting.is_open,
                    sighting.confidence,
                    sighting.t,
                    position,
                )
            )
