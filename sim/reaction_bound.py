"""What no controller can beat: a citizen's head motion against an arm that retreats at full servo
torque a given time after the motion begins (an oracle: it knows the onset exactly, with no camera,
no filter and no planning).

`peak_face_force_with_ideal_retreat(event, spoon_gap_m, reaction_s)` holds the spoon level in front
of the mouth, `spoon_gap_m` from the lips, starts `event` and, `reaction_s` later, sets every
joint's target 15 cm further back: the servos' position loops then drive the arm away at their
stall torque, the fastest this arm can move. The peak spoon-to-face force it measures is a lower
bound for every controller that learns of the event no sooner. Where it exceeds the limit, the
case is beyond what the arm can make safe (a physically impossible class, issue 14), and the
design's answer lies elsewhere: the compliant holder, the stand-off, the approach speed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from controller import kinematics
from sim.citizen import Citizen
from sim.scenario import CitizenEvent, Scenario
from sim.world import World, WorldConfig

ONSET_S = 0.2  # the head settles this long before the event
RETREAT_M = 0.15
WATCH_S = 1.5
TICK_STEPS = 5  # the citizen acts every 5 physics steps (10 ms), as in a meal


class _Spoon(NamedTuple):
    """The world's spoon on the tool (`kinematics.SpoonMount`), level."""

    x_m: float
    z_m: float
    pitch_rad: float = 0.0


@dataclass(frozen=True, slots=True)
class ContactBound:
    """The oracle's outcome: peak face force (N), and head and spoon speed at the onset of that contact (m/s)."""

    peak_face_force_n: float
    head_speed_m_s: float
    spoon_speed_m_s: float


def peak_face_force_with_ideal_retreat(event: CitizenEvent, spoon_gap_m: float, reaction_s: float) -> ContactBound:
    """Peak face force of `event` (its timing replaced by an onset at `ONSET_S`) with the spoon
    `spoon_gap_m` in front of the lips and the arm retreating at full torque `reaction_s` after onset."""
    world = World(WorldConfig())
    spoon = _Spoon(*world.config.spoon_offset_m)
    mouth = world.mouth_position()

    def pose(gap_m: float):
        return kinematics.inverse_spoon((float(mouth[0]) - gap_m, float(mouth[1]), float(mouth[2])), spoon)

    world.set_arm_pose(pose(spoon_gap_m))
    timed = event.model_copy(update={"at_s": ONSET_S, "bite": None, "when_spoon_within_m": None})
    citizen = Citizen(Scenario(name="reaction_bound", events=[timed]))
    retreating = False
    while world.time_s < ONSET_S + WATCH_S:
        if not retreating and world.time_s >= ONSET_S + reaction_s:
            world.set_arm_targets(pose(spoon_gap_m + RETREAT_M))
            retreating = True
        world.step(TICK_STEPS)
        citizen.before_step(world, world.time_s)
    metrics = world.metrics
    return ContactBound(
        metrics.peak_face_force_n, metrics.peak_contact_head_speed_m_s, metrics.peak_contact_spoon_speed_m_s
    )
