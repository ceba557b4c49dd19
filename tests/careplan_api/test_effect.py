"""Effect figures from logged meals only: staff minutes freed (recorded hand-feeding minutes x
meals eaten with the robot), the share of bites the citizen started, meals per week, and the FSIII
level beside them; per citizen in the API, the report and the FHIR export."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from careplan_api.effect import LevelAssessment, effect_summary, weekly_effect
from careplan_api.fhir.validation import validate_resource
from careplan_api.meal_summary import MealSummary
from careplan_api.models import utcnow

MONDAY = date(2026, 11, 2)
DEVICE = uuid.UUID(int=1)


def meal(day: date, bites: int, staff: int = 0) -> MealSummary:
    start = datetime(day.year, day.month, day.day, 11, 0, tzinfo=UTC)
    return MealSummary(
        meal_id=uuid.uuid4(),
        device_id=DEVICE,
        started_at=start,
        ended_at=start + timedelta(minutes=20),
        complete=True,
        bites_offered=bites,
        bites_taken=bites,
        triggers=(("staff", staff), ("switch", bites - staff)) if staff else (("switch", bites),),
    )


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 8, 0, tzinfo=UTC)


def test_minutes_freed_count_only_meals_with_a_recorded_feeding_time_at_that_meal():
    assessments = [
        LevelAssessment(at(MONDAY - timedelta(days=30)), 4),  # level only: no time recorded yet
        LevelAssessment(at(MONDAY + timedelta(days=7)), 3, hand_feeding_minutes=25.0),
    ]
    meals = [meal(MONDAY, 20), meal(MONDAY + timedelta(days=1), 18), meal(MONDAY + timedelta(days=8), 22)]
    weeks = weekly_effect(meals, assessments, weeks=2, until=MONDAY + timedelta(days=9))
    assert [(w.meals, w.staff_minutes_freed, w.meals_without_feeding_time) for w in weeks] == [
        (2, 0.0, 2),
        (1, 25.0, 0),
    ]
    assert [w.fsiii_level for w in weeks] == [4, 3]  # in force at each week's end
    summary = effect_summary(weeks)
    assert summary.staff_minutes_freed == 25.0 and summary.meals_without_feeding_time == 2
    assert summary.meals_per_week == 1.5 and (summary.fsiii_first, summary.fsiii_last) == (4, 3)


def test_the_self_started_share_leaves_out_the_bites_staff_triggered():
    weeks = weekly_effect([meal(MONDAY, 20, staff=5), meal(MONDAY, 10)], [], weeks=1, until=MONDAY)
    assert weeks[0].self_started_share == 25 / 30
    assert weeks[0].fsiii_level is None


def test_a_meal_without_a_bite_taken_is_not_a_meal_with_the_robot():
    empty = meal(MONDAY, 0)
    weeks = weekly_effect([empty], [LevelAssessment(at(MONDAY - timedelta(days=1)), 2, 30.0)], weeks=1, until=MONDAY)
    assert weeks[0].meals == 0 and weeks[0].staff_minutes_freed == 0 and weeks[0].self_started_share is None


def _setup(client, world):
    staff = world.headers("staff_a")
    body = {"level": 3, "goal_text": "Spiser selv med robot", "hand_feeding_minutes": 20}
    assert client.put(f"/api/v1/citizens/{world.alice}/goal", json=body, headers=staff).status_code == 200
    start = utcnow() + timedelta(seconds=1)  # after the assessment (events up to 300 s ahead are fine)
    for i in range(3):
        events = world.meal_events(bites=4, start=start + timedelta(seconds=i))
        assert (
            client.post(
                "/api/v1/usage-events", json={"events": events}, headers=world.headers("device_alice", None)
            ).status_code
            == 200
        )


def test_staff_and_a_relative_read_the_effect_and_an_analyst_cannot(client, world):
    _setup(client, world)
    for reader in ("staff_a", "relative", "citizen"):
        response = client.get(f"/api/v1/citizens/{world.alice}/effect?weeks=4", headers=world.headers(reader))
        assert response.status_code == 200
        effect = response.json()
        assert effect["meals"] == 3 and effect["staff_minutes_freed"] == 60.0
        assert effect["self_started_share"] == 1.0 and effect["fsiii_last"] == 3
        assert len(effect["weeks"]) == 4
    assert client.get(f"/api/v1/citizens/{world.alice}/effect", headers=world.headers("analyst")).status_code == 403


def test_the_report_shows_the_effect_and_the_export_holds_it_as_observations(client, world):
    _setup(client, world)
    page = client.get(f"/reports/citizens/{world.alice}?lang=da", headers=world.headers("relative"))
    assert page.status_code == 200 and "Personaleminutter frigjort" in page.text and "FSIII-niveau" in page.text
    bundle = client.get(f"/fhir/Patient/{world.alice}/$everything", headers=world.headers("staff_a")).json()
    effects = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["code"]["coding"][0]["code"] == "robot-effect-week"
    ]
    assert len(effects) == 1 and bundle["total"] == len(bundle["entry"])
    validate_resource(effects[0])
    components = {c["code"]["coding"][0]["code"]: c for c in effects[0]["component"]}
    assert components["meals-with-robot"]["valueInteger"] == 3
    assert components["staff-minutes-freed"]["valueQuantity"]["value"] == 60.0
    assert components["66959f77-6e2a-4574-8423-3ff097f8b9fa"]["valueCodeableConcept"]["coding"][0]["code"] == "B4"


def test_one_meal_and_one_week_read_in_the_singular_on_the_report(client, world):
    """No feeding time is recorded, so the one meal is not counted: "1 måltid", not "1 måltider"."""
    events = world.meal_events(bites=4, start=utcnow() - timedelta(minutes=30))
    answer = client.post("/api/v1/usage-events", json={"events": events}, headers=world.headers("device_alice", None))
    assert answer.status_code == 200 and answer.json()["accepted"] == len(events)
    for lang, meal_text, week_text in [
        ("da", "(1 måltid uden registreret madningstid er ikke talt med)", "(1 uge)"),
        ("en", "(1 meal without a recorded feeding time is not counted)", "(1 week)"),
    ]:
        page = client.get(f"/reports/citizens/{world.alice}?lang={lang}&weeks=1", headers=world.headers("relative"))
        assert page.status_code == 200 and meal_text in page.text and week_text in page.text
