"""Staff log in and out, and change their password.

The session cookie holds a random session id only (HttpOnly, SameSite=Strict, Secure over
HTTPS); the robot keeps the session (`staff_login.StaffSessions`). Wrong passwords are throttled
per account from one address and per address (`staff_login.LoginThrottle`). Logins, failures,
lock-outs, logouts and password changes are audited.
"""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bidvis.robot_ui.audit import AuditAction
from bidvis.robot_ui.deps import SESSION_COOKIE, Audit, Login, StaffActor, client_address
from bidvis.robot_ui.staff_login import MAX_PASSWORD_CHARS, StaffAccountsError, StaffLogin, WeakPassword
from bidvis.robot_ui.texts import Language, parse_language, staff_text, staff_words

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """A local path to go to after logging in (`/staff` for anything else: no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/staff"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/staff"


def _page(
    request: Request,
    template: str,
    language: Language,
    next_path: str = "/staff",
    *,
    error: str = "",
    note: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    other = Language.ENGLISH if language is Language.DANISH else Language.DANISH
    login: StaffLogin = request.app.state.login
    query = urlencode({"lang": language.value, "next": next_path})
    providers = [
        {"name": p.name, "title": p.title, "url": f"/login/oidc/{p.name}?{query}"}
        for p in login.openid.clients.providers()
    ]
    return request.app.state.templates.TemplateResponse(
        request,
        template,
        {
            "t": staff_words(language),
            "lang": language.value,
            "other_lang": other.value,
            "next": next_path,
            "error": error,
            "note": note,
            "providers": providers,
            "break_glass_only": login.password_accounts is not None,
        },
        status_code=status_code,
    )


def _throttled(request: Request, language: Language, target: str, wait_s: float) -> HTMLResponse:
    seconds = int(wait_s) + 1
    response = _page(
        request,
        "login.html",
        language,
        target,
        error=staff_text("login_throttled", language, s=seconds),
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
    )
    response.headers["Retry-After"] = str(seconds)
    return response


def _wrong_password(request: Request, login: StaffLogin, audit: Audit, name: str, action: AuditAction) -> None:
    """Count a wrong password for `name` from this client, and audit it (and a lock-out it causes)."""
    client = client_address(request)
    locked = login.throttle.failed(name, client)
    audit.record(action, actor=f"staff:{name}", client=client)
    for scope in locked:
        audit.record(
            AuditAction.LOGIN_LOCKED,
            actor=f"staff:{name}",
            client=client,
            detail={"scope": scope, "lockout_s": login.throttle.lockout_s},
        )


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request, next: str | None = None, lang: str | None = None, note: str = "", state: str | None = None
) -> HTMLResponse:
    """The login form, in `lang`, else in `state`: the language a provider's logout sends back (see `logout`)."""
    language = parse_language(lang or state)
    notes = {"password_changed": staff_words(language)["password_changed"]}
    return _page(request, "login.html", language, safe_next(next), note=notes.get(note, ""))


@router.post("/login", response_model=None)
def login(
    request: Request,
    login: Login,
    audit: Audit,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=MAX_PASSWORD_CHARS)],
    next: Annotated[str | None, Form(max_length=2000)] = None,
    lang: Annotated[str | None, Form(max_length=8)] = None,
) -> Response:
    """Check the password; on success a new session, named by a new random cookie."""
    language, target = parse_language(lang), safe_next(next)
    t = staff_words(language)
    client = client_address(request)
    wait_s = login.throttle.retry_after_s(username, client)
    if wait_s > 0:
        return _throttled(request, language, target, wait_s)
    try:
        if not login.accounts.names():
            return _page(request, "login.html", language, target, error=t["login_no_accounts"], status_code=401)
        ok = login.accounts.verify(username, password)
    except StaffAccountsError as exc:
        log.error("staff login: %s", exc)
        return _page(request, "login.html", language, target, error=t["accounts_broken"], status_code=500)
    if ok and not login.password_allowed(username):
        ok = False  # answered as a wrong password: only break-glass accounts log in with a password here
    if not ok:
        _wrong_password(request, login, audit, username, AuditAction.LOGIN_FAILED)
        return _page(request, "login.html", language, target, error=t["login_wrong"], status_code=401)
    login.throttle.succeeded(username, client)
    epoch = login.accounts.epoch(username)
    if epoch is None:  # disabled between the check and now
        return _page(request, "login.html", language, target, error=t["login_wrong"], status_code=401)
    login.sessions.end(request.cookies.get(SESSION_COOKIE))
    audit.record(AuditAction.LOGIN, actor=f"staff:{username}", client=client)
    token = login.sessions.begin(username, epoch, client, language.value)
    response = RedirectResponse(target, status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(login.sessions.max_age_s),
        path="/",
        httponly=True,
        samesite="strict",
        secure=login.https_only,
    )
    return response


