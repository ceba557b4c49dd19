"""Values only through the paths meant for them: the face size only from a measurement (or a
journalled override with a reason), no change while a meal runs, and journal events with the old
and new values."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from bidvis.robot_ui.app import create_app
from bidvis.robot_ui.audit import AuditAction
from bidvis.robot_ui.changes import changed_values, journal_values
from careplan_api.schemas import UsageEventType
from controller.config import load_profile
from tests.bidvis.conftest import ROBOT_URL, wait_for


@pytest.fixture
def app(robot, tmp_path, make_staff_login):
    return create_app(robot.session, make_staff_login(tmp_path))


@pytest.fixture
def staff(app, log_in):
    with TestClient(app, base_url=ROBOT_URL) as client:
        assert log_in(client).status_code == 303
        yield client


def profile_events(robot):
    return [
        e.data
        for e, _ in robot.journal.events()
        if e.type is UsageEventType.CALIBRATION_CHANGED and e.data["document"] == "profile"
    ]


@pytest.mark.parametrize("value", [1.6, 1.0, 0.6, None])
def test_the_face_size_cannot_be_typed_into_the_profile(staff, robot, value):
    before = robot.session.documents.profile_path.read_bytes()
    answer = staff.put("/api/profile", json={"values": {"face_scale": value, "speed_m_s": 0.1}})
    assert answer.status_code == 422 and answer.json()["fields"] == ["face_scale"]
    assert "measured" in answer.json()["detail"]
    assert robot.session.documents.profile_path.read_bytes() == before and profile_events(robot) == []


def test_an_override_of_the_face_size_needs_a_reason_and_is_journalled_with_it(staff, robot, app):
    refused = staff.post("/api/profile/face-size/override", json={"face_scale": 1.2, "reason": "because"})
    assert refused.status_code == 422 and refused.json()["fields"] == ["reason"]
    reason = "the citizen cannot sit facing the camera; size from the last robot's profile"
    answer = staff.post("/api/profile/face-size/override", json={"face_scale": 1.2, "reason": reason})
    assert answer.status_code == 200 and "override" in answer.json()["message"]
    assert answer.json()["text"].startswith("Ansigtets størrelse er sat i hånden til 1,20 gange gennemsnitsansigtet")
    assert load_profile(robot.session.documents.profile_path).face_scale == 1.2
    (event,) = profile_events(robot)
    assert event["how"] == "override" and event["reason"] == reason
    assert event["old"] == {"face_scale": None} and event["new"] == {"face_scale": 1.2}
    (entry,) = app.state.audit.entries(AuditAction.FACE_SIZE_OVERRIDDEN)
    assert entry.actor == "staff:Anna" and entry.old is None and entry.new == 1.2 and entry.detail["reason"] == reason
    back = staff.post("/api/profile/face-size/override", json={"face_scale": None, "reason": "measure again next week"})
    assert back.status_code == 200 and load_profile(robot.session.documents.profile_path).face_scale is None
    assert back.json()["key"] == "done.face_size_reset_by_hand" and "gennemsnitsansigtet" in back.json()["text"]
    english = staff.post("/api/profile/face-size/override?lang=en", json={"face_scale": 0.9, "reason": reason}).json()
    assert (
        english["text"]
        == english["message"]
        == ("face size set by hand to 0.90 times the mean face (an override, journalled with its reason)")
    )


@pytest.mark.parametrize(
    "body",
    [
        {"face_scale": 1.7, "reason": "a good long reason"},
        {"face_scale": "NaN", "reason": "a good long reason"},
        {"face_scale": 1.1},
        {"face_scale": 1.1, "reason": "x" * 301},
        {"face_scale": 1.1, "reason": "a good long reason", "extra": 1},
    ],
)
def test_hostile_overrides_are_refused(staff, robot, body):
    answer = staff.post("/api/profile/face-size/override", json=body)
    assert answer.status_code == 422 and answer.json()["text"].startswith("ugyldig værdi: ")
    assert profile_events(robot) == []


def test_a_change_during_a_meal_is_refused_and_the_page_says_so(staff, robot):
    page = staff.get("/staff?lang=en").text
    assert "While a meal runs, the profile and the calibration cannot change" in page
    staff.post("/api/panel", json={"command": "select_bowl", "bowl": 0})
    wait_for(lambda: robot.journal.open_meal_id is not None, what="the meal")
    before = robot.session.documents.profile_path.read_bytes()
    for method, path, body in (
        ("PUT", "/api/profile", {"values": {"speed_m_s": 0.1}}),
        ("POST", "/api/profile/face-size/override", {"face_scale": 1.1, "reason": "a good long reason"}),
        ("PUT", "/api/calibration/spoon", {"x_m": 0.06, "z_m": 0.0, "pitch_rad": 0.0}),
    ):
        answer = staff.request(method, path, json=body)
        assert answer.status_code == 409 and "meal is running" in answer.json()["detail"]
    assert robot.session.documents.profile_path.read_bytes() == before
    staff.post("/api/panel", json={"command": "done"})
    wait_for(lambda: not robot.session.meal.running, timeout_s=30, what="the meal to end")
    assert staff.put("/api/profile", json={"values": {"speed_m_s": 0.1}}).status_code == 200


def test_a_profile_change_is_journalled_with_its_old_and_new_values(staff, robot, app):
    assert (
        staff.put("/api/profile", json={"values": {"speed_m_s": 0.1, "gesture": {"dwell_s": 1.5}}}).status_code == 200
    )
    (event,) = profile_events(robot)
    assert event["old"]["speed_m_s"] == 0.15 and event["new"]["speed_m_s"] == 0.1
    assert event["old"]["gesture"]["dwell_s"] == 1.0 and event["new"]["gesture"]["dwell_s"] == 1.5
    (entry,) = app.state.audit.entries(AuditAction.PROFILE_CHANGED)
    assert entry.old["speed_m_s"] == 0.15 and entry.new["speed_m_s"] == 0.1 and entry.client == "testclient"


def test_large_old_and_new_values_are_journalled_as_digests_to_fit_the_care_plans_limit():
    old = {"bowls": [[[0.1234567] * 4] * 40] * 8, "speed": 1}
    new = {"bowls": [[[0.7654321] * 4] * 40] * 8, "speed": 2}
    values = journal_values(*changed_values(old, new))
    assert set(values["old"]["bowls"]) == {"sha256"} and values["old"]["speed"] == 1 and values["new"]["speed"] == 2
    import json

    assert len(json.dumps(values)) < 2600
