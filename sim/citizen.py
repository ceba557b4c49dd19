"""The simulated citizen: head pose, mouth and bites over time, driven by a `Scenario`.

The citizen is a task on the physics, as in dm_control (`Task.before_step(action, physics)`): it
holds its own behaviour and state, never the world. Before each physics step the composition calls
`before_step(physics, t_s)` with the `World` and the time of the meal's one clock; the citizen
looks at where the spoon is (it sees it, as a person does) and sets the targets of its muscles in
that world (torso lean, head yaw and pitch, jaw). Eating follows what
people do at a meal: the mouth opens as the spoon comes near; once the spoon waits within reach
for the reaction time, the head moves toward it, the lips close on it, hold, and the head moves
back (the bite is taken); then the citizen chews. A citizen whose trigger is the mouth gesture
asks for a bite (`ask_for_bite`) by opening wide and holding it. Scenario events lay other behaviour over this:
talking, turning away, leaning in toward the spoon, sneezing, falling asleep, leaving the table,
keeping the mouth shut. Everything random comes from the scenario's seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np

from sim.scenario import CitizenEvent, EventKind, Scenario
from sim.world import World, vector_length

SPOON_STILL_M_S = 0.03  # the citizen takes a bite only from a spoon that (nearly) waits
LIPS_OVER_SPOON_M = 0.012  # the lips close this far past the spoon tip (over the bowl)
HEAD_BACK_SPEED_M_S = 0.10
SPOON_IN_BOWL_Z_M = 0.06  # the spoon tip this low has been in a bowl (the bowls' rims are at 0.05 m)
SPOON_GONE_M = 0.09  # after a bite the spoon must go this far away before the next one
CHEW_AMPLITUDE_M = 0.008
CHEW_HZ = 1.5
TALK_SYLLABLE_S = (0.12, 0.25)  # a vowel: the jaw opens to TALK_OPENING_M ...
TALK_OPENING_M = (0.004, 0.012)
TALK_CLOSURE_S = (0.08, 0.20)  # ... then a consonant: the lips meet (below TALK_CLOSED_M) and stay so this long
TALK_CLOSED_M = 0.001
TALK_DRAWN_OUT_S = (0.65, 0.75)  # a talk ends on a drawn-out vowel ("jaaa"), after a short breath ...
TALK_DRAWN_OUT_M = 0.016  # ... open longer than speech, shorter than a gesture: a suspected misfire
TALK_BREATH_S = 0.3
GESTURE_REACTION_S = 0.4  # asked for a bite, the citizen opens wide after this long ...
GESTURE_HOLD_S = 1.5  # ... and holds it open this long (the gesture's dwell is 1.0 s by default)
SNEEZE_PITCH_RAD = 0.4
ASLEEP_PITCH_RAD = 0.5
ASLEEP_DROP_M = 0.03
LEAVE_YAW_RAD = 0.8
FLINCH_FORCE_N = 2.0  # touched harder than this elsewhere than the lips, the citizen pulls back ...
FLINCH_M = 0.03  # ... this far from the spoon ...
FLINCH_S = 0.6  # ... for this long, and stops leaning in meanwhile
JAW_SPEED_M_S = 0.08  # lips open and close at most this fast (they close gently on a spoon)
NOD_PERIOD_S = 0.6  # a nod: the head down by the event's angle and up again, this long each
COUGH_PERIOD_S = 0.45  # a cough: a jerk forward (and down) every this long, the mouth open
COUGH_PITCH_RAD = 0.15
SLUMP_PITCH_RAD = 0.35  # a drowsy slump: the head sinks forward and down, and the mouth falls open a little
SLUMP_JAW_M = 0.008


def _backward(world: World) -> np.ndarray:
    """Horizontal unit vector from the face toward the back of the head."""
    back = world.head_rotation()[:, 0].copy()
    back[2] = 0.0
    norm = vector_length(back)
    return back / norm if norm > 1e-6 else np.array([1.0, 0.0, 0.0])


def _cough_pulse(since_start_s: float, rise_s: float) -> float:
    """0..1: a cough's jerk forward (rising in `rise_s`), then back, once every `COUGH_PERIOD_S`."""
    into = since_start_s % COUGH_PERIOD_S
    rise_s = min(max(rise_s, 1e-3), COUGH_PERIOD_S / 3)
    if into < rise_s:
        return into / rise_s
    back_s = COUGH_PERIOD_S / 3
    return max(0.0, 1.0 - (into - rise_s) / back_s)


