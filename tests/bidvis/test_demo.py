"""`bidvis demo` runs a meal end to end and leaves it in the care plan (DESIGN.md contract)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from bidvis.cli import app
from careplan_api.models import Meal, MealStatus
from controller.journal import UsageJournal

CONTRACT_FIELDS = {
    "bites_offered",
    "bites_taken",
    "duration_s",
    "safety_stops",
    "peak_face_force_n",
    "events_sent",
    "events_stored",
    "database_url",
    "citizen_id",
}


def _demo(data_dir: Path, *extra: str) -> tuple[int, str, dict]:
    out = data_dir / "summary.json"
    result = CliRunner().invoke(
        app,
        ["demo", "--bites", "1", "--camera", "ground_truth", "--data-dir", str(data_dir), "--json", str(out), *extra],
    )
    summary = json.loads(out.read_text()) if out.exists() else {}
    return result.exit_code, result.output, summary


def _meals(database_url: str, citizen_id: str) -> list[Meal]:
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(Meal).where(Meal.citizen_id == uuid.UUID(citizen_id))))
    finally:
        engine.dispose()


def test_demo_meal_lands_in_the_care_plan(tmp_path):
    code, output, summary = _demo(tmp_path, "--bites", "2", "--svg", str(tmp_path / "demo.svg"))

    assert code == 0, output
    assert summary.keys() >= CONTRACT_FIELDS
    assert summary["events_recorded"] > 0
    assert summary["events_sent"] == summary["events_recorded"]
    assert summary["events_stored"] == summary["events_recorded"]
    meals = _meals(summary["database_url"], summary["citizen_id"])
    assert [str(m.id) for m in meals] == summary["meal_ids"]
    assert meals[0].status is MealStatus.ENDED
    assert meals[0].bites_offered == summary["bites_offered"]
    assert summary["citizen_id"] in output
    assert "bites&#160;offered" in (tmp_path / "demo.svg").read_text()
    # halfway through, the citizen's panel chooses the second bowl
    assert summary["bites_offered_by_bowl"] == {"0": 1, "1": 1}


def test_events_kept_without_the_service_are_sent_by_the_next_demo(tmp_path):
    code, output, offline = _demo(tmp_path, "--no-service")
    assert code == 0, output
    assert offline["events_pending"] == offline["events_recorded"] > 0
    assert offline["events_stored"] == 0 and offline["citizen_id"] is None

    code, output, online = _demo(tmp_path)
    assert code == 0, output

    stored = {str(m.id) for m in _meals(online["database_url"], online["citizen_id"])}
    assert set(offline["meal_ids"]) | set(online["meal_ids"]) == stored
    with UsageJournal(tmp_path / "demo-journal.sqlite3", read_only=True) as journal:
        assert journal.counts().pending == 0


def test_repeated_demos_add_meals_to_one_demo_citizen(tmp_path):
    _, _, first = _demo(tmp_path)
    _, _, second = _demo(tmp_path)
    assert first["citizen_id"] == second["citizen_id"]
    assert len(_meals(second["database_url"], second["citizen_id"])) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "no_such_meal"], "no scenario 'no_such_meal'"),
        (["--camera", "infrared"], "--camera must be one of"),
    ],
)
def test_demo_refuses_bad_options_with_a_clear_message(tmp_path, args, message):
    code, output, summary = _demo(tmp_path, *args)
    assert code == 1
    assert message in " ".join(output.split())
    assert summary == {}


def test_demo_names_the_field_of_a_broken_scenario_file(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text('[[scenario]]\nname = "x"\nbites = -3\n')
    code, output, _ = _demo(tmp_path, "--scenarios", str(broken), "--scenario", "x")
    assert code == 1
    assert "bites" in output


@pytest.mark.parametrize("speed", [0.0, 0.5, 1.0, 4.0, 50.0])
@pytest.mark.parametrize("wall_s", [0.01, 1.0, 60.0, 899.0])
def test_simulated_meal_times_never_run_ahead_of_the_wall_clock(speed, wall_s):
    # The care plan refuses events stamped in the future; the demo simulates faster than real time.
    from datetime import UTC, datetime, timedelta

    from bidvis.demo_run import meal_time_anchor

    start, max_duration_s = datetime(2026, 11, 23, 12, 0, tzinfo=UTC), 900.0
    anchor = meal_time_anchor(start, max_duration_s, speed)
    # by wall time `wall_s` the simulation has covered at most this much (anything, when unpaced)
    simulated_s = max_duration_s if speed == 0 else min(max_duration_s, speed * wall_s)
    assert anchor + timedelta(seconds=simulated_s) <= start + timedelta(seconds=wall_s)
    if speed == 1.0:
        assert anchor == start  # a meal paced at real time keeps its real times


def test_a_corrupt_demo_device_file_gets_a_fresh_demo_citizen(tmp_path):
    (tmp_path / "demo-device.json").write_text("{not json")
    code, output, summary = _demo(tmp_path)
    assert code == 0, output
    assert summary["events_stored"] == summary["events_recorded"] > 0
    assert json.loads((tmp_path / "demo-device.json").read_text())["citizen_id"] == summary["citizen_id"]


@pytest.mark.parametrize("fps", ["0", "-5", "500"])
def test_demo_refuses_an_impossible_camera_frame_rate(tmp_path, fps):
    code, output, summary = _demo(tmp_path, "--camera-fps", fps)
    assert code == 2
    assert "camera-fps" in output
    assert summary == {}


@pytest.mark.parametrize("fps", [0.0, float("nan"), float("inf"), 1000.0])
def test_simulated_meal_refuses_an_impossible_camera_frame_rate(tmp_path, fps):
    from bidvis.simulation import SimulatedMeal
    from sim.scenario import load_scenarios

    with UsageJournal(tmp_path / "j.sqlite3") as journal, pytest.raises(ValueError, match="camera_fps"):
        SimulatedMeal(load_scenarios()[0], journal, camera_fps=fps)


TALK_AND_LEAN_IN = """
[[scenario]]
name = "talk_and_lean_in"
bites = 2
seed = 7
max_duration_s = 300.0
events = [
  { kind = "talk", bite = 1, when_spoon_within_m = 0.20, while_spoon_waits = true, duration_s = 2.5 },
  { kind = "lean_in", bite = 2, when_spoon_within_m = 0.12, distance_m = 0.06, speed_m_s = 0.4, duration_s = 1.5 },
]
"""
# The lean is 0.4 m/s, where the demo meal's is 0.3: the lean is horizontal, and on the flawed arm
# the spoon sags below the lips, so at this bite 0.3 m/s closes on the spoon at only 0.24 m/s, under
# the 0.25 m/s lean-in limit (docs/face-contact.md, "A lean-in below the limit on the flawed arm").


def test_the_demo_meal_has_a_talk_while_the_spoon_waits_and_a_lean_in():
    from sim.scenario import load_scenarios

    (meal,) = load_scenarios(Path(__file__).resolve().parents[2] / "bidvis" / "assets" / "demo_meal.toml")
    kinds = {e.kind.value: e for e in meal.events}
    assert kinds["talk"].while_spoon_waits and kinds["talk"].bite <= meal.bites
    assert kinds["lean_in"].bite <= meal.bites and meal.bites == 20


def test_demo_talk_is_a_journalled_misfire_and_a_lean_in_a_safety_stop_in_the_care_plan(tmp_path):
    """The demo meal's two incidents in a short meal of the same kind: the citizen asks with the
    mouth; a talk while the spoon waits (syllables, then a drawn-out vowel) is journalled as a
    misfire and brings no bite; a lean-in is a safety stop; both are in the care plan's report."""
    scenarios = tmp_path / "scenarios.toml"
    scenarios.write_text(TALK_AND_LEAN_IN)
    code, output, summary = _demo(
        tmp_path, "--bites", "2", "--scenarios", str(scenarios), "--scenario", "talk_and_lean_in"
    )
    assert code == 0, output
    assert summary["trigger_kind"] == "mouth_gesture" and summary["bites_taken"] == 2
    assert summary["gesture"]["triggers"] == summary["bites_offered"]  # every bite offered was asked for
    assert summary["events"]["misfire"] == summary["gesture"]["misfires"] >= 1
    incidents = summary["careplan_incidents"]
    misfires = [i for i in incidents if i["kind"] == "misfire"]
    assert len(misfires) == summary["events"]["misfire"] and misfires[0]["reason"] == "released_before_dwell"
    assert summary["safety_stops"] >= 1 and summary["safety_stop_reasons"].get("lean_in", 0) >= 1
    stops = [i["reason"] for i in incidents if i["kind"] == "safety_stop"]
    assert stops.count("lean_in") == summary["safety_stop_reasons"]["lean_in"]
    for text in ("misfire (released_before_dwell)", "safety_stop (lean_in)", "lean_in x", "mouth gesture:"):
        assert text in output
    # The lean-in does not carry the arm toward the face faster than the near-mouth limit, and the
    # summary says so (the judged figure of docs/safety.md).
    assert 0.0 < summary["max_approach_speed_m_s"] <= summary["approach_speed_limit_m_s"] == 0.06
    assert "approach speed within 10 cm of mouth" in output and "limit 0.06: met" in output


