"""Fuldmagter as people give and use them (`services.fuldmagt`): the API, and the page
`/fuldmagter` where a logged-in citizen grants, sees and ends theirs, and a holder sees what they
hold and for whom. Staff of a unit register a fuldmagt given on paper, and end one of their unit's
citizens, each with the reason, on the same page (so that staff who log in through the
municipality's OpenID Provider, and have no API token, can) or through the API. Every change is
audited and shows in the citizen's access log and FHIR export at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Header, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse

from careplan_api.deps import SESSION_COOKIE, CurrentUser, FormUser, PageUser, SessionDep
from careplan_api.errors import CareplanError, Forbidden, InvalidInput, NotFound
from careplan_api.i18n import DISPLAY_TZ, Lang, negotiate, texts
from careplan_api.models import AuditAction, Citizen, Fuldmagt, FuldmagtScope, Role, User, utcnow
from careplan_api.page_forms import RESPONSES, FormLang, Short, Text, change_from_form
from careplan_api.schemas import FuldmagtEnd, FuldmagtGrant, FuldmagtOut, HeldFuldmagtOut, PaperFuldmagt
from careplan_api.services import audit
from careplan_api.services import fuldmagt as fuldmagter
from careplan_api.services.access import visible_citizens
from careplan_api.templating import render_page

router = APIRouter(prefix="/api/v1", tags=["fuldmagter"])
page_router = APIRouter(tags=["fuldmagt pages"])

LangQuery = Annotated[str | None, Query(max_length=8, description="da (default) or en")]
AcceptLanguage = Annotated[str | None, Header(max_length=1000)]
OWN_OVERVIEW = "the citizen's own overview of their fuldmagter"
HOLDER_OVERVIEW = "the holder's overview of the fuldmagter they hold"
STAFF_FORMS = "to register or end a fuldmagt"


def _citizen_of(user: User) -> uuid.UUID:
    if user.role is not Role.CITIZEN or user.citizen_id is None:
        raise Forbidden("only a citizen has fuldmagter they have granted; a holder sees theirs at /fuldmagter/held")
    return user.citizen_id


def _granted(session: SessionDep, user: User) -> list[Fuldmagt]:
    citizen_id = _citizen_of(user)
    rows = fuldmagter.granted_for(session, citizen_id)
    audit.record(
        session, actor=user, action=AuditAction.READ, resource="fuldmagter", citizen_id=citizen_id, purpose=OWN_OVERVIEW
    )
    session.commit()
    return rows


@dataclass(frozen=True)
class UnitCitizen:
    """A citizen of a staff member's unit, and the fuldmagter over them that are valid now."""

    citizen: Citizen
    valid: list[Fuldmagt]


def _unit_citizens(session: SessionDep, user: User, now: datetime) -> list[UnitCitizen]:
    """The citizens of a staff member's unit and their valid fuldmagter, for the paper form's choice
    and the end forms (each citizen sees it in their access log)."""
    query = visible_citizens(user)
    rows = list(session.scalars(query)) if query is not None else []
    audit.record_listing(session, user, "GET /fuldmagter", STAFF_FORMS, [c.id for c in rows])
    session.commit()
    return [UnitCitizen(c, [f for f in fuldmagter.granted_for(session, c.id) if f.is_valid_at(now)]) for c in rows]


def _held(session: SessionDep, user: User) -> list[fuldmagter.Held]:
    if user.role is not Role.RELATIVE:
        raise Forbidden("only a relative's login holds fuldmagter")
    rows = fuldmagter.held_by(session, user)
    audit.record_listing(session, user, "fuldmagter held", HOLDER_OVERVIEW, [h.citizen.id for h in rows])
    session.commit()
    return rows


@router.get("/fuldmagter/granted", response_model=list[FuldmagtOut])
def list_granted(session: SessionDep, user: CurrentUser) -> list[Fuldmagt]:
    """Every fuldmagt the logged-in citizen has given (valid, expired or ended), newest first."""
    return _granted(session, user)


