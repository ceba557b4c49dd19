"""Meal report pages of one citizen (HTML, Danish or English), the trend plot (SVG), and the
citizen's access log as a page.

Reports: staff of the citizen's unit, the citizen, and relatives with a valid fuldmagt for the care
plan; the access log: the same with the fuldmagt scope for the audit log, and administrators
(`services.access`). Every view is audited with its purpose (`purpose` query or `X-Purpose`).
The pages accept the browser's login cookie as well as the bearer token (`deps.get_page_caller`);
a page opened without a purpose shows a form asking why, and reads nothing until it is answered.

Staff of the citizen's unit also assess the FSIII goal and write a note on the report page
(`page_forms`: the browser's login cookie is all that staff of the municipality's OpenID Provider
have), through the services the API uses, audited as the API's writes are (`deps.check_access`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Header, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from careplan_api import schemas
from careplan_api.care_record import citizen_effect, load_meal_summaries, stored_meal_cache
from careplan_api.deps import (
    MAX_PURPOSE_CHARS,
    MIN_PURPOSE_CHARS,
    SESSION_COOKIE,
    CitizenAccess,
    CitizenId,
    FormUser,
    PageReadAuditLog,
    PageReadCarePlan,
    PurposeNeeded,
    SessionDep,
    check_access,
    purpose_missing,
    valid_purpose,
)
from careplan_api.errors import CareplanError, InvalidInput
from careplan_api.fhir.records import GoalAssessment
from careplan_api.i18n import DISPLAY_TZ, Lang, long_date, negotiate, texts
from careplan_api.meal_summary import AssistanceLevel, MealSummary
from careplan_api.models import AuditAction, Role, User, utcnow
from careplan_api.page_forms import RESPONSES, FormLang, Short, change_from_form
from careplan_api.report_plots import trend_svg
from careplan_api.reports import MAX_TREND_WEEKS, meal_rows, period_summary, weekly_trend
from careplan_api.services import audit, people
from careplan_api.services.access import Need
from careplan_api.services.people import current_goal
from careplan_api.templating import PAGE_HEADERS, render_page

router = APIRouter(prefix="/reports", tags=["reports"])

Weeks = Annotated[int, Query(ge=1, le=MAX_TREND_WEEKS, description="how many weeks back, this week included")]
LangQuery = Annotated[str | None, Query(max_length=8, description="da (default) or en")]
AcceptLanguage = Annotated[str | None, Header(max_length=1000)]
NOTES_SHOWN = 20  # the newest notes on the staff's report page
Body = TypeVar("Body", bound=BaseModel)
MealLimit = Annotated[int, Query(ge=1, le=1000, description="at most this many meals in the meal table, newest first")]


def _period(weeks: int, now: datetime) -> tuple[datetime, datetime]:
    today = now.astimezone(DISPLAY_TZ).date()
    first_monday = today - timedelta(days=today.weekday(), weeks=weeks - 1)
    return datetime.combine(first_monday, datetime.min.time(), tzinfo=DISPLAY_TZ), now


def _ask_purpose(request: Request, language: Lang, needed: PurposeNeeded) -> HTMLResponse:
    """The form asking why the reader opens the page; it sends the same URL again with `purpose`."""
    keep = {k: v for k, v in request.query_params.items() if k not in ("purpose", "purpose_note", "lang")}
    return render_page(
        request,
        "purpose.html",
        language,
        action=request.url.path,
        keep=keep,
        invalid=needed.invalid,
        min_chars=MIN_PURPOSE_CHARS,
        max_chars=MAX_PURPOSE_CHARS,
        signed_in=SESSION_COOKIE in request.cookies,
    )


def _reader(access: CitizenAccess) -> dict[str, Any]:
    """Who reads: the citizen themself (`own`: the page speaks to them), a relative (the citizen's
    name), or staff and administrators (the pseudonym only)."""
    user = access.user
    own = user.role is Role.CITIZEN and user.citizen_id == access.citizen.id
    return {
        "own": own,
        "citizen_name": access.citizen.name if own or user.role is Role.RELATIVE else None,
        "reader_id": user.id,
    }


def _meals(
    request: Request, access: CitizenAccess, session: SessionDep, weeks: int
) -> tuple[list[MealSummary], datetime, datetime]:
    since, now = _period(weeks, utcnow())
    meals = load_meal_summaries(session, access.citizen.id, since=since, cache=stored_meal_cache(request.app.state))
    return meals, since, now


@router.get("/citizens/{citizen_id}", response_class=HTMLResponse)
def citizen_report(
    request: Request,
    access: PageReadCarePlan,
    session: SessionDep,
    weeks: Weeks = 12,
    meals: MealLimit = 100,
    lang: LangQuery = None,
    done: Annotated[str | None, Query(pattern="^(goal|note)$", description="the staff's form that was saved")] = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    """The meal report: summary, FSIII goal, weekly trend (plot and table) and the meals; for staff
    of the citizen's unit also the notes, and the forms for a new assessment and a note."""
    language = negotiate(lang, accept_language)
    if isinstance(access, PurposeNeeded):
        return _ask_purpose(request, language, access)
    return _report_page(request, access, session, language, weeks, meals, done=done)


