"""An invalid configuration value is said to a person in their language (controller.invalid_values): every
problem of a hostile profile, calibration or safety-limits document reads Danish for a Danish reader and
English for an English one, while the validation and its English text for logs stay pydantic's."""

from __future__ import annotations

import json
import math
import re

import pytest

from controller.config import (
    CitizenProfile,
    ConfigValidationError,
    RobotCalibration,
    SafetyLimits,
    check_profile_fits,
    demo_calibration,
    demo_profile,
    demo_safety_limits,
    parse_config,
)
from controller.invalid_values import InvalidValue, problem, refusal
from controller.messages import Language, Message, robot_messages
from tests.readability import text_problems

DA, EN = Language.DANISH, Language.ENGLISH
# English a Danish reader must not meet, beyond tests.readability's list; not the words Danish shares
# with English ("hold det stille", "1 problem", "ID")
ENGLISH = re.compile(
    r"\b(must|should|input|value|got|not|is|are|be|bowls?|invalid|problems|least|most|number|joint|would|"
    r"waypoint|rotation|camera|ids|whole|finite|text|field|allowed)\b",
    re.IGNORECASE,
)


def danish_problems(text: str, fields: list[str]) -> list[str]:
    """`tests.readability.text_problems` of a Danish text, the fields it names hidden: a field is named as
    the form and the file name it (`speed_m_s`), as every field refusal does."""

    def hide(shown: str) -> str:
        for name in sorted(fields, key=len, reverse=True):
            shown = shown.replace(f"{name}:", "FELT:")
        return shown

    return text_problems(f"<main><div>{text}</div></main>", "da", ENGLISH, hide)


def named(field: str, language: Language) -> str:
    """How a refusal names `field`: by the staff page's words for it (`field.*`), else by its name."""
    return robot_messages().texts[language].get(f"field.{field}", field)


def _refused(data: dict, model: type) -> ConfigValidationError:
    with pytest.raises(ConfigValidationError) as caught:
        parse_config(json.dumps(data), model, fmt="json")
    return caught.value


PROFILE = demo_profile().model_dump(mode="json", exclude_none=True)
CALIBRATION = demo_calibration().model_dump(mode="json", exclude_none=True)
LIMITS = demo_safety_limits().model_dump(mode="json")
WAYPOINTS = [list(q) for q in CALIBRATION["bowls"][0]["waypoints_rad"]]

HOSTILE = [
    (CitizenProfile, PROFILE | {"speed_m_s": 0.5}),
    (CitizenProfile, PROFILE | {"speed_m_s": 0.0}),
    (CitizenProfile, PROFILE | {"speed_m_s": "fast"}),
    (CitizenProfile, PROFILE | {"speed_m_s": None}),
    (CitizenProfile, PROFILE | {"speed_m_s": [0.1]}),
    (CitizenProfile, PROFILE | {"speed_m_s": True}),
    (CitizenProfile, PROFILE | {"speed_m_s": "x" * 5000}),
    (CitizenProfile, PROFILE | {"speed_near_mouth_m_s": 0.08, "speed_m_s": 0.05}),
    (CitizenProfile, PROFILE | {"trigger_kind": "telepathy"}),
    (CitizenProfile, PROFILE | {"bowls_used": [1, 1]}),
    (CitizenProfile, PROFILE | {"bowls_used": []}),
    (CitizenProfile, PROFILE | {"colour": "blue"}),
    (CitizenProfile, PROFILE | {"gesture": {"open_threshold": 0.1, "close_threshold": 0.2}}),
    (CitizenProfile, PROFILE | {"gesture": {"dwell_s": 1.0, "misfire_min_s": 2.0}}),
    (CitizenProfile, PROFILE | {"gesture": "open"}),
    (CitizenProfile, {k: v for k, v in PROFILE.items() if k != "standoff_m"}),
    (CitizenProfile, PROFILE | {"speed_m_s": 0.5, "standoff_m": "far", "bite_timeout_s": -1}),
    (RobotCalibration, CALIBRATION | {"ready_pose_rad": [0.0, 2.5, 0.0, 0.0]}),
    (RobotCalibration, CALIBRATION | {"ready_pose_rad": [0.0, 0.0, 0.0]}),
    (RobotCalibration, CALIBRATION | {"bowls": [{"name": "", "waypoints_rad": [[0.0, 0.0, 2.5, 0.0]]}]}),
    (RobotCalibration, CALIBRATION | {"bowls": [{"name": "soup", "waypoints_rad": WAYPOINTS * 20}]}),
    (RobotCalibration, CALIBRATION | {"spoon": {"x_m": 9.0, "z_m": 0.0, "pitch_rad": 0.0}}),
    (RobotCalibration, CALIBRATION | {"baudrate": 12345}),
    (RobotCalibration, CALIBRATION | {"joint_servo_ids": [1, 1, 2, 3]}),
    (RobotCalibration, CALIBRATION | {"tool_servo_id": 300}),
    (RobotCalibration, CALIBRATION | {"tool_servo_id": CALIBRATION["joint_servo_ids"][0]}),
    (RobotCalibration, CALIBRATION | {"changed_by": "x" * 200}),
    (RobotCalibration, CALIBRATION | {"camera": CALIBRATION["camera"] | {"camera_to_base": [[2, 0, 0, 0]] * 4}}),
    (SafetyLimits, LIMITS | {"watchdog_ms": 90}),
    (SafetyLimits, LIMITS | {"lost_after_s": 0.01}),
    (SafetyLimits, LIMITS | {"min_voltage_v": 15.0, "max_voltage_v": 12.0}),
    (SafetyLimits, LIMITS | {"position_d_gain": 1.5}),
]


