"""System values said in the reader's words: what an audit entry was about, why, who did it, and
why the robot stopped. The audit log and the events keep their exact values (for IT staff and
FHIR); the pages show these words instead, so that no request path, role key, purpose code or
reason code reaches a person's page. Pure: no database, no HTTP.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping

# (pattern over the audit entry's `resource`, text key), first match wins
_RESOURCES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), key)
    for pattern, key in (
        (r"^fuldmagter held\b", "what_fuldmagter_held"),
        (r"^GET /fuldmagter \(", "what_list"),  # the paper form's choice of the unit's citizens
        (r"^fuldmagter\b|/fuldmagter\b|^fuldmagt ", "what_fuldmagt"),
        (r"/access-log\b|/audit\b", "what_access_log"),
        (r"/trend\.svg\b", "what_trend"),
        (r"^GET /reports/", "what_report"),
        (r"/fhir/|\$everything|\$export", "what_fhir"),
        (r"/usage-events\b", "what_usage"),
        (r"/meals\b", "what_meals"),
        (r"/goal\b", "what_goal"),
        (r"/notes\b", "what_notes"),
        (r"/effect\b", "what_effect"),
        (r"/auth/|^POST /login|/openid/|\blogin\b", "what_login"),
        (r"/users\b|\badd-user\b|\breset-password\b|\bdeactivate\b", "what_user"),
        (r"/devices\b|\benroll-device\b|\brevoke-device\b", "what_device"),
        (r"^GET /api/v1/citizens \(|^GET /api/v1/citizens$|/api/v1/citizens\?", "what_list"),
        (r"/citizens\b|\badd-citizen\b", "what_record"),
        (r"/dashboard\b", "what_dashboard"),
    )
)

# purposes the service itself writes -> text key; a person's own purpose is shown as they wrote it
_SYSTEM_PURPOSES = {
    "device ingest": "why_device_ingest",
    "administration from the command line": "why_administration",
    "own password change": "why_password",
    "login throttle": "why_login_throttle",
    "login": "why_login",
    "fuldmagt granted by the citizen": "why_fuldmagt_granted",
    "fuldmagt ended": "why_fuldmagt_ended",
    "fuldmagt from the national register": "why_fuldmagt_register",
    "fuldmagt changed in the national register": "why_fuldmagt_register_changed",
    "the citizen's own overview of their fuldmagter": "why_own_fuldmagter",
    "the holder's overview of the fuldmagter they hold": "why_holder_fuldmagter",
    "the citizen's own record": "why_own_record",
    "to register a fuldmagt given on paper": "why_paper_form",
    "to register or end a fuldmagt": "why_staff_fuldmagt_forms",
}
# purposes the service writes with a person's reason after them -> text key with {reason}
_REASONED = {"fuldmagt on paper: ": "why_fuldmagt_paper", "fuldmagt ended: ": "why_fuldmagt_ended_reason"}
# the purpose form's choices, in both languages: shown in the reader's
_CHOICES = {
    "omsorg": "purpose_care",
    "care": "purpose_care",
    "opfølgning": "purpose_follow_up",
    "follow-up": "purpose_follow_up",
}
_CHOICES.update({"pårørende med fuldmagt": "fuldmagt_purpose", "relative with a power of attorney": "fuldmagt_purpose"})


def what(resource: str, t: Mapping[str, str]) -> str:
    """What an audit entry was about, e.g. "måltidsrapporten" for `GET /reports/citizens/<id>`."""
    key = next((key for pattern, key in _RESOURCES if pattern.search(resource)), "what_data")
    return t[key]


def why(purpose: str, t: Mapping[str, str]) -> str:
    """The purpose of an audit entry in the reader's language (a person's own words as written)."""
    purpose = purpose.strip()
    if not purpose:
        return t["none"]
    if purpose in _SYSTEM_PURPOSES:
        return t[_SYSTEM_PURPOSES[purpose]]
    for prefix, key in _REASONED.items():
        if purpose.startswith(prefix):
            return t[key].format(reason=purpose.removeprefix(prefix))
    choice, _, note = purpose.partition(": ")
    if choice in _CHOICES:
        return t[_CHOICES[choice]] + (f": {note}" if note else "")
    return purpose


def who(
    actor_kind: str, actor_id: uuid.UUID | None, name: str, role: str, reader_id: uuid.UUID, t: Mapping[str, str]
) -> str:
    """Who did it: "dig" for the reader themself, a person's name and role, the robot, the system."""
    if actor_kind == "device":
        return t["actor_device"]
    if actor_kind != "user":
        return t["actor_system"]
    if actor_id == reader_id:
        return t["actor_you"]
    role_word = t.get(f"role_{role}")
    return f"{name} ({role_word})" if role_word else name


def stop_reason(reason: str, t: Mapping[str, str]) -> str | None:
    """Why the robot stopped, for a safety-stop reason code; None for one we have no words for."""
    return t.get(f"stop_{reason}") if re.fullmatch(r"[a-z_]{1,40}", reason) else None


def bowl(name: str, t: Mapping[str, str]) -> str:
    """A bowl as the panel names it: the robot's index 0 is "Skål 1"; a named bowl keeps its name."""
    if re.fullmatch(r"[0-9]{1,3}", name):  # ASCII digits only: str.isdigit() also takes "²", int() does not
        return t["bowl_n"].format(n=int(name) + 1)
    return t["bowl_unknown"] if name == "?" else name
