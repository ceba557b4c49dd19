"""Motion: jerk-limited joint moves and straight spoon moves under the speed caps; stops."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controller.config import demo_calibration
from controller.kinematics import SpoonOffset, Unreachable, forward_spoon, inverse_spoon
from controller.motion import Motion, MotionLimits, MotionMode, PlanningError

PERIOD_S = 0.005
SPOON = SpoonOffset(x_m=0.05)
READY_SPOON = (0.27, 0.0, 0.30)
MOUTH_SIDE = (0.36, 0.05, 0.24)


def motion_at(xyz=READY_SPOON) -> Motion:
    return Motion(inverse_spoon(xyz, SPOON), SPOON, PERIOD_S)


def run(motion: Motion, max_steps: int = 4000) -> list[np.ndarray]:
    poses = [motion.spoon_pose]
    for _ in range(max_steps):
        motion.step()
        poses.append(motion.spoon_pose)
        if motion.at_rest:
            break
    else:
        pytest.fail("motion did not finish")
    return poses


def speeds(poses) -> np.ndarray:
    xyz = np.array([p[:3] for p in poses])
    return np.linalg.norm(np.diff(xyz, axis=0), axis=1) / PERIOD_S


def test_spoon_moves_in_a_straight_line_within_the_cap_and_stays_level():
    motion = motion_at()
    motion.move_spoon(MOUTH_SIDE, 0.15)
    poses = run(motion)
    start, end = np.array(READY_SPOON), np.array(MOUTH_SIDE)
    direction = (end - start) / np.linalg.norm(end - start)
    for pose in poses:
        offset = pose[:3] - start
        assert np.linalg.norm(offset - (offset @ direction) * direction) < 1e-4
        assert pose[3] == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(poses[-1][:3], end, atol=1e-4)
    assert speeds(poses).max() <= 0.15 * 1.001
    assert speeds(poses).max() > 0.14  # it does use the allowed speed


def test_slow_cap_is_respected():
    motion = motion_at()
    motion.move_spoon(MOUTH_SIDE, 0.06)
    assert speeds(run(motion)).max() <= 0.06 * 1.001


def test_acceleration_and_jerk_are_limited():
    motion = motion_at()
    motion.move_spoon(MOUTH_SIDE, 0.15)
    xyz = np.array([p[:3] for p in run(motion)])
    velocity = np.diff(xyz, axis=0) / PERIOD_S
    acceleration = np.diff(velocity, axis=0) / PERIOD_S
    limits = MotionLimits()
    assert np.abs(acceleration).max() <= limits.acceleration_m_s2 * 1.01
    jerk = np.diff(acceleration, axis=0) / PERIOD_S
    assert np.abs(jerk).max() <= limits.jerk_m_s3 * 1.05


def test_joint_move_reaches_the_taught_pose_with_the_spoon_under_the_cap():
    motion = motion_at()
    scoop = np.array([0.4889, -0.0135, 0.8102, -0.1967])
    motion.move_joints(scoop, 0.15)
    poses = run(motion)
    np.testing.assert_allclose(motion.q, scoop, atol=1e-6)
    assert speeds(poses).max() <= 0.15 * 1.001


def test_the_same_joint_goal_every_tick_keeps_the_running_trajectory():
    scoop = (0.4889, -0.0135, 0.8102, -0.1967)
    once, every_tick = motion_at(), motion_at()
    once.move_joints(np.array(scoop), 0.15)
    for _ in range(200):
        every_tick.move_joints(scoop, 0.15)  # as the feeding machine asks, tick after tick
        assert every_tick.step().tolist() == once.step().tolist()


def test_retargeting_every_tick_follows_a_moving_goal_within_the_cap():
    motion = motion_at()
    max_speed = 0.0
    for tick in range(1200):
        t = tick * PERIOD_S
        goal = (0.34, 0.04 * math.sin(2.0 * t), 0.25 + 0.01 * math.sin(3.0 * t))
        motion.move_spoon(goal, 0.15)
        motion.step()
        max_speed = max(max_speed, motion.spoon_speed_m_s)
    assert np.linalg.norm(motion.spoon_pose[:3] - np.array(goal)) < 0.01
    assert max_speed <= 0.15 * 1.05


def test_stop_is_a_zero_velocity_target_with_higher_jerk():
    motion = motion_at()
    motion.move_spoon(MOUTH_SIDE, 0.15)
    for _ in range(100):
        motion.step()
    assert motion.spoon_speed_m_s > 0.1
    before = motion.spoon_pose[:3].copy()
    motion.stop()
    steps = len(run(motion)) - 1
    assert motion.stopping and motion.at_rest
    assert steps * PERIOD_S < 0.3  # normal braking at 0.5 m/s^2 would take longer
    assert np.linalg.norm(motion.spoon_pose[:3] - before) < 0.03


@pytest.mark.parametrize("moving_ticks", range(2, 60, 3))
def test_a_stop_begun_while_the_spoon_gains_speed_brakes_from_the_next_tick(moving_ticks):
    # An unconfident frame can come at any moment of a move, its acceleration too: the stop takes
    # the move's acceleration off within its first tick, and the spoon is slower every tick after.
    motion = motion_at()
    motion.move_spoon(MOUTH_SIDE, 0.15)
    for _ in range(moving_ticks):
        motion.step()
    motion.stop()
    motion.step()
    first = motion.spoon_speed_m_s
    motion.step()
    assert motion.spoon_speed_m_s < first


@pytest.mark.parametrize("held_ticks", [1, 2, 4, 8])
@pytest.mark.parametrize("moving_ticks", [10, 40, 100])
def test_a_move_asked_for_mid_stop_waits_for_rest_then_goes_on_neither_backwards_nor_faster(moving_ticks, held_ticks):
    # An approach paused for a few ticks (a face turned away) and asked for again every tick: a move
    # begun mid-stop would leave the stop's braking at the move's lower jerk, driving the spoon
    # backwards and then past its cap.
    motion = motion_at()
    start = np.array(READY_SPOON)
    direction = (np.array(MOUTH_SIDE) - start) / np.linalg.norm(np.array(MOUTH_SIDE) - start)
    motion.move_spoon(MOUTH_SIDE, 0.06)
    for _ in range(moving_ticks):
        motion.step()
    motion.stop()
    for _ in range(held_ticks):
        motion.step()
    along = [float(motion.spoon_pose[:3] @ direction)]
    for _ in range(4000):
        motion.move_spoon(MOUTH_SIDE, 0.06)
        motion.step()
        along.append(float(motion.spoon_pose[:3] @ direction))
        assert motion.spoon_speed_m_s <= 0.06 * 1.001
        if motion.at_rest:
            break
    assert min(np.diff(along)) > -1e-9  # never back toward where it came from
    np.testing.assert_allclose(motion.spoon_pose[:3], MOUTH_SIDE, atol=1e-4)


def stopping_mid_move() -> Motion:
    """A spoon move at speed, its stop begun a tick ago."""
    motion = motion_at()
    motion.move_spoon(MOUTH_SIDE, 0.15)
    for _ in range(60):
        motion.step()
    motion.stop()
    motion.step()
    return motion


def test_a_taught_pose_asked_for_once_mid_stop_is_reached_and_not_at_rest_before():
    # The staff page's pose moves ask once and take "at rest" as the move's end.
    motion = stopping_mid_move()
    scoop = np.array([0.4889, -0.0135, 0.8102, -0.1967])
    motion.move_joints(scoop, 0.15)
    assert motion.stopping
    run(motion)
    np.testing.assert_allclose(motion.q, scoop, atol=1e-6)


def test_a_stop_asked_for_again_drops_the_move_that_waited_for_the_first():
    motion = stopping_mid_move()
    motion.move_spoon(READY_SPOON, 0.15)
    motion.stop()
    run(motion)
    stopped_at = motion.spoon_pose[:3].copy()
    for _ in range(50):
        motion.step()
    assert motion.stopping and motion.at_rest
    np.testing.assert_allclose(motion.spoon_pose[:3], stopped_at, atol=1e-9)


def test_an_unreachable_move_asked_for_mid_stop_is_refused_at_once_and_the_stop_goes_on():
    motion = stopping_mid_move()
    with pytest.raises(Unreachable):
        motion.move_spoon((2.0, 0.0, 0.3), 0.15)
    with pytest.raises(Unreachable):
        motion.move_spoon((0.3, math.nan, 0.3), 0.15)
    run(motion)
    assert motion.stopping and motion.at_rest


def test_switching_from_a_moving_joint_move_to_a_spoon_move_keeps_velocity_continuous():
    motion = motion_at()
    motion.move_joints(inverse_spoon((0.30, 0.05, 0.28), SPOON), 0.15)
    for _ in range(100):
        motion.step()
    v_before = motion.spoon_speed_m_s
    motion.move_spoon(MOUTH_SIDE, 0.15)
    motion.step()
    assert motion.mode is MotionMode.CARTESIAN
    assert abs(motion.spoon_speed_m_s - v_before) < 0.02


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_targets_are_refused_and_the_old_goal_kept(bad):
    motion = motion_at()
    motion.move_spoon(MOUTH_SIDE, 0.15)
    with pytest.raises(Unreachable):
        motion.move_spoon((0.3, bad, 0.3), 0.15)
    with pytest.raises(Unreachable):
        motion.move_joints((0.0, bad, 0.0, 0.0), 0.15)
    with pytest.raises(ValueError, match="speed cap"):
        motion.move_spoon(MOUTH_SIDE, bad)
    run(motion)
    np.testing.assert_allclose(motion.spoon_pose[:3], MOUTH_SIDE, atol=1e-4)


def test_out_of_range_targets_are_refused():
    motion = motion_at()
    with pytest.raises(Unreachable):
        motion.move_spoon((2.0, 0.0, 0.3), 0.15)
    with pytest.raises(Unreachable, match="joint2"):
        motion.move_joints((0.0, 2.0, 0.0, 0.0), 0.15)
    with pytest.raises(ValueError):
        motion.move_spoon(MOUTH_SIDE, -0.1)


def test_commanded_pose_matches_forward_kinematics():
    motion = motion_at()
    motion.move_spoon(MOUTH_SIDE, 0.15)
    for _ in range(50):
        q = motion.step()
    np.testing.assert_allclose(forward_spoon(q, SPOON), motion.spoon_pose)


def test_a_trajectory_ruckig_finds_too_long_is_a_planning_error_and_the_arm_holds():
    """ruckig answers -101 (trajectory too long) through a ValueError of its binding (issue 13)."""
    calibration = demo_calibration()
    motion = Motion(calibration.ready_pose_rad, calibration.spoon, 0.02, MotionLimits(max_joint_speed_rad_s=0.3))
    target = np.array(calibration.ready_pose_rad)
    target[0] += 1.0
    motion.move_joints(target, 0.05)
    for _ in range(10):
        motion.step()
    held = motion.q.copy()
    motion._joint_in.max_velocity = [1e-9] * 4  # what a speed floor of ~0 asked of a joint still braking
    motion._joint_in.target_position = list(held + 0.01)
    with pytest.raises(PlanningError, match="-101"):
        motion.step()
    np.testing.assert_array_equal(motion.q, held)
    assert motion.at_rest


def test_a_micrometre_move_phase_synchronisation_cannot_plan_is_planned_without_it():
    # The state a flawed arm's retract reached (ruckig fails "in step 2" with Phase and Time
    # synchronisation); without synchronisation it finishes instead of stopping the meal.
    motion = motion_at()
    inp = motion._cart_in
    inp.current_position = [0.2200039687285502, 9.431177143448723e-08, 0.2799980638163566]
    inp.current_velocity = [-5.845732230010808e-05, -5.849311825932556e-05, 5.845775076869839e-05]
    inp.current_acceleration = [0.02417794967295161, 0.02418535057825823, -0.02417803826661573]
    inp.target_position = [0.2200038745032914, 0.0, 0.2799981580426635]
    inp.max_velocity = [0.02770422879226067, 0.02772966533221873, 0.02770453694955434]
    inp.max_acceleration, inp.max_jerk = [0.5] * 3, [5.0] * 3
    motion._update(motion._cart, inp, motion._cart_out)
    assert inp.synchronization.name == "Phase"  # the next move is straight again