@pytest.mark.parametrize(("model", "data"), HOSTILE)
def test_every_problem_of_a_hostile_document_reads_danish_to_a_danish_reader(model, data):
    refused = _refused(data, model)
    danish, english = refused.message.text(DA), refused.message.text(EN)
    assert danish.startswith("ugyldig værdi: ") and english.startswith("invalid value: ")
    assert danish_problems(danish, refused.fields) == []
    assert danish != english
    for field in refused.fields:
        assert f"{named(field, DA)}: " in danish and f"{named(field, EN)}: " in english
        if named(field, DA) != field:  # a field the staff page names is never shown by its raw name
            assert f"{field}:" not in danish and f"{field}:" not in english
    assert str(refused).startswith("<text>: invalid configuration (")  # the log's English stays
    assert all(f"  {field}: " in str(refused) for field in refused.fields)


def test_the_english_reader_gets_what_the_log_says_in_other_words():
    refused = _refused(PROFILE | {"speed_m_s": 0.5, "standoff_m": "far"}, CitizenProfile)
    assert refused.message.text(EN) == (
        "invalid value: Spoon speed (m/s, max 0.25): must be at most 0.25 (got 0.5); "
        "Stand-off before the lips (m, 0.01-0.05): must be a number (got 'far')"
    )
    assert refused.message.text(DA) == (
        "ugyldig værdi: Skeens fart (m/s, højst 0,25): skal være højst 0,25 (fik 0,5); "
        "Afstand før læberne (m, 0,01-0,05): skal være et tal (fik 'far')"
    )
    assert str(refused).splitlines() == [
        "<text>: invalid configuration (2 problems):",
        "  speed_m_s: Input should be less than or equal to 0.25 (got 0.5)",
        "  standoff_m: Input should be a valid number, unable to parse string as a number (got 'far')",
    ]


def test_a_models_own_check_says_its_message_and_keeps_its_english_for_the_log():
    refused = _refused(PROFILE | {"speed_near_mouth_m_s": 0.08, "speed_m_s": 0.05}, CitizenProfile)
    assert "speed_near_mouth_m_s: must be at most speed_m_s (0.05) (got 0.08)" in str(refused)
    assert refused.message.text(DA) == (
        "ugyldig værdi: Fart nær munden (m/s, højst 0,08): må højst være armens almindelige fart (0,05) (fik 0,08)"
    )


@pytest.mark.parametrize(("bowls_used", "danish"), [((0, 1, 2), "2 skåle"), ((0, 5, 6), "2 skåle")])
def test_a_profile_using_an_untaught_bowl_says_how_many_bowls_are_taught(bowls_used, danish):
    with pytest.raises(ConfigValidationError) as caught:
        check_profile_fits(demo_profile().model_copy(update={"bowls_used": bowls_used}), demo_calibration())
    text = caught.value.message.text(DA)
    assert f"kalibreringen har {danish}, nummereret fra 0" in text
    assert danish_problems(text, caught.value.fields) == []
    one_bowl = demo_calibration().model_copy(update={"bowls": demo_calibration().bowls[:1]})
    with pytest.raises(ConfigValidationError) as caught:
        check_profile_fits(demo_profile(), one_bowl)
    assert "the calibration has 1 bowl, numbered" in caught.value.message.text(EN)
    assert "kalibreringen har 1 skål, nummereret" in caught.value.message.text(DA)


