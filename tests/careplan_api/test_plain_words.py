"""System values in the reader's words: no request path, role key, purpose code or reason code is shown."""

from __future__ import annotations

import uuid

import pytest

from careplan_api import plain_words
from careplan_api.i18n import Lang, texts

DA, EN = texts(Lang.DA), texts(Lang.EN)
ID = uuid.UUID(int=5)


@pytest.mark.parametrize(
    ("resource", "danish"),
    [
        (f"GET /reports/citizens/{ID}/access-log", "listen over, hvem der har set oplysningerne"),
        (f"GET /reports/citizens/{ID}", "måltidsrapporten"),
        (f"GET /reports/citizens/{ID}/trend.svg", "grafen i måltidsrapporten"),
        (f"GET /fhir/Patient/{ID}/$everything", "udtræk til omsorgssystemet"),
        ("POST /api/v1/usage-events (12 events)", "måltidsdata fra robotten"),
        ("cli add-user", "et login"),
        (f"GET /api/v1/citizens/{ID}/meals", "måltiderne"),
        (f"fuldmagt {ID}", "en fuldmagt"),
        ("GET /api/v1/citizens (3 found)", "en liste over borgere"),
        ("something new", "oplysningerne"),
    ],
)
def test_what_an_entry_was_about(resource, danish):
    assert plain_words.what(resource, DA) == danish
    assert "/" not in plain_words.what(resource, EN)


def test_why_translates_the_services_own_purposes_and_keeps_a_persons_words():
    assert plain_words.why("device ingest", DA) == "robotten sendte data om et måltid"
    assert plain_words.why("administration from the command line", EN) == "administration"
    assert plain_words.why("fuldmagt on paper: signed at home", DA) == "fuldmagt på papir: signed at home"
    assert plain_words.why("omsorg: morgenmøde", EN) == "care: morgenmøde"
    assert plain_words.why("care", DA) == "omsorg"
    assert plain_words.why("tjek efter fald", DA) == "tjek efter fald"
    assert plain_words.why("", DA) == DA["none"]


def test_who_says_you_to_the_reader_and_roles_in_words():
    assert plain_words.who("user", ID, "alice", "citizen", ID, DA) == "dig"
    assert plain_words.who("user", uuid.UUID(int=6), "Anna", "staff", ID, DA) == "Anna (personale)"
    assert plain_words.who("user", uuid.UUID(int=6), "Anna", "operator", ID, EN) == "Anna"
    assert plain_words.who("device", None, "device 1", "device", ID, DA) == "robotten"
    assert plain_words.who("system", None, "x (command line)", "operator", ID, EN) == "the system"


def test_every_safety_reason_of_the_controller_has_words_in_both_languages():
    from controller.safety import SafetyReason

    for reason in SafetyReason:
        assert plain_words.stop_reason(reason.value, DA) and plain_words.stop_reason(reason.value, EN), reason
    assert plain_words.stop_reason("face force above limit", DA) is None
    assert plain_words.stop_reason("__class__", DA) is None


def test_bowls_are_numbered_from_one_as_on_the_panel():
    assert [plain_words.bowl(name, DA) for name in ("0", "1", "?", "suppe")] == [
        "Skål 1",
        "Skål 2",
        "ukendt skål",
        "suppe",
    ]


def test_a_bowl_named_with_digits_that_are_not_ascii_keeps_its_name():
    assert [plain_words.bowl(name, DA) for name in ("²", "٣", "1234")] == ["²", "٣", "1234"]


def test_both_languages_have_the_same_keys():
    assert DA.keys() == EN.keys()
