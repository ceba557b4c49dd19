"""The citizen panel's words in Danish (the default) and English, and the meal state as words and colour."""

from __future__ import annotations

from enum import StrEnum

from controller.feeding import FeedingState


class Language(StrEnum):
    DANISH = "da"
    ENGLISH = "en"


class Tone(StrEnum):
    """The status colour (CSS class): calm, busy, go, stopped, done."""

    CALM = "calm"
    BUSY = "busy"
    GO = "go"
    STOPPED = "stopped"
    DONE = "done"


PANEL_TEXT: dict[Language, dict[str, str]] = {
    Language.DANISH: {
        "title": "Spisepanel",
        "bowl": "Skål {n}",
        "next_bite": "Næste bid",
        "pause": "Pause",
        "resume": "Fortsæt",
        "done": "Færdig",
        "scan_auto": "Automatisk skanning",
        "scan_help": "Mellemrum: næste knap. Enter: vælg.",
        "language": "English",
        "sent": "Sendt: {what}",
        "refused": "Ikke muligt lige nu. Tilkald personale",
        "offline": "Ingen forbindelse til robotten",
    },
    Language.ENGLISH: {
        "title": "Meal panel",
        "bowl": "Bowl {n}",
        "next_bite": "Next bite",
        "pause": "Pause",
        "resume": "Resume",
        "done": "Done",
        "scan_auto": "Automatic scanning",
        "scan_help": "Space: next button. Enter: select.",
        "language": "Dansk",
        "sent": "Sent: {what}",
        "refused": "Not possible now. Please call staff",
        "offline": "No connection to the robot",
    },
}

_STATE_WORDS: dict[FeedingState | None, tuple[Tone, str, str]] = {
    None: (Tone.CALM, "Klar. Vælg en skål for at begynde", "Ready. Choose a bowl to start"),
    FeedingState.IDLE: (Tone.CALM, "Klar. Vælg en skål for at begynde", "Ready. Choose a bowl to start"),
    FeedingState.CHOOSE_BOWL: (Tone.BUSY, "Vælger skål", "Choosing the bowl"),
    FeedingState.SCOOP: (Tone.BUSY, "Henter mad", "Getting food"),
    FeedingState.READY: (Tone.GO, "Klar til næste bid", "Ready for the next bite"),
    FeedingState.APPROACH: (Tone.GO, "Skeen kommer", "The spoon is coming"),
    FeedingState.AT_MOUTH: (Tone.GO, "Værsgo", "Please take the bite"),
    FeedingState.RETRACT: (Tone.BUSY, "Skeen trækker sig tilbage", "The spoon moves back"),
    FeedingState.PAUSED: (Tone.CALM, "Pause", "Paused"),
    FeedingState.ENDED: (Tone.DONE, "Måltidet er slut", "The meal has ended"),
    FeedingState.FAULT: (Tone.STOPPED, "Stoppet. Tilkald personale", "Stopped. Please call staff"),
}


def parse_language(value: str | None) -> Language:
    """The language of a `lang` parameter; Danish for anything else."""
    try:
        return Language(value or Language.DANISH)
    except ValueError:
        return Language.DANISH


def state_words(state: FeedingState | None, language: Language) -> tuple[Tone, str]:
    """The colour and the words for the meal's state."""
    tone, danish, english = _STATE_WORDS[state]
    return tone, danish if language is Language.DANISH else english
