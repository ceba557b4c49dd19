"""FastAPI dependencies: the session, the caller (user or device), role checks, purpose and audit.

Routes declare what they need with these `Annotated` types:

    def route(session: SessionDep, user: CurrentUser) -> ...
    def route(access: Annotated[CitizenAccess, Depends(citizen_access(Need.CARE_PLAN, AuditAction.READ))])
    def route(admin: Annotated[User, Depends(require_roles(Role.ADMIN))])

`citizen_access` is the one gate to a citizen's personal data: it requires a purpose, checks the
access policy (`services.access`), and writes the audit entry (also for refused attempts).

Server-rendered pages use the `pages=True` variants: they also accept the browser's login cookie
(`SESSION_COOKIE`), but only on GET/HEAD, send a browser without a login to `/login?next=…`, and
let the page ask for a missing purpose (`PurposeNeeded`) instead of answering 400.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, Header, HTTPException, Path, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer
from sqlalchemy.orm import Session

from careplan_api.errors import Forbidden, NotFound
from careplan_api.models import AuditAction, Citizen, Role, User
from careplan_api.services import audit
from careplan_api.services.access import Need, may_access
from careplan_api.services.device_auth import DeviceCache, IngestingDevice, active_device
from careplan_api.services.security import (
    DEVICE_TOKEN_PREFIX,
    AccessClaims,
    InvalidToken,
    decode_access_token,
    user_for_token,
)
from careplan_api.settings import Settings

MIN_PURPOSE_CHARS = 3
MAX_PURPOSE_CHARS = 200
SESSION_COOKIE = "bidvis_session"
COOKIE_METHODS = frozenset({"GET", "HEAD"})
OWN_RECORD_PURPOSE = "the citizen's own record"  # the purpose of a citizen reading their own pages  # the cookie never authorises a state-changing request

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
device_scheme = HTTPBearer(auto_error=False, scheme_name="DeviceToken", description="a device's enrolment token")


async def get_settings(request: Request) -> Settings:  # async: no thread-pool hop for a lookup
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.session_factory() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


@dataclass(frozen=True)
class Caller:
    """The logged-in user and the claims of the token they used."""

    user: User
    claims: AccessClaims


def get_caller(request: Request, session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]) -> Caller:
    if not token:
        raise _unauthorized("log in first: send `Authorization: Bearer <access token>` (POST /api/v1/auth/token)")
    if token.startswith(DEVICE_TOKEN_PREFIX):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a device token may only post usage events")
    try:
        user, claims = user_for_token(session, token, request.app.state.jwt_key)
    except InvalidToken as exc:
        raise _unauthorized(str(exc)) from exc
    return Caller(user, claims)


CurrentCaller = Annotated[Caller, Depends(get_caller)]


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


def wants_html(request: Request) -> bool:
    """Whether the client asked for HTML (a browser navigating), not an API client."""
    return "text/html" in request.headers.get("accept", "")


def clear_cookie_header(secure: bool) -> str:
    """A `Set-Cookie` value that deletes the login cookie."""
    return f"{SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")


def _login_redirect(request: Request, clear_cookie: bool) -> HTTPException:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    headers = {"Location": "/login?" + urlencode({"next": target})}
    if clear_cookie:
        headers["Set-Cookie"] = clear_cookie_header(request.app.state.settings.cookie_secure)
    return HTTPException(status.HTTP_303_SEE_OTHER, "log in first", headers=headers)


def get_page_caller(
    request: Request, session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Caller:
    """The caller of a page: the bearer header as for the API, else (GET/HEAD only) the login cookie.

    A browser (Accept: text/html) without a valid login is redirected to the login page; other
    clients get the API's 401.
    """
    cookie = request.cookies.get(SESSION_COOKIE) if request.method in COOKIE_METHODS else None
    if token or not cookie:
        try:
            return get_caller(request, session, token)
        except HTTPException as exc:
            if (
                exc.status_code == status.HTTP_401_UNAUTHORIZED
                and wants_html(request)
                and request.method in COOKIE_METHODS
            ):
                raise _login_redirect(request, clear_cookie=False) from exc
            raise
    try:
        user, claims = user_for_token(session, cookie, request.app.state.jwt_key)
    except InvalidToken as exc:
        if wants_html(request):
            raise _login_redirect(request, clear_cookie=True) from exc
        raise _unauthorized(str(exc)) from exc
    return Caller(user, claims)


PageCaller = Annotated[Caller, Depends(get_page_caller)]


def get_page_user(caller: PageCaller) -> User:
    return caller.user


PageUser = Annotated[User, Depends(get_page_user)]


def refuse_cross_site(request: Request) -> None:
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


def get_form_user(request: Request, session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]) -> User:
    """The sender of a page's form (POST): the bearer token, or the login cookie of a form sent
    from this site (`refuse_cross_site`); a browser without a login goes to the login page."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if token or not cookie:
        return get_caller(request, session, token).user
    refuse_cross_site(request)
    try:
        return user_for_token(session, cookie, request.app.state.jwt_key)[0]
    except InvalidToken as exc:
        raise _login_redirect(request, clear_cookie=True) from exc


