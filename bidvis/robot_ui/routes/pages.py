"""Server-rendered pages: the staff set-up page, the citizen's panel and the pairing page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bidvis.robot_ui.deps import (
    PANEL_COOKIE,
    SESSION_COOKIE,
    Login,
    Panels,
    Session,
    StaffActor,
    panel_from_token,
    staff_from_cookie,
)
from bidvis.robot_ui.panels import panel_as_dict
from bidvis.robot_ui.texts import (
    Language,
    choice_words,
    field_words,
    idle_text,
    panel_words,
    parse_language,
    staff_text,
    staff_words,
    state_words,
)
from controller.config import TriggerKind
from controller.feeding import FeedingState

router = APIRouter(include_in_schema=False)
PANEL_COOKIE_MAX_AGE_S = 400 * 24 * 3600  # the longest a browser keeps a cookie; renewed at every visit


def _other(language: Language) -> Language:
    return Language.ENGLISH if language is Language.DANISH else Language.DANISH


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/staff")


@router.get("/staff", response_class=HTMLResponse)
def staff(
    request: Request, session: Session, staff: StaffActor, login: Login, panels: Panels, lang: str | None = None
) -> HTMLResponse:
    """The set-up page (staff only: without a login, `/login` answers instead). Danish unless
    `lang=en`; the choice is kept for the login session."""
    kept = login.sessions.get(request.cookies.get(SESSION_COOKIE))
    if lang is not None and kept is not None:
        kept.language = parse_language(lang).value
    language = parse_language(lang or (kept.language if kept else None))
    return request.app.state.templates.TemplateResponse(
        request,
        "staff.html",
        {
            "t": staff_words(language),
            "f": field_words(language),
            "c": choice_words(language),
            "say": lambda key, **values: staff_text(key, language, **values),
            "lang": language.value,
            "other_lang": _other(language).value,
            "staff": staff.name,
            "status": session.status(language),
            "calibration": session.documents.calibration,
            "profile": session.documents.profile,
            "trigger_kinds": [k.value for k in TriggerKind],
            "panels": [panel_as_dict(p) for p in panels.registry.panels()],
            "fingerprint": request.app.state.site.fingerprint,
            "idle_text": idle_text(login.sessions.idle_timeout_s, language),
        },
    )


@router.get("/panel", response_class=HTMLResponse, response_model=None)
def panel(
    request: Request,
    session: Session,
    lang: str | None = None,
    scan: str | None = None,
    scan_ms: Annotated[int, Query(ge=300, le=10_000, description="automatic scanning: ms per button")] = 1500,
) -> Response:
    """The citizen's panel, for a paired panel (or staff); any other client is sent to the
    pairing page. `scan=auto` starts automatic switch scanning at `scan_ms` per button."""
    actor = panel_from_token(request) or staff_from_cookie(request, touch=False)
    language = parse_language(lang)
    if actor is None:
        return RedirectResponse(f"/pair?lang={language.value}", status_code=303)
    profile = session.documents.profile
    meal = session.meal.status()
    tone, words = state_words(None if meal["state"] is None else FeedingState(meal["state"]), language)
    response = request.app.state.templates.TemplateResponse(
        request,
        "panel.html",
        {
            "t": panel_words(language),
            "lang": language.value,
            "other_lang": _other(language).value,
            "tone": tone.value,
            "words": words,
            "bowls": [b for b in profile.bowls_used if b < len(session.documents.calibration.bowls)],
            "next_bite": profile.trigger_kind is TriggerKind.PANEL,
            "auto_scan": scan == "auto",
            "scan_ms": scan_ms,
            "other_url": _same_page(request, lang=_other(language).value),
        },
    )
    token = request.cookies.get(PANEL_COOKIE)
    if token is not None and actor.kind.value == "panel":  # keep the browser panel paired while in use
        set_panel_cookie(request, response, token)
    return response


@router.get("/pair", response_class=HTMLResponse)
def pair_page(request: Request, lang: str | None = None) -> HTMLResponse:
    """The only page an unpaired client sees: enter the code staff show on the staff page."""
    language = parse_language(lang)
    return request.app.state.templates.TemplateResponse(
        request,
        "pair.html",
        {"t": panel_words(language), "lang": language.value, "other_lang": _other(language).value},
    )


def set_panel_cookie(request: Request, response: Response, token: str) -> None:
    """The browser panel's credential: HttpOnly (no script reads it), SameSite=Strict."""
    response.set_cookie(
        PANEL_COOKIE,
        token,
        max_age=PANEL_COOKIE_MAX_AGE_S,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.app.state.site.https,
    )


def _same_page(request: Request, **params: str) -> str:
    """This page's path and query with `params` set (a relative link keeps the scanning settings)."""
    url = request.url.include_query_params(**params)
    return f"{url.path}?{url.query}"
