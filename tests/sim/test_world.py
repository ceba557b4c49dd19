"""The MuJoCo world: geometry of DESIGN.md, servo limits, face contact measured, instability stops."""

import math

import numpy as np
import pytest

from controller import kinematics
from sim.world import PhysicsUnstable, World, WorldConfig

READY = (0.0, -0.1831, -0.6682, 0.8514)  # the controller's demo ready pose: spoon level in front of the face


@pytest.fixture
def world():
    return World(WorldConfig(spoon_offset_m=(0.07, 0.0)))


def test_zero_pose_puts_spoon_tip_at_design_tool_tip_plus_offset(world):
    tip = world.spoon_tip_position()
    np.testing.assert_allclose(tip, [0.286 + 0.07, 0.0, 0.2045], atol=1e-9)


@pytest.mark.parametrize("q", [(0.3, -0.4, 0.5, 0.2), (-1.0, 0.6, -0.3, 0.9), (2.0, 0.0, 1.0, -1.2)])
def test_model_geometry_matches_controller_forward_kinematics(world, q):
    world.set_arm_pose(q)
    flange = world.data.body("spoon").xpos
    np.testing.assert_allclose(flange, kinematics.forward(q)[:3], atol=1e-9)


def test_servos_hold_a_pose_against_gravity(world):
    target = np.array([0.2, 0.3, -0.4, 0.3])
    world.set_arm_targets(target)
    world.step(int(1.5 / world.timestep_s))
    np.testing.assert_allclose(world.arm_positions(), target, atol=0.02)
    assert np.all(np.abs(world.arm_velocities()) < 1e-3)


def test_servo_torque_never_exceeds_the_stall_torque(world):
    world.set_arm_targets([0.0, 1.4, 0.0, 0.0])  # a large step asks for more than 4.1 N m
    peak = 0.0
    for _ in range(200):
        world.step()
        peak = max(peak, float(np.max(np.abs(world.arm_torques()))))
    assert peak == pytest.approx(4.1, abs=1e-6)
    assert np.all(np.abs(world.arm_currents()) <= 2.3 + 1e-9)


def test_torque_off_lets_the_arm_fall(world):
    world.set_arm_pose(READY)
    world.set_torque_enabled(1, False)
    world.step(200)
    assert world.arm_positions()[1] > READY[1] + 0.1
    assert world.arm_torques()[1] == 0.0


def test_spoon_pushed_into_the_face_is_measured_every_step(world):
    # reach toward the mouth with the spoon level; the arm pushes past the lips into the chin
    mouth = world.mouth_position()
    world.set_arm_pose(kinematics.inverse((mouth[0] - 0.07 - 0.06, 0.0, mouth[2] - 0.02, 0.0)))
    world.record_force_history = True
    world.set_arm_targets(kinematics.inverse((mouth[0] - 0.07 + 0.03, 0.0, mouth[2] - 0.02, 0.0)))
    world.step(1000)
    assert world.metrics.peak_face_force_n > 1.0
    assert world.metrics.contact_steps > 10
    assert world.metrics.closest_approach_m < 0.07
    times = [t for t, _ in world.metrics.face_force_history]
    assert np.allclose(np.diff(times[:5]), world.timestep_s)


def test_mouth_opens_with_the_jaw(world):
    world.set_arm_pose(READY)
    assert world.mouth_opening_m() < 0.003
    world.set_citizen_targets((0.0, 0.0, 0.0), 0.0, 0.0, 0.025)
    world.step(500)
    assert world.mouth_opening_m() == pytest.approx(0.026, abs=0.003)


