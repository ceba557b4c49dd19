"""Fixtures for loop tests: the real virtual servos (`bidvis-sim://`) on a simulated clock, the
real journal, and a scripted citizen whose mouth the loop sees through `LatestValue`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest

from controller.config import BowlScoop, demo_calibration, demo_profile, demo_safety_limits
from controller.feeding import CommandKind, FeedingState, UserCommand
from controller.journal import UsageJournal
from controller.loop import CommandQueue, LatestValue, MealController
from firmware_bridge import DynamixelBus
from sim.flaws import default_flaws
from sim.servo_plant import CompliantPlant, IdealPlant
from sim.virtual_bus import SimulatedClock, VirtualServoBus, plant_for
from vision.observation import MouthObservation, MouthStatus

MOUTH_M = (0.36, 0.0, 0.25)  # where sim.world puts the demo citizen's mouth


@dataclass
class ScriptedCitizen:
    """A citizen for loop tests: the mouth sits at `mouth_m` (base frame); once the spoon has
    waited at the lips for `bite_after_s`, the lips close on it, and `head_back_s` later the head
    moves back by `head_back_m`, returning after `away_s`. Frames come every `frame_period_s`.
    `visible` False hides the face; `offset_m` displaces the reported mouth (a bad detection);
    `confidence` and `status` are what vision says of its own estimate; `time_error_s` is added to
    each frame's time (a camera clock gone wrong).
    Reported positions carry `noise_m` of Gaussian detection noise (seeded), as real ones do."""

    camera_to_base: np.ndarray
    mouth_m: np.ndarray = field(default_factory=lambda: np.array(MOUTH_M))
    bite_after_s: float = 0.6
    head_back_s: float = 0.3
    head_back_m: float = 0.06
    away_s: float = 1.0
    frame_period_s: float = 1.0 / 30.0
    visible: bool = True
    takes_bites: bool = True
    offset_m: np.ndarray = field(default_factory=lambda: np.zeros(3))
    noise_m: float = 0.001
    confidence: float = 0.9
    status: MouthStatus = MouthStatus.TRACKED
    time_error_s: float = 0.0
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    _waiting_since: float | None = None
    _last_frame_s: float = -1.0
    _head_back: float = 0.0
    is_open: bool = True

    def mouth_now(self) -> np.ndarray:
        return self.mouth_m + np.array([self._head_back, 0.0, 0.0])

    def update(self, now_s: float, spoon_m: np.ndarray) -> MouthObservation | None:
        distance = float(np.linalg.norm(spoon_m - self.mouth_now()))
        if self.takes_bites and distance < 0.03 and self._waiting_since is None:
            self._waiting_since = now_s
        if self._waiting_since is not None:
            waited = now_s - self._waiting_since
            self.is_open = waited < self.bite_after_s
            back = waited - self.bite_after_s - self.head_back_s
            self._head_back = self.head_back_m if 0.0 <= back < self.away_s else 0.0
            if back >= self.away_s:
                self._waiting_since, self.is_open = None, True
        if not self.visible or now_s - self._last_frame_s < self.frame_period_s:
            return None
        self._last_frame_s = now_s
        base_to_camera = np.linalg.inv(self.camera_to_base)
        seen = self.mouth_now() + self.offset_m + self.rng.normal(0.0, self.noise_m, 3)
        in_camera = base_to_camera[:3, :3] @ seen + base_to_camera[:3, 3]
        return MouthObservation(
            center_px=(320.0, 240.0),
            width_px=60.0,
            open_ratio=0.5 if self.is_open else 0.05,
            is_open=self.is_open,
            confidence=self.confidence,
            t=now_s + self.time_error_s,
            position_m=tuple(float(v) for v in in_camera),
            status=self.status,
        )


@dataclass
class TablePlant:
    """The default simulated arm's plant (`sim.virtual_bus.plant_for(default_flaws())`: compliant
    joints with backlash and friction), a push on chosen joints (`external_nm`: a hand or face
    pushing on the spoon) and joints an obstacle blocks."""

    inner: CompliantPlant | IdealPlant = field(default_factory=lambda: plant_for(default_flaws()))
    blocked: dict[int, float] = field(default_factory=dict)  # joints held at an angle (rad) by an obstacle

    @property
    def external_nm(self) -> dict[int, float]:
        return self.inner.external_nm

    def set_position(self, servo_id: int, position_rad: float) -> None:
        self.inner.set_position(servo_id, position_rad)

    def set_position_gains(self, servo_id: int, p_gain: int, i_gain: int, d_gain: int) -> None:
        if isinstance(self.inner, CompliantPlant):
            self.inner.set_position_gains(servo_id, p_gain, i_gain, d_gain)

    def set_torque_limit(self, servo_id: int, torque_nm: float) -> None:
        if isinstance(self.inner, CompliantPlant):
            self.inner.set_torque_limit(servo_id, torque_nm)

    def step(self, commands, dt):
        for servo_id, angle in self.blocked.items():
            self.inner.set_position(servo_id, angle)
            commands = {**commands, servo_id: angle if commands.get(servo_id) is not None else None}
        return self.inner.step(commands, dt)


class JumpingClock:
    """The loop's clock when the system time jumps: `inner` time plus offsets that switch on at
    given inner times ({inner_time_s: jump_s}). The servos keep running on `inner`."""

    def __init__(self, inner: SimulatedClock, jumps: dict[float, float]) -> None:
        self.inner = inner
        self.jumps = dict(jumps)
        self.offset_s = 0.0

    def now(self) -> float:
        t = self.inner.now()
        for at in [at for at in self.jumps if at <= t]:
            self.offset_s += self.jumps.pop(at)
        return t + self.offset_s

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


@dataclass
class Table:
    """Everything a meal loop runs against in tests."""

    clock: SimulatedClock
    servos: VirtualServoBus
    plant: TablePlant
    bus: DynamixelBus
    journal: UsageJournal
    citizen: ScriptedCitizen
    mouth: LatestValue
    commands: CommandQueue
    profile: object
    calibration: object
    limits: object
    bites_wanted: int = 1
    bite_cycles_s: list[float] = field(default_factory=list)
    _trigger_s: float | None = None

    def on_tick(self, controller: MealController) -> None:
        """Drive the meal like a citizen with a switch: trigger when ready, end after N bites."""
        now = self.clock.now()
        observation = self.citizen.update(now, controller.motion.spoon_pose[:3])
        if observation is not None:
            self.mouth.put(observation)
        state, stats = controller.state, controller.machine.stats
        if state is FeedingState.READY and self._trigger_s is None and stats.bites_offered < self.bites_wanted:
            self.commands.push(UserCommand(CommandKind.NEXT_BITE, source="switch"))
            self._trigger_s = now
        if self._trigger_s is not None and state is FeedingState.APPROACH:
            self._trigger_s = -abs(self._trigger_s)  # accepted: now wait for the return to ready
        if (
            self._trigger_s is not None
            and self._trigger_s < 0
            and state
            in (
                FeedingState.READY,
                FeedingState.CHOOSE_BOWL,
                FeedingState.SCOOP,
                FeedingState.ENDED,
            )
        ):
            self.bite_cycles_s.append(now + self._trigger_s)
            self._trigger_s = None
        done = stats.bites_offered >= self.bites_wanted and self._trigger_s is None
        if done and state in (FeedingState.READY, FeedingState.RETRACT) and not controller.machine.ending:
            self.commands.push(UserCommand(CommandKind.END_MEAL, source="panel"))


def quick_scoop_calibration():
    """The demo calibration with both bowls taught as one short dip just below the ready pose,
    so that loop tests spend their simulated time at the face, not in the bowls."""
    calibration = demo_calibration()
    ready = calibration.ready_pose_rad
    dip = (ready[0], ready[1] + 0.05, ready[2], ready[3] - 0.05)
    bowls = [BowlScoop(name=name, waypoints_rad=[dip]) for name in ("left", "right")]
    return calibration.model_copy(update={"bowls": bowls})


@pytest.fixture
def table(tmp_path) -> Iterator[Table]:
    """A table with the demo profile and limits; bowls taught as a quick dip (set
    `table.calibration = demo_calibration()` for the real scoops)."""
    calibration = quick_scoop_calibration()
    clock = SimulatedClock()
    plant = TablePlant()  # the simulated arm as it is by default (sim.flaws)
    for servo_id, angle in zip(calibration.joint_servo_ids, calibration.ready_pose_rad, strict=False):
        plant.set_position(servo_id, angle)
    servos = VirtualServoBus.start(ids=calibration.joint_servo_ids, clock=clock, plant=plant)
    bus = DynamixelBus(servos.url, clock=clock.now)  # reply deadlines on the meal's clock
    journal = UsageJournal(tmp_path / "journal.sqlite3")
    commands = CommandQueue()
    commands.push(UserCommand(CommandKind.START_MEAL, source="panel"))
    try:
        yield Table(
            clock=clock,
            servos=servos,
            plant=plant,
            bus=bus,
            journal=journal,
            citizen=ScriptedCitizen(calibration.camera.matrix()),
            mouth=LatestValue(),
            commands=commands,
            profile=demo_profile(),
            calibration=calibration,
            limits=demo_safety_limits(),
        )
    finally:
        bus.close()
        servos.close()
        journal.close()


@pytest.fixture
def jumping_clock(table: Table) -> JumpingClock:
    """Make the table's loop clock one that can jump (add to `jumping_clock.jumps`)."""
    clock = JumpingClock(table.clock, {})
    table.clock = clock
    return clock


@pytest.fixture(scope="session")
def arm_noise():
    """The current noise of the default simulated arm (seed 0), as `bidvis commission` measures
    it: what the contact thresholds of a commissioned arm come from."""
    from tests.controller.contact_trials import commissioned_noise

    return commissioned_noise(default_flaws().seed)