def _report_page(
    request: Request,
    access: CitizenAccess,
    session: SessionDep,
    language: Lang,
    weeks: int = 12,
    meals: int = 100,
    *,
    done: str | None = None,
    error: str | None = None,
) -> HTMLResponse:
    summaries, since, now = _meals(request, access, session, weeks)
    trend = weekly_trend(summaries, weeks=weeks, until=now.astimezone(DISPLAY_TZ).date())
    goal_row = current_goal(session, access.citizen.id)
    goal = (
        GoalAssessment(
            AssistanceLevel(goal_row.level),
            goal_row.assessed_at.astimezone(DISPLAY_TZ).date(),
            note=goal_row.goal_text or None,
        )
        if goal_row is not None
        else None
    )
    t = texts(language)
    effect = citizen_effect(session, access.citizen.id, weeks, stored_meal_cache(request.app.state))
    writer = access.user.role is Role.STAFF  # read access makes them staff of the citizen's unit
    report_url = _report_url(request, access)
    page = render_page(
        request,
        "report.html",
        language,
        page_url=f"{report_url}?{urlencode({'purpose': access.purpose})}" if error else None,
        effect=effect,
        citizen_id=str(access.citizen.id),
        purpose=access.purpose,
        weeks=weeks,
        period_from=long_date(since.date(), language),
        period_to=long_date(now.astimezone(DISPLAY_TZ).date(), language),
        summary=period_summary(summaries),
        goal=goal,
        trend=trend,
        trend_svg=trend_svg(trend, language),
        trend_alt=t["trend_alt"].format(
            first=t["week_label"].format(week=trend[0].week, year=trend[0].year),
            last=t["week_label"].format(week=trend[-1].week, year=trend[-1].year),
        ),
        trend_svg_url=request.app.url_path_for("citizen_trend_svg", citizen_id=str(access.citizen.id))
        + "?"
        + urlencode({"weeks": weeks, "lang": language.value, "purpose": access.purpose}),
        rows=meal_rows(summaries)[:meals],
        **_reader(access),
        access_log_url=request.app.url_path_for("citizen_access_log", citizen_id=str(access.citizen.id))
        + "?"
        + urlencode({"lang": language.value, "purpose": access.purpose}),
        signed_in=SESSION_COOKIE in request.cookies,
        writer=writer,
        notes=people.notes(session, access.citizen.id, NOTES_SHOWN) if writer else [],
        report_url=report_url,
        done=done,
        error=error,
    )
    if error:
        page.status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
    return page


def _report_url(request: Request, access: CitizenAccess) -> str:
    return request.app.url_path_for("citizen_report", citizen_id=str(access.citizen.id))


def _write_from_page(
    request: Request,
    session: SessionDep,
    user: User,
    citizen_id: uuid.UUID,
    purpose: str,
    lang: str | None,
    write: Callable[[CitizenAccess], object],
    form: str,
) -> HTMLResponse | RedirectResponse:
    """A staff form on the report page: the access check and audit entry of the API's writes
    (`Need.WRITE_CARE_PLAN`, with the report's purpose), then `write`; back to the report, which
    shows it, or the report again saying what to correct (its reading audited), or, for anyone
    but staff of the citizen's unit, a page saying who may (403)."""
    language = negotiate(lang, None)
    purpose = purpose.strip()
    if not valid_purpose(purpose):
        raise purpose_missing()  # the report's form always sends the purpose it was opened with
    resource = f"{request.method} {request.url.path}"
    try:
        access = check_access(session, user, purpose, citizen_id, Need.WRITE_CARE_PLAN, AuditAction.UPDATE, resource)
    except CareplanError:
        page = render_page(
            request,
            "refused.html",
            language,
            page_url="/login",
            message=texts(language)["report_error_role"],
            signed_in=SESSION_COOKIE in request.cookies,
        )
        page.status_code = status.HTTP_403_FORBIDDEN
        return page

    def again(_error: CareplanError) -> HTMLResponse:
        shown = check_access(session, user, purpose, citizen_id, Need.CARE_PLAN, AuditAction.READ, resource)
        return _report_page(request, shown, session, language, error=texts(language)[f"{form}_error_form"])

    done = _report_url(request, access) + "?" + urlencode({"lang": language.value, "purpose": purpose, "done": form})
    return change_from_form(session, lambda: write(access), f"{done}#{form}-form", again)


