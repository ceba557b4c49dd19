"""Kinematics: the DESIGN.md zero pose, FK/IK round trips over the workspace, typed refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.kinematics import (
    JOINT_LIMITS_RAD,
    SpoonOffset,
    Unreachable,
    UnreachableReason,
    forward,
    forward_spoon,
    inverse,
    inverse_spoon,
    spoon_jacobian,
)

TOLERANCE_M = 1e-4
ELBOW_SWITCH_Q3 = -math.atan2(0.128, 0.024)  # q3 at which the elbow is straight


def joint_angles(elbow_up: bool):
    (l1, h1), (l2, h2), (l3, h3), (l4, h4) = JOINT_LIMITS_RAD
    q3 = st.floats(ELBOW_SWITCH_Q3 + 0.05, h3) if elbow_up else st.floats(l3, ELBOW_SWITCH_Q3 - 0.02)
    return st.tuples(st.floats(l1 + 1e-6, h1 - 1e-6), st.floats(l2, h2), q3, st.floats(l4, h4))


def in_front_of_base(q) -> bool:
    """The tool tip lies ahead of the joint-1 axis (not reached over backwards)."""
    x, y, _, _ = forward(q)
    return (x - 0.012) * math.cos(q[0]) + y * math.sin(q[0]) > 0.01


def test_zero_pose_matches_design():
    np.testing.assert_allclose(forward([0, 0, 0, 0]), [0.286, 0.0, 0.2045, 0.0], atol=1e-12)


def test_positive_joint2_tips_the_tool_down_and_joint1_turns_left():
    assert forward([0, 0.3, 0, 0])[2] < 0.2045
    assert forward([0.5, 0, 0, 0])[1] > 0


def test_inverse_of_zero_pose_is_zero():
    np.testing.assert_allclose(inverse([0.286, 0.0, 0.2045, 0.0]), [0, 0, 0, 0], atol=1e-9)


@settings(max_examples=300, deadline=None)
@given(q=joint_angles(elbow_up=True))
def test_round_trip_elbow_up(q):
    if not in_front_of_base(q):
        return
    pose = forward(q)
    solved = inverse(pose, elbow_up=True)
    np.testing.assert_allclose(forward(solved)[:3], pose[:3], atol=TOLERANCE_M)
    assert forward(solved)[3] == pytest.approx(pose[3], abs=1e-6)
    np.testing.assert_allclose(solved, q, atol=1e-6)


@settings(max_examples=150, deadline=None)
@given(q=joint_angles(elbow_up=False))
def test_round_trip_elbow_down(q):
    if not in_front_of_base(q):
        return
    pose = forward(q)
    solved = inverse(pose, elbow_up=False)
    np.testing.assert_allclose(forward(solved)[:3], pose[:3], atol=TOLERANCE_M)
    np.testing.assert_allclose(solved, q, atol=1e-6)


def test_the_two_elbow_branches_differ_and_reach_the_same_point():
    # Joint 3's lower limit leaves only a thin elbow-down band of the workspace; this pose is in it.
    pose = forward([0.1, 0.8, -1.45, 0.5])
    up, down = inverse(pose, elbow_up=True), inverse(pose, elbow_up=False)
    assert not np.allclose(up, down)
    np.testing.assert_allclose(forward(up), forward(down), atol=1e-9)


finite = st.floats(-1.0, 1.0)


@settings(max_examples=400, deadline=None)
@given(pose=st.tuples(finite, finite, finite, st.floats(-3.0, 3.0)), elbow_up=st.booleans())
def test_any_pose_is_reached_exactly_or_refused_with_a_reason(pose, elbow_up):
    try:
        q = inverse(pose, elbow_up=elbow_up)
    except Unreachable as error:
        assert error.reason in (UnreachableReason.OUT_OF_REACH, UnreachableReason.JOINT_LIMIT)
        assert str(error)
        return
    for value, (low, high) in zip(q, JOINT_LIMITS_RAD, strict=False):
        assert low <= value <= high
    reached = forward(q)
    np.testing.assert_allclose(reached[:3], pose[:3], atol=TOLERANCE_M)
    assert math.remainder(reached[3] - pose[3], 2 * math.pi) == pytest.approx(0.0, abs=1e-6)


def test_far_pose_is_out_of_reach():
    with pytest.raises(Unreachable) as caught:
        inverse([1.0, 0.0, 0.2, 0.0])
    assert caught.value.reason is UnreachableReason.OUT_OF_REACH
    assert "reaches only" in str(caught.value)


def test_joint_limit_is_named():
    # Within reach, but the tool would have to fold under past joint 4's upper limit (1.97 rad).
    with pytest.raises(Unreachable) as caught:
        inverse(forward([0.0, 0.0, 0.0, 2.3]))
    assert caught.value.reason is UnreachableReason.JOINT_LIMIT
    assert caught.value.joint == 4
    assert "joint4" in str(caught.value) and "1.970" in str(caught.value)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_pose_is_refused(bad):
    with pytest.raises(Unreachable) as caught:
        inverse([0.2, bad, 0.1, 0.0])
    assert caught.value.reason is UnreachableReason.NOT_FINITE
    with pytest.raises(Unreachable):
        inverse_spoon([0.2, 0.0, bad], SpoonOffset())


def test_wrong_number_of_pose_values_is_a_value_error():
    with pytest.raises(ValueError, match="expected 4"):
        inverse([0.2, 0.0, 0.1])


spoon_offsets = st.builds(
    SpoonOffset,
    x_m=st.floats(0.0, 0.08),
    z_m=st.floats(-0.03, 0.03),
    pitch_rad=st.floats(-0.5, 0.5),
)


@settings(max_examples=300, deadline=None)
@given(x=st.floats(0.12, 0.32), y=st.floats(-0.15, 0.15), z=st.floats(0.05, 0.30), spoon=spoon_offsets)
def test_inverse_spoon_keeps_the_bowl_level_at_the_target(x, y, z, spoon):
    try:
        q = inverse_spoon([x, y, z], spoon)
    except Unreachable:
        return
    reached = forward_spoon(q, spoon)
    np.testing.assert_allclose(reached[:3], [x, y, z], atol=TOLERANCE_M)
    assert reached[3] == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=300, deadline=None)
@given(q=joint_angles(elbow_up=True) | joint_angles(elbow_up=False), spoon=spoon_offsets)
def test_spoon_jacobian_is_the_derivative_of_forward_spoon(q, spoon):
    step = 1e-6
    numeric = np.empty((4, 4))
    for j in range(4):
        dq = np.zeros(4)
        dq[j] = step
        numeric[:, j] = (forward_spoon(np.add(q, dq), spoon) - forward_spoon(np.subtract(q, dq), spoon)) / (2 * step)
    np.testing.assert_allclose(spoon_jacobian(q, spoon), numeric, atol=1e-7)


def test_spoon_offset_moves_the_bowl_ahead_of_the_tool():
    spoon = SpoonOffset(x_m=0.05, z_m=0.0, pitch_rad=0.0)
    np.testing.assert_allclose(forward_spoon([0, 0, 0, 0], spoon), [0.336, 0, 0.2045, 0], atol=1e-12)


def test_spoon_functions_accept_the_calibration_document():
    from controller.config import demo_calibration

    spoon = demo_calibration().spoon
    q = inverse_spoon([0.27, 0.0, 0.30], spoon)
    np.testing.assert_allclose(forward_spoon(q, spoon), [0.27, 0.0, 0.30, 0.0], atol=1e-9)
