"""Administration (role admin): units, citizens, users, fuldmagter and devices.

Each change of personal data is audited with the caller's purpose.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from careplan_api.deps import AdminUser, Purpose, SessionDep
from careplan_api.models import AuditAction, Citizen, Device, Fuldmagt, FuldmagtScope, Role, User
from careplan_api.schemas import (
    CitizenCreate,
    CitizenOut,
    DeviceCreate,
    DeviceEnrolled,
    DeviceOut,
    FuldmagtCreate,
    FuldmagtOut,
    PasswordReset,
    UserCreate,
    UserOut,
)
from careplan_api.services import audit, login, people

router = APIRouter(prefix="/api/v1", tags=["admin"])


def _links(**targets: tuple[str, str, str]) -> dict[int | str, dict[str, object]]:
    """OpenAPI links of a 201 answer: name -> (operationId, path parameter, JSON pointer in the answer)."""
    return {
        201: {
            "links": {
                name: {"operationId": operation, "parameters": {parameter: f"$response.body#{pointer}"}}
                for name, (operation, parameter, pointer) in targets.items()
            }
        }
    }


_USER_LINKS = _links(
    Deactivate=("deactivate_user_api_v1_users__user_id__deactivate_post", "user_id", "/id"),
    Reactivate=("reactivate_user_api_v1_users__user_id__reactivate_post", "user_id", "/id"),
    ResetPassword=("reset_password_api_v1_users__user_id__password_post", "user_id", "/id"),
)


def _where(request: Request) -> str:
    return f"{request.method} {request.url.path}"


@router.post(
    "/citizens",
    response_model=CitizenOut,
    status_code=status.HTTP_201_CREATED,
    responses=_links(ReadCitizen=("read_citizen_api_v1_citizens__citizen_id__get", "citizen_id", "/id")),
)
def create_citizen(
    request: Request, session: SessionDep, admin: AdminUser, purpose: Purpose, body: CitizenCreate
) -> Citizen:
    """Register a citizen; the CPR number is kept only as a keyed hash."""
    unit = people.get_or_create_unit(session, body.unit) if body.unit else None
    citizen = people.create_citizen(session, body.name, request.app.state.cpr_key, body.cpr, unit)
    audit.record(
        session,
        actor=admin,
        action=AuditAction.CREATE,
        resource=_where(request),
        citizen_id=citizen.id,
        purpose=purpose,
    )
    session.commit()
    return citizen


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED, responses=_USER_LINKS)
def create_user(request: Request, session: SessionDep, admin: AdminUser, purpose: Purpose, body: UserCreate) -> User:
    """Create a login; a relative gets a fuldmagt (scope full) for `citizen_id`, ending at `valid_until`."""
    role = Role(body.role)
    unit = people.get_or_create_unit(session, body.unit) if body.unit else None
    user = people.create_user(
        session,
        body.username,
        body.password,
        role,
        hasher=request.app.state.password_hasher,
        unit=unit,
        citizen_id=body.citizen_id,
    )
    if role is Role.RELATIVE and body.citizen_id is not None:
        people.grant_fuldmagt(session, user, body.citizen_id, FuldmagtScope.FULL, body.valid_until)
    audit.record(
        session,
        actor=admin,
        action=AuditAction.CREATE,
        resource=_where(request),
        citizen_id=body.citizen_id,
        purpose=purpose,
    )
    session.commit()
    return user


def _change_user(request: Request, session: Session, admin: User, purpose: str, user: User) -> User:
    audit.record(
        session,
        actor=admin,
        action=AuditAction.UPDATE,
        resource=_where(request),
        citizen_id=user.citizen_id,
        purpose=purpose,
    )
    session.commit()
    return user


@router.post("/users/{user_id}/deactivate", response_model=UserOut)
def deactivate_user(
    request: Request, session: SessionDep, admin: AdminUser, purpose: Purpose, user_id: uuid.UUID
) -> User:
    """Stop a login; its tokens are refused from now on."""
    user = login.get_user(session, user_id)
    login.set_active(session, user, False)
    return _change_user(request, session, admin, purpose, user)


@router.post("/users/{user_id}/reactivate", response_model=UserOut)
def reactivate_user(
    request: Request, session: SessionDep, admin: AdminUser, purpose: Purpose, user_id: uuid.UUID
) -> User:
    """Let a deactivated login in again (its old tokens stay refused; its failed logins are forgotten)."""
    user = login.get_user(session, user_id)
    login.set_active(session, user, True)
    return _change_user(request, session, admin, purpose, user)


@router.post("/users/{user_id}/password", response_model=UserOut)
def reset_password(
    request: Request, session: SessionDep, admin: AdminUser, purpose: Purpose, user_id: uuid.UUID, body: PasswordReset
) -> User:
    """Set a new password for a user who lost theirs: their tokens stop working and their failed
    logins are forgotten. Tell them the new password over a safe channel; they should change it."""
    user = login.get_user(session, user_id)
    login.reset_password(session, request.app.state.password_hasher, user, body.new_password)
    return _change_user(request, session, admin, purpose, user)


@router.post(
    "/fuldmagter",
    response_model=FuldmagtOut,
    status_code=status.HTTP_201_CREATED,
    responses=_links(Revoke=("revoke_fuldmagt_api_v1_fuldmagter__fuldmagt_id__revoke_post", "fuldmagt_id", "/id")),
)
def create_fuldmagt(
    request: Request, session: SessionDep, admin: AdminUser, purpose: Purpose, body: FuldmagtCreate
) -> Fuldmagt:
    """Register a relative's fuldmagt for a citizen."""
    relative = session.get(User, body.relative_user_id)
    if relative is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user with id {body.relative_user_id}")
    fuldmagt = people.grant_fuldmagt(session, relative, body.citizen_id, FuldmagtScope(body.scope), body.valid_until)
    audit.record(
        session,
        actor=admin,
        action=AuditAction.CREATE,
        resource=_where(request),
        citizen_id=body.citizen_id,
        purpose=purpose,
    )
    session.commit()
    return fuldmagt


