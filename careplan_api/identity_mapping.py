"""From an OpenID Provider's claims to a person the service knows: role and units mapped by the
provider's configuration (`OpenIdProvider.role_map`, `unit_map`), a pseudonymous subject, and a
national identifier (CPR) only as its keyed hash. Pure: no database, no HTTP.

A refusal (`ClaimsRefused`) names the claim and what the configuration expects, never a claim's value
(a value could be a CPR number).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from careplan_api.errors import InvalidInput
from careplan_api.models import Role
from careplan_api.openid import ClaimsRefused, OpenIdProvider
from careplan_api.services.security import cpr_hmac

MAX_NAME_CHARS = 120


@dataclass(frozen=True)
class Person:
    """Who logged in, as far as the claims tell."""

    issuer: str
    subject: str  # the provider's subject: pseudonymous (NemLog-in gives one per service)
    role: Role
    units: tuple[str, ...]  # our unit names, mapped from units_claim
    display_name: str  # name, preferred_username or email claim; "" when none
    national_id_hmac: str | None  # HMAC-SHA256 of the CPR number; the number itself is dropped here


def claim(claims: Mapping[str, Any], path: str) -> Any:
    """The claim at `path` (`realm_access.roles` for a nested one), or None."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def claim_values(claims: Mapping[str, Any], path: str | None) -> list[str]:
    """A claim as a list of strings: a string is one value, a list its string items, anything else none.
    Some providers give groups as one space-separated string; that is split too."""
    if path is None:
        return []
    value = claim(claims, path)
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def mapped_role(provider: OpenIdProvider, claims: Mapping[str, Any]) -> Role:
    """The one role the claims map to (or the provider's default role); refused when none or several."""
    roles = {
        provider.role_map[value] for value in claim_values(claims, provider.roles_claim) if value in provider.role_map
    }
    if len(roles) > 1:
        names = ", ".join(sorted(role.value for role in roles))
        raise ClaimsRefused(
            f"{provider.title} gives you several roles here ({names}); one login has one role: ask your IT "
            "department to give you one of them in the groups for this service"
        )
    if roles:
        return roles.pop()
    if provider.default_role is not None:
        return provider.default_role
    raise ClaimsRefused(
        f"{provider.title} gives you no role for this service (claim {provider.roles_claim or 'none configured'}): "
        "ask your IT department for access"
    )


def mapped_units(provider: OpenIdProvider, claims: Mapping[str, Any]) -> tuple[str, ...]:
    """Our unit names for the values of the units claim that the configuration maps (sorted, distinct)."""
    values = claim_values(claims, provider.units_claim)
    return tuple(sorted({provider.unit_map[value] for value in values if value in provider.unit_map}))


def display_name(claims: Mapping[str, Any]) -> str:
    for key in ("name", "preferred_username", "email"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip() and value.isprintable():
            return value.strip()[:MAX_NAME_CHARS]
    given, family = claims.get("given_name"), claims.get("family_name")
    parts = [p.strip() for p in (given, family) if isinstance(p, str) and p.strip() and p.isprintable()]
    return " ".join(parts)[:MAX_NAME_CHARS]


def national_id_hash(provider: OpenIdProvider, claims: Mapping[str, Any], key: bytes | None) -> str | None:
    """The keyed hash of the national identifier claim, or None (no such claim configured or given).

    A value that is no CPR number is refused without repeating it."""
    if provider.national_id_claim is None or key is None:
        return None
    value = claim(claims, provider.national_id_claim)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ClaimsRefused(f"{provider.title}'s claim {provider.national_id_claim} is not text")
    try:
        return cpr_hmac(value, key)
    except InvalidInput as exc:
        raise ClaimsRefused(f"{provider.title}'s claim {provider.national_id_claim} is not a CPR number") from exc


def person_from_claims(provider: OpenIdProvider, claims: Mapping[str, Any], national_id_key: bytes | None) -> Person:
    """The person of checked claims (`OpenIdClient.finish`); raises `ClaimsRefused`."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise ClaimsRefused(f"{provider.title} names no usable subject (sub) for you")
    return Person(
        issuer=provider.issuer,
        subject=subject,
        role=mapped_role(provider, claims),
        units=mapped_units(provider, claims),
        display_name=display_name(claims),
        national_id_hmac=national_id_hash(provider, claims, national_id_key),
    )
