"""Administration (role admin): units, citizens, users, fuldmagter and devices.

Each change of personal data is audited with the caller's purpose.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Request, status
from sqlalchemy import select

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
    UserCreate,
    UserOut,
)
from careplan_api.services import audit, people

router = APIRouter(prefix="/api/v1", tags=["admin"])


def _where(request: Request) -> str:
    return f"{request.method} {request.url.path}"


@router.post("/citizens", response_model=CitizenOut, status_code=status.HTTP_201_CREATED)
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


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
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


@router.post("/users/{user_id}/deactivate", response_model=UserOut)
def deactivate_user(
    request: Request, session: SessionDep, admin: AdminUser, purpose: Purpose, user_id: uuid.UUID
) -> User:
    """Stop a login; its tokens are refused from now on."""
    user = session.get(User, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user with id {user_id}")
    user.is_active = False
    audit.record(session, actor=admin, action=AuditAction.UPDATE, resource=_where(request), purpose=purpose)
    session.commit()
    return user


@router.post("/fuldmagter", response_model=FuldmagtOut, status_code=status.HTTP_201_CREATED)
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


@router.post("/devices", response_model=DeviceEnrolled, status_code=status.HTTP_201_CREATED)
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
def list_devices(session: SessionDep, admin: AdminUser) -> list[Device]:
    """All devices (no personal data beyond the pseudonymous citizen id)."""
    return list(session.scalars(select(Device).order_by(Device.created_at)))


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