def test_nan_target_stops_with_a_report_instead_of_running_on(world, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MuJoCo logs its warning to MUJOCO_LOG.TXT in the working directory
    world.set_arm_targets([0.0, math.nan, 0.0, 0.0])
    with pytest.raises(PhysicsUnstable) as caught:
        world.step(100)
    report = caught.value.report
    assert "mjWARN_BADCTRL" in report.warnings
    assert math.isnan(report.arm_ctrl_rad[1])
    assert "unstable" in str(caught.value)


def test_diverging_physics_stops_with_a_report(world, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    world.data.qvel[:] = 1e12
    with pytest.raises(PhysicsUnstable) as caught:
        world.step(10)
    assert caught.value.report.t_s < 0.1


def _spoon_level_in_front_of_the_mouth(world, distance_m):
    mouth = world.mouth_position()
    offset = world.config.spoon_offset_m[0]
    world.set_arm_pose(kinematics.inverse((mouth[0] - offset - distance_m, 0.0, mouth[2], 0.0)))
    return mouth


def test_spoon_holder_is_rigid_below_its_preload_and_gives_way_above_it(world):
    _spoon_level_in_front_of_the_mouth(world, 0.15)
    spoon = world.model.body("spoon").id
    for push_n, gives_way in ((1.5, False), (3.2, True)):
        world.data.xfrc_applied[spoon, :3] = (-push_n, 0.0, 0.0)  # along the spoon, toward the arm
        world.step(250)
        travel = world.spoon_mount_travel_m()
        assert (travel > 0.005) is gives_way, (push_n, travel)
    world.data.xfrc_applied[spoon, :3] = 0.0
    world.step(500)
    assert world.spoon_mount_travel_m() < 0.001  # back at its stop


def test_spoon_holder_tips_down_only_beyond_its_detent_and_no_further_than_its_travel(world):
    # docs/spoon-holder.md: level up to 0.15 N m about the hinge (a loaded spoon's food adds about
    # 0.005 N m), then the spoon tips down to its 0.8 rad stop, and springs back when let go.
    _spoon_level_in_front_of_the_mouth(world, 0.15)
    spoon = world.model.body("spoon").id
    tilt = world.model.jnt_qposadr[world.model.joint("spoon_tilt").id]
    for torque_nm, expected_rad in ((0.10, 0.0), (0.13, 0.0), (0.17, 0.8), (1.0, 0.8), (0.0, 0.0)):
        world.data.xfrc_applied[spoon, 3:] = (0.0, torque_nm, 0.0)  # tip down, about the hinge's axis
        world.step(250)
        assert world.data.qpos[tilt] == pytest.approx(expected_rad, abs=0.03), torque_nm


def test_head_jerking_into_the_spoon_meets_the_compliant_holder_not_the_arm():
    from sim.citizen import Citizen
    from sim.scenario import parse_scenarios

    (sneeze,) = parse_scenarios(
        '[[scenario]]\nname = "s"\nseed = 6\n'
        'events = [{ kind = "sneeze", at_s = 0.2, distance_m = 0.05, speed_m_s = 1.0, duration_s = 0.6 }]'
    )
    peaks = {}
    for stroke_m in (0.05, 0.0):
        world = World(WorldConfig(spoon_offset_m=(0.05, 0.0), spoon_holder_stroke_m=stroke_m))
        _spoon_level_in_front_of_the_mouth(world, 0.08)
        citizen = Citizen(sneeze)
        for _ in range(300):
            world.step(5)
            citizen.before_step(world, world.time_s)
        assert world.metrics.contact_steps > 0  # the head did hit the spoon
        peaks[stroke_m] = world.metrics.peak_face_force_n
    assert peaks[0.05] <= 5.0
    assert peaks[0.0] > 2 * peaks[0.05]  # held rigidly, the spoon meets the face with the arm's inertia


def test_approach_speed_counts_the_arm_carrying_the_spoon_toward_the_mouth_only(world):
    mouth = world.mouth_position()
    offset = world.config.spoon_offset_m[0]
    pose = lambda d: kinematics.inverse((mouth[0] - offset - d, 0.0, mouth[2], 0.0))  # noqa: E731
    world.set_arm_pose(pose(0.06))
    world.set_arm_targets(pose(0.09))  # away from the mouth
    world.step(300)
    assert world.metrics.max_speed_near_mouth_m_s > 0.05
    assert world.metrics.max_approach_speed_m_s < 0.005
    world.set_arm_targets(pose(0.06))  # toward it
    world.step(300)
    assert world.metrics.max_approach_speed_m_s > 0.05
    assert world.metrics.max_approach_speed_m_s <= world.metrics.max_speed_near_mouth_m_s + 1e-9


@pytest.mark.parametrize("stroke_m", [-0.01, math.nan, math.inf, 0.5])
def test_a_meaningless_spoon_holder_stroke_is_refused(stroke_m):
    from sim.world import SimError

    with pytest.raises(SimError, match="spoon_holder_stroke_m"):
        WorldConfig(spoon_holder_stroke_m=stroke_m)


def test_steps_batched_far_from_the_face_give_the_same_physics_as_single_steps():
    batched, single = World(), World()
    for world in (batched, single):
        world.set_arm_pose(READY)
        world.set_arm_targets([0.2, -0.3, -0.5, 0.9])  # a move that stays away from the face
    batched.step(300)
    for _ in range(300):
        single.step()
    assert batched.time_s == single.time_s
    assert np.array_equal(batched.data.qpos, single.data.qpos)
    assert np.array_equal(batched.data.qvel, single.data.qvel)
    assert batched.metrics.peak_face_force_n == single.metrics.peak_face_force_n == 0.0


def test_an_arm_swinging_in_from_far_away_is_measured_every_step_at_the_face(world):
    world.set_arm_pose(READY)  # the spoon 14 cm from the mouth: physics runs in batches here
    mouth = world.mouth_position()
    world.record_force_history = True
    world.set_arm_targets(kinematics.inverse((mouth[0] - 0.07 + 0.03, 0.0, mouth[2] - 0.02, 0.0)))
    world.step(1500)
    assert world.metrics.peak_face_force_n > 1.0
    times = [t for t, _ in world.metrics.face_force_history]
    assert np.allclose(np.diff(times[:5]), world.timestep_s)
    assert world.metrics.max_speed_near_mouth_m_s > 0.0  # the last 10 cm were measured step by step
