"""Logging in with a password, and managing passwords: the service layer behind the login routes.

No HTTP here: routes (`routes/auth.py`, `routes/admin.py`) and the command line call these with
plain values. A second login method (OpenID Connect) ends in `issue_token` the same way.

- `password_login`: the login throttle (`services.login_throttle`), then argon2; the same work for
  an unknown name and a wrong password; a lock is audit-logged once.
- `issue_token`: an access token (JWT) with the purpose of use chosen at login, and its audit entry.
- `change_password`, `reset_password`, `set_active`: each cuts off the user's earlier tokens
  (`User.tokens_valid_after`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from careplan_api.errors import InvalidInput, NotFound
from careplan_api.models import AuditAction, LoginFailure, Role, User, utcnow
from careplan_api.services import audit
from careplan_api.services.login_throttle import Attempt, LoginThrottle, Throttled, ThrottleScope
from careplan_api.services.people import MIN_PASSWORD_CHARS
from careplan_api.services.security import AccessClaims, create_access_token, hash_password, verify_password

MAX_USERNAME_CHARS = 150
MAX_PASSWORD_CHARS = 1024


def find_user(session: Session, username: str) -> User | None:
    if "\x00" in username:  # no username holds it, and PostgreSQL refuses it in a query
        return None
    return session.scalar(select(User).where(User.username == username[:MAX_USERNAME_CHARS]))


def authenticate(session: Session, hasher: PasswordHasher, username: str, password: str) -> User | None:
    """The active user with this username and password, else None (same work either way: argon2
    runs against a dummy hash for unknown names, so timing does not tell which part was wrong)."""
    user = find_user(session, username)
    if (
        not verify_password(user.password_hash if user else None, password, hasher)
        or user is None
        or not user.is_active
    ):
        return None
    return user


@dataclass(frozen=True)
class LoginContext:
    """What a password check needs besides the name and password: where it comes from and with what."""

    session: Session
    hasher: PasswordHasher
    throttle: LoginThrottle
    address: str
    resource: str  # how the attempt came in, for the audit log ("POST /api/v1/auth/token")
    # the roles that may log in with a password (`Settings.password_login`); None: every role
    password_roles: frozenset[Role] | None = None


def password_login(context: LoginContext, username: str, password: str) -> User | Throttled | None:
    """`authenticate` behind the login throttle: `Throttled` (password not checked) when the
    username, the address or the pair has too many recent failures; a failure that locks one is
    audit-logged (once)."""
    throttle = context.throttle
    attempt = throttle.begin(username, context.address)
    if isinstance(attempt, Throttled):
        return attempt
    try:
        user = authenticate(context.session, context.hasher, username, password[:MAX_PASSWORD_CHARS])
    except Exception:
        throttle.abandon(attempt)
        raise
    if user is not None and context.password_roles is not None and user.role not in context.password_roles:
        user = None  # answered as a wrong password: the password login is for the break-glass administrator
    if user is not None:
        throttle.succeeded(attempt, user.id)
        return user
    for scope in throttle.failed(attempt):
        _audit_lock(context, attempt, scope)
    return None


def _audit_lock(context: LoginContext, attempt: Attempt, scope: ThrottleScope) -> None:
    limits = context.throttle.limits
    account = find_user(context.session, attempt.account) if scope is not ThrottleScope.ADDRESS else None
    what = {
        ThrottleScope.PAIR: f"username {attempt.account!r} from client address {attempt.address}",
        ThrottleScope.ADDRESS: f"client address {attempt.address}",
        ThrottleScope.ACCOUNT: f"username {attempt.account!r} from unknown addresses",
    }[scope]
    audit.record(
        context.session,
        actor=None,
        action=AuditAction.DENIED,
        citizen_id=account.citizen_id if account is not None else None,
        purpose="login throttle",
        resource=f"{context.resource}: {what} locked after {limits.limit(scope)} failed logins "
        f"within {limits.window_s:g} s",
        outcome="throttled",
    )
    context.session.commit()


def issue_token(
    session: Session,
    user: User,
    key: bytes,
    ttl_s: int,
    *,
    purpose: str | None,
    resource: str,
    provider: str | None = None,
) -> tuple[str, AccessClaims]:
    """An access token for `user` carrying the purpose of use chosen at login (None: every request
    must then say why itself) and the OpenID Provider logged in with, with its `login` audit entry (committed)."""
    token, claims = create_access_token(user, key, ttl_s, purpose=purpose, provider=provider)
    audit.record(
        session,
        actor=user,
        action=AuditAction.LOGIN,
        resource=resource,
        citizen_id=user.citizen_id,
        purpose=purpose or "",
    )
    session.commit()
    return token, claims


def _cut_off_tokens(user: User, now: datetime) -> None:
    user.tokens_valid_after = now  # tokens carry their issue time to the microsecond (iat)


def _check_new_password(password: str) -> None:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise InvalidInput(f"a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")


def change_password(session: Session, hasher: PasswordHasher, user: User, new_password: str) -> None:
    """Set `user`'s own new password (the caller has checked the current one); earlier tokens stop
    working. The caller commits."""
    _check_new_password(new_password)
    user.password_hash = hash_password(new_password, hasher)
    _cut_off_tokens(user, utcnow())


def get_user(session: Session, user_id: uuid.UUID | None = None, username: str | None = None) -> User:
    user = session.get(User, user_id) if user_id is not None else find_user(session, username or "")
    if user is None:
        raise NotFound(f"no user {user_id or repr(username)}")
    return user


def reset_password(session: Session, hasher: PasswordHasher, user: User, new_password: str) -> None:
    """An administrator sets a new password: earlier tokens stop working and the account's failed
    logins are forgotten (so a throttled user can log in at once). The caller commits."""
    change_password(session, hasher, user, new_password)
    session.execute(delete(LoginFailure).where(LoginFailure.account == user.username))


def set_active(session: Session, user: User, active: bool) -> None:
    """Deactivate (every token refused) or reactivate (tokens from before stay refused) a login."""
    user.is_active = active
    _cut_off_tokens(user, utcnow())
    if active:
        session.execute(delete(LoginFailure).where(LoginFailure.account == user.username))
