"""The citizen's panel: its buttons push commands into the panel trigger source.

Only a paired panel (its bearer token, or the browser panel's cookie) or staff may press them or
read the meal's state (`deps.Panel`). The next bite only when the profile's trigger is the panel:
else refused (403) and audited. A press that would start a meal while a staff screen holds the
arm is refused (409, naming who, in words for the citizen: the panel has no STOP) and audited.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from bidvis.robot_ui.arm_lease import ArmHeld
from bidvis.robot_ui.audit import AuditAction
from bidvis.robot_ui.deps import Panel, PanelAudit, Session
from bidvis.robot_ui.errors import Busy, TriggerRefused
from bidvis.robot_ui.schemas import PanelPress
from bidvis.robot_ui.texts import parse_language, state_words
from controller.feeding import CommandKind, FeedingState
from controller.messages import Message

router = APIRouter(prefix="/api/panel", tags=["panel"])

_COMMANDS = {
    "select_bowl": CommandKind.SELECT_BOWL,
    "next_bite": CommandKind.NEXT_BITE,
    "pause": CommandKind.PAUSE,
    "resume": CommandKind.RESUME,
    "done": CommandKind.END_MEAL,
}


@router.post("")
def press(body: PanelPress, session: Session, record: PanelAudit) -> dict[str, Any]:
    """One button of the panel (bowl 1/2 are `select_bowl` with bowl 0/1)."""
    running = session.meal.running
    try:
        with record.refused_while_held(f"meal start ({body.command})"):
            session.meal.panel_command(_COMMANDS[body.command], body.bowl, source=record.actor.label)
    except TriggerRefused as exc:
        record(AuditAction.TRIGGER_REFUSED, target=body.command, reason=str(exc))
        raise
    except ArmHeld as held:
        holder = held.holder
        use = Message(f"arm_use.{holder.use.value}")
        raise Busy(Message("refusal.arm_held_for_panel", operator=holder.operator, use=use)) from held
    if not running and session.meal.running:
        record(AuditAction.MEAL_START, target="meal", command=body.command, bowl=body.bowl)
    return {"accepted": True, "command": body.command}


@router.get("/status")
def panel_status(session: Session, panel: Panel, lang: str | None = None) -> dict[str, Any]:
    """The meal's state in words and colour, in the panel's language."""
    meal = session.meal.status()
    state = None if meal["state"] is None else FeedingState(meal["state"])
    language = parse_language(lang)
    tone, words = state_words(state, language)
    why = "" if meal["stopped_by"] is None else Message(f"safety.{meal['stopped_by']}").text(language)
    return {
        "state": meal["state"],
        "tone": tone.value,
        "words": words,
        "paused": state is FeedingState.PAUSED,
        "why": why,  # why the arm stopped or the meal paused itself, in plain words (else empty)
    }
