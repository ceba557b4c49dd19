"""Logging in through an OpenID Provider (authorization code flow with PKCE), for a browser.

- `GET /login/oidc/{provider}` sends the browser to the provider, with a state, a nonce and a PKCE
  challenge; the login on its way is kept in the database (`services.openid_login`), bound to this
  browser by a cookie (`LOGIN_COOKIE`, SameSite=Lax: the provider's redirect back is a cross-site
  navigation).
- `GET /login/oidc/{provider}/callback` takes that login (once: a replayed answer finds nothing),
  exchanges the code, checks the ID token (`openid.OpenIdClient`), maps the claims to a user
  (`identity_mapping`, `services.openid_login`) and puts the care plan's own access token in the
  login cookie, as the password login does.

A refusal or a provider that does not answer gets a page that says what to do (400, 403 or 503),
and an audit entry without personal data; never a 500.
"""

from __future__ import annotations

import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse

from careplan_api.deps import SESSION_COOKIE, SessionDep, SettingsDep
from careplan_api.i18n import Lang, chosen, negotiate
from careplan_api.identity_mapping import person_from_claims
from careplan_api.models import AuditAction
from careplan_api.openid import (
    ClaimsRefused,
    LoginRefused,
    OpenIdClient,
    OpenIdError,
    ProviderRefused,
    ProviderUnavailable,
    StateUnknown,
    TokenExpired,
)
from careplan_api.routes.auth import (
    MAX_NEXT_CHARS,
    AcceptLanguage,
    LangQuery,
    base_url,
    in_language,
    landing_page,
    safe_next,
)
from careplan_api.services import audit
from careplan_api.services.login import issue_token
from careplan_api.services.openid_login import save_pending, take_pending, user_for_person
from careplan_api.settings import Settings
from careplan_api.templating import render_page

router = APIRouter(tags=["OpenID Connect login"], include_in_schema=False)
log = logging.getLogger("careplan_api.openid")

