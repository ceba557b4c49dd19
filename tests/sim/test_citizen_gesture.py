"""The simulated citizen's mouth gesture and talk, as the gesture trigger sees them: a gesture is
one long opening; talk is syllables with the lips meeting between them, ending on a drawn-out
vowel (longer than a syllable, shorter than the gesture)."""

from __future__ import annotations

import numpy as np

from controller import kinematics
from sim.citizen import GESTURE_HOLD_S, GESTURE_REACTION_S, TALK_DRAWN_OUT_S, Citizen
from sim.scenario import parse_scenarios
from sim.world import World, WorldConfig

OPEN_M, CLOSED_M = 0.004, 0.0025  # jaw openings the ground-truth camera reports as ratio 0.08 / 0.05


SPOON_OFFSET_M = 0.075


def _world_with_the_spoon_at_the_ready_pose() -> World:
    """The spoon 14 cm in front of the mouth, as it waits at the ready pose."""
    world = World(WorldConfig(spoon_offset_m=(SPOON_OFFSET_M, 0.0)))
    target = world.mouth_position() + np.array([-0.14, 0.0, 0.0])
    world.set_arm_pose(kinematics.inverse((target[0] - SPOON_OFFSET_M, target[1], target[2], 0.0)))
    return world


def _scenario(extra: str = ""):
    (scenario,) = parse_scenarios(f'[[scenario]]\nname = "t"\nbites = 2\nseed = 11\n{extra}')
    return scenario


def _trace(citizen: Citizen, world: World, seconds: float, before=None) -> list[tuple[float, float]]:
    trace = []
    for _ in range(int(seconds / 0.01)):
        world.step(5)
        if before is not None:
            before(world.time_s)
        citizen.before_step(world, world.time_s)
        trace.append((world.time_s, world.mouth_opening_m()))
    return trace


def _open_runs(trace) -> list[float]:
    """Lengths (s) of the runs with the mouth open, with hysteresis OPEN_M / CLOSED_M."""
    runs, start, is_open = [], None, False
    for t, opening in trace:
        if not is_open and opening >= OPEN_M:
            is_open, start = True, t
        elif is_open and opening <= CLOSED_M:
            is_open = False
            runs.append(t - start)
    return runs


def test_asking_for_a_bite_is_one_opening_longer_than_the_gesture_dwell():
    world = _world_with_the_spoon_at_the_ready_pose()
    citizen = Citizen(_scenario())
    asked = {}

    def ask(t_s):
        if not asked:
            citizen.ask_for_bite(t_s)
            asked["t"] = t_s

    trace = _trace(citizen, world, 3.0, ask)
    (run,) = _open_runs(trace)
    assert 1.0 < run <= GESTURE_HOLD_S + 0.35  # the jaw takes ~0.3 s to close from wide open
    first_open = next(t for t, opening in trace if opening >= OPEN_M)
    assert first_open - asked["t"] >= GESTURE_REACTION_S
    assert not citizen.gesturing(trace[-1][0])


def test_talk_is_short_syllables_then_one_drawn_out_vowel():
    world = _world_with_the_spoon_at_the_ready_pose()
    citizen = Citizen(_scenario('events = [{ kind = "talk", at_s = 0.0, duration_s = 3.0 }]'))
    runs = _open_runs(_trace(citizen, world, 3.6))
    *syllables, drawn_out = runs
    assert len(syllables) >= 4 and max(syllables) < 0.45  # speech: every run shorter than misfire_min_s
    assert 0.5 < drawn_out < 1.0 and drawn_out > TALK_DRAWN_OUT_S[0]  # a suspected misfire, not a trigger


def test_an_event_stops_a_gesture_under_way():
    world = _world_with_the_spoon_at_the_ready_pose()
    citizen = Citizen(_scenario('events = [{ kind = "turn_away", at_s = 0.8, duration_s = 1.0 }]'))
    _trace(citizen, world, 0.1, lambda t: citizen.ask_for_bite(t) if t < 0.02 else None)
    assert citizen.gesturing(0.2)
    _trace(citizen, world, 1.3)  # turned away from 0.8 s: the mouth closes (the jaw needs ~0.3 s)
    assert not citizen.gesturing(world.time_s) and not citizen.wants_bite
    assert np.isclose(world.mouth_opening_m(), 0.0, atol=0.003)
