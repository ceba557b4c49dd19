"""What the citizen's panel can show is written to the citizen, in plain words, in Danish and English: the
meal's state, why the arm stopped (`/api/panel/status`), and why a press was refused (`POST /api/panel`),
shown as the panel shows it: its own words, then the answer's text (static/panel.js)."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from bidvis.robot_ui.arm_lease import ArmUse
from bidvis.robot_ui.schemas import PanelPress
from bidvis.robot_ui.texts import panel_words, state_words
from controller.config import TriggerKind
from controller.feeding import FeedingState
from controller.invalid_values import refusal
from controller.messages import Language, Message
from controller.safety import SafetyReason
from firmware_bridge.errors import BusTimeout
from tests.controller.test_invalid_values import danish_problems
from tests.readability import MAX_LIX, lix

OWNER = "owner-bo-123"
# speaking of the citizen instead of to them
THIRD_PERSON = {
    Language.DANISH: re.compile(r"\bborger\w*", re.IGNORECASE),
    Language.ENGLISH: re.compile(r"\bcitizen\w*|\bthe user\b", re.IGNORECASE),
}


def _invalid_press(body: dict) -> Message:
    try:
        PanelPress.model_validate(body)
    except ValidationError as exc:
        return refusal(exc.errors())
    raise AssertionError(f"{body} is a valid press")


# Every refusal a press on the panel can get (the test below provokes them), with values it may carry.
PANEL_REFUSALS = [
    *(
        Message("refusal.not_the_profiles_trigger", trigger=Message(f"trigger.{kind.value}"))
        for kind in TriggerKind
        if kind is not TriggerKind.PANEL
    ),
    Message("refusal.stopped_until_cleared"),
    Message("refusal.meal_running"),
    *(Message("refusal.arm_held_for_panel", operator="Anna", use=Message(f"arm_use.{use.value}")) for use in ArmUse),
    Message("refusal.arm_parked_no_meal"),
    Message("refusal.arm_outside_meal_space"),
    Message("refusal.cannot_open", port="/dev/ttyUSB0", cause=Message("cause.port")),
    Message("fault.cannot_prepare_servos", cause=Message("cause.no_answer")),
    Message("refusal.servo_bus"),
    Message("refusal.audit_broken"),
    _invalid_press({"command": "select_bowl", "bowl": 9}),
    Message("refusal.bowl_not_in_use", bowl=3),
    Message("refusal.bowl_needed"),
    _invalid_press({"command": "fly"}),
]
PANEL_REFUSAL_KEYS = {message.key for message in PANEL_REFUSALS}


def _as_the_panel_shows(text: str, language: Language) -> str:
    """A refusal as panel.js shows it: the panel's own words, a full stop, the text with a capital."""
    return f"{panel_words(language)['refused']}. {text[:1].upper()}{text[1:]}"


def _panel_texts(language: Language) -> list[str]:
    """Every text the panel can show besides its own words: states, reasons for a stop, refusals."""
    states = [state_words(state, language)[1] for state in [None, *FeedingState]]
    reasons = [Message(f"safety.{reason.value}").text(language) for reason in SafetyReason]
    refusals = [_as_the_panel_shows(message.text(language), language) for message in PANEL_REFUSALS]
    return states + reasons + refusals


@pytest.mark.parametrize("language", list(Language))
def test_what_the_panel_can_show_speaks_to_the_citizen(language):
    spoken_about = [text for text in _panel_texts(language) if THIRD_PERSON[language].search(text)]
    assert spoken_about == []


def test_what_the_panel_can_show_in_danish_has_no_english_or_system_text():
    found = {text: danish_problems(text, []) for text in _panel_texts(Language.DANISH)}
    assert {text: problems for text, problems in found.items() if problems} == {}


@pytest.mark.parametrize("language", list(Language))
def test_what_the_panel_can_show_is_plain(language):
    texts = _panel_texts(language)
    assert lix(texts) <= MAX_LIX, texts
    for message in PANEL_REFUSALS:  # each refusal is shown alone: plain on its own too
        shown = _as_the_panel_shows(message.text(language), language)
        assert lix([shown]) <= MAX_LIX, shown


def test_the_plainness_check_finds_a_hard_text():
    hard = "robotten registrerede utilstrækkelig kommunikationskvalitet mellem styringsenheden og servomotorerne"
    assert lix([*_panel_texts(Language.DANISH), *[hard] * 20]) > MAX_LIX


def _provoke(staff, robot, app, monkeypatch, tmp_path):
    """Provoke each refusal of a press that a test robot can give; yields (what, answer) per language."""
    press = {"command": "select_bowl", "bowl": 0}
    documents = robot.session.documents

    def answers(body):
        return {lang: staff.post(f"/api/panel?lang={lang.value}", json=body) for lang in Language}

    documents.profile = documents.profile.model_copy(update={"trigger_kind": TriggerKind.SWITCH})
    yield "another trigger", answers({"command": "next_bite"})
    yield "a bowl the panel has not", answers({"command": "select_bowl", "bowl": 9})
    yield "a bowl not in use today", answers({"command": "select_bowl", "bowl": 2})
    yield "no bowl chosen", answers({"command": "select_bowl"})
    robot.session.arm.lease.take(OWNER, "Bo", ArmUse.JOG, running=lambda: True)
    yield "staff hold the arm", answers(press)
    robot.session.arm.lease.free()
    robot.session.arm.parked = True
    yield "a parked arm", answers(press)
    robot.session.arm.parked = False
    port = robot.session.arm.port
    robot.session.arm.port = str(tmp_path / "no-such-tty")
    yield "a port that is gone", answers(press)
    robot.session.arm.port = port

    def bus_gone() -> None:
        raise BusTimeout(0x01, (11,), 0.02)

    monkeypatch.setattr(robot.session.arm, "connect", bus_gone)
    yield "a servo bus that fails", answers(press)
    app.state.audit.close()
    yield "a broken audit trail", answers(press)


def test_every_refusal_a_press_gets_is_one_the_text_tests_check(staff, robot, app, monkeypatch, tmp_path):
    for what, answers in _provoke(staff, robot, app, monkeypatch, tmp_path):
        for language, answer in answers.items():
            assert answer.status_code >= 400 and not robot.session.meal.running, (what, answer.text)
            body = answer.json()
            assert body["key"] in PANEL_REFUSAL_KEYS, (what, body)
            assert not THIRD_PERSON[language].search(body["text"]), (what, body["text"])
        assert danish_problems(answers[Language.DANISH].json()["text"], []) == [], what