@pytest.mark.parametrize(
    ("error", "danish"),
    [
        ({"type": "greater_than_equal", "loc": ("a",), "ctx": {"ge": "2026-01-01"}}, "værdien kan ikke bruges"),
        ({"type": "some_future_kind", "loc": ("a",), "input": object()}, "værdien kan ikke bruges"),
        ({"type": "value_error", "loc": ("a",), "ctx": {"error": ValueError("plain")}}, "værdien kan ikke bruges"),
        ({"type": "less_than", "loc": ("a",), "ctx": {"lt": 1}, "input": math.nan}, "skal være under 1"),
        ({"type": "too_long", "loc": ("a",), "ctx": {}}, "værdien kan ikke bruges"),
        ({"type": "string_too_short", "loc": ("a",), "ctx": {"min_length": "1"}}, "værdien kan ikke bruges"),
    ],
)
def test_an_error_of_a_kind_not_foreseen_is_said_without_english_never_raised(error, danish):
    assert problem(error).text(DA) == danish
    assert refusal([error]).text(DA) == f"ugyldig værdi: a: {danish}"


def test_a_problem_of_the_whole_document_names_no_field_and_none_says_the_value_cannot_be_used():
    assert refusal([{"type": "model_type", "loc": ()}]).text(DA) == "ugyldig værdi: har ikke den ventede form " + (
        "(en liste, en tabel eller en enkelt værdi)"
    )
    assert refusal([]).text(DA) == "ugyldig værdi: værdien kan ikke bruges"
    assert str(InvalidValue(Message("invalid.not_orthonormal"))) == (
        "rotation part is not orthonormal (not a rigid transform)"
    )


TRIGGER_CHOICES_PREFIX = {
    DA: "ugyldig værdi: Hvordan borgeren beder om et bid: ",
    EN: "invalid value: How the citizen asks for a bite: ",
}
TRIGGER_CHOICES = {
    DA: "skal være Kontakt, Panelet, Mundbevægelse (åbn munden et øjeblik) eller Automatisk tempo",
    EN: "must be Switch, Panel, Mouth gesture (open and hold) or Auto-pace",
}


@pytest.mark.parametrize("given", ["telepathy", "", "SWITCH", "switch ", "auto_pace\u202e", 3, False])
def test_a_choice_that_is_none_lists_the_choices_in_the_readers_words(given):
    refused = _refused(PROFILE | {"trigger_kind": given}, CitizenProfile)
    for language in Language:
        text = refused.message.text(language)
        assert text.startswith(f"{TRIGGER_CHOICES_PREFIX[language]}{TRIGGER_CHOICES[language]}"), text
        listed = text.split(" (")[0] if isinstance(given, str) else text
        assert not re.search(r"mouth_gesture|auto_pace|\bswitch\b|\bpanel\b", listed), text
    given_shown = refused.message.text(DA).replace(repr(given), "'...'")  # the hostile value is the giver's own
    assert danish_problems(given_shown, refused.fields) == []
    assert "trigger_kind: Input should be 'switch', 'panel', 'mouth_gesture' or 'auto_pace'" in str(refused)


@pytest.mark.parametrize(
    "error",
    [
        {"type": "literal_error", "loc": ("command",), "ctx": {"expected": "'select_bowl' or 'next_bite'"}},
        {"type": "enum", "loc": ("trigger_kind",), "ctx": {"expected": "'switch' or 'telekinesis'"}},
        {"type": "enum", "loc": ("trigger_kind",), "ctx": {"expected": ["switch"]}},
        {"type": "enum", "loc": ("trigger_kind",), "ctx": {}},
        {"type": "literal_error", "loc": ("colour",), "ctx": {"expected": "'red'"}},
    ],
)
def test_a_choice_without_words_is_said_without_listing_a_raw_value(error):
    assert problem(error, ".".join(error["loc"])).text(DA) == "skal være et af de mulige valg"
    assert problem(error, ".".join(error["loc"])).text(EN) == Message("invalid.one_of").text(EN)