FormUser = Annotated[User, Depends(get_form_user)]


def get_current_user(caller: CurrentCaller) -> User:
    return caller.user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_device_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(device_scheme)],
) -> str:
    """The bearer token of a device request (401 when there is none); `authenticate_device` checks it.

    Async and without the database, so that ingest reaches the database in one thread-pool call.
    """
    if credentials is None:
        raise _unauthorized("send the device's token as `Authorization: Bearer <token>`")
    return credentials.credentials


DeviceToken = Annotated[str, Depends(get_device_token)]


def authenticate_device(
    session: Session, token: str, jwt_key: bytes, cache: DeviceCache | None = None
) -> IngestingDevice:
    """The active device of `token` (remembered in `cache`: see `services.device_auth` for what the
    caller must still check); 401 for an unknown or revoked one, 403 for a person's token."""
    device = active_device(session, token, cache)
    if device is not None:
        return device
    try:
        decode_access_token(token, jwt_key)
    except InvalidToken:
        raise device_refused() from None
    raise HTTPException(status.HTTP_403_FORBIDDEN, "only devices post usage events; a person's token cannot")


def device_refused() -> HTTPException:
    """The 401 for a device token that is unknown or revoked."""
    return _unauthorized("unknown or revoked device token")


def require_roles(*roles: Role, pages: bool = False) -> Callable[[User], User]:
    """A dependency that lets only users of `roles` through (403 for the others); `pages`: `PageUser`."""
    allowed = frozenset(roles)

    def check(user: User) -> User:
        if user.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the role {names}; you are {user.role.value}")
        return user

    def check_api(user: CurrentUser) -> User:
        return check(user)

    def check_page(user: PageUser) -> User:
        return check(user)

    return check_page if pages else check_api


def valid_purpose(value: str) -> bool:
    """Whether `value` may stand as a purpose of use: 3-200 printable characters."""
    return MIN_PURPOSE_CHARS <= len(value) <= MAX_PURPOSE_CHARS and value.isprintable()


def purpose_missing() -> HTTPException:
    """The 400 for a request to personal data without a valid purpose."""
    return HTTPException(
        status.HTTP_400_BAD_REQUEST,
        f"a purpose is required for personal data: send the X-Purpose header or the purpose query "
        f"parameter ({MIN_PURPOSE_CHARS}-{MAX_PURPOSE_CHARS} printable characters saying why), or log in "
        "with one (POST /api/v1/auth/token with the form field purpose) so that your token carries it",
    )


def require_purpose(
    caller: CurrentCaller,
    x_purpose: Annotated[str | None, Header(description="why you access this personal data (logged)")] = None,
    purpose: Annotated[
        str | None, Query(description="why you access this personal data (logged); or X-Purpose")
    ] = None,
) -> str:
    """The purpose of an access to personal data: the `X-Purpose` header, else the `purpose` query,
    else the purpose the token was issued with at login (400 if none is given)."""
    value = (x_purpose or purpose or caller.claims.purpose or "").strip()
    if not valid_purpose(value):
        raise purpose_missing()
    return value


Purpose = Annotated[str, Depends(require_purpose)]


@dataclass(frozen=True)
class PurposeNeeded:
    """A page request without a usable purpose: nothing was read; the page asks the reader why.
    `invalid` when one was given but is too short, too long or not printable."""

    invalid: bool


def page_purpose(
    caller: PageCaller,
    x_purpose: Annotated[str | None, Header(description="why you access this personal data (logged)")] = None,
    purpose: Annotated[
        str | None,
        Query(max_length=MAX_PURPOSE_CHARS, description="why you access this personal data (logged); or X-Purpose"),
    ] = None,
    purpose_note: Annotated[
        str | None,
        Query(
            max_length=MAX_PURPOSE_CHARS, description="free text added to (or instead of) `purpose` by the page's form"
        ),
    ] = None,
) -> str | PurposeNeeded:
    """The purpose of a page view: header, or the page form's choice and/or free text (`choice: text`)."""
    if x_purpose:
        value = x_purpose.strip()
    else:
        value = ": ".join(part for part in ((purpose or "").strip(), (purpose_note or "").strip()) if part)
    value = value or (caller.claims.purpose or "")
    if not value:
        return PurposeNeeded(invalid=False)
    return value if valid_purpose(value) else PurposeNeeded(invalid=True)


