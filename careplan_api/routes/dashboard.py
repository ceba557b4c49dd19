"""The municipality dashboard: aggregates over groups of citizens (by unit, by FSIII level), with
groups smaller than five suppressed (`careplan_api.dashboard`). For analysts and administrators;
no route here ever shows one person. Each view is audited (without a citizen). The page accepts the
browser's login cookie (`deps.PageAnalystUser`); the JSON route only the bearer token."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from careplan_api.dashboard import MIN_GROUP_SIZE, CitizenStats, Dashboard, build_dashboard
from careplan_api.deps import SESSION_COOKIE, AnalystUser, PageAnalystUser, SessionDep
from careplan_api.i18n import DISPLAY_TZ, Lang, local_date, negotiate, texts
from careplan_api.models import AuditAction, Citizen, EatingGoal, Meal, Unit, User, utcnow
from careplan_api.report_plots import bar_svg
from careplan_api.reports import MAX_TREND_WEEKS
from careplan_api.services import audit
from careplan_api.templating import render_page

router = APIRouter(tags=["dashboard"])

Weeks = Annotated[int, Query(ge=1, le=MAX_TREND_WEEKS, description="how many weeks back, this week included")]
DEFAULT_PURPOSE = "aggregate statistics"


def citizen_stats(session: Session, since: datetime, until: datetime, no_unit_label: str) -> list[CitizenStats]:
    """Per-citizen figures for the citizens who had at least one meal that started in [since, until)."""
    meals = session.execute(
        select(Meal.citizen_id, Meal.started_at, Meal.ended_at, Meal.bites_taken, Meal.safety_stops).where(
            Meal.started_at >= since, Meal.started_at < until
        )
    )
    per_citizen: dict[uuid.UUID, list[float]] = defaultdict(lambda: [0, 0, 0.0, 0])
    for citizen_id, started_at, ended_at, bites_taken, safety_stops in meals:
        figures = per_citizen[citizen_id]
        figures[0] += 1
        figures[1] += bites_taken
        if started_at is not None and ended_at is not None:
            figures[2] += (ended_at - started_at).total_seconds()
        figures[3] += safety_stops
    if not per_citizen:
        return []
    units = dict(
        session.execute(
            select(Citizen.id, Unit.name)
            .outerjoin(Unit, Unit.id == Citizen.unit_id)
            .where(Citizen.id.in_(list(per_citizen)))
        ).all()
    )
    levels: dict[uuid.UUID, int] = {}
    for citizen_id, level in session.execute(
        select(EatingGoal.citizen_id, EatingGoal.level).order_by(EatingGoal.assessed_at, EatingGoal.id)
    ):
        levels[citizen_id] = level  # newest assessment wins
    return [
        CitizenStats(
            unit=units.get(citizen_id) or no_unit_label,
            assessed_level=levels.get(citizen_id),
            meals=int(figures[0]),
            bites_taken=int(figures[1]),
            duration_s=float(figures[2]),
            safety_stops=int(figures[3]),
        )
        for citizen_id, figures in per_citizen.items()
    ]


def _dashboard(
    session: Session, user: User, request: Request, weeks: int, purpose: str | None, lang: Lang
) -> tuple[Dashboard, datetime, datetime]:
    now = utcnow()
    today = now.astimezone(DISPLAY_TZ).date()
    since = datetime.combine(
        today - timedelta(days=today.weekday(), weeks=weeks - 1), datetime.min.time(), tzinfo=DISPLAY_TZ
    )
    t = texts(lang)
    stats = citizen_stats(session, since, now, no_unit_label=t["none"])
    dashboard = build_dashboard(stats, min_group_size=MIN_GROUP_SIZE, no_level_label=t["no_level"])
    audit.record(
        session,
        actor=user,
        action=AuditAction.READ,
        resource=f"GET {request.url.path} (aggregates)",
        purpose=(purpose or DEFAULT_PURPOSE).strip()[:200] or DEFAULT_PURPOSE,
    )
    session.commit()
    return dashboard, since, now


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(
    request: Request,
    session: SessionDep,
    user: PageAnalystUser,
    weeks: Weeks = 12,
    purpose: Annotated[str | None, Query(max_length=200)] = None,
    lang: Annotated[str | None, Query(max_length=8)] = None,
    accept_language: Annotated[str | None, Header(max_length=1000)] = None,
) -> HTMLResponse:
    """Aggregates over citizens by unit and by assessed FSIII level; groups under five are hidden."""
    language = negotiate(lang, accept_language)
    dashboard, since, now = _dashboard(session, user, request, weeks, purpose, language)
    t = texts(language)
    dashboard = replace(
        dashboard,
        by_level=tuple(
            replace(g, label=t[f"level_{g.label}"]) if f"level_{g.label}" in t else g for g in dashboard.by_level
        ),
    )
    shown = [g for g in dashboard.by_unit if not g.suppressed]
    return render_page(
        request,
        "dashboard.html",
        language,
        dashboard=dashboard,
        total=replace(dashboard.total, label=t["total"]),
        weeks=weeks,
        period_from=local_date(since.astimezone(DISPLAY_TZ).date()),
        period_to=local_date(now.astimezone(DISPLAY_TZ).date()),
        chart_svg=bar_svg(
            [g.label for g in shown],
            [g.meals_per_citizen or 0.0 for g in shown],
            language,
            ylabel=t["meals_per_citizen"],
            title=t["by_unit"],
            description=t["dashboard_chart_alt"].format(n=len(shown)),
        ),
        chart_alt=t["dashboard_chart_alt"].format(n=len(shown)),
        signed_in=SESSION_COOKIE in request.cookies,
    )


@router.get("/dashboard/aggregates.json")
def dashboard_json(
    request: Request,
    session: SessionDep,
    user: AnalystUser,
    weeks: Weeks = 12,
    purpose: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, object]:
    """The dashboard's figures as JSON (suppressed groups have `suppressed: true` and no figures)."""
    dashboard, since, now = _dashboard(session, user, request, weeks, purpose, Lang.EN)
    return {"since": since.isoformat(), "until": now.isoformat(), **asdict(dashboard)}