@router.post("/fuldmagter/granted", response_model=FuldmagtOut, status_code=status.HTTP_201_CREATED)
def grant(session: SessionDep, user: CurrentUser, body: FuldmagtGrant) -> Fuldmagt:
    """The logged-in citizen gives a person with a relative's login a fuldmagt until `valid_until`."""
    fuldmagt = fuldmagter.grant_by_citizen(
        session, user, body.holder_username, body.holder_name, FuldmagtScope(body.scope), body.valid_until
    )
    session.commit()
    return fuldmagt


@router.get("/fuldmagter/held", response_model=list[HeldFuldmagtOut])
def list_held(session: SessionDep, user: CurrentUser) -> list[HeldFuldmagtOut]:
    """Every fuldmagt the logged-in relative holds, and for whom."""
    return [
        HeldFuldmagtOut.model_validate(
            {**FuldmagtOut.model_validate(h.fuldmagt).model_dump(), "citizen_name": h.citizen.name}
        )
        for h in _held(session, user)
    ]


@router.post("/fuldmagter/{fuldmagt_id}/end", response_model=FuldmagtOut)
def end(session: SessionDep, user: CurrentUser, fuldmagt_id: uuid.UUID, body: FuldmagtEnd | None = None) -> Fuldmagt:
    """End a fuldmagt now (its citizen, its holder, staff of the citizen's unit with the reason, an
    administrator); the holder's next request is refused."""
    fuldmagt = fuldmagter.end(session, user, fuldmagt_id, body.reason if body else None)
    session.commit()
    return fuldmagt


@router.post("/citizens/{citizen_id}/fuldmagter/paper", response_model=FuldmagtOut, status_code=status.HTTP_201_CREATED)
def register_paper(session: SessionDep, user: CurrentUser, citizen_id: uuid.UUID, body: PaperFuldmagt) -> Fuldmagt:
    """Staff of the citizen's unit register a fuldmagt the citizen gave on paper, with the reason (audited)."""
    fuldmagt = fuldmagter.register_paper(
        session,
        user,
        citizen_id,
        body.holder_username,
        body.holder_name,
        FuldmagtScope(body.scope),
        body.valid_until,
        body.reason,
    )
    session.commit()
    return fuldmagt


def _page(
    request: Request, session: SessionDep, user: User, language: Lang, error: str | None = None, done: str | None = None
) -> HTMLResponse:
    now = utcnow()
    granted = _granted(session, user) if user.role is Role.CITIZEN else []
    held = _held(session, user) if user.role is Role.RELATIVE else []
    citizens = _unit_citizens(session, user, now) if user.role is Role.STAFF else []
    page = render_page(
        request,
        "fuldmagter.html",
        language,
        user=user,
        granted=granted,
        held=held,
        citizens=citizens,
        now=now,
        scopes=[s.value for s in FuldmagtScope],
        error=error,
        done=done,
        min_date=(now.astimezone(DISPLAY_TZ).date()).isoformat(),
        report_query=urlencode({"lang": language.value, "purpose": texts(language)["fuldmagt_purpose"]}),
        signed_in=SESSION_COOKIE in request.cookies,
        page_url="/fuldmagter" if error else None,  # the page again, answering a form
    )
    if error:
        page.status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
    return page