PagePurpose = Annotated[str | PurposeNeeded, Depends(page_purpose)]


@dataclass(frozen=True)
class CitizenAccess:
    """A granted access to one citizen's data, already written to the audit log."""

    citizen: Citizen
    user: User
    purpose: str


def check_access(
    session: Session, user: User, purpose: str, citizen_id: uuid.UUID, need: Need, action: AuditAction, resource: str
) -> CitizenAccess:
    """Check the access policy for `need` and write the audit entry (`denied` for a refusal),
    committed either way; `NotFound` for an administrator asking for no citizen, else `Forbidden`."""
    citizen = session.get(Citizen, citizen_id)
    if citizen is None or not may_access(session, user, citizen, need):
        audit.record(
            session,
            actor=user,
            action=AuditAction.DENIED,
            resource=resource,
            citizen_id=citizen_id,
            purpose=purpose,
            outcome="denied",
        )
        session.commit()
        if citizen is None and user.role is Role.ADMIN:
            raise NotFound(f"no citizen with id {citizen_id}")
        raise Forbidden(f"your role ({user.role.value}) gives no access to this citizen's {need.value}")
    audit.record(session, actor=user, action=action, resource=resource, citizen_id=citizen.id, purpose=purpose)
    session.commit()
    return CitizenAccess(citizen, user, purpose)


def _grant(
    request: Request, session: Session, user: User, purpose: str, citizen_id: uuid.UUID, need: Need, action: AuditAction
) -> CitizenAccess:
    try:
        return check_access(session, user, purpose, citizen_id, need, action, f"{request.method} {request.url.path}")
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except Forbidden as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc


CitizenId = Annotated[uuid.UUID, Path(description="the citizen's pseudonymous id")]


def citizen_access(need: Need, action: AuditAction) -> Callable[..., CitizenAccess]:
    """A dependency for routes under `/…/{citizen_id}/…`: purpose, policy check, audit entry.

    Unknown citizens and refused accesses both answer 403 to non-admins (so ids cannot be probed);
    either way the attempt is logged with outcome `denied`.
    """

    def check(
        request: Request, session: SessionDep, user: CurrentUser, purpose: Purpose, citizen_id: CitizenId
    ) -> CitizenAccess:
        return _grant(request, session, user, purpose, citizen_id, need, action)

    return check


def page_citizen_access(need: Need, action: AuditAction) -> Callable[..., CitizenAccess | PurposeNeeded]:
    """`citizen_access` for GET pages: `PageUser` (cookie or bearer), and, for a browser that has
    not said why yet, `PurposeNeeded` (nothing read, nothing logged; other clients get 400)."""

    def check(
        request: Request, session: SessionDep, user: PageUser, purpose: PagePurpose, citizen_id: CitizenId
    ) -> CitizenAccess | PurposeNeeded:
        own = user.role is Role.CITIZEN and user.citizen_id == citizen_id
        if isinstance(purpose, PurposeNeeded) and not purpose.invalid and own:  # the citizen is not asked why
            return _grant(request, session, user, OWN_RECORD_PURPOSE, citizen_id, need, action)
        if isinstance(purpose, PurposeNeeded):
            if not wants_html(request):
                raise purpose_missing()  # API clients get the API's answer
            return purpose
        return _grant(request, session, user, purpose, citizen_id, need, action)

    return check


ReadRecord = Annotated[CitizenAccess, Depends(citizen_access(Need.RECORD, AuditAction.READ))]
ReadCarePlan = Annotated[CitizenAccess, Depends(citizen_access(Need.CARE_PLAN, AuditAction.READ))]
ExportCarePlan = Annotated[CitizenAccess, Depends(citizen_access(Need.CARE_PLAN, AuditAction.EXPORT))]
WriteCarePlan = Annotated[CitizenAccess, Depends(citizen_access(Need.WRITE_CARE_PLAN, AuditAction.UPDATE))]
ReadAuditLog = Annotated[CitizenAccess, Depends(citizen_access(Need.AUDIT_LOG, AuditAction.READ))]
AdminUser = Annotated[User, Depends(require_roles(Role.ADMIN))]
AnalystUser = Annotated[User, Depends(require_roles(Role.ANALYST, Role.ADMIN))]
PageAnalystUser = Annotated[User, Depends(require_roles(Role.ANALYST, Role.ADMIN, pages=True))]
PageReadCarePlan = Annotated[
    CitizenAccess | PurposeNeeded, Depends(page_citizen_access(Need.CARE_PLAN, AuditAction.READ))
]
PageReadAuditLog = Annotated[
    CitizenAccess | PurposeNeeded, Depends(page_citizen_access(Need.AUDIT_LOG, AuditAction.READ))
]
