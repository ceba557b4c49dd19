"""The feeding state machine: from a meal's start, bowl by bowl and bite by bite, to its end.

The transitions are data (`TRANSITIONS`, one row per (state, event)); `FeedingMachine` turns what a
tick brings (user commands, the trusted mouth, the safety verdict, where the spoon is) into events,
applies the table, and says what the arm should do now as a `Goal` (hold still, a joint move, or a
straight spoon move with its speed cap). It performs no I/O and reads no clock: the loop passes
the time in, and drains `events` (usage events for the journal) after each step.

    IDLE -> CHOOSE_BOWL -> SCOOP -> READY -(trigger)-> APPROACH -> AT_MOUTH -> RETRACT -> CHOOSE_BOWL
    any active state -(pause)-> PAUSED -(resume)-> RETRACT / READY / CHOOSE_BOWL
    any state -(safe stop)-> FAULT -(reset)-> IDLE;  end -> RETRACT (if at the face) -> ENDED

See docs/controller.md for the table in words.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any

import numpy as np

from careplan_api.schemas import UsageEventType
from controller.kinematics import BASE_TO_J1
from controller.safety import Reaction, SafetyReason, Verdict, speed_cap_m_s


class FeedingState(StrEnum):
    """Where the meal is."""

    IDLE = "idle"
    CHOOSE_BOWL = "choose_bowl"
    SCOOP = "scoop"
    READY = "ready"
    APPROACH = "approach"
    AT_MOUTH = "at_mouth"
    RETRACT = "retract"
    PAUSED = "paused"
    ENDED = "ended"
    FAULT = "fault"


class FeedingEvent(StrEnum):
    """What can move the machine from one state to another."""

    START = "start"
    BOWL_CHOSEN = "bowl_chosen"
    SCOOPED = "scooped"
    TRIGGER = "trigger"
    ARRIVED = "arrived"
    BITE_TAKEN = "bite_taken"
    BITE_TIMEOUT = "bite_timeout"
    SAFETY_RETRACT = "safety_retract"
    RETRACTED_EMPTY = "retracted_empty"  # the bite was taken: scoop again
    RETRACTED_LOADED = "retracted_loaded"  # food still on the spoon: wait for the next trigger
    RETRACTED_ENDING = "retracted_ending"
    PAUSE = "pause"
    RESUME_AT_FACE = "resume_at_face"
    RESUME_LOADED = "resume_loaded"
    RESUME_EMPTY = "resume_empty"
    END = "end"
    END_AT_FACE = "end_at_face"
    FAULT = "fault"
    RESET = "reset"


S, E = FeedingState, FeedingEvent
_ACTIVE = (S.CHOOSE_BOWL, S.SCOOP, S.READY, S.APPROACH, S.AT_MOUTH, S.RETRACT)
_AT_FACE = (S.APPROACH, S.AT_MOUTH, S.RETRACT)

TRANSITIONS: dict[tuple[FeedingState, FeedingEvent], FeedingState] = {
    (S.IDLE, E.START): S.CHOOSE_BOWL,
    (S.ENDED, E.START): S.CHOOSE_BOWL,
    (S.CHOOSE_BOWL, E.BOWL_CHOSEN): S.SCOOP,
    (S.SCOOP, E.SCOOPED): S.READY,
    (S.READY, E.TRIGGER): S.APPROACH,
    (S.APPROACH, E.ARRIVED): S.AT_MOUTH,
    (S.APPROACH, E.SAFETY_RETRACT): S.RETRACT,
    (S.AT_MOUTH, E.BITE_TAKEN): S.RETRACT,
    (S.AT_MOUTH, E.BITE_TIMEOUT): S.RETRACT,
    (S.AT_MOUTH, E.SAFETY_RETRACT): S.RETRACT,
    (S.RETRACT, E.RETRACTED_EMPTY): S.CHOOSE_BOWL,
    (S.RETRACT, E.RETRACTED_LOADED): S.READY,
    (S.RETRACT, E.RETRACTED_ENDING): S.ENDED,
    **{(state, E.PAUSE): S.PAUSED for state in _ACTIVE},
    (S.PAUSED, E.RESUME_AT_FACE): S.RETRACT,
    (S.PAUSED, E.RESUME_LOADED): S.READY,
    (S.PAUSED, E.RESUME_EMPTY): S.CHOOSE_BOWL,
    **{(state, E.END): S.ENDED for state in (S.IDLE, S.CHOOSE_BOWL, S.SCOOP, S.READY, S.PAUSED)},
    **{(state, E.END_AT_FACE): S.RETRACT for state in (*_AT_FACE, S.PAUSED)},
    **{(state, E.FAULT): S.FAULT for state in FeedingState if state is not S.FAULT},
    (S.FAULT, E.RESET): S.IDLE,
}


def transition(state: FeedingState, event: FeedingEvent) -> FeedingState | None:
    """The next state, or None when the event does not apply in this state."""
    return TRANSITIONS.get((state, event))


class CommandKind(StrEnum):
    """What a person (citizen or staff) can ask for, through any trigger or panel."""

    START_MEAL = "start_meal"
    NEXT_BITE = "next_bite"
    SELECT_BOWL = "select_bowl"
    PAUSE = "pause"
    RESUME = "resume"
    END_MEAL = "end_meal"
    ESTOP = "estop"
    RESET = "reset"


@dataclass(frozen=True, slots=True)
class UserCommand:
    """One request: its kind, the bowl for SELECT_BOWL, and where it came from (`source`, a
    `controller.config.TriggerKind` value such as "switch", "panel", "mouth_gesture",
    "auto_pace"; journalled as the trigger's `kind`)."""

    kind: CommandKind
    source: str = "panel"
    bowl: int | None = None


@dataclass(frozen=True, slots=True)
class MouthView:
    """The mouth as the machine sees it this tick: a trusted position in the base frame (m), or
    None when vision has nothing fresh and trusted; whether it is open; the observation time; and
    the last trusted position however old (`last_known_m`, for speed caps near the face)."""

    position_m: np.ndarray | None
    is_open: bool = False
    t_s: float = 0.0
    last_known_m: np.ndarray | None = None


class GoalKind(Enum):
    """What the arm should do this tick."""

    HOLD = "hold"  # stop where it is (an ordinary zero-velocity target)
    JOINTS = "joints"
    SPOON = "spoon"


@dataclass(frozen=True, slots=True)
class Goal:
    """A motion goal: joint angles (rad) or spoon position (m), with the spoon speed cap (m/s)."""

    kind: GoalKind
    target: tuple[float, ...] = ()
    speed_cap_m_s: float = 0.0


HOLD = Goal(GoalKind.HOLD)


@dataclass(frozen=True, slots=True)
class FeedingTuning:
    """Values of the machine that are not part of the citizen profile (units in the names)."""

    arrive_tolerance_m: float = 0.005  # spoon this close to the stand-off point counts as arrived
    arrive_speed_m_s: float = 0.01  # ... while moving slower than this
    # ... and the measured spoon (forward kinematics of the servos' present positions) this close to
    # it: "at mouth" and "bite taken" speak of the arm as measured, never only as commanded.
    measured_arrive_tolerance_m: float = 0.01
    bite_head_back_m: float = 0.03  # lips closed, then the mouth this much further away: bite taken
    retract_clear_m: float = 0.05  # a retreat first draws the spoon this far straight out of the mouth
    rest_tolerance_rad: float = 1e-3  # a joint move counts as done within this of its target
    # Moves are planned at this fraction of the profile's speed caps: the servos' tracking ripple
    # (measured 0.062-0.07 m/s for a 0.06 m/s command on the simulated arm) stays under the cap.
    speed_planning_fraction: float = 0.8
    # The mouth may be this much nearer than the last frame showed: a lean toward the spoon is
    # seen only a frame interval plus the camera's latency after it starts (~0.13 s at 15 fps,
    # 60 ms), so the spoon is slowed to the near-mouth cap this much before the near-mouth radius
    # plus the braking distance (docs/face-contact.md, "Lean-in").
    unseen_mouth_approach_m: float = 0.015
    # Approaches in a row that end with the stand-off point out of the arm's reach (a citizen seated
    # too far away, a mouth beyond the calibrated workspace): then, back at ready, the meal pauses
    # for a person (reseat the citizen or move the arm, then resume) instead of offering again.
    max_unreachable_offers: int = 3


@dataclass(frozen=True, slots=True)
class FeedingSettings:
    """What the machine needs from the citizen profile and the robot calibration."""

    speed_m_s: float
    speed_near_mouth_m_s: float
    near_mouth_radius_m: float
    standoff_m: float
    bite_timeout_s: float
    ready_pose_rad: tuple[float, float, float, float]
    ready_spoon_m: tuple[float, float, float]
    bowls_waypoints_rad: tuple[tuple[tuple[float, float, float, float], ...], ...]
    bowls_used: tuple[int, ...]
    braking_distance_m: float
    tuning: FeedingTuning = FeedingTuning()


@dataclass(frozen=True, slots=True)
class ArmView:
    """Where the commanded arm is: joints (rad), spoon (m), spoon speed (m/s), whether the last
    motion finished and stands still; and where the measured spoon is (m, from this tick's
    sync read)."""

    q: np.ndarray
    spoon_m: np.ndarray
    spoon_speed_m_s: float
    at_rest: bool
    measured_spoon_m: np.ndarray


class _RetractPhase(Enum):
    STOP = "stop"  # come to rest where the spoon is
    CLEAR = "clear"  # straight out of the mouth, horizontally toward the base
    BACK = "back"  # straight to the ready spoon point
    HOME = "home"  # joint move to the ready pose


@dataclass
class FeedingStats:
    """Counters of a meal."""

    bites_offered: int = 0
    bites_taken: int = 0
    bite_timeouts: int = 0
    triggers: int = 0
    triggers_ignored: int = 0
    safety_stops: int = 0
    faults: int = 0


@dataclass
class FeedingMachine:
    """The meal's state and what it asks of the arm. Call `step` once per tick."""

    settings: FeedingSettings
    state: FeedingState = FeedingState.IDLE
    stats: FeedingStats = field(default_factory=FeedingStats)
    events: list[tuple[UsageEventType, dict[str, Any]]] = field(default_factory=list)
    bowl: int | None = None
    loaded: bool = False
    ending: bool = False
    meal_open: bool = False  # a meal_started not yet followed by its meal_ended
    # why the last safe stop came, or why the meal paused itself for a person (what people are
    # told); a person's resume clears it
    stopped_by: SafetyReason | None = None
    _requested_bowl: int | None = None
    _entered_s: float = 0.0
    _paused_from: FeedingState | None = None
    _scoop_index: int = 0
    _retract: _RetractPhase = _RetractPhase.STOP
    _clear_point_m: np.ndarray | None = None
    _last_mouth_m: np.ndarray | None = None
    _arrival_distance_m: float = 0.0
    _lips_closed: bool = False
    _measured_at_mouth: bool = False
    _arrival_spoon_m: np.ndarray | None = None
    _unreachable_in_a_row: int = 0

    # -- the step ------------------------------------------------------------------------------

    def step(
        self,
        now_s: float,
        commands: Sequence[UserCommand],
        mouth: MouthView,
        verdict: Verdict,
        arm: ArmView,
    ) -> Goal:
        """Advance the machine by one tick and return what the arm should do."""
        known = mouth.position_m if mouth.last_known_m is None else mouth.last_known_m
        if known is not None:
            self._last_mouth_m = known
        if self.state is S.AT_MOUTH and self._arrival_spoon_m is not None:
            # The spoon is held where it arrived: the measured one must still be there for a bite.
            self._measured_at_mouth = self._measured_at(arm, self._arrival_spoon_m)
        for command in commands:
            self._command(now_s, command, mouth)
        self._safety(now_s, verdict)
        self._progress(now_s, mouth, arm)
        return self._goal(mouth, verdict, arm)

    def _fire(self, now_s: float, event: FeedingEvent) -> bool:
        target = transition(self.state, event)
        if target is None:
            return False
        previous, self.state = self.state, target
        self._entered_s = now_s
        self._on_enter(previous, event)
        return True

    def _on_enter(self, previous: FeedingState, event: FeedingEvent) -> None:
        state = self.state
        if state is S.SCOOP:
            self._scoop_index = 0
        elif state is S.RETRACT:
            self._retract = _RetractPhase.STOP
        elif state is S.AT_MOUTH:
            self._unreachable_in_a_row = 0
            self._lips_closed = False
            self._measured_at_mouth = True  # ARRIVED needs the measured spoon at the stand-off
        elif state is S.PAUSED:
            self._paused_from = previous
        elif state is S.IDLE:
            self.ending = False
        if state is S.ENDED:
            self._end_meal({"reason": "completed"})

    def _end_meal(self, data: dict[str, Any]) -> None:
        """Close the meal in the journal, once."""
        if self.meal_open:
            self.meal_open = False
            self._note(UsageEventType.MEAL_ENDED, data)

    def _note(self, kind: UsageEventType, data: dict[str, Any]) -> None:
        self.events.append((kind, data))

    # -- commands ------------------------------------------------------------------------------

    def _command(self, now_s: float, command: UserCommand, mouth: MouthView) -> None:
        kind = command.kind
        if kind is CommandKind.START_MEAL:
            if self._fire(now_s, E.START):
                self.loaded = self.ending = False
                self.stats = FeedingStats()
                self._unreachable_in_a_row = 0
                self.meal_open = True
                self._note(
                    UsageEventType.MEAL_STARTED,
                    {"bowls_used": list(self.settings.bowls_used), "started_by": command.source},
                )
        elif kind is CommandKind.NEXT_BITE:
            self.stats.triggers += 1
            data: dict[str, Any] = {"kind": command.source, "state": self.state.value}
            accepted = self.state is S.READY and mouth.position_m is not None and self._fire(now_s, E.TRIGGER)
            data["accepted"] = accepted
            if not accepted:
                self.stats.triggers_ignored += 1
                data["ignored_because"] = "no mouth in view" if self.state is S.READY else "arm busy"
            self._note(UsageEventType.TRIGGER, data)
            if accepted:
                self.stats.bites_offered += 1
                self._note(UsageEventType.BITE_OFFERED, {"bowl": self.bowl})
        elif kind is CommandKind.SELECT_BOWL:
            if command.bowl in self.settings.bowls_used:
                self._requested_bowl = command.bowl
        elif kind is CommandKind.PAUSE:
            self._fire(now_s, E.PAUSE)
        elif kind is CommandKind.RESUME and self.state is S.PAUSED:
            self._unreachable_in_a_row = 0  # a person has seen to it: offer again
            self.stopped_by = None
            origin = self._paused_from
            if origin in _AT_FACE:
                self._fire(now_s, E.RESUME_AT_FACE)
            elif origin is S.READY and self.loaded:
                self._fire(now_s, E.RESUME_LOADED)
            else:
                self._fire(now_s, E.RESUME_EMPTY)
        elif kind is CommandKind.END_MEAL:
            at_face = self.state in _AT_FACE or (self.state is S.PAUSED and self._paused_from in _AT_FACE)
            event = E.END_AT_FACE if at_face else E.END
            if transition(self.state, event) is not None:
                self.ending = True
                self._fire(now_s, event)
        elif kind is CommandKind.ESTOP:
            self._fault(now_s, Verdict(Reaction.SAFE_STOP, SafetyReason.ESTOP, f"e-stop from {command.source}"))
        elif kind is CommandKind.RESET and self.state is S.FAULT:
            self._fire(now_s, E.RESET)

    # -- safety --------------------------------------------------------------------------------

    def _safety(self, now_s: float, verdict: Verdict) -> None:
        if verdict.reaction is Reaction.SAFE_STOP:
            self._fault(now_s, verdict)
        elif verdict.reason is SafetyReason.MOUTH_LOST and self.state is S.AT_MOUTH and self._lips_closed:
            # The spoon hides the lips once they close on it: losing the mouth then is the bite.
            self._bite_taken(now_s, ended_by="mouth_lost")
        elif verdict.reason is SafetyReason.CONTACT and self.state is S.AT_MOUTH:
            # At the mouth the spoon is there to be touched: lips closing on it are the bite. The
            # reaction is the same as for any contact (stop, then retract), journalled as the bite.
            self._bite_taken(now_s, ended_by="lips_on_spoon")
        elif verdict.reaction is Reaction.RETRACT and self.state in (S.APPROACH, S.AT_MOUTH):
            if verdict.reason is SafetyReason.UNREACHABLE:
                self._unreachable_in_a_row += 1
            self.stats.safety_stops += 1
            self._note(UsageEventType.SAFETY_STOP, _verdict_data(verdict, self.state))
            self._fire(now_s, E.SAFETY_RETRACT)
        elif verdict.reason is SafetyReason.CONTACT:
            self._contact_away_from_face(now_s, verdict)

    def _contact_away_from_face(self, now_s: float, verdict: Verdict) -> None:
        """Contact while scooping, waiting or going home: the arm stops where it is and the meal
        pauses until a person resumes it. Drawing the spoon out of the mouth (the first part of a
        retract) goes on: moving away from the face is the reaction to a face that touches it."""
        if self.state is S.RETRACT and self._retract in (_RetractPhase.STOP, _RetractPhase.CLEAR):
            return
        if self.state is S.ENDED:
            self.ending = False  # the meal is over: stop on the way home and stay there
            return
        if transition(self.state, E.PAUSE) is not None:
            self.stats.safety_stops += 1
            self._note(UsageEventType.SAFETY_STOP, _verdict_data(verdict, self.state))
            self._fire(now_s, E.PAUSE)
            self.stopped_by = verdict.reason

    def _fault(self, now_s: float, verdict: Verdict) -> None:
        if self.state is S.FAULT:
            return
        data = _verdict_data(verdict, self.state)
        self.stats.safety_stops += 1
        self.stats.faults += 1
        self._note(UsageEventType.SAFETY_STOP, data)
        self._note(UsageEventType.FAULT, data)
        self.stopped_by = verdict.reason
        # A meal cut short is closed in the care plan now, not when the next one starts.
        self._end_meal({"reason": "interrupted", "stopped_by": data["reason"], "state": data["state"]})
        self._fire(now_s, E.FAULT)

    # -- progress within a state ---------------------------------------------------------------

    def _progress(self, now_s: float, mouth: MouthView, arm: ArmView) -> None:
        state, tuning = self.state, self.settings.tuning
        if state is S.CHOOSE_BOWL:
            chosen = self._requested_bowl if self._requested_bowl is not None else self.bowl
            if chosen is None:
                chosen = self.settings.bowls_used[0]
            if chosen != self.bowl:
                self._note(UsageEventType.BOWL_SELECTED, {"bowl": chosen})
            self.bowl, self._requested_bowl = chosen, None
            self._fire(now_s, E.BOWL_CHOSEN)
        elif state is S.SCOOP:
            waypoints = self._scoop_path()
            if self._reached(arm, waypoints[self._scoop_index]):
                self._scoop_index += 1
                if self._scoop_index == len(waypoints):
                    self.loaded = True
                    self._fire(now_s, E.SCOOPED)
        elif state is S.APPROACH:
            target = self._standoff_point()
            if (
                mouth.position_m is not None
                and np.linalg.norm(arm.spoon_m - target) < tuning.arrive_tolerance_m
                and arm.spoon_speed_m_s < tuning.arrive_speed_m_s
                and self._measured_at(arm, target)
            ):
                self._arrival_distance_m = float(np.linalg.norm(arm.spoon_m - mouth.position_m))
                self._arrival_spoon_m = arm.spoon_m.copy()
                self._fire(now_s, E.ARRIVED)
        elif state is S.AT_MOUTH:
            self._watch_bite(now_s, mouth, arm)
        elif state is S.RETRACT:
            self._progress_retract(now_s, arm)
        elif state is S.ENDED and self.ending:
            self.ending = not self._reached(arm, self.settings.ready_pose_rad)

    def _watch_bite(self, now_s: float, mouth: MouthView, arm: ArmView) -> None:
        if mouth.position_m is not None:
            if not mouth.is_open:
                self._lips_closed = True
            distance = float(np.linalg.norm(arm.spoon_m - mouth.position_m))
            if self._lips_closed and distance > self._arrival_distance_m + self.settings.tuning.bite_head_back_m:
                self._bite_taken(now_s, ended_by="head_moved_back")
                return
        if now_s - self._entered_s > self.settings.bite_timeout_s:
            self.stats.bite_timeouts += 1
            self._note(UsageEventType.BITE_TIMEOUT, {"bowl": self.bowl, "held_s": round(now_s - self._entered_s, 3)})
            self._fire(now_s, E.BITE_TIMEOUT)

    def _measured_at(self, arm: ArmView, target: np.ndarray) -> bool:
        """The measured spoon within `measured_arrive_tolerance_m` of `target`."""
        distance = float(np.linalg.norm(arm.measured_spoon_m - target))
        return distance < self.settings.tuning.measured_arrive_tolerance_m

    def _bite_taken(self, now_s: float, ended_by: str) -> None:
        if not self._measured_at_mouth:
            # The arm as measured is not at the mouth (it was pushed, or stopped on its own): whatever
            # vision or current said, no bite was given. Take the spoon back, still loaded.
            self._fire(now_s, E.SAFETY_RETRACT)
            return
        self.loaded = False
        self.stats.bites_taken += 1
        held_s = round(now_s - self._entered_s, 3)
        self._note(UsageEventType.BITE_TAKEN, {"bowl": self.bowl, "held_s": held_s, "ended_by": ended_by})
        self._fire(now_s, E.BITE_TAKEN)

    def _progress_retract(self, now_s: float, arm: ArmView) -> None:
        if not arm.at_rest:
            return
        tolerance = self.settings.tuning.arrive_tolerance_m
        if self._retract is _RetractPhase.STOP:
            self._clear_point_m = self._clear_point(arm.spoon_m)
            self._retract = _RetractPhase.BACK if self._clear_point_m is None else _RetractPhase.CLEAR
        elif self._retract is _RetractPhase.CLEAR:
            if np.linalg.norm(arm.spoon_m - self._clear_point_m) < tolerance:
                self._retract = _RetractPhase.BACK
        elif self._retract is _RetractPhase.BACK:
            if np.linalg.norm(arm.spoon_m - np.asarray(self.settings.ready_spoon_m)) < tolerance:
                self._retract = _RetractPhase.HOME
        elif self._reached(arm, self.settings.ready_pose_rad):
            if self.ending:
                self._fire(now_s, E.RETRACTED_ENDING)
            else:
                self._fire(now_s, E.RETRACTED_LOADED if self.loaded else E.RETRACTED_EMPTY)
                self._give_up_out_of_reach(now_s)

    def _give_up_out_of_reach(self, now_s: float) -> None:
        """After `max_unreachable_offers` approaches in a row to a mouth out of the arm's reach,
        the meal pauses at ready, journalled once, until a person resumes it."""
        offers = self._unreachable_in_a_row
        if offers < self.settings.tuning.max_unreachable_offers or not self._fire(now_s, E.PAUSE):
            return
        self.stats.safety_stops += 1
        self.stopped_by = SafetyReason.UNREACHABLE
        detail = (
            f"the mouth was out of the arm's reach on {offers} offers in a row: "
            "reseat the citizen or move the arm, then resume"
        )
        self._note(
            UsageEventType.SAFETY_STOP,
            {"reason": SafetyReason.UNREACHABLE.value, "reaction": "pause", "detail": detail, "state": S.READY.value},
        )

    # -- goals ---------------------------------------------------------------------------------

    def _goal(self, mouth: MouthView, verdict: Verdict, arm: ArmView) -> Goal:
        state, settings = self.state, self.settings
        if state is S.SCOOP:
            return Goal(GoalKind.JOINTS, self._scoop_path()[self._scoop_index], self._cap(arm.spoon_m, False))
        if state is S.APPROACH:
            if verdict.reaction is Reaction.HOLD or mouth.position_m is None:
                return HOLD
            return Goal(GoalKind.SPOON, tuple(self._standoff_point()), self._cap(arm.spoon_m))
        if state is S.RETRACT:
            if self._retract is _RetractPhase.STOP:
                return HOLD
            if self._retract is _RetractPhase.CLEAR:
                assert self._clear_point_m is not None  # CLEAR is entered only with a clear point
                return Goal(GoalKind.SPOON, tuple(self._clear_point_m), self._cap(arm.spoon_m))
            if self._retract is _RetractPhase.BACK:
                return Goal(GoalKind.SPOON, settings.ready_spoon_m, self._cap(arm.spoon_m))
            return Goal(GoalKind.JOINTS, settings.ready_pose_rad, self._cap(arm.spoon_m, False))
        if state is S.ENDED and self.ending:
            return Goal(GoalKind.JOINTS, settings.ready_pose_rad, self._cap(arm.spoon_m, False))
        return HOLD

    def _cap(self, spoon_m: np.ndarray, unknown_is_near: bool = True) -> float:
        """The spoon speed cap where the spoon is now (slow near the last known mouth). Moves
        toward the face treat an unknown mouth as near; taught joint moves away from it do not."""
        if self._last_mouth_m is None:
            distance = None if unknown_is_near else math.inf
        else:
            to_mouth = spoon_m - self._last_mouth_m
            distance = math.sqrt(to_mouth.dot(to_mouth))  # np.linalg.norm, without its overhead (every tick)
        s = self.settings
        margin = s.braking_distance_m + s.tuning.unseen_mouth_approach_m
        cap = speed_cap_m_s(distance, s.speed_m_s, s.speed_near_mouth_m_s, s.near_mouth_radius_m, margin)
        return cap * s.tuning.speed_planning_fraction

    def _scoop_path(self) -> tuple[tuple[float, float, float, float], ...]:
        assert self.bowl is not None, "a scoop needs a chosen bowl (CHOOSE_BOWL sets it)"
        return (*self.settings.bowls_waypoints_rad[self.bowl], self.settings.ready_pose_rad)

    def _reached(self, arm: ArmView, q_target: Sequence[float]) -> bool:
        return (
            arm.at_rest
            and float(np.max(np.abs(arm.q - np.asarray(q_target)))) < self.settings.tuning.rest_tolerance_rad
        )

    def _clear_point(self, spoon_m: np.ndarray) -> np.ndarray | None:
        """Where the spoon is drawn straight out of the mouth to: `retract_clear_m` horizontally
        toward the base. None when the spoon is not near the mouth (nothing to draw out of) or
        already nearer the ready point than that."""
        mouth = self._last_mouth_m
        reach = self.settings.near_mouth_radius_m
        ready = np.asarray(self.settings.ready_spoon_m)
        if mouth is None or np.linalg.norm(spoon_m - mouth) > reach:
            return None
        if np.linalg.norm(spoon_m - ready) <= self.settings.tuning.retract_clear_m:
            return None
        toward = np.array((BASE_TO_J1[0] - spoon_m[0], BASE_TO_J1[1] - spoon_m[1], 0.0), dtype=float)
        norm = math.hypot(toward[0], toward[1])
        if norm == 0.0:
            return None
        return spoon_m + toward * (self.settings.tuning.retract_clear_m / norm)

    def _standoff_point(self) -> np.ndarray:
        """The stand-off point: `standoff_m` from the mouth, horizontally toward the arm's base."""
        mouth = self._last_mouth_m
        assert mouth is not None, "the stand-off point needs a trusted mouth (APPROACH starts only with one)"
        toward = np.array((BASE_TO_J1[0] - mouth[0], BASE_TO_J1[1] - mouth[1], 0.0), dtype=float)
        norm = math.hypot(toward[0], toward[1])
        if norm == 0.0:
            return mouth.copy()
        return mouth + toward * (self.settings.standoff_m / norm)


def _verdict_data(verdict: Verdict, state: FeedingState) -> dict[str, Any]:
    return {
        "reason": str(verdict.reason),
        "reaction": verdict.reaction.name.lower(),
        "detail": verdict.detail,
        "state": state.value,
    }


__all__ = [
    "HOLD",
    "TRANSITIONS",
    "ArmView",
    "CommandKind",
    "FeedingEvent",
    "FeedingMachine",
    "FeedingSettings",
    "FeedingState",
    "FeedingStats",
    "FeedingTuning",
    "Goal",
    "GoalKind",
    "MouthView",
    "UserCommand",
    "transition",
]
