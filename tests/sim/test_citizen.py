"""The simulated citizen on physics: takes bites from a waiting spoon, and does what scenarios say."""

import numpy as np
import pytest

from controller import kinematics
from sim.citizen import Citizen, CitizenActivity
from sim.scenario import parse_scenarios
from sim.world import World, WorldConfig

OFFSET = 0.075


def _scenario(extra: str = "", bites: int = 1):
    (scenario,) = parse_scenarios(f'[[scenario]]\nname = "t"\nbites = {bites}\nseed = 3\n{extra}')
    return scenario


def _spoon_at(world: World, target) -> None:
    q = kinematics.inverse((target[0] - OFFSET, target[1], target[2], 0.0))
    world.set_arm_pose(q)


def _run(world: World, citizen: Citizen, seconds: float, record=None) -> None:
    for _ in range(int(seconds / 0.01)):
        world.step(5)
        citizen.before_step(world, world.time_s)
        if record is not None:
            record(world)


@pytest.fixture
def world():
    return World(WorldConfig(spoon_offset_m=(OFFSET, 0.0)))


def test_takes_a_bite_from_a_spoon_waiting_in_front_of_the_mouth(world):
    mouth = world.mouth_position()
    _spoon_at(world, mouth + np.array([-0.035, 0.0, 0.0]))
    citizen = Citizen(_scenario())
    openings, xs = [], []
    _run(world, citizen, 4.0, lambda w: (openings.append(w.mouth_opening_m()), xs.append(w.mouth_position()[0])))
    assert citizen.bites_taken == 1
    assert max(openings) > 0.02  # opened for the spoon
    assert min(xs) < mouth[0] - 0.015  # moved toward the spoon
    assert world.mouth_position()[0] > min(xs) + 0.01  # and back again
    assert world.metrics.peak_face_force_n < 5.0


def test_does_not_take_a_bite_from_a_spoon_out_of_reach(world):
    mouth = world.mouth_position()
    _spoon_at(world, mouth + np.array([-0.12, 0.0, 0.0]))
    citizen = Citizen(_scenario())
    _run(world, citizen, 3.0)
    assert citizen.bites_taken == 0
    assert citizen.activity is CitizenActivity.WAITING


def test_leans_in_toward_the_spoon(world):
    mouth = world.mouth_position()
    _spoon_at(world, mouth + np.array([-0.15, 0.0, 0.0]))
    citizen = Citizen(
        _scenario('events = [{ kind = "lean_in", at_s = 0.1, distance_m = 0.08, speed_m_s = 0.4, duration_s = 1.0 }]'),
    )
    _run(world, citizen, 0.6)
    assert world.mouth_position()[0] == pytest.approx(mouth[0] - 0.08, abs=0.01)


def test_turns_away_and_back(world):
    citizen = Citizen(_scenario('events = [{ kind = "turn_away", at_s = 0.0, duration_s = 1.0, angle_rad = 1.2 }]'))
    _run(world, citizen, 1.2)
    forward = -world.head_rotation()[:, 0]
    assert abs(np.arctan2(forward[1], -forward[0])) > 1.0
    _run(world, citizen, 1.5)
    forward = -world.head_rotation()[:, 0]
    assert abs(np.arctan2(forward[1], -forward[0])) < 0.1


def test_talking_moves_the_jaw_and_is_the_same_for_the_same_seed():
    traces = []
    for _ in range(2):
        world = World()
        citizen = Citizen(_scenario('events = [{ kind = "talk", at_s = 0.0, duration_s = 2.0 }]'))
        trace = []
        _run(world, citizen, 2.0, lambda w, trace=trace: trace.append(w.mouth_opening_m()))
        traces.append(trace)
    assert max(traces[0]) > 0.008 and np.std(traces[0]) > 0.002
    assert traces[0] == traces[1]


def test_asleep_citizen_takes_no_bite(world):
    mouth = world.mouth_position()
    _spoon_at(world, mouth + np.array([-0.035, 0.0, 0.0]))
    citizen = Citizen(_scenario('events = [{ kind = "fall_asleep", at_s = 0.0, duration_s = 100.0 }]'))
    _run(world, citizen, 3.0)
    assert citizen.bites_taken == 0
    assert citizen.activity is CitizenActivity.ASLEEP
    assert world.mouth_opening_m() < 0.005


def test_leaves_the_table(world):
    mouth = world.mouth_position()
    citizen = Citizen(
        _scenario('events = [{ kind = "leave_table", at_s = 0.0, duration_s = 100.0, distance_m = 0.25 }]')
    )
    _run(world, citizen, 3.0)
    assert citizen.activity is CitizenActivity.AWAY
    assert world.mouth_position()[0] > mouth[0] + 0.15


def test_sneeze_is_a_fast_jerk(world):
    citizen = Citizen(
        _scenario('events = [{ kind = "sneeze", at_s = 0.0, distance_m = 0.05, speed_m_s = 1.0, duration_s = 0.2 }]'),
    )
    speeds = []
    last = world.mouth_position()

    def record(w):
        nonlocal last
        now = w.mouth_position()
        speeds.append(np.linalg.norm(now - last) / 0.01)
        last = now

    _run(world, citizen, 1.0, record)
    assert max(speeds) > 0.3  # a bite lean moves at 0.06 m/s


def test_flinches_back_when_the_spoon_presses_on_the_face(world):
    mouth = world.mouth_position()
    _spoon_at(world, mouth + np.array([-0.06, 0.0, 0.0]))
    citizen = Citizen(
        _scenario('events = [{ kind = "lean_in", at_s = 0.0, distance_m = 0.10, speed_m_s = 0.3, duration_s = 3.0 }]'),
    )
    forces = []
    _run(world, citizen, 1.5, lambda w: forces.append(w.face_force_n))
    assert any("flinches" in entry for _, entry in citizen.log)
    assert max(forces) > 2.0  # the impact is measured ...
    assert forces[-1] < 2.0  # ... but the citizen does not keep pushing into the spoon


def test_events_of_a_bite_wait_for_that_bites_approach(world):
    # "during that bite's approach": a spoon passing near the face unloaded (on its way to a bowl)
    # or loaded but not yet served at the ready pose does not start them
    mouth = world.mouth_position()
    citizen = Citizen(
        _scenario('events = [{ kind = "lean_in", bite = 1, when_spoon_within_m = 0.12, distance_m = 0.03 }]'),
    )
    _spoon_at(world, mouth + np.array([-0.10, 0.0, 0.0]))
    _run(world, citizen, 0.3)
    assert not any("lean_in" in entry for _, entry in citizen.log)  # empty spoon near the face
    _spoon_at(world, (0.32, 0.0, 0.05))  # down at bowl height: loaded
    _run(world, citizen, 0.1)
    _spoon_at(world, mouth + np.array([-0.10, 0.0, 0.0]))
    _run(world, citizen, 0.3)
    assert not any("lean_in" in entry for _, entry in citizen.log)  # loaded, never served
    citizen.spoon_waiting = True  # the spoon waits at the ready pose for the trigger ...
    _spoon_at(world, mouth + np.array([-0.14, 0.0, 0.0]))
    _run(world, citizen, 0.1)
    citizen.spoon_waiting = False  # ... and comes
    _spoon_at(world, mouth + np.array([-0.10, 0.0, 0.0]))
    _run(world, citizen, 0.1)
    assert any("starts lean_in" in entry for _, entry in citizen.log)
