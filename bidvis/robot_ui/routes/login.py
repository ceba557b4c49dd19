"""Staff log in and out. The session cookie (Starlette's SessionMiddleware, signed with the robot's
own key; HttpOnly, SameSite=Strict) carries the account name; wrong passwords are throttled per
account name and per client address (`staff_login.LoginThrottle`)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse

from bidvis.robot_ui.deps import Login
from bidvis.robot_ui.staff_login import MAX_PASSWORD_CHARS, StaffAccountsError
from bidvis.robot_ui.texts import Language, parse_language, staff_words

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """A local path to go to after logging in (`/staff` for anything else: no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/staff"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/staff"


def _cross_site(request: Request) -> bool:
    """True for a form posted from another site (login CSRF)."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    return origin not in (None, "null") and urlsplit(origin).netloc != request.headers.get("host")


def _page(
    request: Request, language: Language, next_path: str, *, error: str = "", status_code: int = 200
) -> HTMLResponse:
    other = Language.ENGLISH if language is Language.DANISH else Language.DANISH
    return request.app.state.templates.TemplateResponse(
        request,
        "login.html",
        {
            "t": staff_words(language),
            "lang": language.value,
            "other_lang": other.value,
            "next": next_path,
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None, lang: str | None = None) -> HTMLResponse:
    return _page(request, parse_language(lang), safe_next(next))


@router.post("/login", response_model=None)
def login(
    request: Request,
    login: Login,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=MAX_PASSWORD_CHARS)],
    next: Annotated[str | None, Form(max_length=2000)] = None,
    lang: Annotated[str | None, Form(max_length=8)] = None,
) -> HTMLResponse | RedirectResponse:
    """Check the password; on success the session cookie names the account."""
    language, target = parse_language(lang), safe_next(next)
    t = staff_words(language)
    if _cross_site(request):
        return _page(request, language, target, error=t["login_cross_site"], status_code=status.HTTP_403_FORBIDDEN)
    client = f"client:{request.client.host if request.client else 'unknown'}"
    name_key = f"name:{username}"
    wait_s = login.throttle.retry_after_s(name_key, client)
    if wait_s > 0:
        response = _page(
            request,
            language,
            target,
            error=t["login_throttled"].format(s=int(wait_s) + 1),
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        )
        response.headers["Retry-After"] = str(int(wait_s) + 1)
        return response
    try:
        if not login.accounts.names():
            return _page(
                request, language, target, error=t["login_no_accounts"], status_code=status.HTTP_401_UNAUTHORIZED
            )
        ok = login.accounts.verify(username, password)
    except StaffAccountsError as exc:
        return _page(request, language, target, error=str(exc), status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)
    if not ok:
        login.throttle.failed(name_key, client)
        return _page(request, language, target, error=t["login_wrong"], status_code=status.HTTP_401_UNAUTHORIZED)
    login.throttle.succeeded(name_key)
    request.session.clear()
    request.session["staff"] = username
    request.session["lang"] = language.value
    return RedirectResponse(target, status.HTTP_303_SEE_OTHER)


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    lang = request.session.get("lang", Language.DANISH.value)
    request.session.clear()
    return RedirectResponse(f"/login?lang={parse_language(lang).value}", status.HTTP_303_SEE_OTHER)
