"""The simulated meal: one composition of the real controller and the simulated world, used
alike by `bidvis demo`, `bidvis safety-report` and `bidvis safety-campaign` (docs/simulator.md).

One job per module:

- `composition`: `SimulatedMeal` (physics, servos, bus, controller loop, task, camera, judge on
  one clock) and `run_simulated_meal`;
- `clock`: the meal's clock (as fast as possible, or paced to the wall clock);
- `meal_task`: the citizen at the meal, a task separate from the physics;
- `camera_feed`: mouth observations from face frames through vision, or from ground truth;
- `face_vision`: the vision pipeline's measurement of face photos and the face-scale set-up;
- `judge`: per-tick measurements of the controller (stale-mouth advances, fastest motion);
- `summary`: the meal's summary and the journal's event counts;
- `safety_run`: a safety scenario run with the host-silence probe.
"""

from bidvis.simulation.camera_feed import CameraMode
from bidvis.simulation.clock import PacedClock
from bidvis.simulation.composition import SimulatedMeal, run_simulated_meal
from bidvis.simulation.face_vision import calibrate_face_scale, vision_face_measure
from bidvis.simulation.judge import FastestMotion
from bidvis.simulation.safety_run import run_safety_scenario, run_safety_scenarios
from bidvis.simulation.summary import MealSummary

__all__ = [
    "CameraMode",
    "FastestMotion",
    "MealSummary",
    "PacedClock",
    "SimulatedMeal",
    "calibrate_face_scale",
    "run_safety_scenario",
    "run_safety_scenarios",
    "run_simulated_meal",
    "vision_face_measure",
]
