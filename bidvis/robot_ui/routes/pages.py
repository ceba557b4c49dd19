"""Server-rendered pages: the staff set-up page and the citizen's panel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from bidvis.robot_ui.deps import Session, Staff
from bidvis.robot_ui.texts import Language, panel_words, parse_language, staff_words, state_words
from controller.config import TriggerKind
from controller.feeding import FeedingState

router = APIRouter(include_in_schema=False)


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/staff")


@router.get("/staff", response_class=HTMLResponse)
def staff(request: Request, session: Session, staff: Staff, lang: str | None = None) -> HTMLResponse:
    """The set-up page (staff only: without a login, `/login` answers instead). Danish unless
    `lang=en`; the choice is kept for the login session."""
    if lang is not None:
        request.session["lang"] = parse_language(lang).value
    language = parse_language(request.session.get("lang"))
    other = Language.ENGLISH if language is Language.DANISH else Language.DANISH
    return request.app.state.templates.TemplateResponse(
        request,
        "staff.html",
        {
            "t": staff_words(language),
            "lang": language.value,
            "other_lang": other.value,
            "staff": staff,
            "status": session.status(language),
            "calibration": session.documents.calibration,
            "profile": session.documents.profile,
            "trigger_kinds": [k.value for k in TriggerKind],
        },
    )


@router.get("/panel", response_class=HTMLResponse)
def panel(
    request: Request,
    session: Session,
    lang: str | None = None,
    scan: str | None = None,
    scan_ms: Annotated[int, Query(ge=300, le=10_000, description="automatic scanning: ms per button")] = 1500,
) -> HTMLResponse:
    """The citizen's panel; `scan=auto` starts automatic switch scanning at `scan_ms` per button."""
    language = parse_language(lang)
    meal = session.meal.status()
    tone, words = state_words(None if meal["state"] is None else FeedingState(meal["state"]), language)
    other = Language.ENGLISH if language is Language.DANISH else Language.DANISH
    return request.app.state.templates.TemplateResponse(
        request,
        "panel.html",
        {
            "t": panel_words(language),
            "lang": language.value,
            "other_lang": other.value,
            "tone": tone.value,
            "words": words,
            "bowls": [b for b in session.documents.profile.bowls_used if b < len(session.documents.calibration.bowls)],
            "auto_scan": scan == "auto",
            "scan_ms": scan_ms,
            "other_url": _same_page(request, lang=other.value),
        },
    )


def _same_page(request: Request, **params: str) -> str:
    """This page's path and query with `params` set (a relative link keeps the scanning settings)."""
    url = request.url.include_query_params(**params)
    return f"{url.path}?{url.query}"
