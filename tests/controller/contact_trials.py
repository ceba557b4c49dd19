"""Contact-detection trials on the flawed simulated arm: meals recorded once, detectors replayed.

A trial is a one-bite meal of the loop tests' table (`tests/controller/conftest.py`: the real
controller over the virtual XM430 servos, with the flaws of `sim.flaws.TYPICAL` seeded by the
trial's seed, 40 mA current noise among them), optionally with a push of the face against the
spoon: a constant force at the spoon (N, base frame) from a moment of the phase named, applied to
the joints as J^T F. Every tick records what the contact detector saw (measured minus expected
current, the commanded joint speeds), so detectors with other gains can be replayed on the same
meal (`replay`): the first alarm of a replay is exact, since the meal is the same until then.

Seeds split: `TUNING_SEEDS` chose the gains of `controller.config.SafetyLimits` and
`controller.safety.ContactDetector` (run `python -m tests.controller.tune_contact`); the tests
judge them on `HELD_OUT_SEEDS` (docs/controller.md, "Contact detection").
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from controller.commissioning import CommissioningRecord
from controller.config import demo_safety_limits
from controller.feeding import CommandKind, FeedingState, UserCommand
from controller.journal import UsageJournal
from controller.kinematics import spoon_jacobian
from controller.loop import CommandQueue, LatestValue, MealController, MealReport, run_meal
from controller.safety import ContactDetector, JointNoise, SafetyReason, Verdict
from firmware_bridge import DynamixelBus
from sim.flaws import TYPICAL, ArmFlaws
from sim.virtual_bus import SimulatedClock, VirtualServoBus, plant_for
from tests.controller.conftest import ScriptedCitizen, Table, TablePlant, quick_scoop_calibration

TUNING_SEEDS = tuple(range(1, 7))
HELD_OUT_SEEDS = tuple(range(101, 105))
PUSHED_PHASES = (FeedingState.SCOOP, FeedingState.APPROACH, FeedingState.AT_MOUTH)  # where a trial pushes
PERIOD_S = 0.005


@dataclass(frozen=True)
class Push:
    """A face pushing the spoon: `force_n` (base frame) from `delay_s` after the meal first
    enters `phase`, for `duration_s`."""

    phase: FeedingState
    force_n: tuple[float, float, float] = (-5.0, 0.0, 0.0)  # toward the base: the face pushes the spoon back
    delay_s: float = 0.3
    duration_s: float = 0.5


@dataclass
class Trace:
    """What the detector saw each tick (None: not updated, or reset), and how the meal went."""

    t_s: list[float] = field(default_factory=list)
    residual_a: list[np.ndarray | None] = field(default_factory=list)
    qd_rad_s: list[np.ndarray | None] = field(default_factory=list)
    push_from_s: float | None = None
    contact_at_s: float | None = None  # the first contact the meal's own detector saw
    report: MealReport | None = None

    def record(self, now_s: float, contact: ContactDetector) -> None:
        """What `contact` saw at this tick: nothing new if it was not updated (a lost reply),
        None if it was reset, else the residual and commanded speeds it was given."""
        if contact.baseline is None:
            self.t_s.append(now_s)
            self.residual_a.append(None)
            self.qd_rad_s.append(None)
        elif not self.residual_a or contact.last_residual_a is not self.residual_a[-1]:
            self.t_s.append(now_s)
            self.residual_a.append(contact.last_residual_a)
            self.qd_rad_s.append(contact.last_qd_rad_s)


def joint_torques_nm(q: np.ndarray, spoon, force_n: np.ndarray) -> np.ndarray:
    """Torques on joints 1-4 of a force at the spoon: J^T F."""
    return spoon_jacobian(q, spoon)[:3].T @ force_n


def flaws_of(seed: int) -> ArmFlaws:
    return TYPICAL.model_copy(update={"seed": seed})


def record_meal(
    seed: int,
    push: Push | None = None,
    noise: JointNoise | None = None,
    *,
    blind: bool = True,
    max_duration_s: float = 40.0,
    limits_update: dict | None = None,
    observe: Callable[[MealController, VirtualServoBus], None] | None = None,
) -> Trace:
    """One bite on the flawed arm of `seed`, recorded (see the module docstring). `blind`: the
    meal's own detector never fires (to replay others on it); else it runs at the shipped gains
    and the meal reacts. A pushed meal that is not blind ends 0.2 s after its first contact.
    `limits_update` changes the demo safety limits; `observe` sees every tick's controller and servos."""
    limits = demo_safety_limits().model_copy(update=limits_update or {})
    if blind:
        limits = limits.model_copy(update={"contact_noise_sigmas": 20.0})
    calibration = quick_scoop_calibration()
    clock = SimulatedClock()
    plant = TablePlant(plant_for(flaws_of(seed)))
    for servo_id, angle in zip(calibration.joint_servo_ids, calibration.ready_pose_rad, strict=True):
        plant.set_position(servo_id, angle)
    servos = VirtualServoBus.start(ids=calibration.joint_servo_ids, clock=clock, plant=plant, flaws=flaws_of(seed))
    trace = Trace()
    with tempfile.TemporaryDirectory() as tmp, DynamixelBus(servos.url, clock=clock.now) as bus:
        commands = CommandQueue()
        commands.push(UserCommand(CommandKind.START_MEAL, source="panel"))
        journal = UsageJournal(Path(tmp) / "journal.sqlite3")
        table = Table(
            clock=clock,
            servos=servos,
            plant=plant,
            bus=bus,
            journal=journal,
            citizen=ScriptedCitizen(calibration.camera.matrix(), rng=np.random.default_rng(seed)),
            mouth=LatestValue(),
            commands=commands,
            profile=_profile(),
            calibration=calibration,
            limits=limits,
        )
        entered: dict[FeedingState, float] = {}

        def on_tick(controller: MealController) -> None:
            now = clock.now()
            table.on_tick(controller)
            if observe is not None:
                observe(controller, servos)
            entered.setdefault(controller.state, now)
            trace.record(now, controller.supervisor.contact)
            if trace.contact_at_s is None and SafetyReason.CONTACT in controller.stats.reasons:
                trace.contact_at_s = now
            if push is not None and push.phase in entered:
                start = entered[push.phase] + push.delay_s
                if start <= now < start + push.duration_s:
                    if trace.push_from_s is None:
                        trace.push_from_s = now
                    torques = joint_torques_nm(controller.motion.q, calibration.spoon, np.asarray(push.force_n))
                    plant.external_nm.update(zip(calibration.joint_servo_ids, torques.tolist(), strict=True))
                else:
                    plant.external_nm.clear()

        try:
            trace.report = run_meal(
                bus,
                table.mouth,
                commands,
                clock,
                journal,
                table.profile,
                calibration,
                table.limits,
                on_tick=on_tick,
                max_duration_s=max_duration_s,
                stop_when=lambda _: (
                    push is not None and trace.contact_at_s is not None and clock.now() > trace.contact_at_s + 0.2
                ),
                contact_noise=noise,
            )
        finally:
            journal.close()
            servos.close()
    return trace


