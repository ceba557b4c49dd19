"""Logging in (OAuth2 password flow) and out (server-side revocation)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select

from careplan_api.deps import CurrentCaller, CurrentUser, SessionDep, SettingsDep
from careplan_api.models import AuditAction, User
from careplan_api.schemas import Token, UserOut
from careplan_api.services import audit
from careplan_api.services.security import create_access_token, revoke_token, verify_password

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/token", response_model=Token)
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> Token:
    """Exchange username and password (form fields) for a bearer access token."""
    user = session.scalar(select(User).where(User.username == form.username[:150]))
    if not verify_password(user.password_hash if user else None, form.password, request.app.state.password_hasher) or user is None or not user.is_active:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "wrong username or password", headers={"WWW-Authenticate": "Bearer"}
        )
    token, _claims = create_access_token(user, request.app.state.jwt_key, settings.access_token_ttl_s)
    audit.record(session, actor=user, action=AuditAction.LOGIN, resource="POST /api/v1/auth/token", citizen_id=user.citizen_id)
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
