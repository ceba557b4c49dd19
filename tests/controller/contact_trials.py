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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from controller.commissioning import CommissioningRecord
from controller.config import demo_safety_limits
from controller.feeding import CommandKind, FeedingState, UserCommand
from controller.journal import UsageJournal
from controller.kinematics import forward_spoon
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
    qd_rad_s: list[np.ndarray] = field(default_factory=list)
    push_from_s: float | None = None
    contact_at_s: float | None = None  # the first contact the meal's own detector saw
    report: MealReport | None = None


def joint_torques_nm(q: np.ndarray, spoon, force_n: np.ndarray) -> np.ndarray:
    """Torques on joints 1-4 of a force at the spoon: J^T F (J by central differences)."""
    jacobian = np.zeros((3, 4))
    for j in range(4):
        dq = np.zeros(4)
        dq[j] = 1e-6
        jacobian[:, j] = (forward_spoon(q + dq, spoon)[:3] - forward_spoon(q - dq, spoon)[:3]) / 2e-6
    return jacobian.T @ force_n


def flaws_of(seed: int) -> ArmFlaws:
    return TYPICAL.model_copy(update={"seed": seed})


def record_meal(
    seed: int,
    push: Push | None = None,
    noise: JointNoise | None = None,
    *,
    blind: bool = True,
    max_duration_s: float = 40.0,
) -> Trace:
    """One bite on the flawed arm of `seed`, recorded (see the module docstring). `blind`: the
    meal's own detector never fires (to replay others on it); else it runs at the shipped gains
    and the meal reacts. A pushed meal that is not blind ends 0.2 s after its first contact."""
    limits = demo_safety_limits()
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
            entered.setdefault(controller.state, now)
            contact = controller.supervisor.contact
            trace.t_s.append(now)
            trace.residual_a.append(None if contact.baseline is None else contact.last_residual_a)
            trace.qd_rad_s.append(controller.motion.qd.copy())
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
