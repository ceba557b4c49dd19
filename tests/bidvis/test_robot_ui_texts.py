"""No page shows an untranslated robot message: refusals, faults, states and reports of the robot's web
app come in the reader's language (Danish by default), with the English kept for logs and scripts."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bidvis.robot_ui.app import create_app
from bidvis.robot_ui.errors import FieldError
from controller.messages import Language, Message, robot_messages
from tests.bidvis.conftest import ROBOT_URL
from tests.controller.test_invalid_values import danish_problems

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
    assert answer.json()["text"].startswith("Linse til læber (m, 0,2-1,5): afstanden fra kameraets linse")
    assert "(fik 9,0)" in answer.json()["text"] and "9.0" not in answer.json()["text"]  # a Danish number


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


# A value refused by the profile's or calibration's own validation (ConfigValidationError) or by the
# request's (FastAPI's RequestValidationError): always 422 with the problem in the reader's language.
HOSTILE_PROFILES = [
    {"values": {"speed_m_s": 0.5}},
    {"values": {"speed_m_s": "fast"}},
    {"values": {"speed_m_s": None}},
    {"values": {"speed_m_s": [0.1]}},
    {"values": {"speed_m_s": 1e308, "standoff_m": -1}},
    {"values": {"speed_near_mouth_m_s": 0.08, "speed_m_s": 0.05}},
    {"values": {"bowls_used": [0, 5]}},
    {"values": {"bowls_used": [1, 1]}},
    {"values": {"trigger_kind": "telepathy"}},
    {"values": {"colour": "blue"}},
    {"values": {"gesture": {"open_threshold": 0.1, "close_threshold": 0.2}}},
    {"values": {"gesture": "open"}},
    {"values": "fast"},
    {"values": {"speed_m_s": 0.1}, "operator": "Bo"},
    {},
    [],
]


def _refused_in_both_languages(client, method, path, body):
    answers = {lang: client.request(method, f"{path}?lang={lang}", json=body) for lang in ("da", "en")}
    for answer in answers.values():
        assert answer.status_code == 422 and answer.json()["key"] == "refusal.invalid_value"
    danish, english = (answers[lang].json() for lang in ("da", "en"))
    assert danish["text"].startswith("ugyldig værdi: ") and english["text"].startswith("invalid value: ")
    assert danish_problems(danish["text"], danish["fields"]) == []
    assert not re.search(r"\b(skal|være|værdi|fik|må|har)\b", english["text"]), english["text"]
    assert danish["detail"] == english["detail"]  # the English for logs and scripts, whatever the reader
    return danish, english


@pytest.mark.parametrize("body", HOSTILE_PROFILES)
def test_an_invalid_profile_value_is_refused_in_the_readers_language(client, robot, body):
    before = robot.session.documents.profile_path.read_bytes()
    _refused_in_both_languages(client, "PUT", "/api/profile", body)
    assert robot.session.documents.profile_path.read_bytes() == before


def test_the_refusal_names_the_bound_and_the_value_the_danish_way(client):
    danish, english = _refused_in_both_languages(client, "PUT", "/api/profile", {"values": {"speed_m_s": 0.5}})
    assert danish["text"] == "ugyldig værdi: Skeens fart (m/s, højst 0,25): skal være højst 0,25 (fik 0,5)"
    assert english["text"] == "invalid value: Spoon speed (m/s, max 0.25): must be at most 0.25 (got 0.5)"
    assert danish["fields"] == ["speed_m_s"] and "invalid configuration (1 problem)" in danish["detail"]
    taught, _ = _refused_in_both_languages(client, "PUT", "/api/profile", {"values": {"bowls_used": [0, 5]}})
    assert taught["text"].endswith("[5]; kalibreringen har 2 skåle, nummereret fra 0")


def test_a_value_that_is_no_number_at_all_is_refused_not_a_server_error(client):
    for raw in ('{"values": {"speed_m_s": NaN}}', '{"values": {"speed_m_s": Infinity}}', "{values}", "null"):
        answer = client.put("/api/profile", content=raw, headers={"content-type": "application/json"})
        assert answer.status_code == 422, raw
        assert answer.json()["text"].startswith("ugyldig værdi: ")
        assert danish_problems(answer.json()["text"], answer.json()["fields"]) == []


@pytest.mark.parametrize(
    "body",
    [
        {"x_m": 9.0, "z_m": 0.0, "pitch_rad": 0.0},
        {"x_m": 0.0, "z_m": -1.0, "pitch_rad": 4.0},
        {"x_m": "far", "z_m": 0.0, "pitch_rad": 0.0},
        {"x_m": 0.0, "z_m": 0.0},
    ],
)
def test_an_invalid_spoon_offset_is_refused_in_the_readers_language(client, body):
    _refused_in_both_languages(client, "PUT", "/api/calibration/spoon", body)


@pytest.mark.parametrize(
    "body",
    [{"fov_deg": 5}, {"fov_deg": "wide"}, {"kind": "round"}, {"fov_deg": 70, "x": 1}, {"fov_deg": None, "kind": 3}],
)
def test_an_invalid_field_of_view_is_refused_in_the_readers_language(client, body):
    _refused_in_both_languages(client, "POST", "/api/camera/field-of-view", body)


@pytest.mark.parametrize(
    ("body", "danish", "english"),
    [
        ({"fov_deg": None}, "ud fra det antagne synsfelt", "from the default field of view"),
        ({"fov_deg": 78.5, "kind": "diagonal"}, "et diagonalt synsfelt på 78,5°", "a diagonal field of view of 78.5°"),
        ({"fov_deg": 70}, "et vandret synsfelt på 70°", "a horizontal field of view of 70°"),
    ],
)
def test_intrinsics_from_a_field_of_view_are_reported_in_the_readers_language(client, body, danish, english):
    da = client.post("/api/camera/field-of-view?lang=da", json=body).json()
    en = client.post("/api/camera/field-of-view?lang=en", json=body).json()
    assert da["key"] == en["key"] == "done.intrinsics_from_field_of_view"
    assert danish in da["text"] and "brændvidden er rigtig inden for ±" in da["text"]
    assert danish_problems(da["text"], []) == []
    assert english in en["text"] and "focal length within ±" in en["text"] and en["text"] == en["message"]
    assert da["message"] == en["message"] and da["implied_error"] == en["implied_error"]


def test_a_field_of_view_refused_past_the_form_is_said_in_the_readers_language_too(robot):
    with pytest.raises(FieldError) as caught:
        robot.session.calibration_steps.intrinsics_from_field_of_view("Anna", 5.0)
    assert caught.value.field == "fov_deg"
    assert (
        caught.value.message.text(Language.DANISH)
        == "Synsfelt (grader): ugyldig værdi: et synsfelt er 20-150 grader (fik 5,0)"
    )
    assert str(caught.value) == "Field of view (degrees): invalid value: a field of view is 20-150 degrees, got 5.0"


@pytest.mark.parametrize("lang", list(Language))
def test_the_staff_page_labels_each_field_with_the_words_a_refusal_names_it_by(client, lang):
    page = html.unescape(client.get(f"/staff?lang={lang.value}").text)
    labelled = re.findall(r"<label>([^<]*?)\s*<(?:input|select)\b[^>]*\bname=\"([^\"]+)\"", page)
    fields = robot_messages().words(lang, "field")
    assert {name for _, name in labelled} == set(fields) - {"bowl", "command"}  # those two are the panel's
    for label, name in labelled:
        assert label == fields[name], name
    options = dict(re.findall(r'<option value="(\w+)"[^>]*>([^<]+)</option>', page))
    choices = robot_messages().words(lang, "choice")
    assert options == {key.split(".")[1]: words for key, words in choices.items()}


@pytest.mark.parametrize(
    ("body", "danish", "english"),
    [
        (
            {"kind": "round"},
            "ugyldig værdi: Målt: skal være vandret eller diagonalt (fik 'round')",
            "invalid value: Measured: must be horizontal or diagonal (got 'round')",
        ),
        (
            {"fov_deg": 70, "kind": ["horizontal"]},
            "ugyldig værdi: Målt: skal være vandret eller diagonalt",
            "invalid value: Measured: must be horizontal or diagonal",
        ),
    ],
)
def test_a_refused_choice_lists_the_choices_in_the_readers_words(client, body, danish, english):
    da, en = _refused_in_both_languages(client, "POST", "/api/camera/field-of-view", body)
    assert (da["text"], en["text"]) == (danish, english)
    assert da["fields"] == ["kind"] and "'horizontal' or 'diagonal'" in str(da["detail"])


@pytest.mark.parametrize("body", [{"values": {"trigger_kind": "telepathy"}}, {"values": {"trigger_kind": 7}}])
def test_a_refused_trigger_names_the_field_and_its_choices_as_the_staff_page_does(client, body):
    da, en = _refused_in_both_languages(client, "PUT", "/api/profile", body)
    fields, choices = (
        robot_messages().words(Language.DANISH, "field"),
        robot_messages().words(Language.DANISH, "choice"),
    )
    assert da["text"].startswith(
        f"ugyldig værdi: {fields['trigger_kind']}: skal være {choices['trigger_kind.switch']}, "
    )
    assert "trigger_kind" not in da["text"] + en["text"] and "mouth_gesture" not in da["text"] + en["text"]
