"""The arm's one lease: one owner at a time, over a hand-driven clock."""

from __future__ import annotations

import pytest

from bidvis.robot_ui.arm_lease import JOG_GRACE_S, MEAL_OWNER, ArmHeld, ArmLease, ArmUse
from controller.messages import Language


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def lease(clock: Clock) -> ArmLease:
    return ArmLease(clock)


def test_a_second_owner_is_refused_with_the_holder_named_and_what_they_do(lease, clock):
    lease.take("owner-anna", "Anna", ArmUse.JOG)
    clock.t += 1.0
    with pytest.raises(ArmHeld) as refused:
        lease.take("owner-bo", "Bo", ArmUse.TEST_BITE)
    assert refused.value.holder.operator == "Anna"
    assert str(refused.value) == "Anna holds the arm (jogging); wait until they are done or press STOP"
    assert "Anna har armen (flytter den)" in refused.value.message.text(Language.DANISH)
    assert lease.holder().owner == "owner-anna"


def test_a_jog_keeps_the_arm_for_its_grace_after_the_last_heartbeat(lease, clock):
    lease.take("owner-anna", "Anna", ArmUse.JOG)
    clock.t += JOG_GRACE_S - 0.01
    lease.take("owner-anna", "Anna", ArmUse.JOG)  # a heartbeat renews it
    clock.t += JOG_GRACE_S - 0.01
    with pytest.raises(ArmHeld):
        lease.check(MEAL_OWNER)
    clock.t += 0.02
    lease.check(MEAL_OWNER)
    assert lease.holder() is None


def test_a_pose_move_holds_the_arm_while_it_runs_and_frees_it_when_it_ends(lease, clock):
    moving = [True]
    lease.take("owner-anna", "Anna", ArmUse.TEST_BITE, running=lambda: moving[0])
    clock.t += 60.0  # a long move: still Anna's
    with pytest.raises(ArmHeld, match=r"Anna holds the arm \(a test bite\)"):
        lease.take("owner-bo", "Bo", ArmUse.POSE_MOVE)
    moving[0] = False
    lease.take("owner-bo", "Bo", ArmUse.POSE_MOVE, running=lambda: True)
    assert lease.holder().operator == "Bo"


def test_a_meal_holds_the_arm_until_it_ends_and_no_screen_takes_it(lease, clock):
    running = [True]
    lease.take(MEAL_OWNER, "panel Annas tablet (p-1) from 127.0.0.5", ArmUse.MEAL, running=lambda: running[0])
    clock.t += 3600.0
    with pytest.raises(ArmHeld, match=r"panel Annas tablet .* holds the arm \(a meal\)"):
        lease.take("owner-anna", "Anna", ArmUse.JOG)
    lease.free("owner-anna")  # only the holder's own end frees it
    assert lease.holder() is not None
    lease.free(MEAL_OWNER)
    lease.take("owner-anna", "Anna", ArmUse.JOG)


def test_stop_frees_the_arm_whoever_holds_it(lease):
    lease.take("owner-anna", "Anna", ArmUse.JOG, running=lambda: True)
    lease.free()
    assert lease.holder() is None
    lease.take("owner-bo", "Bo", ArmUse.JOG)


def test_the_holder_may_switch_what_it_does(lease):
    lease.take("owner-anna", "Anna", ArmUse.JOG)
    lease.take("owner-anna", "Anna", ArmUse.TEST_BITE, running=lambda: True)
    assert lease.holder().use is ArmUse.TEST_BITE
