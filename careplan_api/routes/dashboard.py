"""The municipality dashboard: aggregates over groups of citizens (by unit, by FSIII level) per
closed calendar month, released once and then shown as stored (`careplan_api.dashboard_releases`),
with every group that could single out fewer than five citizens hidden (`careplan_api.dashboard`).
For analysts and administrators; no route here ever shows one person. Each view is audited (without
a citizen). The page accepts the browser's login cookie (`deps.PageAnalystUser`); the JSON route
only the bearer token."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from careplan_api.dashboard import MIN_GROUP_SIZE
from careplan_api.dashboard_releases import MAX_MONTHS, NOT_ASSESSED, month_start, releases
from careplan_api.deps import SESSION_COOKIE, AnalystUser, PageAnalystUser, SessionDep
from careplan_api.i18n import DISPLAY_TZ, counted, negotiate, texts
from careplan_api.models import AuditAction, User, utcnow
from careplan_api.report_plots import bar_svg
from careplan_api.services import audit
from careplan_api.templating import render_page

router = APIRouter(tags=["dashboard"])

Months = Annotated[int, Query(ge=1, le=MAX_MONTHS, description="how many closed months, newest first")]
Purpose = Annotated[str | None, Query(max_length=200)]
DEFAULT_PURPOSE = "aggregate statistics"


def _releases(
    session: Session, user: User, request: Request, months: int, purpose: str | None
) -> tuple[list[dict[str, Any]], datetime]:
    now = utcnow()
    found = releases(session, now, months, request.app.state.settings.dashboard_release_delay_days)
    audit.record(
        session,
        actor=user,
        action=AuditAction.READ,
        resource=f"GET {request.url.path} (aggregates)",
        purpose=(purpose or DEFAULT_PURPOSE).strip()[:200] or DEFAULT_PURPOSE,
    )
    session.commit()
    return found, now


def _labelled(content: dict[str, Any], t: Mapping[str, str]) -> dict[str, Any]:
    """A release with its labels in the page's language."""

    def level(group: dict[str, Any]) -> dict[str, Any]:
        key = "no_level" if group["label"] == NOT_ASSESSED else f"level_{group['label']}"
        return group | {"label": t.get(key, group["label"])}

    return content | {
        "month": month_start(content["period"]).astimezone(DISPLAY_TZ),
        "total": content["total"] | {"label": t["total"]},
        "by_unit": [g | {"label": g["label"] or t["none"]} for g in content["by_unit"]],
        "by_level": [level(g) for g in content["by_level"]],
    }


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(
    request: Request,
    session: SessionDep,
    user: PageAnalystUser,
    months: Months = 6,
    purpose: Purpose = None,
    lang: Annotated[str | None, Query(max_length=8)] = None,
    accept_language: Annotated[str | None, Header(max_length=1000)] = None,
) -> HTMLResponse:
    """Aggregates per closed month, by unit and by assessed FSIII level; small groups are hidden."""
    language = negotiate(lang, accept_language)
    found, _now = _releases(session, user, request, months, purpose)
    t = texts(language)
    shown = [_labelled(content, t) for content in found]
    newest_units = [g for g in shown[0]["by_unit"] if not g["suppressed"]] if shown else []
    chart_alt = counted("dashboard_chart_alt", len(newest_units), language)
    return render_page(
        request,
        "dashboard.html",
        language,
        releases=shown,
        months=months,
        min_group_size=MIN_GROUP_SIZE,
        chart_svg=bar_svg(
            [g["label"] for g in newest_units],
            [g["meals_per_citizen"] or 0.0 for g in newest_units],
            language,
            ylabel=t["meals_per_citizen"],
            title=t["by_unit"],
            description=chart_alt,
        ),
        chart_alt=chart_alt,
        signed_in=SESSION_COOKIE in request.cookies,
    )


@router.get("/dashboard/aggregates.json")
def dashboard_json(
    request: Request, session: SessionDep, user: AnalystUser, months: Months = 6, purpose: Purpose = None
) -> dict[str, object]:
    """The released figures of the newest closed months (suppressed groups have `suppressed: true`
    and no figures); the same numbers, byte for byte, every time they are asked for."""
    found, now = _releases(session, user, request, months, purpose)
    return {"min_group_size": MIN_GROUP_SIZE, "as_of": now.isoformat(), "releases": found}
