"""Staff log in to the robot's pages through the municipality's OpenID Provider (docs/identity.md).

- `StaffIdentitySettings`: the providers, who may still use a local password, the robot's unit and its
  public address, from the environment (`BIDVIS_UI_*`), read once at the edge (`bidvis run`, `bidvis ui`).
- `StaffOpenId`: what the routes need: the providers' clients (`careplan_api.openid`, the care plan's
  relying party), the logins on their way (`PendingStaffLogins`, in memory: the robot is one process),
  and `staff_member`, which turns a provider's claims into the staff member a session is for.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from careplan_api.identity_mapping import person_from_claims
from careplan_api.models import Role
from careplan_api.openid import (
    PENDING_LOGIN_TTL_S,
    ClaimsRefused,
    OpenIdClients,
    OpenIdProvider,
    PendingLogin,
    StateUnknown,
)

STAFF_ROLES = frozenset({Role.STAFF, Role.ADMIN})  # the mapped roles that may use the robot's staff pages


class StaffIdentitySettings(BaseSettings):
    """How staff log in to the robot (environment `BIDVIS_UI_*`; docs/identity.md)."""

    model_config = SettingsConfigDict(env_prefix="BIDVIS_UI_", extra="forbid", hide_input_in_errors=True)

    openid_providers: tuple[OpenIdProvider, ...] = Field(
        default=(), description="the OpenID Providers staff log in with, as a JSON list (the municipality's)"
    )
    password_login: Literal["break_glass", "everyone"] = Field(
        default="break_glass",
        description="which local accounts (bidvis ui add-staff) may log in with their password: only those in "
        "break_glass_accounts (and the one-time demo account of bidvis ui --sim), or every one",
    )
    break_glass_accounts: tuple[str, ...] = Field(
        default=(), description="local accounts kept for when the providers cannot be reached"
    )
    unit: str | None = Field(
        default=None, description="the robot's care unit: only staff whose mapped units include it may log in"
    )
    public_url: str = Field(default="", description="the robot's address as browsers reach it; empty: each request's")

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("public_url is the robot's base address, e.g. https://bidvis-12.plejecenter.dk:8080")
        return value.rstrip("/")

    @property
    def password_accounts(self) -> frozenset[str] | None:
        """The local accounts that may log in with a password; None: every one."""
        return None if self.password_login == "everyone" else frozenset(self.break_glass_accounts)


@dataclass(frozen=True)
class PendingStaffLogin:
    pending: PendingLogin
    next_path: str
    language: str


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class PendingStaffLogins:
    """Logins sent to a provider and not back yet: each taken once, from the browser that started it.
    State and browser binding are kept hashed; the oldest go beyond `max_logins`, and after the TTL."""

    max_logins: int = 1000
    clock: Callable[[], float] = time.time
    _logins: OrderedDict[str, tuple[str, PendingStaffLogin]] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def put(self, login: PendingStaffLogin, browser_secret: str) -> None:
        with self._lock:
            self._logins[_sha256(login.pending.state)] = (_sha256(browser_secret), login)
            while len(self._logins) > self.max_logins:
                self._logins.popitem(last=False)

    def take(self, state: str, browser_secret: str | None, provider: str) -> PendingStaffLogin:
        """The login `state` names, removed; raises `StateUnknown` (unknown, used, old, other browser)."""
        with self._lock:
            found = self._logins.pop(_sha256(state), None)
        if found is None:
            raise StateUnknown("this login answer is unknown or was used already; start the login again")
        browser, login = found
        if browser_secret is None or _sha256(browser_secret) != browser:
            raise StateUnknown("this login was started in another browser; start again here")
        if login.pending.provider != provider or self.clock() - login.pending.created_s > PENDING_LOGIN_TTL_S:
            raise StateUnknown("this login answer is too old or belongs to another login service; start again")
        return login


@dataclass(frozen=True)
class StaffMember:
    """A staff member as the provider names them: `account` (provider:subject) keys the sessions."""

    account: str
    display_name: str
    provider: str


@dataclass
class StaffOpenId:
    """The robot's side of the staff's OpenID login (module docstring)."""

    clients: OpenIdClients = field(default_factory=lambda: OpenIdClients(()))
    pending: PendingStaffLogins = field(default_factory=PendingStaffLogins)
    unit: str | None = None
    public_url: str = ""

    @classmethod
    def from_settings(cls, settings: StaffIdentitySettings) -> StaffOpenId:
        return cls(OpenIdClients(settings.openid_providers), unit=settings.unit, public_url=settings.public_url)

    def staff_member(self, provider: OpenIdProvider, claims: Mapping[str, Any]) -> StaffMember:
        """The staff member of checked claims; `ClaimsRefused` for another role or another unit."""
        person = person_from_claims(provider, claims, None)
        if person.role not in STAFF_ROLES:
            raise ClaimsRefused(f"{provider.title} gives you the role {person.role.value}; the robot is for staff")
        if self.unit is not None and self.unit not in person.units:
            raise ClaimsRefused(f"{provider.title} does not give you this robot's unit ({self.unit})")
        return StaffMember(f"{provider.name}:{person.subject}", person.display_name or person.subject, provider.name)