@page_router.get("/fuldmagter", response_class=HTMLResponse)
def fuldmagter_page(
    request: Request,
    session: SessionDep,
    user: PageUser,
    lang: LangQuery = None,
    done: Annotated[str | None, Query(pattern="^(granted|ended|paper)$")] = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    """The citizen's fuldmagter (grant, see, end), the holder's (see, give back), or staff's paper form."""
    return _page(request, session, user, negotiate(lang, accept_language), done=done)


def _end_of_day(day: str) -> datetime:
    """The last moment of a date (YYYY-MM-DD) in Danish time: a fuldmagt 'until 31 December' covers that day."""
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        raise InvalidInput("date") from None
    return datetime.combine(parsed, time(23, 59, 59), tzinfo=DISPLAY_TZ)


def _from_form(
    request: Request, session: SessionDep, user: User, language: Lang, act: Callable[[], object], done: str, form: str
) -> HTMLResponse | RedirectResponse:
    """Do a form's change: back to the page, which shows it, or the page again saying what to
    correct (`form`'s texts `{form}_error_holder|role|form`, else the citizen's form's)."""
    t = texts(language)

    def again(error: CareplanError) -> HTMLResponse:
        kind = "holder" if isinstance(error, NotFound) else "role" if isinstance(error, Forbidden) else "form"
        key = f"{form}_error_{kind}"
        return _page(request, session, user, language, error=t[key if key in t else f"fuldmagt_error_{kind}"])

    return change_from_form(session, act, f"/fuldmagter?lang={language.value}&done={done}", again)


def _scope(scope: str) -> FuldmagtScope:
    if scope not in {s.value for s in FuldmagtScope}:
        raise InvalidInput("scope")
    return FuldmagtScope(scope)


@page_router.post(
    "/fuldmagter",
    response_class=HTMLResponse,
    response_model=None,
    status_code=status.HTTP_303_SEE_OTHER,
    responses=RESPONSES,
)
def grant_from_page(
    request: Request,
    session: SessionDep,
    user: FormUser,
    holder_name: Text = "",
    holder_username: Text = "",
    scope: Short = "",
    valid_until: Short = "",
    lang: FormLang = None,
) -> HTMLResponse | RedirectResponse:
    """The citizen's form: give a fuldmagt; back to the page, which shows it."""

    def grant() -> object:
        until = _end_of_day(valid_until)
        return fuldmagter.grant_by_citizen(session, user, holder_username, holder_name, _scope(scope), until)

    return _from_form(request, session, user, negotiate(lang, None), grant, "granted", "fuldmagt")


@page_router.post(
    "/fuldmagter/paper",
    response_class=HTMLResponse,
    response_model=None,
    status_code=status.HTTP_303_SEE_OTHER,
    responses=RESPONSES,
)
def register_paper_from_page(
    request: Request,
    session: SessionDep,
    user: FormUser,
    citizen: Short = "",
    holder_name: Text = "",
    holder_username: Text = "",
    scope: Short = "",
    valid_until: Short = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    lang: FormLang = None,
) -> HTMLResponse | RedirectResponse:
    """Staff's form: register a fuldmagt the citizen gave on paper, with the reason (audited)."""

    def register() -> object:
        try:
            citizen_id = uuid.UUID(citizen)
        except ValueError:
            raise InvalidInput("citizen") from None
        until = _end_of_day(valid_until) if valid_until else None
        return fuldmagter.register_paper(
            session, user, citizen_id, holder_username, holder_name, _scope(scope), until, reason
        )

    return _from_form(request, session, user, negotiate(lang, None), register, "paper", "paper")


@page_router.post(
    "/fuldmagter/{fuldmagt_id}/end",
    response_class=HTMLResponse,
    response_model=None,
    status_code=status.HTTP_303_SEE_OTHER,
    responses=RESPONSES,
)
def end_from_page(
    request: Request,
    session: SessionDep,
    user: FormUser,
    fuldmagt_id: uuid.UUID,
    reason: Annotated[str | None, Form(max_length=2000)] = None,
    lang: FormLang = None,
) -> HTMLResponse | RedirectResponse:
    """End a fuldmagt from the page: the citizen's, the holder giving it back, or staff of the
    citizen's unit with the reason."""
    language = negotiate(lang, None)
    return _from_form(
        request, session, user, language, lambda: fuldmagter.end(session, user, fuldmagt_id, reason), "ended", "end"
    )
