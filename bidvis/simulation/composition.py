"""The simulated meal: the real controller wired to the simulated world (composition root).

`SimulatedMeal` builds everything a meal needs without hardware, on one injected clock, and runs
it. It is the one composition behind `bidvis demo`, `bidvis safety-report` and
`bidvis safety-campaign`:

    physics: MuJoCo world (sim.world) <- MujocoPlant <- virtual XM430 servos (sim.virtual_bus)
        <- bidvis-sim:// serial port <- firmware_bridge.DynamixelBus <- controller.loop.run_meal
    task: the citizen at the meal (meal_task.MealTask: head, mouth, switch, gesture) acts in the
        world before each tick, like a dm_control task on its physics
    camera: face frames -> vision.MouthTracker, or the ground-truth source (camera_feed.MouthFeed)
        -> MouthObservation -> the loop's mouth source
    judge: the world's physics metrics, and stale-mouth advances (judge.StaleMouthJudge)

The clock (`clock.meal_clock`, or one given) is the only time there is: the virtual bus and the
loop keep it, and the task, camera and judge are stepped with its `now()` after every tick.
`run_simulated_meal` runs one meal and returns a `MealSummary` (what `bidvis demo` prints).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bidvis.simulation.camera_feed import CameraMode, MouthFeed, sim_calibration
from bidvis.simulation.clock import meal_clock
from bidvis.simulation.judge import ArmStopJudge, StaleMouthJudge
from bidvis.simulation.meal_task import MealTask
from bidvis.simulation.summary import CountingJournal, MealSummary, summarize
from controller.config import (
    CitizenProfile,
    RobotCalibration,
    SafetyLimits,
    demo_calibration,
    demo_profile,
    demo_safety_limits,
)
from controller.loop import MealController, MealReport, run_meal
from firmware_bridge import DynamixelBus
from sim.camera import CameraIntrinsics, CameraMount, PinholeCamera
from sim.faults import FaultInjector, xl430_models
from sim.flaws import ArmFlaws, default_flaws
from sim.safety_report import ReportLimits, time_to_stop
from sim.scenario import Scenario
from sim.virtual_bus import SimulatedClock, VirtualServoBus
from sim.world import PhysicsUnstable, World, WorldConfig
from sim.world_plant import MujocoPlant

log = logging.getLogger(__name__)

SERVO_TICK_S = 0.001  # a servo's own control period, at which it checks its Bus Watchdog
SILENCE_WATCH_S = 0.6


class SimulatedMeal:
    """One simulated meal, built and ready to `run()`; see the module docstring.

    `clock` is the meal's one clock; without it, `speed` None runs as fast as the machine allows
    and a number paces simulated time to that multiple of real time (1.0 = real time, for
    watching). `face_scale` is the tracker's calibration of the citizen's face in face-frame mode;
    None calibrates it at set-up (`face_vision.calibrate_face_scale`). `flaws` are the simulated
    arm's (`sim.flaws`); None takes the scenario's, else the default preset. The scenario's
    `servo_faults` are injected by `self.faults` (`sim.faults.FaultInjector`) every tick.
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
        clock: SimulatedClock | None = None,
        face_scale: float | None = None,
        camera_fps: float = 30.0,
        flaws: ArmFlaws | None = None,
    ) -> None:
        self.scenario = scenario
        self.flaws = flaws or scenario.flaws or default_flaws()
        self.profile = profile or demo_profile()
        self.limits = limits or demo_safety_limits()
        self.camera = PinholeCamera(camera_intrinsics, camera_mount)
        self.calibration = sim_calibration(calibration or demo_calibration(), self.camera, scenario.calibration_error)
        spoon = self.calibration.spoon
        seat = WorldConfig().neck_home_m
        self.world = World(
            WorldConfig(
                spoon_offset_m=(spoon.x_m, spoon.z_m),
                neck_home_m=(
                    seat[0] + scenario.seating_offset_m[0],
                    seat[1] + scenario.seating_offset_m[1],
                    seat[2] + scenario.seating_offset_m[2],
                ),
            )
        )
        self.world.set_arm_pose(self.calibration.ready_pose_rad)
        self.world.add_joint_friction(self.flaws.friction_nm)
        self.clock = clock if clock is not None else meal_clock(speed)
        ids = tuple(self.calibration.joint_servo_ids)
        self.bus = VirtualServoBus.start(
            ids,
            clock=self.clock,
            plant=MujocoPlant(self.world, ids, backlash_rad=self.flaws.backlash_rad),
            tick_s=1.0 / self.calibration.rate_hz,
            baudrate=self.calibration.baudrate,
            flaws=self.flaws,
            models=xl430_models(scenario.servo_faults),
        )
        try:
            # Reply deadlines on the meal's clock, which the simulated port's reads advance: a
            # transaction waits the same simulated time however busy the machine is.
            self.host = DynamixelBus(self.bus.url, baudrate=self.calibration.baudrate, clock=self.clock.now)
            self.feed = MouthFeed(
                self.world,
                self.camera,
                scenario,
                camera_mode,
                faces_dir=faces_dir,
                face_scale=face_scale,
                fps=camera_fps,
            )
        except BaseException:
            self.bus.close()
            raise
        self.task = MealTask(scenario, self.profile)
        self.task.initialize_episode(self.world)
        self.journal = CountingJournal(journal)
        self.report_limits = report_limits
        self.stale_advances = StaleMouthJudge(report_limits, 1.0 / self.calibration.rate_hz)
        self.arm_stops = ArmStopJudge(report_limits, self.bus.servos)
        self._stalls = sorted(scenario.host_stalls, key=lambda stall: stall.at_s)
        self.faults = FaultInjector(
            self.bus,
            scenario.servo_faults,
            lambda: (self.world.spoon_tip_position(), self.world.mouth_position()),
            lambda: self.task.citizen.bite_number,
        )

    @property
    def citizen(self):
        return self.task.citizen

    @property
    def inputs(self):
        """The citizen's switch and panel (push `UserCommand`s here)."""
        return self.task.inputs

    @property
    def triggers(self):
        return self.task.triggers

    @property
    def camera_mode(self) -> CameraMode:
        return self.feed.mode

    def on_tick(self, controller: MealController) -> None:
        """The simulator's part of one control tick (after the controller's sync write)."""
        now_s = self.clock.now()
        self.task.before_step(self.world, controller, now_s)
        self.faults.update(now_s)
        self.feed.poll(now_s)
        latest = self.feed.mouth.latest()
        confidence = None if latest is None else latest.confidence
        self.stale_advances.after_step(self.world, controller, now_s, self.feed.content_t, confidence)
        self.arm_stops.after_step(controller, now_s)
        if self._stalls and now_s >= self._stalls[0].at_s:
            # The host stalls: nothing is sent for the stall's length (the loop's next tick comes
            # late); the servos run on alone and their Bus Watchdog may trip.
            self.clock.sleep(self._stalls.pop(0).duration_s)

    def run(
        self,
        stop_when: Callable[[MealController], bool] | None = None,
        on_progress: Callable[[SimulatedMeal, MealController], None] | None = None,
    ) -> MealReport:
        """Run the meal until it ends, the scenario's time is up, or `stop_when`; returns the
        loop's `MealReport` (or raises `PhysicsUnstable`)."""

        def on_tick(controller: MealController) -> None:
            self.on_tick(controller)
            if on_progress is not None:
                on_progress(self, controller)

        return run_meal(
            self.host,
            self.feed.mouth,
            self.task.triggers,
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


def run_simulated_meal(
    scenario: Scenario,
    journal: Any,
    *,
    on_progress: Callable[[SimulatedMeal, MealController], None] | None = None,
    **options: Any,
) -> MealSummary:
    """Build and run one simulated meal; the journal gets the meal's events. `options` go to
    `SimulatedMeal` (profile, calibration, limits, camera_mode, faces_dir, clock, ...)."""
    with SimulatedMeal(scenario, journal, **options) as meal:
        started = time.perf_counter()
        report, aborted = None, None
        try:
            report = meal.run(on_progress=on_progress)
        except PhysicsUnstable as exc:
            log.error("simulated meal stopped: %s", exc)
            aborted = str(exc)
        return summarize(meal, report, time.perf_counter() - started, aborted)
