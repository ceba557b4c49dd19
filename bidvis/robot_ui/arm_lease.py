"""One owner of the arm at a time: the lease that jogs, pose moves, test bites and meals all take.

Whoever moves the arm holds the lease: a staff screen while it jogs, moves to a pose or runs a
test bite, and the meal while it runs. Anyone else who asks to move the arm is refused with
`ArmHeld`, which names the holder and what they are doing (the web app answers 409), so no meal
starts while staff have their hands at the arm and a second screen never takes over from the first.

A holder keeps the lease while its action runs (`running()`: the pose move or the meal is still
going), and a jog for `grace_s` after its last heartbeat (a held button sends one every ~50 ms; a
released one may be pressed again). STOP is never refused: it ends any motion and frees the lease
(`free()`), so the next screen may move the arm.

Pure bookkeeping over an injected clock; `ArmControl` and `MealRuntime` take it under their lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from bidvis.robot_ui.errors import Busy
from controller.messages import Message

JOG_GRACE_S = 3.0  # a jogging screen keeps the arm this long after its last heartbeat


class ArmUse(StrEnum):
    """What the holder of the lease does with the arm."""

    JOG = "jog"
    POSE_MOVE = "pose_move"
    TEST_BITE = "test_bite"
    PARK = "park"
    MEAL = "meal"


@dataclass
class Holder:
    """Who holds the arm (`owner`: a screen's id, or `MEAL_OWNER`), as a person reads it
    (`operator`), for what, and since when its last sign of life came."""

    owner: str
    operator: str
    use: ArmUse
    last_s: float
    running: Callable[[], bool]


MEAL_OWNER = "meal"


class ArmHeld(Busy):
    """Someone else holds the arm; the message names them and what they do."""

    def __init__(self, holder: Holder) -> None:
        self.holder = holder
        super().__init__(
            Message("refusal.arm_held", operator=holder.operator, use=Message(f"arm_use.{holder.use.value}"))
        )


def _never() -> bool:
    return False


class ArmLease:
    """The arm's one lease (see the module docstring). Not thread-safe: callers hold their lock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, jog_grace_s: float = JOG_GRACE_S) -> None:
        self.clock = clock
        self.jog_grace_s = jog_grace_s
        self._holder: Holder | None = None

    def holder(self) -> Holder | None:
        """The holder now, or None when the arm is free."""
        holder = self._holder
        if holder is None:
            return None
        if holder.running():
            return holder
        grace_s = self.jog_grace_s if holder.use is ArmUse.JOG else 0.0
        if self.clock() - holder.last_s < grace_s:
            return holder
        self._holder = None
        return None

    def take(self, owner: str, operator: str, use: ArmUse, running: Callable[[], bool] = _never) -> Holder:
        """Take the arm for `owner` (or renew its hold: a jog heartbeat), or raise `ArmHeld` when
        another owner holds it. `running` says while the action goes on."""
        self.check(owner)
        self._holder = Holder(owner, operator, use, self.clock(), running)
        return self._holder

    def check(self, owner: str) -> None:
        """Raise `ArmHeld` unless the arm is free or `owner` holds it."""
        held = self.holder()
        if held is not None and held.owner != owner:
            raise ArmHeld(held)

    def free(self, owner: str | None = None) -> None:
        """Free the arm (STOP: `owner` None), or only when `owner` holds it (its meal ended)."""
        if owner is None or (self._holder is not None and self._holder.owner == owner):
            self._holder = None
