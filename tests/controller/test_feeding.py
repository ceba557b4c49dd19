"""The feeding state machine: its transition table, and its behaviour tick by tick (pure)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from careplan_api.schemas import UsageEventType
from controller.feeding import (
    HOLD,
    TRANSITIONS,
    ArmView,
    CommandKind,
    FeedingEvent,
    FeedingMachine,
    FeedingSettings,
    FeedingState,
    GoalKind,
    MouthView,
    UserCommand,
    transition,
)
from controller.safety import OK, Reaction, SafetyReason, Verdict

S, E = FeedingState, FeedingEvent
READY_Q = (0.0, -0.1831, -0.6682, 0.8514)
READY_SPOON = np.array([0.27, 0.0, 0.30])
MOUTH = np.array([0.36, 0.0, 0.25])
SCOOP = ((0.49, -0.2, 0.97, -0.77), (0.49, -0.01, 0.81, -0.2))

EXPECTED = [
    (S.IDLE, E.START, S.CHOOSE_BOWL),
    (S.CHOOSE_BOWL, E.BOWL_CHOSEN, S.SCOOP),
    (S.SCOOP, E.SCOOPED, S.READY),
    (S.READY, E.TRIGGER, S.APPROACH),
    (S.APPROACH, E.ARRIVED, S.AT_MOUTH),
    (S.APPROACH, E.SAFETY_RETRACT, S.RETRACT),
    (S.AT_MOUTH, E.BITE_TAKEN, S.RETRACT),
    (S.AT_MOUTH, E.BITE_TIMEOUT, S.RETRACT),
    (S.AT_MOUTH, E.SAFETY_RETRACT, S.RETRACT),
    (S.RETRACT, E.RETRACTED_EMPTY, S.CHOOSE_BOWL),
    (S.RETRACT, E.RETRACTED_LOADED, S.READY),
    (S.RETRACT, E.RETRACTED_ENDING, S.ENDED),
    (S.APPROACH, E.PAUSE, S.PAUSED),
    (S.SCOOP, E.PAUSE, S.PAUSED),
    (S.PAUSED, E.RESUME_AT_FACE, S.RETRACT),
    (S.PAUSED, E.RESUME_LOADED, S.READY),
    (S.PAUSED, E.RESUME_EMPTY, S.CHOOSE_BOWL),
    (S.READY, E.END, S.ENDED),
    (S.AT_MOUTH, E.END_AT_FACE, S.RETRACT),
    (S.ENDED, E.START, S.CHOOSE_BOWL),
    (S.APPROACH, E.FAULT, S.FAULT),
    (S.ENDED, E.FAULT, S.FAULT),
    (S.FAULT, E.RESET, S.IDLE),
]


@pytest.mark.parametrize(("state", "event", "target"), EXPECTED)
def test_transition_table(state, event, target):
    assert transition(state, event) is target


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (S.IDLE, E.TRIGGER),
        (S.APPROACH, E.TRIGGER),
        (S.SCOOP, E.TRIGGER),
        (S.FAULT, E.START),
        (S.FAULT, E.PAUSE),
        (S.FAULT, E.END),
        (S.ENDED, E.PAUSE),
        (S.IDLE, E.RESET),
        (S.READY, E.END_AT_FACE),
        (S.AT_MOUTH, E.END),
    ],
)
def test_events_that_do_not_apply_are_ignored(state, event):
    assert transition(state, event) is None


def test_every_state_can_fault_and_only_reset_leaves_fault():
    for state in FeedingState:
        if state is not S.FAULT:
            assert transition(state, E.FAULT) is S.FAULT
    assert [e for e in FeedingEvent if transition(S.FAULT, e)] == [E.RESET]


def test_every_state_is_reachable_from_idle():
    reached, frontier = {S.IDLE}, [S.IDLE]
    while frontier:
        state = frontier.pop()
        for (origin, _), target in TRANSITIONS.items():
            if origin is state and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(FeedingState)


# -- behaviour -------------------------------------------------------------------------------


def settings(**overrides) -> FeedingSettings:
    values = dict(
        speed_m_s=0.15,
        speed_near_mouth_m_s=0.06,
        near_mouth_radius_m=0.10,
        standoff_m=0.02,
        bite_timeout_s=15.0,
        ready_pose_rad=READY_Q,
        ready_spoon_m=tuple(READY_SPOON),
        bowls_waypoints_rad=(SCOOP, SCOOP),
        bowls_used=(0, 1),
        braking_distance_m=0.03,
    )
    values.update(overrides)
    return FeedingSettings(**values)


def at_rest(q=READY_Q, spoon=READY_SPOON) -> ArmView:
    return ArmView(np.array(q, dtype=float), np.asarray(spoon, dtype=float), 0.0, True, np.asarray(spoon, dtype=float))


MOVING = ArmView(np.array(READY_Q), READY_SPOON + 0.01, 0.1, False, READY_SPOON + 0.01)
SEEN = MouthView(MOUTH, is_open=True)
UNSEEN = MouthView(None)


def cmd(kind: CommandKind, **kwargs) -> list[UserCommand]:
    return [UserCommand(kind, source="switch", **kwargs)]


def ready_machine() -> FeedingMachine:
    """A machine that has started a meal, scooped from bowl 0 and waits at ready."""
    machine = FeedingMachine(settings())
    machine.step(0.0, cmd(CommandKind.START_MEAL), SEEN, OK, at_rest())
    assert machine.state is S.SCOOP and machine.bowl == 0
    for q in (*SCOOP, READY_Q):
        machine.step(0.1, [], SEEN, OK, at_rest(q))
    assert machine.state is S.READY and machine.loaded
    machine.events.clear()
    return machine


def approaching_machine() -> FeedingMachine:
    machine = ready_machine()
    goal = machine.step(1.0, cmd(CommandKind.NEXT_BITE), SEEN, OK, at_rest())
    assert machine.state is S.APPROACH
    assert goal.kind is GoalKind.SPOON
    return machine


def test_meal_start_scoops_the_first_bowl_through_its_waypoints_then_goes_ready():
    machine = FeedingMachine(settings())
    goal = machine.step(0.0, cmd(CommandKind.START_MEAL), SEEN, OK, at_rest())
    assert goal.kind is GoalKind.JOINTS and goal.target == SCOOP[0]
    assert [kind for kind, _ in machine.events] == [UsageEventType.MEAL_STARTED, UsageEventType.BOWL_SELECTED]
    goal = machine.step(0.1, [], SEEN, OK, at_rest(SCOOP[0]))
    assert goal.target == SCOOP[1]


def test_the_meal_start_names_who_started_it():
    machine = FeedingMachine(settings())
    machine.step(
        0.0, [UserCommand(CommandKind.START_MEAL, "panel Annas tablet (p-1) from 10.0.0.5")], SEEN, OK, at_rest()
    )
    ((kind, data), _) = machine.events
    assert kind is UsageEventType.MEAL_STARTED and data["started_by"] == "panel Annas tablet (p-1) from 10.0.0.5"


def test_selected_bowl_is_used_for_the_next_scoop():
    machine = FeedingMachine(settings())
    machine.step(0.0, cmd(CommandKind.SELECT_BOWL, bowl=1) + cmd(CommandKind.START_MEAL), SEEN, OK, at_rest())
    assert machine.bowl == 1


def test_trigger_at_ready_starts_the_approach_to_the_standoff_point():
    machine = approaching_machine()
    goal = machine.step(1.005, [], SEEN, OK, MOVING)
    target = np.array(goal.target)
    assert np.linalg.norm(target - MOUTH) == pytest.approx(0.02)
    assert target[0] < MOUTH[0]  # on the robot's side of the mouth
    # The ready pose is within the slow zone; moves are planned below the cap for servo ripple.
    assert goal.speed_cap_m_s == pytest.approx(0.06 * machine.settings.tuning.speed_planning_fraction)
    kinds = [kind for kind, _ in machine.events]
    assert kinds == [UsageEventType.TRIGGER, UsageEventType.BITE_OFFERED]


@pytest.mark.parametrize(("beyond_m", "near"), [(-0.005, True), (0.005, True), (0.015 + 0.005, False)])
def test_approach_slows_before_the_mouth_can_have_come_nearer_unseen(beyond_m, near):
    # The near-mouth cap holds within the near-mouth radius plus the braking distance plus what
    # the mouth may have closed in unseen by the camera (`unseen_mouth_approach_m`, 1.5 cm).
    machine = approaching_machine()
    s = machine.settings
    assert s.tuning.unseen_mouth_approach_m == pytest.approx(0.015)
    distance = s.near_mouth_radius_m + s.braking_distance_m + beyond_m
    spoon = MOUTH + np.array((-1.0, 0.0, 0.0)) * distance
    goal = machine.step(1.005, [], SEEN, OK, ArmView(np.array(READY_Q), spoon, 0.1, False, spoon))
    cap = s.speed_near_mouth_m_s if near else s.speed_m_s
    assert goal.speed_cap_m_s == pytest.approx(cap * s.tuning.speed_planning_fraction)


@pytest.mark.parametrize("moving_state", ["approach", "scoop"])
def test_trigger_while_moving_is_ignored_and_counted(moving_state):
    machine = approaching_machine() if moving_state == "approach" else FeedingMachine(settings())
    if moving_state == "scoop":
        machine.step(0.0, cmd(CommandKind.START_MEAL), SEEN, OK, at_rest())
    state = machine.state
    machine.events.clear()
    machine.step(1.1, cmd(CommandKind.NEXT_BITE), SEEN, OK, MOVING)
    assert machine.state is state
    assert machine.stats.triggers_ignored == 1
    kind, data = machine.events[0]
    assert kind is UsageEventType.TRIGGER and data["accepted"] is False and data["ignored_because"] == "arm busy"


def test_trigger_without_a_mouth_in_view_is_ignored():
    machine = ready_machine()
    machine.step(1.0, cmd(CommandKind.NEXT_BITE), UNSEEN, OK, at_rest())
    assert machine.state is S.READY
    assert machine.events[0][1]["ignored_because"] == "no mouth in view"


def test_stale_vision_holds_the_approach_in_place():
    machine = approaching_machine()
    stale = Verdict(Reaction.HOLD, SafetyReason.STALE_VISION)
    assert machine.step(1.1, [], UNSEEN, stale, MOVING) == HOLD
    assert machine.state is S.APPROACH
    assert machine.step(1.2, [], SEEN, OK, MOVING).kind is GoalKind.SPOON


@pytest.mark.parametrize(
    "reason", [SafetyReason.MOUTH_LOST, SafetyReason.CONTACT, SafetyReason.UNREACHABLE, SafetyReason.LEAN_IN]
)
def test_retract_reactions_take_the_spoon_back_and_are_journalled(reason):
    machine = approaching_machine()
    machine.events.clear()
    goal = machine.step(1.1, [], UNSEEN, Verdict(Reaction.RETRACT, reason, "why"), MOVING)
    assert machine.state is S.RETRACT
    assert goal == HOLD  # first stop, then retract
    kind, data = machine.events[0]
    assert kind is UsageEventType.SAFETY_STOP and data["reason"] == reason.value
    stopped_at = MOUTH - [0.03, 0, 0]
    goal = machine.step(1.2, [], UNSEEN, OK, at_rest(spoon=stopped_at))
    # First straight out of the mouth, horizontally toward the base ...
    clear = np.array(goal.target)
    assert goal.kind is GoalKind.SPOON and clear[2] == stopped_at[2]
    assert np.linalg.norm(clear - stopped_at) == pytest.approx(0.05) and clear[0] < stopped_at[0]
    # ... then to the ready spoon point, then the ready pose.
    goal = machine.step(1.25, [], UNSEEN, OK, at_rest(spoon=clear))
    assert goal.kind is GoalKind.SPOON and np.allclose(goal.target, READY_SPOON)
    goal = machine.step(1.3, [], UNSEEN, OK, at_rest(spoon=READY_SPOON))
    assert goal.kind is GoalKind.JOINTS and goal.target == READY_Q
    machine.step(1.4, [], UNSEEN, OK, at_rest())
    assert machine.state is S.READY  # the food is still on the spoon


@pytest.mark.parametrize("reason", [SafetyReason.BUS_ERRORS, SafetyReason.OVERHEATING, SafetyReason.JOINT_LIMIT])
def test_safe_stop_faults_from_any_state_until_reset(reason):
    machine = approaching_machine()
    machine.events.clear()
    goal = machine.step(1.1, [], SEEN, Verdict(Reaction.SAFE_STOP, reason, "why"), MOVING)
    assert machine.state is S.FAULT and goal == HOLD
    kinds = [kind for kind, _ in machine.events]
    assert kinds == [UsageEventType.SAFETY_STOP, UsageEventType.FAULT, UsageEventType.MEAL_ENDED]
    ended = machine.events[-1][1]  # the meal is closed in the care plan at once, not at the next start
    assert ended == {"reason": "interrupted", "stopped_by": str(reason), "state": "approach"}
    machine.step(1.2, cmd(CommandKind.NEXT_BITE) + cmd(CommandKind.RESUME), SEEN, OK, at_rest())
    assert machine.state is S.FAULT
    machine.step(1.3, cmd(CommandKind.RESET), SEEN, OK, at_rest())
    assert machine.state is S.IDLE


def test_a_meal_is_closed_once_and_a_fault_outside_a_meal_closes_nothing():
    machine = approaching_machine()
    machine.step(1.1, [], SEEN, Verdict(Reaction.SAFE_STOP, SafetyReason.ESTOP, "why"), MOVING)
    machine.step(1.2, cmd(CommandKind.RESET), SEEN, OK, at_rest())
    machine.events.clear()
    machine.step(1.3, cmd(CommandKind.END_MEAL), SEEN, OK, at_rest())  # IDLE -> ENDED: nothing open to close
    machine.step(1.4, cmd(CommandKind.ESTOP), SEEN, OK, at_rest())
    assert UsageEventType.MEAL_ENDED not in [kind for kind, _ in machine.events]


def test_estop_command_faults_with_its_reason():
    machine = ready_machine()
    machine.step(1.0, cmd(CommandKind.ESTOP), SEEN, OK, at_rest())
    assert machine.state is S.FAULT
    assert machine.events[0][1]["reason"] == "estop"


def arrive(machine: FeedingMachine, now: float) -> None:
    standoff = MOUTH + np.array([-0.02, 0.0, 0.0])
    machine.step(now, [], SEEN, OK, at_rest(spoon=standoff))
    assert machine.state is S.AT_MOUTH


def test_no_arrival_while_the_measured_spoon_is_short_of_the_standoff():
    """The commanded spoon at the stand-off is not enough: the servos stopped 12 cm short."""
    machine = approaching_machine()
    standoff = MOUTH + np.array([-0.02, 0.0, 0.0])
    short = standoff + np.array([-0.123, 0.0, 0.0])
    arm = ArmView(np.array(READY_Q), standoff, 0.0, True, short)
    machine.step(2.0, [], SEEN, OK, arm)
    assert machine.state is S.APPROACH
    tolerance = machine.settings.tuning.measured_arrive_tolerance_m
    nearly = ArmView(np.array(READY_Q), standoff, 0.0, True, standoff + np.array([0.0, 0.0, 0.9 * tolerance]))
    machine.step(2.1, [], SEEN, OK, nearly)
    assert machine.state is S.AT_MOUTH


@pytest.mark.parametrize("reason", [SafetyReason.CONTACT, SafetyReason.MOUTH_LOST])
def test_no_bite_taken_unless_the_measured_spoon_is_at_the_mouth(reason):
    machine = approaching_machine()
    arrive(machine, 2.0)
    standoff = MOUTH + np.array([-0.02, 0.0, 0.0])
    machine.step(2.5, [], MouthView(MOUTH, is_open=False), OK, at_rest(spoon=standoff))  # lips close
    pushed = ArmView(np.array(READY_Q), standoff, 0.0, True, standoff + np.array([-0.05, 0.0, 0.0]))
    machine.events.clear()
    machine.step(2.6, [], MouthView(MOUTH, is_open=False), Verdict(Reaction.RETRACT, reason, "why"), pushed)
    assert machine.state is S.RETRACT and machine.loaded
    assert machine.stats.bites_taken == 0
    assert UsageEventType.BITE_TAKEN not in [kind for kind, _ in machine.events]


def test_bite_is_taken_when_the_lips_close_and_the_head_moves_back():
    machine = approaching_machine()
    arrive(machine, 2.0)
    standoff = MOUTH + np.array([-0.02, 0.0, 0.0])
    machine.step(2.5, [], MouthView(MOUTH, is_open=True), OK, at_rest(spoon=standoff))
    machine.step(2.6, [], MouthView(MOUTH + np.array([0.04, 0, 0]), is_open=True), OK, at_rest(spoon=standoff))
    assert machine.state is S.AT_MOUTH  # moving back with an open mouth is not a bite
    machine.step(2.7, [], MouthView(MOUTH, is_open=False), OK, at_rest(spoon=standoff))
    assert machine.state is S.AT_MOUTH
    machine.step(2.8, [], MouthView(MOUTH + np.array([0.04, 0, 0]), is_open=False), OK, at_rest(spoon=standoff))
    assert machine.state is S.RETRACT and not machine.loaded
    assert machine.stats.bites_taken == 1
    assert UsageEventType.BITE_TAKEN in [kind for kind, _ in machine.events]


def test_mouth_lost_after_the_lips_closed_counts_as_the_bite():
    machine = approaching_machine()
    arrive(machine, 2.0)
    standoff = MOUTH + np.array([-0.02, 0.0, 0.0])
    machine.step(2.2, [], MouthView(MOUTH, is_open=False), OK, at_rest(spoon=standoff))
    lost = Verdict(Reaction.RETRACT, SafetyReason.MOUTH_LOST)
    machine.step(2.9, [], UNSEEN, lost, at_rest(spoon=standoff))
    assert machine.state is S.RETRACT and machine.stats.bites_taken == 1 and machine.stats.safety_stops == 0


def test_contact_at_the_mouth_is_the_lips_on_the_spoon():
    machine = approaching_machine()
    arrive(machine, 2.0)
    machine.events.clear()
    standoff = MOUTH + np.array([-0.02, 0.0, 0.0])
    contact = Verdict(Reaction.RETRACT, SafetyReason.CONTACT, "joint2")
    goal = machine.step(2.5, [], SEEN, contact, at_rest(spoon=standoff))
    # The spoon held still at the mouth, so the retreat (straight out of the mouth) starts at once.
    assert machine.state is S.RETRACT and goal.kind is GoalKind.SPOON
    assert np.allclose(goal.target, standoff + np.array([-0.05, 0, 0]))
    assert machine.events == [(UsageEventType.BITE_TAKEN, {"bowl": 0, "held_s": 0.5, "ended_by": "lips_on_spoon"})]
    assert machine.stats.safety_stops == 0


def test_bite_timeout_retracts_with_the_food_still_on_the_spoon():
    machine = approaching_machine()
    arrive(machine, 2.0)
    standoff = MOUTH + np.array([-0.02, 0.0, 0.0])
    machine.step(16.0, [], SEEN, OK, at_rest(spoon=standoff))
    assert machine.state is S.AT_MOUTH
    machine.step(17.1, [], SEEN, OK, at_rest(spoon=standoff))
    assert machine.state is S.RETRACT and machine.loaded
    assert machine.stats.bite_timeouts == 1


@pytest.mark.parametrize(
    ("paused_in", "resumes_to"),
    [("ready", S.READY), ("approach", S.RETRACT), ("scoop", S.SCOOP)],
)
def test_pause_stops_and_resume_continues_safely(paused_in, resumes_to):
    if paused_in == "ready":
        machine = ready_machine()
    elif paused_in == "approach":
        machine = approaching_machine()
    else:
        machine = FeedingMachine(settings())
        machine.step(0.0, cmd(CommandKind.START_MEAL), SEEN, OK, at_rest())
    goal = machine.step(5.0, cmd(CommandKind.PAUSE), SEEN, OK, MOVING)
    assert machine.state is S.PAUSED and goal == HOLD
    assert machine.step(6.0, cmd(CommandKind.NEXT_BITE), SEEN, OK, at_rest()) == HOLD
    machine.step(7.0, cmd(CommandKind.RESUME), SEEN, OK, at_rest())
    # Resuming a scoop re-chooses the bowl and scoops again from its first waypoint.
    assert machine.state is resumes_to


def test_end_at_the_face_retracts_first_then_ends():
    machine = approaching_machine()
    machine.step(1.1, cmd(CommandKind.END_MEAL), SEEN, OK, MOVING)
    assert machine.state is S.RETRACT and machine.ending
    machine.step(1.2, [], SEEN, OK, at_rest(spoon=READY_SPOON + np.array([0.05, 0, 0])))
    machine.step(1.3, [], SEEN, OK, at_rest(spoon=READY_SPOON))
    machine.step(1.4, [], SEEN, OK, at_rest())
    assert machine.state is S.ENDED
    assert machine.events[-1] == (UsageEventType.MEAL_ENDED, {"reason": "completed"})


def test_end_during_a_scoop_goes_home_and_ends():
    machine = FeedingMachine(settings())
    machine.step(0.0, cmd(CommandKind.START_MEAL), SEEN, OK, at_rest())
    goal = machine.step(1.0, cmd(CommandKind.END_MEAL), SEEN, OK, at_rest(SCOOP[0]))
    assert machine.state is S.ENDED and goal.kind is GoalKind.JOINTS and goal.target == READY_Q
    assert machine.step(2.0, [], SEEN, OK, at_rest()) == HOLD
    assert not machine.ending


def test_commands_in_any_order_never_raise():
    kinds = list(CommandKind)
    for a, b in itertools.product(kinds, kinds):
        machine = approaching_machine()
        machine.step(1.1, cmd(a, bowl=1) + cmd(b, bowl=7), SEEN, OK, MOVING)
        assert machine.state in FeedingState


def unreachable_offer(machine: FeedingMachine, now: float) -> None:
    """One offer from ready whose approach ends out of reach, and the spoon's way back to ready."""
    machine.step(now, cmd(CommandKind.NEXT_BITE), SEEN, OK, at_rest())
    assert machine.state is S.APPROACH
    machine.step(now + 0.1, [], SEEN, Verdict(Reaction.RETRACT, SafetyReason.UNREACHABLE, "too far"), MOVING)
    for spoon in (READY_SPOON, READY_SPOON):  # stopped near ready: straight back, then the joint move
        machine.step(now + 0.2, [], SEEN, OK, at_rest(spoon=spoon))
    machine.step(now + 0.3, [], SEEN, OK, at_rest())