class CitizenActivity(Enum):
    """What the citizen is doing about food."""

    WAITING = "waiting"
    TAKING_BITE = "taking_bite"
    CHEWING = "chewing"
    ASLEEP = "asleep"
    AWAY = "away"
    FINISHED = "finished"


@dataclass(slots=True)
class _ActiveEvent:
    event: CitizenEvent
    start_s: float
    direction: np.ndarray  # unit vector (for lean-in: toward the spoon)

    def envelope(self, t_s: float, rise_s: float, fall_s: float | None = None) -> float:
        """0..1: ramp up over rise_s, hold for the event's duration, ramp down over fall_s."""
        fall_s = rise_s if fall_s is None else fall_s
        dt = t_s - self.start_s
        if dt < 0.0:
            return 0.0
        if dt < rise_s:
            return dt / rise_s if rise_s > 0 else 1.0
        hold_end = rise_s + self.event.duration_s
        if dt < hold_end:
            return 1.0
        if fall_s > 0 and dt < hold_end + fall_s:
            return 1.0 - (dt - hold_end) / fall_s
        return 0.0

    def finished(self, t_s: float, rise_s: float, fall_s: float) -> bool:
        return t_s - self.start_s > rise_s + self.event.duration_s + fall_s


class Citizen:
    """A person at the table; `before_step(physics, t_s)` once per control tick (or more often)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.profile = scenario.citizen
        self.activity = CitizenActivity.WAITING
        self.bites_taken = 0
        self.log: list[tuple[float, str]] = []
        self.events_started = 0
        # (index in the scenario's events, time, spoon tip to mouth in m) of each event as it started
        self.event_onsets: list[tuple[int, float, float]] = []
        self._rng = np.random.default_rng(scenario.seed)
        self._sway_phase = self._rng.uniform(0, 2 * np.pi, size=3)
        self._sway_hz = self._rng.uniform(0.15, 0.35, size=3)
        self._pending = list(enumerate(scenario.events))  # (index in the scenario, event)
        self._active: list[_ActiveEvent] = []
        self._bite_lean = np.zeros(3)  # current lean of the bite motion
        self._bite_goal = np.zeros(3)
        self._phase_start_s = 0.0
        self._spoon_still_since_s: float | None = None
        self._last_spoon: np.ndarray | None = None  # where the spoon was at the last step, and when
        self._last_t = 0.0
        self._talk_opening_m = 0.0
        self._next_syllable_s = 0.0
        self._drawn_out_s = 0.0
        self._gesture_s = (-1.0, -1.0)  # the mouth is held open for a bite from .. to
        self.spoon_waiting = False  # the spoon waits at the ready pose for a trigger (the simulator sets it)
        self._lips_closed_at: float | None = None
        self._jaw_m = 0.0
        self._flinch_until_s = -1.0
        self._flinch_direction = np.zeros(3)
        self._spoon_emptied = False  # the spoon in front of the mouth was already eaten from
        self._spoon_loaded = False  # the spoon went into a bowl since the last bite ...
        self._spoon_served = False  # ... and then waited at the ready pose: this bite's approach is on

    # public ---------------------------------------------------------------------------------

    @property
    def bite_number(self) -> int:
        """The bite the citizen is waiting for or taking (1-based)."""
        return self.bites_taken + 1

    @property
    def wants_bite(self) -> bool:
        """True while the citizen would press the switch for the next bite: waiting, not busy
        with anything else, and not yet done with the scenario's bites."""
        return self.activity is CitizenActivity.WAITING and not self._busy() and self.bites_taken < self.scenario.bites

    def gesturing(self, t_s: float) -> bool:
        """True from `ask_for_bite` until the citizen closes the mouth again."""
        return t_s < self._gesture_s[1]

    def ask_for_bite(self, t_s: float) -> None:
        """Ask for the next bite with the mouth gesture: after `GESTURE_REACTION_S`, open wide and
        hold for `GESTURE_HOLD_S`. Nothing happens while the citizen is busy (an event starting
        meanwhile stops the gesture)."""
        if self.wants_bite and not self.gesturing(t_s):
            start = t_s + GESTURE_REACTION_S
            self._gesture_s = (start, start + GESTURE_HOLD_S)
            self.log.append((t_s, "asks for a bite with the mouth"))

    def initialize_episode(self, physics: World) -> None:
        """Note where the spoon is at the start (the first step's spoon speed is measured from there;
        `before_step` does this itself if it was not called)."""
        self._last_spoon, self._last_t = physics.spoon_tip_position(), physics.time_s

    def before_step(self, physics: World, t_s: float) -> None:
        """Look at the spoon in `physics` and set the muscle targets there for time `t_s`."""
        world = physics
        if self._last_spoon is None:
            self.initialize_episode(world)
        spoon = world.spoon_tip_position()
        mouth = world.mouth_position()
        dt = max(t_s - self._last_t, 1e-9)
        spoon_speed = vector_length(spoon - self._last_spoon) / dt
        self._last_spoon, self._last_t = spoon, t_s
        distance = vector_length(spoon - mouth)
        if spoon[2] < SPOON_IN_BOWL_Z_M:
            self._spoon_loaded = True
        self._spoon_served = self._spoon_served or (self._spoon_loaded and self.spoon_waiting)
        # lips on the spoon are part of eating; anything else pressing on the face is not
        if world.face_force_n - world.lip_force_n > FLINCH_FORCE_N:
            if t_s >= self._flinch_until_s:
                self.log.append((t_s, f"flinches ({world.face_force_n:.1f} N)"))
            self._flinch_direction = _backward(world)
            self._flinch_until_s = t_s + FLINCH_S
        self._start_events(t_s, spoon, mouth, distance)
        self._eat(world, t_s, spoon, mouth, distance, spoon_speed, dt)
        self._apply(world, t_s, dt, distance)

    # behaviour ------------------------------------------------------------------------------

    def _start_events(self, t_s: float, spoon, mouth, distance: float) -> None:
        still_pending = []
        for index, event in self._pending:
            due = (event.at_s is not None and t_s >= event.at_s) or (
                event.bite is not None
                and event.bite == self.bite_number
                and event.when_spoon_within_m is not None
                and distance <= event.when_spoon_within_m
                and self._spoon_served
                and self.activity in (CitizenActivity.WAITING, CitizenActivity.TAKING_BITE)
                and (self.spoon_waiting or not event.while_spoon_waits)
            )
            if not due:
                still_pending.append((index, event))
                continue
            toward = spoon - mouth
            toward[2] = 0.0
            norm = vector_length(toward)
            direction = toward / norm if norm > 1e-6 else np.array([-1.0, 0.0, 0.0])
            self._active.append(_ActiveEvent(event, t_s, direction))
            self.events_started += 1
            self.event_onsets.append((index, t_s, distance))
            self.log.append((t_s, f"starts {event.kind.value}"))
            self._gesture_s = (-1.0, -1.0)
            if event.kind is EventKind.TALK:
                self._drawn_out_s = min(float(self._rng.uniform(*TALK_DRAWN_OUT_S)), event.duration_s / 2)
            if event.kind is EventKind.FALL_ASLEEP:
                self._set_activity(t_s, CitizenActivity.ASLEEP)
            elif event.kind is EventKind.LEAVE_TABLE:
                self._set_activity(t_s, CitizenActivity.AWAY)
            if self.activity is CitizenActivity.TAKING_BITE:
                self._set_activity(t_s, CitizenActivity.WAITING)
        self._pending = still_pending
        self._active = [a for a in self._active if not a.finished(t_s, *self._ramps(a))]
        if self.activity in (CitizenActivity.ASLEEP, CitizenActivity.AWAY) and not any(
            a.event.kind in (EventKind.FALL_ASLEEP, EventKind.LEAVE_TABLE) for a in self._active
        ):
            self._set_activity(t_s, CitizenActivity.WAITING)

    def _busy(self) -> bool:
        """True while an event keeps the citizen from taking a bite."""
        return any(a.event.kind is not EventKind.LEAN_IN for a in self._active)

    def _eat(self, world: World, t_s: float, spoon, mouth, distance: float, spoon_speed: float, dt: float) -> None:
        p = self.profile
        activity = self.activity
        if activity is CitizenActivity.WAITING:
            self._bite_goal[:] = 0.0
            if self.bites_taken >= self.scenario.bites:
                self._set_activity(t_s, CitizenActivity.FINISHED)
                return
            if distance > SPOON_GONE_M:
                self._spoon_emptied = False
            near = (
                distance <= p.bite_reach_m
                and spoon_speed <= SPOON_STILL_M_S
                and not self._busy()
                and not self._spoon_emptied
            )
            if not near:
                self._spoon_still_since_s = None
            elif self._spoon_still_since_s is None:
                self._spoon_still_since_s = t_s
            elif t_s - self._spoon_still_since_s >= p.reaction_s:
                reach = distance + LIPS_OVER_SPOON_M
                self._bite_goal = self._bite_lean + (spoon - mouth) / max(distance, 1e-9) * reach
                self._set_activity(t_s, CitizenActivity.TAKING_BITE)
        elif activity is CitizenActivity.TAKING_BITE:
            arrived = self._move_bite_lean(self._bite_goal, p.bite_lean_speed_m_s, dt)
            if arrived and t_s - self._phase_start_s > 0.05:
                if self._lips_closed_at is None:
                    self._lips_closed_at = t_s
                if t_s - self._lips_closed_at >= p.bite_hold_s:
                    self.bites_taken += 1
                    self._spoon_emptied = True
                    self._spoon_loaded = self._spoon_served = False
                    self._set_activity(t_s, CitizenActivity.CHEWING)
                    self._bite_goal = _backward(world) * p.head_back_m
        elif activity is CitizenActivity.CHEWING:
            # pull the food off the spoon: head back past the resting place, then settle
            settled = t_s - self._phase_start_s > p.chew_s / 2
            self._move_bite_lean(np.zeros(3) if settled else self._bite_goal, HEAD_BACK_SPEED_M_S, dt)
            if t_s - self._phase_start_s >= p.chew_s:
                self._set_activity(t_s, CitizenActivity.WAITING)
        else:
            self._move_bite_lean(np.zeros(3), HEAD_BACK_SPEED_M_S, dt)

    def _move_bite_lean(self, goal, speed_m_s: float, dt: float) -> bool:
        delta = goal - self._bite_lean
        step = speed_m_s * dt
        norm = vector_length(delta)
        if norm <= step:
            self._bite_lean = np.array(goal, dtype=float)
            return True
        self._bite_lean = self._bite_lean + delta / norm * step
        return False

    def _set_activity(self, t_s: float, activity: CitizenActivity) -> None:
        self._lips_closed_at = None
        if activity is not self.activity:
            self.log.append((t_s, f"{self.activity.value} -> {activity.value}"))
        self.activity = activity
        self._phase_start_s = t_s
        self._spoon_still_since_s = None

    # muscles --------------------------------------------------------------------------------

    def _ramps(self, active: _ActiveEvent) -> tuple[float, float]:
        e = active.event
        kind = e.kind
        if kind is EventKind.LEAN_IN:
            return e.distance_m / e.speed_m_s, e.distance_m / 0.1
        if kind is EventKind.SNEEZE:
            return e.distance_m / e.speed_m_s, 0.5
        if kind is EventKind.TURN_AWAY:
            return 0.6, 0.6
        if kind is EventKind.LEAVE_TABLE:
            return e.distance_m / e.speed_m_s, 2.0
        if kind is EventKind.FALL_ASLEEP:
            return 2.0, 1.0
        if kind is EventKind.SLUMP:
            return e.distance_m / e.speed_m_s, 1.0
        return 0.0, 0.0

    def _apply(self, world: World, t_s: float, dt: float, spoon_distance_m: float) -> None:
        p = self.profile
        lean = self._bite_lean.copy()
        lean += p.sway_m * np.sin(2 * np.pi * self._sway_hz * t_s + self._sway_phase)
        yaw = pitch = 0.0
        jaw = self._jaw_for_eating(t_s, spoon_distance_m)
        flinching = t_s < self._flinch_until_s
        if flinching:
            lean += self._flinch_direction * FLINCH_M
        for active in self._active:
            e = active.event
            k = active.envelope(t_s, *self._ramps(active))
            if flinching and e.kind in (EventKind.LEAN_IN, EventKind.SNEEZE):
                continue
            if e.kind is EventKind.LEAN_IN:
                lean += active.direction * e.distance_m * k
            elif e.kind is EventKind.SNEEZE:
                lean += active.direction * e.distance_m * k
                pitch += SNEEZE_PITCH_RAD * k
                jaw = 0.0
            elif e.kind is EventKind.TURN_AWAY:
                yaw += e.angle_rad * k
                jaw = 0.0
            elif e.kind is EventKind.FALL_ASLEEP:
                pitch += ASLEEP_PITCH_RAD * k
                lean[2] -= ASLEEP_DROP_M * k
                jaw = 0.0
            elif e.kind is EventKind.LEAVE_TABLE:
                lean[0] += e.distance_m * k
                yaw += LEAVE_YAW_RAD * k
                jaw = 0.0
            elif e.kind is EventKind.KEEP_MOUTH_CLOSED:
                jaw = 0.0
            elif e.kind is EventKind.TALK:
                jaw = self._talk(t_s, active)
            elif e.kind is EventKind.NOD:
                phase = (t_s - active.start_s) / NOD_PERIOD_S
                pitch += e.angle_rad * k * 0.5 * (1.0 - math.cos(2.0 * math.pi * phase))
            elif e.kind is EventKind.COUGH:
                jerk = _cough_pulse(t_s - active.start_s, e.distance_m / e.speed_m_s)
                lean += active.direction * e.distance_m * jerk * k
                pitch += COUGH_PITCH_RAD * jerk * k
                jaw = p.mouth_open_m * 0.6
            elif e.kind is EventKind.SLUMP:
                lean += (active.direction * 0.5 + np.array([0.0, 0.0, -0.85])) * e.distance_m * k
                pitch += SLUMP_PITCH_RAD * k
                jaw = SLUMP_JAW_M * k
        step = JAW_SPEED_M_S * dt
        self._jaw_m += min(max(jaw - self._jaw_m, -step), step)
        world.set_citizen_targets(lean, yaw, pitch, self._jaw_m)

    def _jaw_for_eating(self, t_s: float, spoon_distance_m: float) -> float:
        p = self.profile
        activity = self.activity
        if activity is CitizenActivity.TAKING_BITE:
            return 0.0 if self._lips_closed_at is not None else p.mouth_open_m
        if activity is CitizenActivity.CHEWING:
            return CHEW_AMPLITUDE_M * 0.5 * (1 - np.cos(2 * np.pi * CHEW_HZ * (t_s - self._phase_start_s)))
        if activity is CitizenActivity.WAITING:
            if self._gesture_s[0] <= t_s < self._gesture_s[1] and not self._busy():
                return p.mouth_open_m
            if spoon_distance_m <= p.open_mouth_when_spoon_within_m and not self._busy():
                return p.mouth_open_m
        return 0.0

    def _talk(self, t_s: float, active: _ActiveEvent) -> float:
        """Syllables (a vowel, then the lips meet), a breath, and a drawn-out vowel to end on."""
        drawn_out_from = active.start_s + active.event.duration_s - self._drawn_out_s
        if t_s >= drawn_out_from:
            return TALK_DRAWN_OUT_M
        if t_s >= drawn_out_from - TALK_BREATH_S:
            return 0.0
        if self._talk_opening_m > 0.0:
            if t_s >= self._next_syllable_s:  # the vowel is over: the lips meet ...
                self._talk_opening_m, self._next_syllable_s = 0.0, math.inf
        elif self._next_syllable_s == math.inf:
            if self._jaw_m <= TALK_CLOSED_M:  # ... and stay closed a moment once they have met
                self._next_syllable_s = t_s + float(self._rng.uniform(*TALK_CLOSURE_S))
        elif t_s >= self._next_syllable_s:  # the next vowel
            self._talk_opening_m = float(self._rng.uniform(*TALK_OPENING_M))
            self._next_syllable_s = t_s + float(self._rng.uniform(*TALK_SYLLABLE_S))
        return self._talk_opening_m