def test_demo_citizen_profile_is_the_embedded_one_with_the_gesture():
    from bidvis.demo_run import DEMO_GESTURE_THRESHOLDS, demo_citizen_profile
    from controller.config import TriggerKind, demo_profile

    profile = demo_citizen_profile()
    assert profile.trigger_kind is TriggerKind.MOUTH_GESTURE
    assert profile.gesture.model_dump() == demo_profile().gesture.model_dump() | DEMO_GESTURE_THRESHOLDS
    assert profile.model_dump(exclude={"trigger_kind", "gesture"}) == demo_profile().model_dump(
        exclude={"trigger_kind", "gesture"}
    )


class _Backlog:
    """A journal with `pending` events left and a sync whose attempts go as `outcomes` say."""

    def __init__(self, outcomes: list[bool]) -> None:
        self.pending, self.outcomes, self.attempts = 1, outcomes, 0

    def counts(self):
        from types import SimpleNamespace

        return SimpleNamespace(pending=self.pending)

    def sync_once(self):
        from controller.journal import SyncOutcome

        self.attempts += 1
        failed = self.outcomes.pop(0)
        self.pending = self.pending if failed else 0
        return SyncOutcome(sent=0 if failed else 1, rejected=0, failed=failed, retry_in_s=0.01)


@pytest.mark.parametrize(
    ("outcomes", "attempts", "left"), [([True, True, False], 3, 0), ([True, True, True, False], 3, 1)]
)
def test_the_final_flush_tries_a_failed_send_again_a_few_times(outcomes, attempts, left):
    from bidvis.demo_run import _flush

    backlog = _Backlog(outcomes)
    _flush(backlog, backlog)
    assert backlog.attempts == attempts and backlog.pending == left


