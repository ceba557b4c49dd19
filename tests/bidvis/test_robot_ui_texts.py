"""No page shows an untranslated robot message: refusals, faults, states and reports of the robot's web
app come in the reader's language (Danish by default), with the English kept for logs and scripts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bidvis.robot_ui.app import create_app
from controller.messages import Language, Message
from tests.bidvis.conftest import ROBOT_URL

STATIC = Path(__file__).resolve().parents[2] / "bidvis" / "robot_ui" / "static"


@pytest.fixture
def client(robot, tmp_path, make_staff_login, log_in):
    with TestClient(create_app(robot.session, make_staff_login(tmp_path)), base_url=ROBOT_URL) as client:
        assert log_in(client).status_code == 303
        yield client


def test_a_refusal_is_in_danish_by_default_and_in_english_when_the_page_is(client):
    refused = client.post("/api/move/ready", json={"owner": "owner-anna-1"})
    assert refused.status_code == 409
    body = refused.json()
    assert body["key"] == "refusal.not_connected"
    assert body["text"] == Message("refusal.not_connected").text(Language.DANISH) != body["detail"]
    assert body["detail"] == Message("refusal.not_connected").text(Language.ENGLISH)  # for logs and scripts
    client.get("/staff?lang=en")  # the staff page's language choice holds for the session
    assert client.post("/api/move/ready", json={"owner": "owner-anna-1"}).json()["text"] == body["detail"]


def test_a_field_refusal_names_the_field_in_the_readers_language(client):
    answer = client.post("/api/profile/face-size?lang=da", json={"distance_m": 9.0})
    assert answer.status_code == 422 and answer.json()["fields"] == ["distance_m"]
    assert answer.json()["text"].startswith("distance_m: afstanden fra kameraets linse")
    assert "9.0" in answer.json()["text"]


def test_reports_states_and_faults_on_the_staff_page_are_in_its_language(client):
    assert client.post("/api/connect").status_code == 200
    stop = client.post("/api/stop").json()
    assert (stop["message"], stop["text"]) == ("arm stopped", "Armen er stoppet")
    status = client.get("/api/status").json()
    mode = status["arm"]["mode"]
    assert status["arm"]["mode_text"] == Message(f"arm_mode.{mode}").text(Language.DANISH) != mode
    assert status["meal"]["state_text"] == Message("meal_state.none").text(Language.DANISH)
    page = client.get("/staff").text
    assert re.search(r'id="st-mode"[^>]*>(klar|stopper)<', page)
    assert client.get("/api/status?lang=en").json()["arm"]["mode_text"] in ("idle", "stopping")


def test_the_staff_script_shows_the_translated_text_wherever_it_shows_a_robot_message():
    script = (STATIC / "staff.js").read_text()
    # Every English field of an answer (detail, message, fault, state, result) is shown only as the
    # fallback of its translated twin.
    for shown in re.findall(r"(?:data|arm|data\.meal)\.(detail|message|fault|state|result|guidance)\b", script):
        assert shown in {"detail", "message"}, f"staff.js shows the untranslated `{shown}`"
    assert "data.text || data.detail" in script and "data.text || data.message" in script
    assert not re.search(r"say\(data\.message\)|fail\(data\.message\)", script)
