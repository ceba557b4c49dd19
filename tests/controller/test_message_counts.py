"""Texts with a count read right for one and for any other count, in Danish and English, in both of the
robot's catalogues (the robot's messages and the pages' words): "1 servo", "0 servoer", "2 servos", never
"servo(er)" or "1 sekunder"."""

from __future__ import annotations

import logging
import re

import pytest

from bidvis.robot_ui.texts import page_words
from controller.messages import Catalogue, Counted, Language, counted_form, robot_messages

DA, EN = Language.DANISH, Language.ENGLISH

# (catalogue, key, the other values, language, the text for a count of 1, of 2, of 0). A text ending in
# "…" is the start of a longer one, far enough to hold the counted word and what follows it.
EXPECTED = [
    ("robot", "done.scan", {"port": "/dev/ttyUSB0"}, DA,
     "1 servo svarede på /dev/ttyUSB0", "2 servoer svarede på /dev/ttyUSB0", "0 servoer svarede på /dev/ttyUSB0"),
    ("robot", "done.scan", {"port": "/dev/ttyUSB0"}, EN,
     "1 servo answered on /dev/ttyUSB0", "2 servos answered on /dev/ttyUSB0", "0 servos answered on /dev/ttyUSB0"),
    ("robot", "done.face_size_saved", {"scale": 1.04, "used": 0}, DA,
     "Ansigtets størrelse, 1,04 gange gennemsnitsansigtet, er gemt (fra 0 af 1 billede)",
     "Ansigtets størrelse, 1,04 gange gennemsnitsansigtet, er gemt (fra 0 af 2 billeder)",
     "Ansigtets størrelse, 1,04 gange gennemsnitsansigtet, er gemt (fra 0 af 0 billeder)"),
    ("robot", "done.face_size_saved", {"scale": 1.04, "used": 0}, EN,
     "face size 1.04 times the mean face saved (from 0 of 1 picture)",
     "face size 1.04 times the mean face saved (from 0 of 2 pictures)",
     "face size 1.04 times the mean face saved (from 0 of 0 pictures)"),
    ("robot", "refusal.too_long", {}, DA, "højst 1 tegn", "højst 2 tegn", "højst 0 tegn"),
    ("robot", "refusal.too_long", {}, EN, "at most 1 character", "at most 2 characters", "at most 0 characters"),
    ("robot", "refusal.face_not_found", {"found": 0}, DA,
     "borgerens ansigt blev fundet i 0 af 1 billede; …", "borgerens ansigt blev fundet i 0 af 2 billeder; …",
     "borgerens ansigt blev fundet i 0 af 0 billeder; …"),
    ("robot", "refusal.face_not_found", {"found": 0}, EN,
     "the citizen's face was found in 0 of 1 picture; …", "the citizen's face was found in 0 of 2 pictures; …",
     "the citizen's face was found in 0 of 0 pictures; …"),
    ("robot", "refusal.face_size_spoon_views", {"used": 0, "needed": 2, "no_face": 1, "off_mouth": 0, "behind": 0}, DA,
     "0 af 1 billede kunne bruges (1 uden …", "0 af 2 billeder kunne bruges (1 uden …",
     "0 af 0 billeder kunne bruges (1 uden …"),
    ("robot", "refusal.face_size_spoon_views", {"used": 0, "needed": 2, "no_face": 1, "off_mouth": 0, "behind": 0}, EN,
     "0 of 1 view could be used (1 without …", "0 of 2 views could be used (1 without …",
     "0 of 0 views could be used (1 without …"),
    ("robot", "refusal.override_reason", {}, DA,
     "skriv hvorfor ansigtets størrelse sættes i hånden (mindst 1 tegn)",
     "skriv hvorfor ansigtets størrelse sættes i hånden (mindst 2 tegn)",
     "skriv hvorfor ansigtets størrelse sættes i hånden (mindst 0 tegn)"),
    ("robot", "refusal.override_reason", {}, EN,
     "say why the face size is set by hand (at least 1 character)",
     "say why the face size is set by hand (at least 2 characters)",
     "say why the face size is set by hand (at least 0 characters)"),
    ("robot", "refusal.panel_name", {}, DA,
     "et panels navn er 1 bogstav, tal, mellemrum eller . ' -",
     "et panels navn er 1 til 2 bogstaver, tal, mellemrum eller . ' -",
     "et panels navn er 1 til 0 bogstaver, tal, mellemrum eller . ' -"),
    ("robot", "refusal.panel_name", {}, EN,
     "a panel's name is 1 letter, digit, space or . ' -",
     "a panel's name is 1 to 2 letters, digits, spaces or . ' -",
     "a panel's name is 1 to 0 letters, digits, spaces or . ' -"),
    ("robot", "view.plenty", {}, DA,
     "1 billede er rigeligt; beregn kalibreringen nu.", "2 billeder er rigeligt; beregn kalibreringen nu.",
     "0 billeder er rigeligt; beregn kalibreringen nu."),
    ("robot", "view.plenty", {}, EN,
     "1 view is plenty; compute the calibration now.", "2 views are plenty; compute the calibration now.",
     "0 views are plenty; compute the calibration now."),
    ("robot", "view.more_recommended", {}, DA,
     "1 billede mere anbefales", "2 billeder mere anbefales", "0 billeder mere anbefales"),
    ("robot", "view.more_recommended", {}, EN,
     "1 more view recommended", "2 more views recommended", "0 more views recommended"),
    ("robot", "invalid.document", {"source": "anna.toml"}, DA,
     "anna.toml: ugyldig konfiguration (1 problem):", "anna.toml: ugyldig konfiguration (2 problemer):",
     "anna.toml: ugyldig konfiguration (0 problemer):"),
    ("robot", "invalid.document", {"source": "anna.toml"}, EN,
     "anna.toml: invalid configuration (1 problem):", "anna.toml: invalid configuration (2 problems):",
     "anna.toml: invalid configuration (0 problems):"),
    ("robot", "invalid.text_too_short", {}, DA,
     "skal være mindst 1 tegn lang", "skal være mindst 2 tegn lang", "skal være mindst 0 tegn lang"),
    ("robot", "invalid.text_too_short", {}, EN,
     "must be at least 1 character long", "must be at least 2 characters long", "must be at least 0 characters long"),
    ("robot", "invalid.too_few", {}, DA, "skal have mindst 1 værdi", "skal have mindst 2 værdier",
     "skal have mindst 0 værdier"),
    ("robot", "invalid.too_few", {}, EN, "must hold at least 1 value", "must hold at least 2 values",
     "must hold at least 0 values"),
    ("robot", "invalid.too_many", {}, DA, "må højst have 1 værdi", "må højst have 2 værdier",
     "må højst have 0 værdier"),
    ("robot", "invalid.too_many", {}, EN, "must hold at most 1 value", "must hold at most 2 values",
     "must hold at most 0 values"),
    ("robot", "invalid.bowls_taught", {}, DA, "kalibreringen har 1 skål, nummereret fra 0",
     "kalibreringen har 2 skåle, nummereret fra 0", "kalibreringen har 0 skåle, nummereret fra 0"),
    ("robot", "invalid.bowls_taught", {}, EN, "the calibration has 1 bowl, numbered from 0",
     "the calibration has 2 bowls, numbered from 0", "the calibration has 0 bowls, numbered from 0"),
    ("pages", "staff.login_throttled", {}, DA,
     "For mange forkerte forsøg. Prøv igen om 1 sekund.", "For mange forkerte forsøg. Prøv igen om 2 sekunder.",
     "For mange forkerte forsøg. Prøv igen om 0 sekunder."),
    ("pages", "staff.login_throttled", {}, EN,
     "Too many wrong attempts. Try again in 1 second.", "Too many wrong attempts. Try again in 2 seconds.",
     "Too many wrong attempts. Try again in 0 seconds."),
    ("pages", "staff.waypoints", {}, DA, "1 punkt", "2 punkter", "0 punkter"),
    ("pages", "staff.waypoints", {}, EN, "1 waypoint", "2 waypoints", "0 waypoints"),
    ("pages", "staff.js_views", {}, DA, "1 billede. Næste:", "2 billeder. Næste:", "0 billeder. Næste:"),
    ("pages", "staff.js_views", {}, EN, "1 view. Next:", "2 views. Next:", "0 views. Next:"),
    ("pages", "staff.js_idle", {}, DA,
     "Du er logget ud efter 1 minut uden brug. …", "Du er logget ud efter 2 minutter uden brug. …",
     "Du er logget ud efter 0 minutter uden brug. …"),
    ("pages", "staff.js_idle", {}, EN,
     "You were logged out after 1 minute without use. …", "You were logged out after 2 minutes without use. …",
     "You were logged out after 0 minutes without use. …"),
    ("pages", "staff.js_idle_seconds", {}, DA,
     "Du er logget ud efter 1 sekund uden brug. …", "Du er logget ud efter 2 sekunder uden brug. …",
     "Du er logget ud efter 0 sekunder uden brug. …"),
    ("pages", "staff.js_idle_seconds", {}, EN,
     "You were logged out after 1 second without use. …", "You were logged out after 2 seconds without use. …",
     "You were logged out after 0 seconds without use. …"),
]  # fmt: skip