@router.post("/fuldmagter/{fuldmagt_id}/revoke", response_model=FuldmagtOut)
def revoke_fuldmagt(
    request: Request, session: SessionDep, admin: AdminUser, purpose: Purpose, fuldmagt_id: uuid.UUID
) -> Fuldmagt:
    """End a fuldmagt now."""
    fuldmagt = people.revoke_fuldmagt(session, fuldmagt_id)
    audit.record(
        session,
        actor=admin,
        action=AuditAction.UPDATE,
        resource=_where(request),
        citizen_id=fuldmagt.citizen_id,
        purpose=purpose,
    )
    session.commit()
    return fuldmagt


@router.post(
    "/devices",
    response_model=DeviceEnrolled,
    status_code=status.HTTP_201_CREATED,
    responses=_links(Revoke=("revoke_device_api_v1_devices__device_id__revoke_post", "device_id", "/device_id")),
)
def enroll_device(
    request: Request, session: SessionDep, admin: AdminUser, purpose: Purpose, body: DeviceCreate
) -> DeviceEnrolled:
    """Register a device to a citizen; the answer holds its token, shown only this once."""
    device, token = people.enroll_device(session, body.citizen_id, body.label)
    audit.record(
        session,
        actor=admin,
        action=AuditAction.CREATE,
        resource=_where(request),
        citizen_id=body.citizen_id,
        purpose=purpose,
    )
    session.commit()
    return DeviceEnrolled(device_id=device.id, citizen_id=device.citizen_id, token=token)


@router.get("/devices", response_model=list[DeviceOut])
def list_devices(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    purpose: Purpose,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[Device]:
    """Devices, oldest first (no personal data beyond the pseudonymous citizen id; each citizen
    listed gets an entry in their access log)."""
    devices = list(session.scalars(select(Device).order_by(Device.created_at, Device.id).limit(limit).offset(offset)))
    audit.record_listing(session, admin, _where(request), purpose, [d.citizen_id for d in devices])
    session.commit()
    return devices


@router.post("/devices/{device_id}/revoke", response_model=DeviceOut)
def revoke_device(
    request: Request, session: SessionDep, admin: AdminUser, purpose: Purpose, device_id: uuid.UUID
) -> Device:
    """Revoke a device's token; its posts are refused (401) from now on."""
    device = people.revoke_device(session, device_id)
    audit.record(
        session,
        actor=admin,
        action=AuditAction.UPDATE,
        resource=_where(request),
        citizen_id=device.citizen_id,
        purpose=purpose,
    )
    session.commit()
    return device
