"""Logging in (OAuth2 password flow) and out (server-side revocation), for the API and, as
`browser_router`, for a browser: a login page that puts the same access token in a cookie.

Both check passwords through the login throttle (`services.login_throttle`): too many failed logins
for one username or from one client address get 429 with Retry-After, before any password check;
the moment a username or address gets locked is written to the audit log.

The cookie (`deps.SESSION_COOKIE`: HttpOnly, SameSite=Strict, Path=/, Secure by setting) is read
only by GET pages (`deps.get_page_caller`); POSTs here refuse other origins.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Header, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select
from sqlalchemy.orm import Session

from careplan_api.deps import SESSION_COOKIE, CurrentCaller, CurrentUser, SessionDep, SettingsDep, clear_cookie_header
from careplan_api.i18n import Lang, negotiate
from careplan_api.models import AuditAction, Role, User
from careplan_api.schemas import Token, UserOut
from careplan_api.services import audit
from careplan_api.services.access import Need, may_access, visible_citizens
from careplan_api.services.login_throttle import Attempt, LoginLimits, Throttled, ThrottleScope
from careplan_api.services.security import (
    InvalidToken,
    create_access_token,
    revoke_token,
    user_for_token,
    verify_password,
)
from careplan_api.templating import render_page

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
browser_router = APIRouter(tags=["browser login"])

MAX_USERNAME_CHARS = 150
MAX_NEXT_CHARS = 2000


def _find_user(session: Session, username: str) -> User | None:
    if "\x00" in username:  # no username holds it, and PostgreSQL refuses it in a query
        return None
    return session.scalar(select(User).where(User.username == username))


def authenticate(request: Request, session: Session, username: str, password: str) -> User | None:
    """The active user with this username and password, else None (same work either way: argon2
    runs against a dummy hash for unknown names, so timing does not tell which part was wrong)."""
    user = _find_user(session, username[:MAX_USERNAME_CHARS])
    if (
        not verify_password(user.password_hash if user else None, password, request.app.state.password_hasher)
        or user is None
        or not user.is_active
    ):
        return None
    return user


IPV6_THROTTLE_PREFIX = 64  # one subscriber usually holds a whole /64


def client_address(request: Request) -> str:
    """The key the login throttle counts a client under: its address as uvicorn reports it (behind
    a proxy: from X-Forwarded-For of a trusted proxy, `--forwarded-allow-ips`; by default
    127.0.0.1), an IPv6 address as its /64 network, so that one network cannot rotate addresses."""
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{IPV6_THROTTLE_PREFIX}", strict=False))
    return str(address)


def throttled_authenticate(
    request: Request, session: Session, username: str, password: str, resource: str
) -> User | Throttled | None:
    """`authenticate` behind the login throttle: `Throttled` (password not checked) when the username
    or the client address has too many recent failures; a failure that locks one is audit-logged."""
    throttle = request.app.state.login_throttle
    attempt = throttle.begin(username[:MAX_USERNAME_CHARS], client_address(request))
    if isinstance(attempt, Throttled):
        request.app.state.metrics.login_throttled.labels(attempt.scope.value).inc()
        return attempt
    try:
        user = authenticate(request, session, username, password)
    except Exception:
        throttle.abandon(attempt)
        raise
    if user is not None:
        throttle.succeeded(attempt)
        return user
    for scope in throttle.failed(attempt):
        _audit_lock(session, attempt, scope, resource, throttle.limits)
    return None


def _audit_lock(session: Session, attempt: Attempt, scope: ThrottleScope, resource: str, limits: LoginLimits) -> None:
    if scope is ThrottleScope.ACCOUNT:
        account = _find_user(session, attempt.account)
        what, count = f"username {attempt.account!r}", limits.max_failures_per_account
        citizen_id = account.citizen_id if account is not None else None
    else:
        what, count, citizen_id = f"client address {attempt.address}", limits.max_failures_per_address, None
    audit.record(
        session,
        actor=None,
        action=AuditAction.DENIED,
        citizen_id=citizen_id,
        purpose="login throttle",
        resource=f"{resource}: {what} locked after {count} failed logins within {limits.window_s:g} s",
        outcome="throttled",
    )
    session.commit()


def _too_many(throttled: Throttled) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        f"too many failed logins for this {throttled.scope.value}; try again in {throttled.retry_after_s} s",
        headers={"Retry-After": str(throttled.retry_after_s)},
    )


THROTTLED_RESPONSE: dict[int | str, dict[str, Any]] = {
    429: {"description": "too many failed logins for this username or client address; see Retry-After"}
}


@router.post("/token", response_model=Token, responses=THROTTLED_RESPONSE)
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> Token:
    """Exchange username and password (form fields) for a bearer access token (429 after too many failures)."""
    user = throttled_authenticate(request, session, form.username, form.password, "POST /api/v1/auth/token")
    if isinstance(user, Throttled):
        raise _too_many(user)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "wrong username or password", headers={"WWW-Authenticate": "Bearer"}
        )
    token, _claims = create_access_token(user, request.app.state.jwt_key, settings.access_token_ttl_s)
    audit.record(
        session, actor=user, action=AuditAction.LOGIN, resource="POST /api/v1/auth/token", citizen_id=user.citizen_id
    )
    session.commit()
    return Token(access_token=token, token_type="bearer", expires_in=settings.access_token_ttl_s)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(session: SessionDep, caller: CurrentCaller) -> None:
    """Revoke the token used for this request; it is refused from now on."""
    revoke_token(session, caller.claims)
    session.commit()


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> User:
    """The logged-in user."""
    return user


def safe_next(value: str | None) -> str | None:
    """`value` if it is a path on this site (`/…`), else None: no scheme, host, `//` or backslash."""
    if not value or len(value) > MAX_NEXT_CHARS or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or not value.isprintable():
        return None
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else None


def landing_page(session: Session, user: User) -> str:
    """Where a login without `next` goes: analysts and admins to the dashboard; a citizen, or a
    relative with a valid fuldmagt for exactly one citizen, to that citizen's report; everybody else
    to the login page, which shows who is logged in."""
    if user.role in (Role.ANALYST, Role.ADMIN):
        return "/dashboard"
    if user.role in (Role.CITIZEN, Role.RELATIVE):
        query = visible_citizens(user)
        citizens = session.scalars(query.limit(2)).all() if query is not None else []
        if len(citizens) == 1 and may_access(session, user, citizens[0], Need.CARE_PLAN):
            return f"/reports/citizens/{citizens[0].id}"
    return "/login"


def _refuse_cross_site(request: Request) -> None:
    """403 for a form posted from another site (defence in depth beside SameSite=Strict).

    Browsers send `Sec-Fetch-Site`; older ones only `Origin`, which is `null` for a POST from our
    own pages (they send `Referrer-Policy: no-referrer`), so only a foreign host counts there.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if fetch_site is not None:
        foreign = fetch_site not in ("same-origin", "none")
    else:
        foreign = origin not in (None, "null") and urlsplit(origin).netloc != request.headers.get("host")
    if foreign:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this form may only be sent from this site")