def _catalogue(name: str) -> Catalogue:
    return robot_messages() if name == "robot" else page_words()


def _reads(text: str, expected: str) -> bool:
    return text.startswith(expected[:-1]) if expected.endswith("…") else text == expected


@pytest.mark.parametrize(("name", "key", "values", "lang", "one", "two", "zero"), EXPECTED)
def test_each_counted_text_takes_the_singular_for_one_and_the_plural_for_two_and_zero(
    name, key, values, lang, one, two, zero
):
    catalogue = _catalogue(name)
    entry = catalogue.texts[lang][key]
    assert isinstance(entry, Counted)
    for n, expected in ((1, one), (2, two), (0, zero)):
        text = catalogue.say(key, lang, **values, **{entry.by: n})
        assert _reads(text, expected), f"{key} for {n} in {lang.value}: {text!r}"


@pytest.mark.parametrize("name", ["robot", "pages"])
def test_every_counted_text_is_checked_above(name):
    counted = {key for key, text in _catalogue(name).texts[DA].items() if isinstance(text, Counted)}
    assert counted == {key for catalogue, key, *_ in EXPECTED if catalogue == name}


PLURAL_IN_PARENTHESES = re.compile(r"\w\((?:e?r|e|s|es)\)")


@pytest.mark.parametrize("name", ["robot", "pages"])
def test_no_text_hedges_a_plural_in_parentheses_or_counts_outside_a_counted_text(name):
    """A count before a word belongs in a counted text (a form for 1, one for the rest); "{n}" is such a
    count by name, so a plain text never holds it (labels name what they number: {bowl}, {view})."""
    for lang, texts in _catalogue(name).texts.items():
        for key, text in texts.items():
            forms = [text.one, text.other] if isinstance(text, Counted) else [text]
            for form in forms:
                assert not PLURAL_IN_PARENTHESES.search(form), f"{lang.value} {key}: {form!r}"
            if isinstance(text, str):
                assert "{n}" not in text, f"{lang.value} {key}: {text!r} reads wrong for one; make it counted"