def _valid(model: type[Body], values: dict[str, object]) -> Body:
    """The form's values checked as the API checks its body (`InvalidInput` if they are not)."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise InvalidInput(str(exc)) from None


Purpose = Annotated[str, Form(max_length=MAX_PURPOSE_CHARS)]


@router.post(
    "/citizens/{citizen_id}/goal",
    response_class=HTMLResponse,
    response_model=None,
    status_code=status.HTTP_303_SEE_OTHER,
    responses=RESPONSES | {403: {"description": "a page saying who may"}},
)
def assess_goal_from_page(
    request: Request,
    session: SessionDep,
    user: FormUser,
    citizen_id: CitizenId,
    purpose: Purpose = "",
    level: Short = "",
    goal_text: Annotated[str, Form(max_length=4000)] = "",
    hand_feeding_minutes: Short = "",
    lang: FormLang = None,
) -> HTMLResponse | RedirectResponse:
    """Staff of the citizen's unit record a new FSIII "Spise og drikke" assessment (as `PUT
    /api/v1/citizens/{id}/goal`); minutes may be written with a decimal comma."""

    def assess(access: CitizenAccess) -> object:
        minutes = hand_feeding_minutes.strip().replace(",", ".") or None
        body = _valid(schemas.GoalAssessment, {"level": level, "goal_text": goal_text, "hand_feeding_minutes": minutes})
        return people.assess_goal(
            session, access.citizen.id, body.level, body.goal_text, access.user, body.hand_feeding_minutes
        )

    return _write_from_page(request, session, user, citizen_id, purpose, lang, assess, "goal")


@router.post(
    "/citizens/{citizen_id}/notes",
    response_class=HTMLResponse,
    response_model=None,
    status_code=status.HTTP_303_SEE_OTHER,
    responses=RESPONSES | {403: {"description": "a page saying who may"}},
)
def add_note_from_page(
    request: Request,
    session: SessionDep,
    user: FormUser,
    citizen_id: CitizenId,
    purpose: Purpose = "",
    text: Annotated[str, Form(max_length=20_000)] = "",
    lang: FormLang = None,
) -> HTMLResponse | RedirectResponse:
    """Staff of the citizen's unit add a note (as `POST /api/v1/citizens/{id}/notes`)."""

    def add(access: CitizenAccess) -> object:
        body = _valid(schemas.NoteCreate, {"text": text})
        return people.add_note(session, access.citizen.id, access.user, body.text)

    return _write_from_page(request, session, user, citizen_id, purpose, lang, add, "note")


@router.get(
    "/citizens/{citizen_id}/trend.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}, "description": "the weekly trend plot"}},
)
def citizen_trend_svg(
    request: Request,
    access: PageReadCarePlan,
    session: SessionDep,
    weeks: Weeks = 12,
    lang: LangQuery = None,
    accept_language: AcceptLanguage = None,
) -> Response:
    """Bites taken per meal and pace per week, as SVG (the report page shows it with a data table)."""
    if isinstance(access, PurposeNeeded):
        raise purpose_missing()  # an image cannot ask; the report page links it with its purpose
    language = negotiate(lang, accept_language)
    summaries, _since, now = _meals(request, access, session, weeks)
    trend = weekly_trend(summaries, weeks=weeks, until=now.astimezone(DISPLAY_TZ).date())
    svg = '<?xml version="1.0" encoding="utf-8"?>\n' + trend_svg(trend, language)
    return Response(svg, media_type="image/svg+xml", headers=PAGE_HEADERS | {"Content-Language": language.value})


@router.get("/citizens/{citizen_id}/access-log", response_class=HTMLResponse)
def citizen_access_log(
    request: Request,
    access: PageReadAuditLog,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="at most this many entries, newest first")] = 200,
    lang: LangQuery = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    """Who has read, changed or exported the citizen's data, when and why: for the citizen, a
    relative whose fuldmagt covers the audit log, staff of the unit and administrators."""
    language = negotiate(lang, accept_language)
    if isinstance(access, PurposeNeeded):
        return _ask_purpose(request, language, access)
    entries = audit.entries_for_citizen(session, access.citizen.id, limit)
    return render_page(
        request,
        "access_log.html",
        language,
        citizen_id=str(access.citizen.id),
        purpose=access.purpose,
        limit=limit,
        entries=entries,
        **_reader(access),
        signed_in=SESSION_COOKIE in request.cookies,
    )