@router.post("/logout", response_model=None)
def logout(request: Request, login: Login, audit: Audit) -> Response:
    """End this session (on the robot: a copy of the cookie is no login either). After a login
    through an OpenID Provider, go on to the provider's logout (RP-initiated logout), by a page: the
    pages' policy lets a form lead to the robot only (`form-action 'self'`)."""
    session = login.sessions.end(request.cookies.get(SESSION_COOKIE))
    language = parse_language(session.language if session else None)
    if session is not None:
        audit.record(AuditAction.LOGOUT, actor=f"staff:{session.account}", client=client_address(request))
    client = login.openid.clients.get(session.provider) if session is not None and session.provider else None
    at_provider = (
        client.logout_url(logged_out_url(request, login), ui_locales=language.value, state=language.value)
        if client
        else None
    )  # the provider sends the browser back to /login?state=LANG (RP-initiated logout's state)
    response: Response
    if at_provider is None:
        response = RedirectResponse(f"/login?lang={language.value}", status.HTTP_303_SEE_OTHER)
    else:
        t = staff_words(language)
        response = continue_page(request, language, at_provider, t["logged_out"], t["logged_out_here"])
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=login.https_only)
    return response


def base_url(request: Request, login: StaffLogin) -> str:
    """The robot's address as browsers reach it (the settings' public_url, else this request's)."""
    return login.openid.public_url or str(request.base_url).rstrip("/")


def logged_out_url(request: Request, login: StaffLogin) -> str:
    """Where a provider sends the browser after its logout (registered at the provider): `{base}/login`."""
    return f"{base_url(request, login)}/login"


def continue_page(request: Request, language: Language, target: str, title: str, said: str = "") -> HTMLResponse:
    """A page that goes on to `target` at once (headed `title`, saying `said`, with a link, if it does not)."""
    return request.app.state.templates.TemplateResponse(
        request,
        "continue.html",
        {"t": staff_words(language), "lang": language.value, "target": target, "title": title, "said": said},
    )


@router.get("/account/password", response_class=HTMLResponse)
def password_page(request: Request, staff: StaffActor, lang: str | None = None) -> HTMLResponse:
    return _page(request, "password.html", parse_language(lang))


@router.post("/account/password", response_model=None)
def change_password(
    request: Request,
    staff: StaffActor,
    login: Login,
    audit: Audit,
    current_password: Annotated[str, Form(max_length=MAX_PASSWORD_CHARS)],
    new_password: Annotated[str, Form(max_length=MAX_PASSWORD_CHARS)],
    new_password_again: Annotated[str, Form(max_length=MAX_PASSWORD_CHARS)],
    lang: Annotated[str | None, Form(max_length=8)] = None,
) -> Response:
    """A new password for the logged-in account; every session of the account ends, this one too."""
    language = parse_language(lang)
    t = staff_words(language)
    if not login.accounts.exists(staff.ident):  # logged in through an OpenID Provider: no password here
        return _page(request, "password.html", language, error=t["password_at_provider"], status_code=409)
    wait_s = login.throttle.retry_after_s(staff.ident, staff.client)
    if wait_s > 0:
        return _page(
            request,
            "password.html",
            language,
            error=staff_text("login_throttled", language, s=int(wait_s) + 1),
            status_code=429,
        )
    if not login.accounts.verify(staff.ident, current_password):
        _wrong_password(request, login, audit, staff.ident, AuditAction.LOGIN_FAILED)
        return _page(request, "password.html", language, error=t["password_wrong"], status_code=401)
    if new_password != new_password_again:
        return _page(request, "password.html", language, error=t["password_mismatch"], status_code=422)
    if login.accounts.is_temporary(staff.ident):
        return _page(request, "password.html", language, error=t["password_temporary"], status_code=409)
    try:
        login.accounts.add(staff.ident, new_password)
    except WeakPassword as exc:
        log.info("new password refused: %s", exc)
        return _page(request, "password.html", language, error=t["password_weak"], status_code=422)
    except StaffAccountsError as exc:
        log.error("password change: %s", exc)
        return _page(request, "password.html", language, error=t["accounts_broken"], status_code=500)
    ended = login.sessions.end_account(staff.ident)
    audit.record(AuditAction.PASSWORD_CHANGED, actor=staff.ref, client=staff.client, detail={"sessions_ended": ended})
    response = RedirectResponse(f"/login?lang={language.value}&note=password_changed", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=login.https_only)
    return response
