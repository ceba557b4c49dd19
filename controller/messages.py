"""What the robot says to people, in Danish (the default) and English: one mechanism for every text.

A text is a key of a catalogue plus its values, never prose in code. The robot's own messages (safety
stops, faults, refusals, commissioning verdicts, the meal's state) are `Message` values made where they
happen (here in the controller, or in `bidvis`) and put into words only where a person reads them (a
page, the panel, the command line), in that person's language:

    refusal = Message("refusal.meal_running")
    stop = Message("safety.contact", force_n=3.2)
    stop.text(Language.DANISH)  # "Skeen rørte ansigtet (3,2 N) ..."
    raise Refused(refusal)  # a `MessageError`: str() is English, for logs; pages show .message in theirs

A text that carries a count has a form for one and a form for every other count (`Counted`, chosen by
`counted_form`): `scan = { by = "count", one = "{count} servo ...", other = "{count} servoer ..." }`.

Catalogues are TOML files, one per language, with the same keys and the same `{placeholders}`
(tests/controller/test_messages.py checks every catalogue, and that every key the code uses exists):
the robot's messages in `controller/locale/{da,en}.toml` (`robot_messages()`), the words of the
robot's pages in `bidvis/robot_ui/locale/`. How to add a message: docs/ui.md, "Texts and languages".
"""

from __future__ import annotations

import logging
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LOCALE = Path(__file__).with_name("locale")


class Language(StrEnum):
    """The languages a person can read the robot in."""

    DANISH = "da"
    ENGLISH = "en"


DEFAULT_LANGUAGE = Language.DANISH


def parse_language(value: str | None) -> Language:
    """The language of a `lang` value ("da", "en", "en-GB"...); Danish for anything else."""
    try:
        return Language((value or "").split("-")[0].strip().lower())
    except ValueError:
        return DEFAULT_LANGUAGE


def negotiate(lang: str | None, accept_language: str | None = None) -> Language:
    """An explicit `lang` wins, then the first supported language of an Accept-Language header, else Danish."""
    if lang:
        return parse_language(lang)
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().split("-")[0].lower()
        if tag in Language._value2member_map_:
            return Language(tag)
    return DEFAULT_LANGUAGE


Value = str | int | float


def counted_form(n: object, one: str, other: str) -> str:
    """`one` for a count of exactly 1, `other` for every other count, 0 included (the rule of Danish and
    English: "1 servo", "0 servoer", "2 servos"). A count that is not a whole number >= 0 is a ValueError."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"a count is a whole number >= 0, not {n!r}")
    return one if n == 1 else other


@dataclass(frozen=True, slots=True)
class Counted:
    """A catalogue text that carries a count: the value named `by` picks `one` or `other` (`counted_form`)."""

    by: str
    one: str
    other: str

    def form(self, values: Mapping[str, object]) -> str:
        """The form for the count in `values` (KeyError without it, ValueError for a count that is none)."""
        return counted_form(values[self.by], self.one, self.other)


Text = str | Counted


@dataclass(frozen=True, slots=True, init=False)
class Message:
    """Something the robot says to a person: a key of `robot_messages()` and the values it names.

    Values are numbers (written with the language's decimal mark), words (used as they are: names,
    paths, servo ids) or other messages (put into the same language)."""

    key: str
    values: Mapping[str, Value | Message] = field(default_factory=dict)

    def __init__(self, key: str, /, **values: Value | Message) -> None:
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "values", values)

    @classmethod
    def received(cls, key: str, values: Mapping[str, Value | Message]) -> Message:
        """A message whose key came as data (from another of the robot's processes): `ValueError`
        unless the robot's catalogue has a text for it."""
        if key not in robot_messages().texts[DEFAULT_LANGUAGE]:
            raise ValueError(f"no robot message has the key {key!r}")
        return cls(key, **values)

    def text(self, language: Language = DEFAULT_LANGUAGE) -> str:
        """The message in words, in `language`."""
        return robot_messages().text(self, language)

    def as_json(self, language: Language = DEFAULT_LANGUAGE) -> dict[str, Any]:
        """The message for an API answer: `key`, its `values` and its `text` in `language`."""
        values = {k: v.as_json(language) if isinstance(v, Message) else v for k, v in self.values.items()}
        return {"key": self.key, "values": values, "text": self.text(language)}

    def __str__(self) -> str:
        return self.text(Language.ENGLISH)


class MessageError(Exception):
    """An error whose text a person reads: it carries a `Message`; str() is the English text (logs).

    `cause`, when given, is the lower layer's error (or its English text) that the message says in words
    (`controller.causes`) or leaves out: str() then ends with its English in parentheses, for the log
    and the web app's `detail`."""

    def __init__(self, message: Message, cause: BaseException | str | None = None) -> None:
        self.message = message
        self.cause = cause
        super().__init__(message)

    def __str__(self) -> str:
        text = self.message.text(Language.ENGLISH)
        return text if self.cause is None else f"{text} ({self.cause})"


class _Formatter(string.Formatter):
    """str.format with numbers in the language's way (Danish: decimal comma) and nested messages."""

    def __init__(self, language: Language, catalogue: Catalogue) -> None:
        self.language, self.catalogue = language, catalogue

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, Message):
            return self.catalogue.text(value, self.language)
        text = format(value, format_spec)
        if self.language is Language.DANISH and isinstance(value, float):
            text = text.replace(".", ",")
        return text