LOGIN_COOKIE = "bidvis_openid_login"
LOGIN_COOKIE_PATH = "/login/oidc"
RETRY_AFTER_S = 30
ProviderName = Annotated[str, Path(max_length=32, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


def callback_url(request: Request, settings: Settings, provider: str) -> str:
    """The redirect URI to register at the provider: `{base}/login/oidc/{provider}/callback`."""
    return f"{base_url(request, settings)}/login/oidc/{provider}/callback"


def _problem(
    request: Request, language: Lang, message_key: str, title: str, status_code: int, retry: str | None
) -> HTMLResponse:
    page = render_page(
        request,
        "login_problem.html",
        language,
        message_key=message_key,
        provider_title=title,
        retry_url=retry,
        signed_in=False,
    )
    page.status_code = status_code
    if status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
        page.headers["Retry-After"] = str(RETRY_AFTER_S)
    return page


def _refusal_page_key(exc: OpenIdError) -> tuple[str, int]:
    if isinstance(exc, ProviderUnavailable):
        return "login_unavailable", status.HTTP_503_SERVICE_UNAVAILABLE
    if isinstance(exc, StateUnknown):
        return "login_refused_state", status.HTTP_400_BAD_REQUEST
    if isinstance(exc, TokenExpired):
        return "login_refused_expired", status.HTTP_400_BAD_REQUEST
    if isinstance(exc, ProviderRefused):
        return "login_refused_provider", status.HTTP_400_BAD_REQUEST
    if isinstance(exc, ClaimsRefused):
        return "login_refused_claims", status.HTTP_403_FORBIDDEN
    return "login_refused_token", status.HTTP_400_BAD_REQUEST


def _client(request: Request, name: str) -> OpenIdClient | None:
    return request.app.state.openid.get(name)


def _refused(
    request: Request, session: SessionDep, language: Lang, client: OpenIdClient, exc: OpenIdError, resource: str
) -> HTMLResponse:
    """The page for a failed login, logged (the reason and the provider, never a claim) and audited."""
    reason = exc.reason if isinstance(exc, LoginRefused) else "unavailable"
    log.warning("openid login failed", extra={"fields": {"provider": client.provider.name, "reason": reason}})
    log.info("openid login failed: %s", exc)  # the messages name checks and claims, never their values
    audit.record(
        session,
        actor=None,
        action=AuditAction.DENIED,
        resource=f"{resource}: {reason}"[:300],
        purpose="login",
        outcome="refused" if reason != "unavailable" else "unavailable",
    )
    session.commit()
    key, code = _refusal_page_key(exc)
    retry = f"/login/oidc/{client.provider.name}?lang={language.value}"
    return _problem(request, language, key, client.provider.title, code, retry)


@router.get("/login/oidc/{provider}", response_model=None)
def start_login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    provider: ProviderName,
    next: Annotated[str | None, Query(max_length=MAX_NEXT_CHARS)] = None,
    lang: LangQuery = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse | RedirectResponse:
    """Send the browser to the provider's login, with state, nonce and a PKCE challenge (S256)."""
    language = negotiate(lang, accept_language)
    client = _client(request, provider)
    if client is None:
        return _problem(request, language, "login_unknown_provider", "", status.HTTP_404_NOT_FOUND, "/login")
    try:
        url, pending = client.begin(callback_url(request, settings, provider), ui_locales=language.value)
    except OpenIdError as exc:
        return _refused(request, session, language, client, exc, f"GET /login/oidc/{provider}")
    browser_secret = secrets.token_urlsafe(32)
    explicit = chosen(lang)  # only a language the person chose is carried on; else the browser's decides
    save_pending(session, pending, browser_secret, safe_next(next) or "", explicit.value if explicit else "")
    session.commit()
    response = RedirectResponse(url, status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        LOGIN_COOKIE,
        browser_secret,
        max_age=600,
        path=LOGIN_COOKIE_PATH,
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )
    return response


@router.get("/login/oidc/{provider}/callback", response_model=None)
def finish_login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    provider: ProviderName,
    lang: LangQuery = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    """The provider's answer: check it, find the person, log them in (the login cookie), continue."""
    language = negotiate(lang, accept_language)
    client = _client(request, provider)
    if client is None:
        return _problem(request, language, "login_unknown_provider", "", status.HTTP_404_NOT_FOUND, "/login")
    params = {key: value[:4000] for key, value in request.query_params.items()}
    resource = f"GET /login/oidc/{provider}/callback"
    try:
        if "error" in params and "state" not in params:
            raise ProviderRefused(f"{client.provider.title} ended the login: {params['error'][:100]}")
        returning = take_pending(session, params.get("state", ""), request.cookies.get(LOGIN_COOKIE), provider)
        language = negotiate(lang or returning.language or None, accept_language)
        claims = client.finish(returning.pending, params)
        person = person_from_claims(client.provider, claims, request.app.state.cpr_key)
        user = user_for_person(session, client.provider, person)
        session.flush()
    except OpenIdError as exc:
        session.rollback()
        response = _refused(request, session, language, client, exc, resource)
        response.delete_cookie(LOGIN_COOKIE, path=LOGIN_COOKIE_PATH)
        return response
    token, _claims = issue_token(
        session,
        user,
        request.app.state.jwt_key,
        settings.access_token_ttl_s,
        purpose=None,
        resource=resource,
        provider=provider,
    )
    target = in_language(returning.next_path or landing_page(session, user), chosen(lang or returning.language))
    # A page, not a redirect: the login cookie is SameSite=Strict, and a browser does not send it on a
    # redirect that a cross-site navigation (the provider's) started; this page's own navigation is same-site.
    page = render_page(request, "login_done.html", language, target=target, signed_in=False)
    page.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.access_token_ttl_s,
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="strict",
    )
    page.delete_cookie(LOGIN_COOKIE, path=LOGIN_COOKIE_PATH)
    return page