def test_a_mouth_out_of_reach_pauses_the_meal_once_after_a_few_offers():
    # A citizen seated beyond the arm's reach: three offers, then the meal waits for a person at
    # ready (one journalled reason) instead of offering hundreds of times without a bite.
    machine = ready_machine()
    limit = machine.settings.tuning.max_unreachable_offers
    assert limit == 3
    for k in range(limit):
        assert machine.state is S.READY
        unreachable_offer(machine, 1.0 + k)
    assert machine.state is S.PAUSED and machine.loaded
    stops = [data for kind, data in machine.events if kind is UsageEventType.SAFETY_STOP]
    assert [d["reaction"] for d in stops] == ["retract"] * limit + ["pause"]
    assert stops[-1]["reason"] == "unreachable" and "reseat the citizen" in stops[-1]["detail"]
    assert machine.stats.bites_offered == limit and machine.stats.safety_stops == limit + 1
    assert machine.stopped_by is SafetyReason.UNREACHABLE  # what the staff page and the panel say
    # The citizen's switch offers nothing more; a person's resume offers again, from zero.
    machine.step(10.0, cmd(CommandKind.NEXT_BITE), SEEN, OK, at_rest())
    assert machine.state is S.PAUSED and machine.stats.bites_offered == limit
    machine.step(11.0, cmd(CommandKind.RESUME), SEEN, OK, at_rest())
    assert machine.state is S.READY and machine.stopped_by is None
    unreachable_offer(machine, 12.0)
    assert machine.state is S.READY


