"""One translation mechanism: every catalogue is complete in Danish and English, every message key the
code uses has a text, and a message becomes words in the reader's language (never an exception)."""

from __future__ import annotations

import ast
import logging
import re
import string
from pathlib import Path
from typing import get_args

import pytest

from bidvis.robot_ui.arm import ArmMode
from bidvis.robot_ui.arm_lease import ArmUse
from bidvis.robot_ui.camera_setup import CHECKERBOARD_GUIDANCE, HAND_EYE_GUIDANCE
from bidvis.robot_ui.schemas import FieldOfView, PanelPress
from bidvis.robot_ui.texts import page_words
from controller.causes import Cause
from controller.config import TriggerKind
from controller.feeding import FeedingState
from controller.messages import (
    Catalogue,
    Counted,
    Language,
    Message,
    MessageError,
    Text,
    negotiate,
    parse_language,
    robot_messages,
)
from controller.safety import SafetyReason
from tests.controller.test_invalid_values import danish_problems

REPO = Path(__file__).resolve().parents[2]
PRODUCERS = ("controller", "bidvis", "sim", "vision", "firmware_bridge")


def _form_fields() -> list[str]:
    """The fields of the staff page's form (its inputs' and selects' names) and of a panel press: each is
    named in words (`field.*`), on the page and in a refusal."""
    page = (REPO / "bidvis" / "robot_ui" / "templates" / "staff.html").read_text()
    return sorted(set(re.findall(r'<(?:input|select)\b[^>]*\bname="([^"]+)"', page)) | set(PanelPress.model_fields))


# Keys made from an enum's values (`Message(f"safety.{reason.value}")`): every member needs a text.
FAMILIES: dict[str, list[str]] = {
    "safety.": [reason.value for reason in SafetyReason],
    "meal_state.": [state.value for state in FeedingState] + ["none"],
    "arm_mode.": [mode.value for mode in ArmMode],
    "arm_use.": [use.value for use in ArmUse],
    "trigger.": [kind.value for kind in TriggerKind],
    "cause.": [cause.value for cause in Cause],
    "field.": _form_fields(),
    "choice.": [f"trigger_kind.{kind.value}" for kind in TriggerKind]
    + [f"kind.{kind}" for kind in get_args(FieldOfView.model_fields["kind"].annotation)],
    "guide.board_": [str(i) for i in range(1, len(CHECKERBOARD_GUIDANCE) + 1)],
    "guide.hand_eye_": [str(i) for i in range(1, len(HAND_EYE_GUIDANCE) + 1)],
}


def _catalogues() -> dict[str, Catalogue]:
    return {"robot messages": robot_messages(), "page words": page_words()}


def _placeholders(text: str) -> set[str]:
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(text) if name}


def _keys_in_code() -> tuple[set[str], list[str], list[str]]:
    """Literal keys of `Message(...)` calls, prefixes of f-string keys, and calls whose key is neither."""
    literal, prefixes, unknown = set(), [], []
    for package in PRODUCERS:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Message"):
                    continue
                where = f"{path.relative_to(REPO)}:{node.lineno}"
                key = node.args[0] if node.args else None
                choices = [key.body, key.orelse] if isinstance(key, ast.IfExp) else [key]
                if all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in choices):
                    literal.update(k.value for k in choices if isinstance(k, ast.Constant))
                elif isinstance(key, ast.JoinedStr) and key.values and isinstance(key.values[0], ast.Constant):
                    prefixes.append(f"{key.values[0].value}@{where}")
                else:
                    unknown.append(where)
    return literal, prefixes, unknown


def _forms(text: Text) -> list[str]:
    return [text.one, text.other] if isinstance(text, Counted) else [text]


def _shape(text: Text) -> tuple[str | None, set[str]]:
    """What both languages must agree on: the count's name (None for a plain text) and the placeholders."""
    names = [_placeholders(form) for form in _forms(text)]
    assert all(n == names[0] for n in names), f"the forms of {text!r} name different values"
    return (text.by if isinstance(text, Counted) else None), names[0]


