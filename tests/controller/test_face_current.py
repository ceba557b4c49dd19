"""Current-limited position control near the face (controller.face_current): the pure limits, and
a meal on the flawed arm in current-based position control."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controller.face_current import face_goal_current_a, goal_current_changed, near_face
from controller.feeding import FeedingState
from tests.controller.contact_trials import TUNING_SEEDS, Push, record_meal

MOUTH = np.array([0.36, 0.0, 0.25])


def test_goal_current_is_the_expected_current_plus_the_margin_within_the_current_limit():
    got = face_goal_current_a(np.array([0.0, -0.3, 0.2, 3.0]), 0.5, 3.2)
    np.testing.assert_allclose(got, [0.5, 0.8, 0.7, 3.2])


def test_a_joint_whose_expected_current_is_not_a_number_keeps_its_current_limit():
    got = face_goal_current_a(np.array([math.nan, math.inf, -math.inf, 0.1]), 0.5, 3.2)
    np.testing.assert_allclose(got, [3.2, 3.2, 3.2, 0.6])


@pytest.mark.parametrize("margin", [0.0, -0.5, math.nan, math.inf])
def test_a_margin_that_is_not_a_positive_number_is_refused(margin):
    with pytest.raises(ValueError, match="margin"):
        face_goal_current_a(np.zeros(4), margin, 3.2)


@pytest.mark.parametrize("limit", [0.0, -1.0, math.nan, math.inf])
def test_a_current_limit_that_is_not_a_positive_number_is_refused(limit):
    with pytest.raises(ValueError, match="current limit"):
        face_goal_current_a(np.zeros(4), 0.5, limit)


@pytest.mark.parametrize("state", [FeedingState.APPROACH, FeedingState.AT_MOUTH, FeedingState.RETRACT])
def test_the_spoon_is_at_the_face_within_the_radius_in_the_face_states(state):
    assert near_face(state, MOUTH + np.array([-0.05, 0, 0]), MOUTH, 0.1)
    assert not near_face(state, MOUTH + np.array([-0.15, 0, 0]), MOUTH, 0.1)
    assert near_face(state, MOUTH + np.array([-0.15, 0, 0]), None, 0.1)  # no mouth known: counts as near
    assert near_face(state, np.array([math.nan, 0, 0]), MOUTH, 0.1)  # a broken position: near


@pytest.mark.parametrize(
    "state", sorted(set(FeedingState) - {FeedingState.APPROACH, FeedingState.AT_MOUTH, FeedingState.RETRACT})
)
def test_no_other_state_is_at_the_face(state):
    assert not near_face(state, MOUTH, MOUTH, 0.1)


def test_a_goal_current_is_written_again_only_when_it_moves_by_a_step():
    sent = np.array([0.5, 0.8, 0.7, 0.6])
    assert goal_current_changed(None, sent, 0.02)
    assert not goal_current_changed(sent, sent + 0.019, 0.02)
    assert goal_current_changed(sent, sent + np.array([0, 0, 0, 0.02]), 0.02)


SEED = TUNING_SEEDS[0]  # the contact trials' tuning seeds: this helper runs no held-out seed
MARGIN_MA = 500.0


def _watch_goal_current():
    """Per tick: the state and the joints' (Goal Current, Current Limit, Operating Mode)."""
    seen: list[tuple[FeedingState, list[tuple[int, int, int]]]] = []

    def observe(controller, servos):
        seen.append(
            (
                controller.state,
                [(s.get("goal_current"), s.get("current_limit"), s.get("operating_mode")) for s in servos.servos],
            )
        )

    return seen, observe


def test_a_meal_in_current_based_mode_lowers_goal_current_at_the_mouth_and_gives_it_back_after():
    seen, observe = _watch_goal_current()
    trace = record_meal(SEED, blind=False, limits_update={"face_current_margin_ma": MARGIN_MA}, observe=observe)
    report = trace.report
    assert report is not None and report.final_state is FeedingState.ENDED, report
    assert report.feeding.bites_taken == report.feeding.bites_offered == 1
    assert trace.contact_at_s is None and report.feeding.safety_stops == 0
    assert all(mode == 5 for _, joints in seen for _, _, mode in joints)  # never switched mid-meal
    at_mouth = [joints for state, joints in seen if state is FeedingState.AT_MOUTH]
    assert at_mouth and all(goal < limit for joints in at_mouth[5:] for goal, limit, _ in joints)
    margin_units = MARGIN_MA / 2.69
    assert all(goal >= margin_units - 1 for joints in at_mouth[5:] for goal, _, _ in joints)
    _, last = seen[-1]
    assert all(goal == limit for goal, limit, _ in last)  # the meal ended with the full current back


def test_a_5_n_push_at_the_mouth_is_still_caught_as_contact_in_current_based_mode():
    trace = record_meal(
        SEED, Push(FeedingState.AT_MOUTH), blind=False, limits_update={"face_current_margin_ma": MARGIN_MA}
    )
    assert trace.push_from_s is not None and trace.contact_at_s is not None, trace.report
    assert trace.contact_at_s - trace.push_from_s <= 0.020 + 1e-9  # within 20 ms (four ticks), to rounding


def test_with_no_margin_the_meal_runs_in_position_control_as_before():
    seen, observe = _watch_goal_current()
    trace = record_meal(SEED, blind=False, observe=observe)
    assert trace.report is not None and trace.report.feeding.bites_taken == 1
    assert all(mode == 3 and goal == limit for _, joints in seen for goal, limit, mode in joints)