class Catalogue:
    """The texts of one part in every `Language`, from `DIR/da.toml` and `DIR/en.toml` (tables nest
    keys: `[safety] contact = "..."` is the key `safety.contact`; a table of exactly `by`, `one` and
    `other` is one counted text)."""

    def __init__(self, texts: Mapping[Language, Mapping[str, Text]]) -> None:
        self.texts = texts

    @classmethod
    def load(cls, folder: Path) -> Catalogue:
        texts = {}
        for language in Language:
            with (folder / f"{language.value}.toml").open("rb") as handle:
                texts[language] = _flatten(tomllib.load(handle))
        return cls(texts)

    def words(self, language: Language, section: str = "") -> dict[str, str]:
        """Every plain text of `language` (under `section.`, without that prefix), for a page template;
        a counted text is said with its count by `say`."""
        prefix = f"{section}." if section else ""
        return {
            k[len(prefix) :]: v for k, v in self.texts[language].items() if k.startswith(prefix) and isinstance(v, str)
        }

    def text(self, message: Message, language: Language) -> str:
        """`message` in words; a key or value missing from the catalogue (or a count that is none) is
        logged and shown as it is, never an exception (the tests keep the catalogues complete)."""
        return self.say(message.key, language, **message.values)

    def say(self, key: str, language: Language, /, **values: Value | Message) -> str:
        """The text `key` with `values` in `language`, a counted text in the form its count takes."""
        entry = self.texts[language].get(key) or self.texts[Language.ENGLISH].get(key)
        if entry is None:
            log.error("no text for message key %r", key)
            return f"{key} {values}" if values else key
        template = entry.other if isinstance(entry, Counted) else entry
        try:
            if isinstance(entry, Counted):
                template = entry.form(values)
            return _Formatter(language, self).vformat(template, (), values)
        except (KeyError, IndexError, ValueError) as exc:
            log.error("message %r does not fit its text %r: %s", key, template, exc)
            return template


_COUNTED_FIELDS = frozenset({"by", "one", "other"})


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Text]:
    flat: dict[str, Text] = {}
    for key, value in table.items():
        if isinstance(value, Mapping) and {"one", "other"} & value.keys():
            flat[f"{prefix}{key}"] = _counted(f"{prefix}{key}", value)
        elif isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


def _counted(key: str, table: Mapping[str, Any]) -> Counted:
    """A counted text from its table; ValueError naming the key when the table is not one."""
    if table.keys() != _COUNTED_FIELDS or not all(isinstance(v, str) for v in table.values()):
        raise ValueError(f"counted text {key!r} needs exactly the texts by, one and other, got {dict(table)!r}")
    counted = Counted(table["by"], table["one"], table["other"])
    for form in (counted.one, counted.other):
        if counted.by not in {name for _, name, _, _ in string.Formatter().parse(form) if name}:
            raise ValueError(f"counted text {key!r}: {form!r} does not say its count {{{counted.by}}}")
    return counted


@cache
def robot_messages() -> Catalogue:
    """The catalogue of the robot's own messages (`controller/locale/`), read once on first use."""
    return Catalogue.load(LOCALE)