def test_the_rule_is_one_for_exactly_one_and_other_for_every_other_count():
    assert [counted_form(n, "one", "other") for n in (0, 1, 2, 11, 21, 101)] == ["other", "one"] + ["other"] * 4


@pytest.mark.parametrize("count", [-1, True, 1.0, "1", None])
def test_a_count_that_is_not_a_whole_number_of_at_least_zero_is_refused(count):
    with pytest.raises(ValueError, match="whole number >= 0"):
        counted_form(count, "one", "other")


def test_a_page_is_never_broken_by_a_bad_count_it_is_logged_and_the_plural_shown(caplog):
    texts = {"servos": Counted("count", "{count} servo", "{count} servoer")}
    catalogue = Catalogue({DA: texts, EN: texts})
    with caplog.at_level(logging.ERROR, logger="controller.messages"):
        assert catalogue.say("servos", DA, count=-3) == "{count} servoer"
        assert catalogue.say("servos", DA) == "{count} servoer"
        assert catalogue.say("servos", DA, count=2.5) == "{count} servoer"
    assert len(caplog.records) == 3


def test_a_counted_text_is_said_only_with_its_count_never_as_a_plain_page_word():
    assert "js_views" not in page_words().words(DA, "staff")
    assert page_words().words(DA, "staff")["log_in"] == "Log ind"


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ('x.by = "n"\nx.one = "{n} servo"\n', "exactly the texts by, one and other"),
        ('x.one = "{n} servo"\nx.other = "{n} servoer"\n', "exactly the texts by, one and other"),
        ('x.by = "n"\nx.one = "{n} servo"\nx.other = "{n} servoer"\nx.few = "{n} servo"\n', "exactly the texts"),
        ('x.by = "n"\nx.one = 1\nx.other = "{n} servoer"\n', "exactly the texts by, one and other"),
        ('x.by = "count"\nx.one = "{n} servo"\nx.other = "{n} servoer"\n', "does not say its count {count}"),
        ('x.by = "n"\nx.one = "en servo"\nx.other = "{n} servoer"\n', "does not say its count {n}"),
    ],
)
def test_a_malformed_counted_text_stops_the_catalogue_loading_and_names_the_key(tmp_path, toml, problem):
    for lang in Language:
        (tmp_path / f"{lang.value}.toml").write_text(f"[done]\n{toml}", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(problem)) as refused:
        Catalogue.load(tmp_path)
    assert "'done.x'" in str(refused.value)
