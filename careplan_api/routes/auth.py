"""Logging in (OAuth2 password flow) and out (server-side revocation), for the API and, as
`browser_router`, for a browser: a login page that puts the same access token in a cookie.

Both check passwords through the login throttle (`services.login_throttle`): too many failed logins
for one username or from one client address get 429 with Retry-After, before any password check;
the moment a username or address gets locked is written to the audit log.

The cookie (`deps.SESSION_COOKIE`: HttpOnly, SameSite=Strict, Path=/, Secure by setting) is read
only by GET pages (`deps.get_page_caller`); POSTs here refuse other origins.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Header, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy.orm import Session

from careplan_api.deps import (
    SESSION_COOKIE,
    CurrentCaller,
    CurrentUser,
    SessionDep,
    SettingsDep,
    clear_cookie_header,
    client_address,
    refuse_cross_site,
    valid_purpose,
)
from careplan_api.i18n import Lang, chosen, negotiate
from careplan_api.models import AuditAction, Role, User
from careplan_api.schemas import PasswordChange, Token, UserOut
from careplan_api.services import audit
from careplan_api.services.access import Need, may_access, visible_citizens
from careplan_api.services.login import LoginContext, change_password, issue_token, password_login
from careplan_api.services.login_throttle import Throttled
from careplan_api.services.security import InvalidToken, revoke_token, user_for_token
from careplan_api.settings import Settings
from careplan_api.templating import render_page

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
browser_router = APIRouter(tags=["browser login"])

MAX_NEXT_CHARS = 2000


def _login_context(request: Request, session: Session, resource: str) -> LoginContext:
    state = request.app.state
    return LoginContext(
        session,
        state.password_hasher,
        state.login_throttle,
        client_address(request),
        resource,
        state.settings.password_roles,
    )


def _password_login(
    request: Request, session: Session, username: str, password: str, resource: str
) -> User | Throttled | None:
    outcome = password_login(_login_context(request, session, resource), username, password)
    if isinstance(outcome, Throttled):
        request.app.state.metrics.login_throttled.labels(outcome.scope.value).inc()
    return outcome


def _too_many(throttled: Throttled) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        f"too many failed logins for this {throttled.scope.value}; try again in {throttled.retry_after_s} s",
        headers={"Retry-After": str(throttled.retry_after_s)},
    )


THROTTLED_RESPONSE: dict[int | str, dict[str, Any]] = {
    429: {"description": "too many failed logins for this username or client address; see Retry-After"}
}
LoginPurpose = Annotated[
    str | None,
    Form(
        max_length=200,
        description="the purpose of use for every request made with this token (for clients that cannot send "
        "X-Purpose, such as standard FHIR clients); each request's own X-Purpose or ?purpose= overrides it",
    ),
]


@router.post("/token", response_model=Token, responses=THROTTLED_RESPONSE)
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    purpose: LoginPurpose = None,
) -> Token:
    """Exchange username and password (form fields) for a bearer access token (429 after too many
    failures); with `purpose`, the token carries that purpose of use."""
    purpose = (purpose or "").strip() or None
    if purpose is not None and not valid_purpose(purpose):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "purpose: 3 to 200 printable characters")
    user = _password_login(request, session, form.username, form.password, "POST /api/v1/auth/token")
    if isinstance(user, Throttled):
        raise _too_many(user)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "wrong username or password", headers={"WWW-Authenticate": "Bearer"}
        )
    token, _claims = issue_token(
        session,
        user,
        request.app.state.jwt_key,
        settings.access_token_ttl_s,
        purpose=purpose,
        resource="POST /api/v1/auth/token",
    )
    return Token(access_token=token, token_type="bearer", expires_in=settings.access_token_ttl_s)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(session: SessionDep, caller: CurrentCaller) -> None:
    """Revoke the token used for this request; it is refused from now on."""
    revoke_token(session, caller.claims)
    session.commit()


@router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**THROTTLED_RESPONSE, 403: {"description": "the current password is wrong"}},
)
def change_own_password(request: Request, session: SessionDep, caller: CurrentCaller, body: PasswordChange) -> None:
    """Change your own password (the current one is checked through the login throttle); every
    token issued before, this one included, stops working: log in again."""
    checked = _password_login(
        request, session, caller.user.username, body.current_password, "POST /api/v1/auth/password"
    )
    if isinstance(checked, Throttled):
        raise _too_many(checked)
    if checked is None or checked.id != caller.user.id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the current password is wrong")
    change_password(session, request.app.state.password_hasher, checked, body.new_password)
    revoke_token(session, caller.claims)
    audit.record(
        session,
        actor=checked,
        action=AuditAction.UPDATE,
        resource="POST /api/v1/auth/password",
        citizen_id=checked.citizen_id,
        purpose="own password change",
    )
    session.commit()


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> User:
    """The logged-in user."""
    return user


def base_url(request: Request, settings: Settings) -> str:
    """The service's address as browsers reach it: `Settings.public_url`, else this request's."""
    return settings.public_url or str(request.base_url).rstrip("/")


def logged_out_url(request: Request, settings: Settings) -> str:
    """Where an OpenID Provider sends the browser after logging out (registered at the provider): `{base}/login`."""
    return f"{base_url(request, settings)}/login"


def safe_next(value: str | None) -> str | None:
    """`value` if it is a path on this site (`/…`), else None: no scheme, host, `//` or backslash."""
    if not value or len(value) > MAX_NEXT_CHARS or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or not value.isprintable():
        return None
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else None


def in_language(path: str, language: Lang | None) -> str:
    """The local `path` with `lang=` for the `language` the person chose (None: none chosen), unless
    it names a language already: a page after a login or a logout keeps the person's language. Danish
    is written too: an explicit Danish choice must win over a browser's English Accept-Language."""
    parts = urlsplit(path)
    if language is None or "lang=" in parts.query:
        return path
    return f"{path}{'&' if parts.query else '?'}lang={language.value}"


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
LogoutState = Annotated[
    str | None,
    Query(
        max_length=8,
        description="the language chosen before a logout at an OpenID Provider, which sends it back as `state` "
        "(RP-initiated logout); `lang` wins",
    ),
]


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
    query = {"lang": language.value, **({"next": next_path} if next_path else {})}
    providers = [
        {"name": p.name, "title": p.title, "url": f"/login/oidc/{p.name}?{urlencode(query)}"}
        for p in request.app.state.openid.providers()
    ]
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
        providers=providers,
        break_glass_only=request.app.state.settings.password_roles is not None,
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
    state: LogoutState = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    """The login form for a browser (or, with a valid login cookie, who is logged in and a logout button)."""
    language = negotiate(lang or state, accept_language)
    return _login_page(request, session, language, safe_next(next), failed=False)


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
    refuse_cross_site(request)
    user = _password_login(request, session, username, password, "POST /login")
    language = negotiate(lang, accept_language)
    if isinstance(user, Throttled):
        return _login_page(request, session, language, safe_next(next), failed=True, throttled=user)
    if user is None:
        return _login_page(request, session, language, safe_next(next), failed=True)
    token, _claims = issue_token(
        session, user, request.app.state.jwt_key, settings.access_token_ttl_s, purpose=None, resource="POST /login"
    )
    target = in_language(safe_next(next) or landing_page(session, user), chosen(lang))
    response = RedirectResponse(target, status.HTTP_303_SEE_OTHER)
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
def browser_logout(
    request: Request, session: SessionDep, settings: SettingsDep, lang: Annotated[str | None, Form(max_length=8)] = None
) -> RedirectResponse:
    """Revoke the login cookie's token (refused from now on, by the API too), delete the cookie, and
    go to the login page; after a login through an OpenID Provider, by way of the provider's logout
    (RP-initiated logout), so that the provider's session ends too."""
    refuse_cross_site(request)
    token = request.cookies.get(SESSION_COOKIE)
    language = negotiate(lang, request.headers.get("accept-language"))
    explicit = chosen(lang)
    target = in_language("/login", explicit)
    if token:
        try:
            _user, claims = user_for_token(session, token, request.app.state.jwt_key)
        except InvalidToken:
            pass  # expired or already revoked: nothing to revoke, the cookie goes anyway
        else:
            revoke_token(session, claims)
            session.commit()
            client = request.app.state.openid.get(claims.provider) if claims.provider else None
            if client is not None:
                state = explicit.value if explicit else None  # comes back as /login?state=: see login_page
                target = (
                    client.logout_url(logged_out_url(request, settings), ui_locales=language.value, state=state)
                    or target
                )
    response = RedirectResponse(target, status.HTTP_303_SEE_OTHER)
    response.headers["Set-Cookie"] = clear_cookie_header(settings.cookie_secure)
    return response