@pytest.mark.parametrize("name", ["robot messages", "page words"])
def test_every_key_has_a_text_in_both_languages_with_the_same_placeholders(name):
    catalogue = _catalogues()[name]
    danish, english = catalogue.texts[Language.DANISH], catalogue.texts[Language.ENGLISH]
    assert sorted(set(danish) ^ set(english)) == []
    blank = [key for key in danish if not all(form.strip() for form in _forms(danish[key]) + _forms(english[key]))]
    assert blank == []
    assert [key for key in danish if _shape(danish[key]) != _shape(english[key])] == []


def _without_values(form: str) -> str:
    """A text with each `{placeholder}` put as a neutral word: the values are the code's, checked where they are made."""
    return "".join(
        literal + ("NN" if name is not None else "") for literal, name, _, _ in string.Formatter().parse(form)
    )


@pytest.mark.parametrize("name", ["robot messages", "page words"])
def test_every_danish_text_has_no_english_or_system_words(name):
    """Danish words that are also English ("hold det stille", "1 problem", "ID") are Danish here."""
    danish = _catalogues()[name].texts[Language.DANISH]
    found = {
        key: problems
        for key, text in danish.items()
        for form in _forms(text)
        if (problems := danish_problems(_without_values(form), []))
    }
    assert found == {}


def test_every_message_key_the_code_uses_has_a_text():
    known = set(robot_messages().texts[Language.DANISH])
    literal, prefixes, unknown = _keys_in_code()
    assert unknown == [], "a Message key must be a string (or `a if c else b` of two), or an f-string of a family"
    assert sorted(literal - known) == []
    for prefix_at in prefixes:
        prefix = prefix_at.split("@")[0]
        assert prefix in FAMILIES, f"{prefix_at}: declare the family in FAMILIES of this test"
    family_keys = {prefix + value for prefix, values in FAMILIES.items() for value in values}
    assert sorted(family_keys - known) == []
    assert sorted(known - literal - family_keys) == [], "texts that no code says: remove them"


def test_numbers_are_written_the_languages_way_and_nested_messages_follow():
    catalogue = Catalogue(
        {
            Language.DANISH: {"stop": "Stop: {why} ({force_n:.1f} N, servo {id})", "why": "kontakt"},
            Language.ENGLISH: {"stop": "Stop: {why} ({force_n:.1f} N, servo {id})", "why": "contact"},
        }
    )
    message = Message("stop", why=Message("why"), force_n=3.25, id=12)
    assert catalogue.text(message, Language.DANISH) == "Stop: kontakt (3,2 N, servo 12)"
    assert catalogue.text(message, Language.ENGLISH) == "Stop: contact (3.2 N, servo 12)"


def test_a_missing_key_or_value_is_shown_and_logged_never_raised(caplog):
    catalogue = Catalogue({Language.DANISH: {"a": "A {x}"}, Language.ENGLISH: {"a": "A {x}"}})
    with caplog.at_level(logging.ERROR, logger="controller.messages"):
        assert catalogue.text(Message("no.such.key", x=1), Language.DANISH) == "no.such.key {'x': 1}"
        assert catalogue.text(Message("a"), Language.ENGLISH) == "A {x}"
    assert len(caplog.records) == 2


def test_a_message_error_reads_english_in_logs_and_carries_the_message():
    error = MessageError(Message("safety.contact"))
    assert str(error) == "The spoon touched the face."
    assert error.message.text(Language.DANISH) == "Skeen rørte ansigtet."
    assert error.message.as_json(Language.DANISH) == {
        "key": "safety.contact",
        "values": {},
        "text": "Skeen rørte ansigtet.",
    }


@pytest.mark.parametrize(
    ("lang", "accept", "expected"),
    [
        ("en", "da", Language.ENGLISH),
        (None, "en-GB,en;q=0.9", Language.ENGLISH),
        (None, "fr, en;q=0.5", Language.ENGLISH),
        (None, "fr", Language.DANISH),
        (None, None, Language.DANISH),
        ("xx", "en", Language.DANISH),
    ],
)
def test_language_is_the_asked_one_then_the_browsers_then_danish(lang, accept, expected):
    assert negotiate(lang, accept) is expected


def test_unknown_language_values_fall_back_to_danish():
    assert parse_language("EN-gb") is Language.ENGLISH
    assert parse_language("<script>") is Language.DANISH
    assert parse_language(None) is Language.DANISH