def test_an_arrival_between_out_of_reach_offers_starts_the_count_again():
    machine = ready_machine()
    for k in range(machine.settings.tuning.max_unreachable_offers - 1):
        unreachable_offer(machine, 1.0 + k)
    machine.step(5.0, cmd(CommandKind.NEXT_BITE), SEEN, OK, at_rest())
    arrive(machine, 5.1)
    assert machine.state is S.AT_MOUTH
    machine.step(21.0, [], SEEN, OK, at_rest(spoon=MOUTH + np.array([-0.02, 0.0, 0.0])))  # bite timeout
    for spoon in (READY_SPOON, READY_SPOON):
        machine.step(21.1, [], SEEN, OK, at_rest(spoon=spoon))
    machine.step(21.2, [], SEEN, OK, at_rest())
    assert machine.state is S.READY
    unreachable_offer(machine, 22.0)
    assert machine.state is S.READY  # one out of reach since the arrival, not three


def test_contact_while_waiting_at_ready_pauses_and_says_why_until_a_person_resumes():
    machine = ready_machine()
    machine.step(2.0, [], SEEN, Verdict(Reaction.RETRACT, SafetyReason.CONTACT, "joint2"), at_rest())
    assert machine.state is S.PAUSED and machine.stopped_by is SafetyReason.CONTACT
    kind, data = machine.events[-1]
    assert kind is UsageEventType.SAFETY_STOP and data["reason"] == "contact" and data["state"] == "ready"
    machine.step(3.0, cmd(CommandKind.RESUME), SEEN, OK, at_rest())
    assert machine.state is S.READY and machine.stopped_by is None