def test_the_care_plan_going_down_mid_meal_keeps_the_events_and_the_next_demo_sends_them(tmp_path, monkeypatch):
    """The service stops while the meal runs: the demo still completes, the events stay in the
    journal, and the next demo (service up again) sends them; nothing is lost or doubled."""
    import bidvis.demo_service as demo_service
    import bidvis.simulation as simulation

    services: list = []
    original_enter = demo_service.LocalCareplan.__enter__
    original_run = simulation.run_simulated_meal

    def entered(self):
        services.append(original_enter(self))
        return services[-1]

    def run_with_an_outage(*args, on_progress, **kwargs):
        def progress(meal, controller):
            if services and services[0]._thread is not None and meal.clock.now() > 2.0:
                services[0].close()  # the service goes away mid-meal
            on_progress(meal, controller)

        return original_run(*args, on_progress=progress, **kwargs)

    monkeypatch.setattr(demo_service.LocalCareplan, "__enter__", entered)
    monkeypatch.setattr(simulation, "run_simulated_meal", run_with_an_outage)
    code, output, outage = _demo(tmp_path)
    assert code == 0, output
    assert outage["bites_taken"] == 1
    assert outage["events_pending"] > 0
    assert outage["events_stored"] + outage["events_pending"] == outage["events_recorded"]

    monkeypatch.undo()
    code, output, after = _demo(tmp_path)
    assert code == 0, output
    stored = {str(m.id) for m in _meals(after["database_url"], after["citizen_id"])}
    assert set(outage["meal_ids"]) | set(after["meal_ids"]) == stored
    with UsageJournal(tmp_path / "demo-journal.sqlite3", read_only=True) as journal:
        assert journal.counts().pending == 0
    engine = create_engine(after["database_url"])
    try:
        with Session(engine) as session:
            from careplan_api.models import UsageEventRecord

            count = len(session.scalars(select(UsageEventRecord.id)).all())
    finally:
        engine.dispose()
    assert count == outage["events_recorded"] + after["events_recorded"], "every event stored once"
