"""Staff log in through the municipality's OpenID Provider (authorization code flow with PKCE).

`GET /login/oidc/{provider}` sends the browser to the provider with state, nonce and a PKCE challenge
(the login on its way is kept on the robot, bound to this browser by a cookie); the provider's answer
at `GET /login/oidc/{provider}/callback` is checked (`careplan_api.openid`), its claims must give a
staff role (and the robot's unit, when set), and a staff session begins as with a password. Refusals
and a provider that does not answer get the login page with what to do (400, 403, 503), audited.
"""

from __future__ import annotations

import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Path, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bidvis.robot_ui.audit import AuditAction
from bidvis.robot_ui.deps import SESSION_COOKIE, Audit, Login, client_address
from bidvis.robot_ui.routes.login import _page, base_url, continue_page, safe_next
from bidvis.robot_ui.staff_openid import PendingStaffLogin
from bidvis.robot_ui.texts import Language, parse_language, staff_words
from careplan_api.openid import (
    ClaimsRefused,
    LoginRefused,
    OpenIdError,
    ProviderRefused,
    ProviderUnavailable,
    StateUnknown,
    TokenExpired,
)

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

LOGIN_COOKIE = "bidvis_staff_openid"
LOGIN_COOKIE_PATH = "/login/oidc"
ProviderName = Annotated[str, Path(max_length=32, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


def _refusal(exc: OpenIdError) -> tuple[str, int]:
    """The page's words and the status for a failed login."""
    if isinstance(exc, ProviderUnavailable):
        return "oidc_unavailable", status.HTTP_503_SERVICE_UNAVAILABLE
    if isinstance(exc, StateUnknown):
        return "oidc_refused_state", status.HTTP_400_BAD_REQUEST
    if isinstance(exc, TokenExpired):
        return "oidc_refused_expired", status.HTTP_400_BAD_REQUEST
    if isinstance(exc, ProviderRefused):
        return "oidc_refused_provider", status.HTTP_400_BAD_REQUEST
    if isinstance(exc, ClaimsRefused):
        return "oidc_refused_claims", status.HTTP_403_FORBIDDEN
    return "oidc_refused_token", status.HTTP_400_BAD_REQUEST


def _refused(
    request: Request, audit: Audit, language: Language, title: str, provider: str, exc: OpenIdError
) -> Response:
    reason = exc.reason if isinstance(exc, LoginRefused) else "unavailable"
    log.warning("staff OpenID login with %s failed (%s): %s", provider, reason, exc)  # no claim values in these
    audit.record(
        AuditAction.LOGIN_FAILED,
        actor=f"openid:{provider}",
        client=client_address(request),
        detail={"provider": provider, "reason": reason},
    )
    words, code = _refusal(exc)
    page = _page(
        request, "login.html", language, error=staff_words(language)[words].format(title=title), status_code=code
    )
    if code == status.HTTP_503_SERVICE_UNAVAILABLE:
        page.headers["Retry-After"] = "30"
    return page


@router.get("/login/oidc/{provider}", response_model=None)
def start_login(
    request: Request,
    login: Login,
    audit: Audit,
    provider: ProviderName,
    next: str | None = None,
    lang: str | None = None,
) -> Response:
    language = parse_language(lang)
    client = login.openid.clients.get(provider)
    if client is None:
        return _page(request, "login.html", language, error=staff_words(language)["oidc_unknown"], status_code=404)
    redirect_uri = f"{base_url(request, login)}/login/oidc/{provider}/callback"
    try:
        url, pending = client.begin(redirect_uri, ui_locales=language.value)
    except OpenIdError as exc:
        return _refused(request, audit, language, client.provider.title, provider, exc)
    browser_secret = secrets.token_urlsafe(32)
    login.openid.pending.put(PendingStaffLogin(pending, safe_next(next), language.value), browser_secret)
    response = RedirectResponse(url, status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        LOGIN_COOKIE,
        browser_secret,
        max_age=600,
        path=LOGIN_COOKIE_PATH,
        httponly=True,
        samesite="lax",  # the provider's redirect back is a navigation from another site
        secure=login.https_only,
    )
    return response


@router.get("/login/oidc/{provider}/callback", response_model=None)
def finish_login(request: Request, login: Login, audit: Audit, provider: ProviderName) -> Response:
    params = {key: value[:4000] for key, value in request.query_params.items()}
    language = parse_language(None)
    client = login.openid.clients.get(provider)
    if client is None:
        return _page(request, "login.html", language, error=staff_words(language)["oidc_unknown"], status_code=404)
    try:
        if "error" in params and "state" not in params:
            raise ProviderRefused(f"{client.provider.title} ended the login")
        returning = login.openid.pending.take(params.get("state", ""), request.cookies.get(LOGIN_COOKIE), provider)
        language = parse_language(returning.language)
        claims = client.finish(returning.pending, params)
        member = login.openid.staff_member(client.provider, claims)
    except OpenIdError as exc:
        response = _refused(request, audit, language, client.provider.title, provider, exc)
        response.delete_cookie(LOGIN_COOKIE, path=LOGIN_COOKIE_PATH)
        return response
    client_host = client_address(request)
    login.sessions.end(request.cookies.get(SESSION_COOKIE))
    audit.record(AuditAction.LOGIN, actor=f"staff:{member.account}", client=client_host, detail={"provider": provider})
    token = login.sessions.begin(
        member.account, "", client_host, language.value, provider=provider, display_name=member.display_name
    )
    # a page, not a redirect: the session cookie is SameSite=Strict, which a browser does not send on a
    # redirect that the provider's (cross-site) navigation started
    page: HTMLResponse = continue_page(request, language, returning.next_path, staff_words(language)["oidc_done"])
    page.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(login.sessions.max_age_s),
        path="/",
        httponly=True,
        samesite="strict",
        secure=login.https_only,
    )
    page.delete_cookie(LOGIN_COOKIE, path=LOGIN_COOKIE_PATH)
    return page