# Campaign meals in the MuJoCo world (`bidvis safety-campaign`'s families, ground-truth camera):
# contact-free meals of other citizens, seats and arms than the loop tests' one bite. The first
# `CAMPAIGN_MEALS` runs of a campaign plan on the tuning seeds choose the gains; as many on the
# held-out seeds judge them.
CAMPAIGN_MEALS = 16


def campaign_plan(split: str, runs: int = CAMPAIGN_MEALS) -> list:
    """The campaign's own plan (`bidvis.campaign.plan_runs`) of `runs` runs on the `split` seeds
    ("tuning" or "held-out"), without the vision pipeline (the detector does not see the camera)."""
    from dataclasses import replace

    from bidvis.campaign import SeedSplit, plan_runs
    from sim.families import load_families

    return [replace(run, vision=False) for run in plan_runs(load_families(), runs, None, SeedSplit(split))]


def record_campaign_meal(run, *, blind: bool = True) -> Trace:
    """One planned campaign run (`bidvis.campaign.PlannedRun`), recorded as `record_meal` records;
    `push_from_s` is when the citizen first touched the spoon or arm (face or lips), None if never:
    an alarm before it is false. `blind`: the meal's own detector never fires (to replay others)."""
    from bidvis.campaign import scenario_of
    from bidvis.simulation.composition import run_simulated_meal
    from sim.families import load_families

    family = {f.name: f for f in load_families()}[run.family]
    limits = demo_safety_limits()
    if blind:
        limits = limits.model_copy(update={"contact_noise_sigmas": 20.0})
    trace = Trace()

    def on_progress(meal, controller: MealController) -> None:
        now = meal.clock.now()
        trace.record(now, controller.supervisor.contact)
        if trace.push_from_s is None and (meal.world.face_force_n > 0.0 or meal.world.lip_force_n > 0.0):
            trace.push_from_s = now
        if trace.contact_at_s is None and SafetyReason.CONTACT in controller.stats.reasons:
            trace.contact_at_s = now

    with tempfile.TemporaryDirectory() as tmp:
        journal = UsageJournal(Path(tmp) / "journal.sqlite3")
        try:
            run_simulated_meal(scenario_of(run, family), journal, on_progress=on_progress, limits=limits)
        finally:
            journal.close()
    return trace


def _profile():
    from controller.config import demo_profile

    return demo_profile()


def replay(trace: Trace, detector: ContactDetector) -> float | None:
    """The time of the first contact alarm of `detector` on the recorded meal, or None."""
    for t_s, residual, qd in zip(trace.t_s, trace.residual_a, trace.qd_rad_s, strict=True):
        if residual is None:
            detector.reset()
            continue
        verdict: Verdict = detector.update(residual, np.zeros(4), qd)
        if verdict:
            return t_s
    return None


def false_alarm(trace: Trace, detector: ContactDetector) -> bool:
    """Whether `detector` alarms on the recorded meal before its push or touch (if any)."""
    alarm = replay(trace, detector)
    return alarm is not None and (trace.push_from_s is None or alarm < trace.push_from_s)


def commissioned_noise(seed: int) -> JointNoise:
    """The flawed arm of `seed` as `bidvis commission` measures it (on its own bus)."""
    return commission(seed).joint_noise(quick_scoop_calibration().joint_servo_ids)


def commission(seed: int) -> CommissioningRecord:
    from bidvis.commissioning import Commissioner, CommissionPlan
    from controller.commissioning import demo_commissioning_limits

    calibration = quick_scoop_calibration()
    servos = VirtualServoBus.start(ids=calibration.joint_servo_ids, clock=SimulatedClock(), flaws=flaws_of(seed))
    try:
        with DynamixelBus(servos.url, clock=servos.clock.now) as bus:
            plan = CommissionPlan(round_trips=100, pings=60, rest_samples=200, step_watch_s=0.4)
            return Commissioner(
                bus,
                calibration.model_copy(update={"tool_servo_id": None}),
                demo_safety_limits(),
                demo_commissioning_limits(),
                servos.clock,
                plan=plan,
            ).run()
    finally:
        servos.close()
