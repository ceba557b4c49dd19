"""Meal report pages of one citizen (HTML, Danish or English), the trend plot (SVG), and the
citizen's access log as a page.

Reports: staff of the citizen's unit, the citizen, and relatives with a valid fuldmagt for the care
plan; the access log: the same with the fuldmagt scope for the audit log, and administrators
(`services.access`). Every view is audited with its purpose (`purpose` query or `X-Purpose`).
The pages accept the browser's login cookie as well as the bearer token (`deps.get_page_caller`);
a page opened without a purpose shows a form asking why, and reads nothing until it is answered.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, Response

from careplan_api.care_record import citizen_effect, load_meal_summaries, stored_meal_cache
from careplan_api.deps import (
    MAX_PURPOSE_CHARS,
    MIN_PURPOSE_CHARS,
    SESSION_COOKIE,
    CitizenAccess,
    PageReadAuditLog,
    PageReadCarePlan,
    PurposeNeeded,
    SessionDep,
    purpose_missing,
)
from careplan_api.fhir.records import GoalAssessment
from careplan_api.i18n import DISPLAY_TZ, Lang, long_date, negotiate, texts
from careplan_api.meal_summary import AssistanceLevel, MealSummary
from careplan_api.models import Role, utcnow
from careplan_api.report_plots import trend_svg
from careplan_api.reports import MAX_TREND_WEEKS, meal_rows, period_summary, weekly_trend
from careplan_api.services import audit
from careplan_api.services.people import current_goal
from careplan_api.templating import PAGE_HEADERS, render_page

router = APIRouter(prefix="/reports", tags=["reports"])

Weeks = Annotated[int, Query(ge=1, le=MAX_TREND_WEEKS, description="how many weeks back, this week included")]
LangQuery = Annotated[str | None, Query(max_length=8, description="da (default) or en")]
AcceptLanguage = Annotated[str | None, Header(max_length=1000)]
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


def _reader(access: CitizenAccess) -> dict[str, object]:
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
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    """The meal report: summary, FSIII goal, weekly trend (plot and table) and the meals."""
    language = negotiate(lang, accept_language)
    if isinstance(access, PurposeNeeded):
        return _ask_purpose(request, language, access)
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
    return render_page(
        request,
        "report.html",
        language,
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
    )


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
