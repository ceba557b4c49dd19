"""FastAPI dependencies: the session, the caller (user or device), role checks, purpose and audit.

Routes declare what they need with these `Annotated` types:

    def route(session: SessionDep, user: CurrentUser) -> ...
    def route(access: Annotated[CitizenAccess, Depends(citizen_access(Need.CARE_PLAN, AuditAction.READ))])
    def route(admin: Annotated[User, Depends(require_roles(Role.ADMIN))])

`citizen_access` is the one gate to a citizen's personal data: it requires a purpose, checks the
access policy (`services.access`), and writes the audit entry (also for refused attempts).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Path, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer
from sqlalchemy.orm import Session

from careplan_api.models import AuditAction, Citizen, Device, Role, User
from careplan_api.services import audit
from careplan_api.services.access import Need, may_access
from careplan_api.services.security import (
    DEVICE_TOKEN_PREFIX,
    AccessClaims,
    InvalidToken,
    decode_access_token,
    find_device_by_token,
    user_for_token,
)
from careplan_api.settings import Settings

MIN_PURPOSE_CHARS = 3
MAX_PURPOSE_CHARS = 200

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


def get_current_user(caller: CurrentCaller) -> User:
    return caller.user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_current_device(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(device_scheme)],
) -> Device:
    if credentials is None:
        raise _unauthorized("send the device's token as `Authorization: Bearer <token>`")
    device = find_device_by_token(session, credentials.credentials)
    if device is not None:
        session.commit()  # end the read: the connection goes back to the pool until ingest needs it
        return device
    try:
        decode_access_token(credentials.credentials, request.app.state.jwt_key)
    except InvalidToken:
        raise _unauthorized("unknown or revoked device token") from None
    raise HTTPException(status.HTTP_403_FORBIDDEN, "only devices post usage events; a person's token cannot")


CurrentDevice = Annotated[Device, Depends(get_current_device)]


def require_roles(*roles: Role) -> Callable[[User], User]:
    """A dependency that lets only users of `roles` through (403 for the others)."""
    allowed = frozenset(roles)

    def check(user: CurrentUser) -> User:
        if user.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the role {names}; you are {user.role.value}")
        return user

    return check


def require_purpose(
    x_purpose: Annotated[str | None, Header(description="why you access this personal data (logged)")] = None,
    purpose: Annotated[str | None, Query(description="why you access this personal data (logged); or X-Purpose")] = None,
) -> str:
    """The purpose of an access to personal data, from the `X-Purpose` header or `purpose` query (400 if none)."""
    value = (x_purpose or purpose or "").strip()
    if len(value) < MIN_PURPOSE_CHARS or len(value) > MAX_PURPOSE_CHARS or not value.isprintable():
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"a purpose is required for personal data: send the X-Purpose header or the purpose query "
            f"parameter ({MIN_PURPOSE_CHARS}-{MAX_PURPOSE_CHARS} printable characters saying why)",
        )
    return value


Purpose = Annotated[str, Depends(require_purpose)]


@dataclass(frozen=True)
class CitizenAccess:
    """A granted access to one citizen's data, already written to the audit log."""

    citizen: Citizen
    user: User
    purpose: str


def citizen_access(need: Need, action: AuditAction) -> Callable[..., CitizenAccess]:
    """A dependency for routes under `/…/{citizen_id}/…`: purpose, policy check, audit entry.

    Unknown citizens and refused accesses both answer 403 to non-admins (so ids cannot be probed);
    either way the attempt is logged with outcome `denied`.
    """

    def check(
        request: Request,
        session: SessionDep,
        user: CurrentUser,
        purpose: Purpose,
        citizen_id: Annotated[uuid.UUID, Path(description="the citizen's pseudonymous id")],
    ) -> CitizenAccess:
        resource = f"{request.method} {request.url.path}"
        citizen = session.get(Citizen, citizen_id)
        if citizen is None or not may_access(session, user, citizen, need):
            audit.record(session, actor=user, action=AuditAction.DENIED, resource=resource,
                         citizen_id=citizen_id, purpose=purpose, outcome="denied")
            session.commit()
            if citizen is None and user.role is Role.ADMIN:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no citizen with id {citizen_id}")
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"your role ({user.role.value}) gives no access to this citizen's {need.value}")
        audit.record(session, actor=user, action=action, resource=resource, citizen_id=citizen.id, purpose=purpose)
        session.commit()
        return CitizenAccess(citizen, user, purpose)

    return check


ReadRecord = Annotated[CitizenAccess, Depends(citizen_access(Need.RECORD, AuditAction.READ))]
ReadCarePlan = Annotated[CitizenAccess, Depends(citizen_access(Need.CARE_PLAN, AuditAction.READ))]
ExportCarePlan = Annotated[CitizenAccess, Depends(citizen_access(Need.CARE_PLAN, AuditAction.EXPORT))]
WriteCarePlan = Annotated[CitizenAccess, Depends(citizen_access(Need.WRITE_CARE_PLAN, AuditAction.UPDATE))]
ReadAuditLog = Annotated[CitizenAccess, Depends(citizen_access(Need.AUDIT_LOG, AuditAction.READ))]
AdminUser = Annotated[User, Depends(require_roles(Role.ADMIN))]
AnalystUser = Annotated[User, Depends(require_roles(Role.ANALYST, Role.ADMIN))]