def _signed_in_user(request: Request, session: Session) -> User | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return user_for_token(session, token, request.app.state.jwt_key)[0]
    except InvalidToken:
        return None


LangQuery = Annotated[str | None, Query(max_length=8, description="da (default) or en")]
NextQuery = Annotated[
    str | None, Query(max_length=MAX_NEXT_CHARS, description="a local path to go to after logging in")
]
AcceptLanguage = Annotated[str | None, Header(max_length=1000)]


def _login_page(
    request: Request,
    session: Session,
    language: Lang,
    next_path: str | None,
    *,
    failed: bool,
    throttled: Throttled | None = None,
) -> HTMLResponse:
    user = None if failed or throttled else _signed_in_user(request, session)
    page = render_page(
        request,
        "login.html",
        language,
        next_path=next_path or "",
        failed=failed or throttled is not None,
        user=user,
        landing=landing_page(session, user) if user else None,
        signed_in=user is not None,
        retry_after_s=throttled.retry_after_s if throttled else None,
    )
    if throttled:
        page.status_code = status.HTTP_429_TOO_MANY_REQUESTS
        page.headers["Retry-After"] = str(throttled.retry_after_s)
    return page


@browser_router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request,
    session: SessionDep,
    next: NextQuery = None,
    lang: LangQuery = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    """The login form for a browser (or, with a valid login cookie, who is logged in and a logout button)."""
    return _login_page(request, session, negotiate(lang, accept_language), safe_next(next), failed=False)


@browser_router.post(
    "/login",
    response_class=HTMLResponse,
    response_model=None,
    status_code=status.HTTP_303_SEE_OTHER,
    responses={
        200: {"description": "the form again, with an error (wrong username or password)"},
        429: {
            "description": "the form again: too many failed logins for this username or client address; see Retry-After"
        },
    },
)
def browser_login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=1000)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str | None, Form(max_length=MAX_NEXT_CHARS)] = None,
    lang: Annotated[str | None, Form(max_length=8)] = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse | RedirectResponse:
    """Check username and password exactly as `POST /api/v1/auth/token` does; on success put the
    access token in the login cookie and go to `next` (a local path) or the role's landing page."""
    _refuse_cross_site(request)
    user = throttled_authenticate(request, session, username, password, "POST /login")
    language = negotiate(lang, accept_language)
    if isinstance(user, Throttled):
        return _login_page(request, session, language, safe_next(next), failed=True, throttled=user)
    if user is None:
        return _login_page(request, session, language, safe_next(next), failed=True)
    token, _claims = create_access_token(user, request.app.state.jwt_key, settings.access_token_ttl_s)
    audit.record(session, actor=user, action=AuditAction.LOGIN, resource="POST /login", citizen_id=user.citizen_id)
    session.commit()
    response = RedirectResponse(safe_next(next) or landing_page(session, user), status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.access_token_ttl_s,
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="strict",
    )
    return response


@browser_router.post("/logout", status_code=status.HTTP_303_SEE_OTHER, response_class=RedirectResponse)
def browser_logout(request: Request, session: SessionDep, settings: SettingsDep) -> RedirectResponse:
    """Revoke the login cookie's token (refused from now on, by the API too), delete the cookie,
    and go to the login page."""
    _refuse_cross_site(request)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        try:
            _user, claims = user_for_token(session, token, request.app.state.jwt_key)
        except InvalidToken:
            pass  # expired or already revoked: nothing to revoke, the cookie goes anyway
        else:
            revoke_token(session, claims)
            session.commit()
    response = RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
    response.headers["Set-Cookie"] = clear_cookie_header(settings.cookie_secure)
    return response
