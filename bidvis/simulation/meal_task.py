"""The citizen at the meal, as a task on the physics (dm_control's split of task and physics).

`MealTask` is everything the simulated person does, apart from the world it acts in: the head and
mouth (`sim.citizen.Citizen`, which sets its muscles in the world), and how they use the robot:
they start the meal, ask for each bite the way their profile's `trigger_kind` says (switch, panel,
mouth gesture; auto-pace needs no asking) and end the meal once the scenario's bites are eaten.
The composition calls `before_step` once per control tick with the world, the controller and the
time of the meal's one clock.
"""

from __future__ import annotations

import math

from controller.config import CitizenProfile, TriggerKind
from controller.feeding import CommandKind, FeedingState, UserCommand
from controller.loop import CommandQueue, MealController
from controller.triggers import MouthGesture, TriggerMerger, triggers_for
from sim.citizen import Citizen
from sim.scenario import Scenario
from sim.world import World

GESTURE_RETRY_S = 3.0  # a citizen whose gesture brought no spoon asks again this long after asking


class MealTask:
    """The simulated citizen and their switch, panel and mouth gesture; `triggers` is the loop's
    command source (the profile's triggers over the switch queue `inputs`)."""

    def __init__(self, scenario: Scenario, profile: CitizenProfile) -> None:
        self.scenario = scenario
        self.profile = profile
        self.citizen = Citizen(scenario)
        self.inputs = CommandQueue()  # the citizen's switch and panel; the loop polls `triggers`
        self._state = FeedingState.IDLE
        self.triggers: TriggerMerger = triggers_for(
            profile, armed=lambda: self._state is FeedingState.READY, switches=(self.inputs,)
        )
        self._last_ask_s = -math.inf
        self._started = False
        self._ended = False
        self._asked_in_ready = False

    def initialize_episode(self, physics: World) -> None:
        """The meal is about to start in `physics`."""
        self.citizen.initialize_episode(physics)

    def before_step(self, physics: World, controller: MealController, now_s: float) -> None:
        """The citizen's part of one control tick (after the controller's sync write)."""
        self.citizen.spoon_waiting = controller.state is FeedingState.READY
        self.citizen.before_step(physics, now_s)
        self._ask(controller.state, now_s)

    def gesture_counts(self) -> dict[str, int] | None:
        """What the mouth gesture detector saw, when the profile's trigger is the gesture."""
        for source in self.triggers.sources:
            if isinstance(source, MouthGesture):
                return {
                    "triggers": source.triggers,
                    "misfires": source.misfires,
                    "speech_openings": source.speech_openings,
                }
        return None

    def _ask(self, state: FeedingState, now_s: float) -> None:
        """Start the meal, ask for each bite, end it once the scenario's bites are eaten."""
        self._state = state
        citizen = self.citizen
        if not self._started:
            self.inputs.push(UserCommand(CommandKind.START_MEAL, source="switch"))
            self._started = True
            return
        if state is not FeedingState.READY:
            self._asked_in_ready = False
            return
        if citizen.bites_taken >= self.scenario.bites and not self._ended:
            self.inputs.push(UserCommand(CommandKind.END_MEAL, source="panel"))
            self._ended = True
        elif not citizen.wants_bite:
            return
        elif self.profile.trigger_kind is TriggerKind.MOUTH_GESTURE:
            if not citizen.gesturing(now_s) and (
                not self._asked_in_ready or now_s - self._last_ask_s >= GESTURE_RETRY_S
            ):
                citizen.ask_for_bite(now_s)
                self._asked_in_ready, self._last_ask_s = True, now_s
        elif self.profile.trigger_kind is not TriggerKind.AUTO_PACE and not self._asked_in_ready:
            self.inputs.push(UserCommand(CommandKind.NEXT_BITE, source=self.profile.trigger_kind.value))
            self._asked_in_ready = True
