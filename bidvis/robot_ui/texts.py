"""The words of the robot's pages in Danish (the default) and English, and the meal's state as words and colour.

The words live in `bidvis/robot_ui/locale/{da,en}.toml` (`[staff]` and `[panel]`), the meal's state and
every other robot message in `controller/locale/`, where the staff form's labels and options are too
(`[field]`, `[choice]`: a refusal names a field by them); both are read by
`controller.messages.Catalogue`, the one translation mechanism (docs/ui.md, "Texts and languages").
"""

from __future__ import annotations

import math
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from controller.feeding import FeedingState
from controller.messages import Catalogue, Language, Message, Value, parse_language, robot_messages

__all__ = [
    "Language",
    "Tone",
    "choice_words",
    "field_words",
    "idle_text",
    "page_words",
    "panel_words",
    "parse_language",
    "said",
    "staff_text",
    "staff_words",
    "state_words",
]


class Tone(StrEnum):
    """The status colour (CSS class): calm, busy, go, stopped, done."""

    CALM = "calm"
    BUSY = "busy"
    GO = "go"
    STOPPED = "stopped"
    DONE = "done"


_TONES: dict[FeedingState | None, Tone] = {
    None: Tone.CALM,
    FeedingState.IDLE: Tone.CALM,
    FeedingState.CHOOSE_BOWL: Tone.BUSY,
    FeedingState.SCOOP: Tone.BUSY,
    FeedingState.READY: Tone.GO,
    FeedingState.APPROACH: Tone.GO,
    FeedingState.AT_MOUTH: Tone.GO,
    FeedingState.RETRACT: Tone.BUSY,
    FeedingState.PAUSED: Tone.CALM,
    FeedingState.ENDED: Tone.DONE,
    FeedingState.FAULT: Tone.STOPPED,
}


@cache
def page_words() -> Catalogue:
    """The catalogue of the pages' words (`bidvis/robot_ui/locale/`), read once on first use."""
    return Catalogue.load(Path(__file__).with_name("locale"))


def staff_words(language: Language) -> dict[str, str]:
    """The staff pages' words (login and set-up), for a template's `t`."""
    return page_words().words(language, "staff")


def staff_text(key: str, language: Language, /, **values: Value) -> str:
    """The staff pages' text `key` with its values; a text with a count in the form its count takes."""
    return page_words().say(f"staff.{key}", language, **values)


def idle_text(timeout_s: float, language: Language) -> str:
    """What the staff page says when it logged out for idling: in minutes for a whole number of
    minutes, else in seconds (rounded up: never "0")."""
    seconds = max(1, math.ceil(timeout_s))
    if seconds % 60 == 0:
        return staff_text("js_idle", language, m=seconds // 60)
    return staff_text("js_idle_seconds", language, s=seconds)


def field_words(language: Language) -> dict[str, str]:
    """The words for each setting and request field by its name (`gesture.dwell_s`): the staff page's
    labels, from `field.*` of the robot's messages, where a refusal names the field too."""
    return robot_messages().words(language, "field")


def choice_words(language: Language) -> dict[str, str]:
    """The words for each choice of a setting (`trigger_kind.switch`), from `choice.*` of the robot's
    messages, which a refusal lists too."""
    return robot_messages().words(language, "choice")


def panel_words(language: Language) -> dict[str, str]:
    """The citizen panel's words, for a template's `t`."""
    return page_words().words(language, "panel")


def state_message(state: FeedingState | None) -> Message:
    """The meal's state as a robot message (`meal_state.*`)."""
    return Message(f"meal_state.{state.value if state is not None else 'none'}")


def state_words(state: FeedingState | None, language: Language) -> tuple[Tone, str]:
    """The colour and the words for the meal's state."""
    return _TONES[state], state_message(state).text(language)


def said(message: Message, language: Language) -> dict[str, Any]:
    """A route's report of what it did: `message` in English (logs, scripts), plus the message's
    `key`, `values` and `text` in the reader's language (what the page shows)."""
    return {"message": str(message), **message.as_json(language)}
