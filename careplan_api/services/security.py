"""Passwords (argon2), access tokens (JWT with a server-side revocation list), device tokens, CPR hashing."""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from careplan_api.errors import CareplanError, InvalidInput
from careplan_api.models import RevokedToken, Role, User, utcnow

JWT_ALGORITHM = "HS256"
DEVICE_TOKEN_PREFIX = "bvd_"
_CPR_PATTERN = re.compile(r"^(\d{6})-?(\d{4})$")


class InvalidToken(CareplanError):
    """An access token is malformed, expired, revoked, or its user is gone or inactive."""


@functools.cache
def password_hasher(profile: str) -> PasswordHasher:
    """An argon2id hasher for a profile of `argon2.profiles` (`Settings.argon2_profile`)."""
    return PasswordHasher.from_parameters(getattr(profiles, profile))


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash("not-a-real-password")


def hash_password(password: str, hasher: PasswordHasher) -> str:
    return hasher.hash(password)


def verify_password(password_hash: str | None, password: str, hasher: PasswordHasher) -> bool:
    """True when `password` matches. An unknown user (`password_hash=None`) spends the same time."""
    try:
        return hasher.verify(password_hash or _dummy_hash(hasher), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def normalise_cpr(cpr: str) -> str:
    """The ten digits of a CPR number given as `DDMMYY-XXXX` or `DDMMYYXXXX`."""
    match = _CPR_PATTERN.match(cpr.strip())
    if not match:
        raise InvalidInput("a CPR number is ten digits, DDMMYY-XXXX or DDMMYYXXXX")
    digits = match.group(1) + match.group(2)
    day, month = int(digits[0:2]), int(digits[2:4])
    if not (1 <= day <= 31 and 1 <= month <= 12):
        raise InvalidInput("a CPR number starts with a date DDMMYY")
    return digits


def cpr_hmac(cpr: str, key: bytes) -> str:
    """Keyed hash of a CPR number (HMAC-SHA256, hex); the number itself is never stored."""
    return hmac.new(key, normalise_cpr(cpr).encode(), hashlib.sha256).hexdigest()


def new_device_token() -> str:
    return DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)


def device_token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    role: Role
    jti: str
    expires_at: datetime
    issued_at: datetime | None = None
    purpose: str | None = None  # the purpose of use chosen at login (DESIGN.md), if any
    provider: str | None = None  # the OpenID Provider logged in with (its configured name), None for a password


def create_access_token(
    user: User,
    key: bytes,
    ttl_s: int,
    now: datetime | None = None,
    purpose: str | None = None,
    provider: str | None = None,
) -> tuple[str, AccessClaims]:
    """A signed token for `user` (HS256), valid `ttl_s` seconds, carrying `purpose` and the OpenID
    Provider's name (`idp`) when given. It names the user by id only: no CPR number, no name."""
    now = now or datetime.now(UTC)
    claims = AccessClaims(user.id, user.role, uuid.uuid4().hex, now + timedelta(seconds=ttl_s), now, purpose, provider)
    payload: dict[str, object] = {
        "sub": str(user.id),
        "role": user.role.value,
        "jti": claims.jti,
        "iat": round(now.timestamp(), 6),  # RFC 7519 allows fractions: a cut-off in the same second still holds
        "exp": int(claims.expires_at.timestamp()),
    }
    if purpose:
        payload["purpose"] = purpose
    if provider:
        payload["idp"] = provider
    return jwt.encode(payload, key, algorithm=JWT_ALGORITHM), claims


def decode_access_token(token: str, key: bytes) -> AccessClaims:
    """Signature, expiry and shape of a token; raises `InvalidToken`. Revocation is checked separately."""
    try:
        payload = jwt.decode(token, key, algorithms=[JWT_ALGORITHM], options={"require": ["sub", "exp", "jti", "role"]})
        purpose = payload.get("purpose")
        provider = payload.get("idp")
        return AccessClaims(
            uuid.UUID(str(payload["sub"])),
            Role(payload["role"]),
            str(payload["jti"])[:64],
            datetime.fromtimestamp(int(payload["exp"]), UTC),
            datetime.fromtimestamp(float(payload["iat"]), UTC) if "iat" in payload else None,
            purpose if isinstance(purpose, str) and purpose else None,
            provider[:32] if isinstance(provider, str) and provider else None,
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("the access token has expired; log in again") from exc
    except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
        raise InvalidToken("the access token is not valid") from exc


def user_for_token(session: Session, token: str, key: bytes) -> tuple[User, AccessClaims]:
    """The active user of a valid, unrevoked access token; raises `InvalidToken`."""
    claims = decode_access_token(token, key)
    if session.get(RevokedToken, claims.jti) is not None:
        raise InvalidToken("the access token has been revoked; log in again")
    user = session.get(User, claims.user_id)
    if user is None or not user.is_active or user.role is not claims.role:
        raise InvalidToken("the access token's user is no longer active")
    if user.tokens_valid_after is not None and (claims.issued_at is None or claims.issued_at < user.tokens_valid_after):
        raise InvalidToken("the access token is from before a password change or reactivation; log in again")
    return user, claims


def revoke_token(session: Session, claims: AccessClaims) -> None:
    """Put the token on the revocation list (idempotent); the caller commits."""
    if session.get(RevokedToken, claims.jti) is None:
        session.add(RevokedToken(jti=claims.jti, expires_at=claims.expires_at, revoked_at=utcnow()))
