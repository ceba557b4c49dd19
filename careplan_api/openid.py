"""OpenID Connect login for a relying party (the care plan, the robot's staff pages): the provider's
configuration, the authorization code flow with PKCE (Authlib), and the checks of what comes back.

No HTTP framework and no database here: `OpenIdClient.begin` gives the provider's login URL and a
`PendingLogin` (state, nonce, PKCE verifier) for the caller to keep, one time only; `OpenIdClient.finish`
exchanges the code and returns the checked claims of the ID token (merged with the provider's userinfo).
Everything that can go wrong is an `OpenIdError`: `ProviderUnavailable` (the provider does not answer,
or answers nonsense) or a `LoginRefused` naming why (wrong issuer, wrong audience, expired, nonce).

Nothing here logs or returns a claim's value: the claims may hold a national identifier (CPR), which
`identity_mapping` hashes at once.
"""

from __future__ import annotations

import ipaddress
import secrets
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from authlib.deprecate import AuthlibDeprecationWarning
from authlib.integrations.base_client import OAuthError
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import ClaimError, ExpiredTokenError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from careplan_api.errors import CareplanError
from careplan_api.models import Role

with warnings.catch_warnings():
    # Authlib >= 1.7 prefers the httpx2 fork and warns at import when it finds only httpx, which the whole
    # project uses (its client runs on either; we pass it nothing of httpx's own)
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client

METADATA_TTL_S = 3600.0
JWKS_MIN_REFRESH_S = 60.0  # an unknown key id fetches the provider's keys again, at most this often
PENDING_LOGIN_TTL_S = 600.0
PROVIDER_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"


class OpenIdError(CareplanError):
    """A login through an OpenID Provider did not work."""


class ProviderUnavailable(OpenIdError):
    """The provider did not answer, or answered something that is no OpenID Provider's answer."""


class LoginRefused(OpenIdError):
    """What came back from the provider (or the browser) is refused; `reason` names the check."""

    reason = "refused"


class WrongIssuer(LoginRefused):
    reason = "wrong_issuer"


class WrongAudience(LoginRefused):
    reason = "wrong_audience"


class TokenExpired(LoginRefused):
    reason = "expired"


class NonceMismatch(LoginRefused):
    reason = "nonce"


class StateUnknown(LoginRefused):
    """The callback's state is not a login we started, or was used already (a replay)."""

    reason = "state"


class ProviderRefused(LoginRefused):
    """The provider answered with an error (the person cancelled, or the client is not allowed)."""

    reason = "provider_error"


class InvalidIdToken(LoginRefused):
    reason = "invalid_id_token"


class ClaimsRefused(LoginRefused):
    """The person's claims give no role (or unit) that the service knows."""

    reason = "claims"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OpenIdProvider(BaseModel):
    """One OpenID Provider as configured by the municipality (docs/identity.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    name: str = Field(pattern=PROVIDER_NAME_PATTERN, description="short name, in the service's URLs: mitid, kommune")
    title: str = Field(min_length=1, max_length=80, description="what the login button says: MitID, Kommunens login")
    issuer: str = Field(description="the provider's issuer URL (https; http only on a loopback address)")
    client_id: str = Field(min_length=1, max_length=500)
    client_secret: SecretStr
    scopes: tuple[str, ...] = ("openid", "profile")
    roles_claim: str | None = Field(
        default=None, description="the claim (a.b for nested) with the person's roles or groups: a string or a list"
    )
    role_map: dict[str, Role] = Field(default_factory=dict, description="a value of roles_claim -> our role")
    default_role: Role | None = Field(default=None, description="the role when no value of roles_claim is mapped")
    units_claim: str | None = Field(default=None, description="the claim with a staff member's units")
    unit_map: dict[str, str] = Field(default_factory=dict, description="a value of units_claim -> our unit's name")
    national_id_claim: str | None = Field(
        default=None, description="the claim with the national identifier (CPR); hashed at once, never kept"
    )
    unknown_people: Literal["refuse", "relative"] = Field(
        default="refuse",
        description="a citizen or relative the care plan has no record of: refused, or given a relative's login "
        "without any fuldmagt (so that a citizen can then grant them one by their name in the care plan)",
    )
    timeout_s: float = Field(default=10.0, gt=0, le=60)
    clock_skew_s: float = Field(default=120.0, ge=0, le=600)

    @field_validator("issuer")
    @classmethod
    def _issuer_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError("the issuer is an https URL without query or fragment, e.g. https://login.example.dk")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ValueError("the issuer must use https (plain http only on a loopback address, for tests)")
        return value

    @field_validator("scopes")
    @classmethod
    def _openid_scope(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return value if "openid" in value else ("openid", *value)


@dataclass(frozen=True)
class PendingLogin:
    """What the relying party keeps between sending the browser to the provider and its return."""

    provider: str
    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    created_s: float


@dataclass
class _Cached:
    value: dict[str, Any]
    fetched_s: float


class OpenIdClient:
    """The relying party's side of one provider: discovery (cached), login URL, code exchange, checks."""

    def __init__(
        self,
        provider: OpenIdProvider,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.provider = provider
        self.clock = clock
        self._metadata: _Cached | None = None
        self._jwks: _Cached | None = None
        self._lock = threading.Lock()

    def _http(self) -> httpx.Client:
        return httpx.Client(timeout=self.provider.timeout_s, follow_redirects=False)

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        title = self.provider.title
        try:
            with self._http() as http:
                response = http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"{title} does not answer ({type(exc).__name__} for its {what})") from exc
        if response.status_code != 200:
            raise ProviderUnavailable(f"{title} answered {response.status_code} for its {what}")
        try:
            body = response.json()
        except ValueError as exc:
            raise ProviderUnavailable(f"{title} answered no JSON for its {what}") from exc
        if not isinstance(body, dict):
            raise ProviderUnavailable(f"{title} answered no JSON object for its {what}")
        return body

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (cached `METADATA_TTL_S`); its issuer must be the configured one."""
        with self._lock:
            cached = self._metadata
        if cached is not None and self.clock() - cached.fetched_s < METADATA_TTL_S:
            return cached.value
        issuer = self.provider.issuer
        document = self._get_json(issuer.rstrip("/") + "/.well-known/openid-configuration", "discovery document")
        if document.get("issuer") != issuer:
            raise WrongIssuer(
                f"{self.provider.title} says its issuer is {str(document.get('issuer'))[:200]!r}, but the service is "
                f"configured with {issuer!r}: correct the issuer in the configuration"
            )
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(document.get(key), str):
                raise ProviderUnavailable(f"{self.provider.title}'s discovery document has no {key}")
        with self._lock:
            self._metadata = _Cached(document, self.clock())
        return document

    def _key_set(self, *, refresh: bool) -> KeySet:
        with self._lock:
            cached = self._jwks
        stale = cached is None or (refresh and self.clock() - cached.fetched_s >= JWKS_MIN_REFRESH_S)
        if stale:
            cached = _Cached(self._get_json(self.metadata()["jwks_uri"], "signing keys"), self.clock())
            with self._lock:
                self._jwks = cached
        assert cached is not None
        try:
            return KeySet.import_key_set(cached.value)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise ProviderUnavailable(f"{self.provider.title}'s signing keys cannot be read") from exc

    def _oauth(self, redirect_uri: str) -> OAuth2Client:
        return OAuth2Client(
            client_id=self.provider.client_id,
            client_secret=self.provider.client_secret.get_secret_value(),
            scope=" ".join(self.provider.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=self.provider.timeout_s,
        )

    def begin(self, redirect_uri: str, *, ui_locales: str | None = None) -> tuple[str, PendingLogin]:
        """The provider's login URL for the browser, and the pending login to keep until the callback."""
        endpoint = self.metadata()["authorization_endpoint"]
        pending = PendingLogin(
            provider=self.provider.name,
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(48),
            redirect_uri=redirect_uri,
            created_s=self.clock(),
        )
        extra = {"ui_locales": ui_locales} if ui_locales else {}
        with self._oauth(redirect_uri) as oauth:
            url, _state = oauth.create_authorization_url(
                endpoint, state=pending.state, nonce=pending.nonce, code_verifier=pending.code_verifier, **extra
            )
        return url, pending

    def finish(self, pending: PendingLogin, params: Mapping[str, str]) -> dict[str, Any]:
        """The checked claims of the person who logged in, from the callback's query `params`.

        The caller has matched `params["state"]` to `pending` (and made sure it is used once)."""
        title = self.provider.title
        if "error" in params:
            raise ProviderRefused(f"{title} ended the login: {params['error'][:100]}")
        if self.clock() - pending.created_s > PENDING_LOGIN_TTL_S:
            raise StateUnknown("the login took too long; start again")
        if params.get("state") != pending.state:
            raise StateUnknown("the answer does not belong to this login; start again")
        returned_issuer = params.get("iss")
        if returned_issuer is not None and returned_issuer != self.provider.issuer:  # RFC 9207
            raise WrongIssuer(f"the answer comes from another issuer than {title}")
        code = params.get("code")
        if not code:
            raise ProviderRefused(f"{title} sent no authorization code")
        token = self._exchange(pending, code)
        claims = self.verify_id_token(token.get("id_token"), pending.nonce, access_token=token.get("access_token"))
        return {**self._userinfo(token, claims["sub"]), **claims}

    def _exchange(self, pending: PendingLogin, code: str) -> dict[str, Any]:
        title = self.provider.title
        endpoint = self.metadata()["token_endpoint"]
        try:
            with self._oauth(pending.redirect_uri) as oauth:
                token = oauth.fetch_token(
                    endpoint, code=code, code_verifier=pending.code_verifier, grant_type="authorization_code"
                )
        except (OAuth2Error, OAuthError) as exc:  # the provider's error answer (a used or unknown code, say)
            raise ProviderRefused(f"{title} refused the authorization code ({exc.error})") from exc
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"{title} does not answer ({type(exc).__name__} for the token)") from exc
        except ValueError as exc:
            raise ProviderUnavailable(f"{title} answered the token request with something that is no token") from exc
        if not isinstance(token, dict) or not isinstance(token.get("id_token"), str):
            raise InvalidIdToken(f"{title} sent no ID token (is the openid scope allowed for this client?)")
        return dict(token)

    def verify_id_token(
        self, id_token: str | None, nonce: str, *, access_token: str | None = None, now: float | None = None
    ) -> dict[str, Any]:
        """The claims of `id_token` after every check of OpenID Connect Core 3.1.3.7: signature by the
        provider's keys, issuer, audience (and azp), expiry and issue time (with `clock_skew_s`), the
        nonce of this login, and at_hash when an access token came with it."""
        title = self.provider.title
        if not isinstance(id_token, str) or not id_token:
            raise InvalidIdToken(f"{title} sent no ID token")
        algorithms = self.metadata().get("id_token_signing_alg_values_supported") or ["RS256"]
        registry = JWSRegistry(algorithms=[a for a in algorithms if a != "none"], strict_check_header=False)
        try:
            try:
                decoded = jwt.decode(id_token, self._key_set(refresh=False), registry=registry)
            except InvalidKeyIdError:
                decoded = jwt.decode(id_token, self._key_set(refresh=True), registry=registry)
        except JoseError as exc:
            raise InvalidIdToken(f"the ID token is not signed by {title} ({exc.error})") from exc
        params: dict[str, Any] = {"nonce": nonce, "client_id": self.provider.client_id}
        if access_token:
            params["access_token"] = access_token
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {"iss": {"essential": True, "value": self.provider.issuer}, "aud": {"essential": True}},
            params,
        )
        # the checks one at a time, so that a refusal names its reason
        if claims.get("iss") != self.provider.issuer:
            raise WrongIssuer(f"the ID token was issued by someone else than {title}")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.provider.client_id not in audiences:
            raise WrongAudience(f"the ID token from {title} was issued to another client than this service")
        if claims.get("nonce") != nonce:
            raise NonceMismatch("the ID token belongs to another login (nonce); start again")
        try:
            claims.validate(now=int(self.clock() if now is None else now), leeway=int(self.provider.clock_skew_s))
        except ExpiredTokenError as exc:
            raise TokenExpired(f"the ID token from {title} has expired; log in again") from exc
        except ClaimError as exc:
            name = exc.claim
            refusal = {"aud": WrongAudience, "azp": WrongAudience, "iss": WrongIssuer, "nonce": NonceMismatch}
            raise refusal.get(name, InvalidIdToken)(f"the ID token from {title} has an invalid {name} claim") from exc
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise InvalidIdToken(f"the ID token from {title} names no subject")
        return dict(claims)

    def _userinfo(self, token: dict[str, Any], subject: str) -> dict[str, Any]:
        """The provider's userinfo (claims it does not put in the ID token), for the same subject."""
        endpoint = self.metadata().get("userinfo_endpoint")
        access_token = token.get("access_token")
        if not isinstance(endpoint, str) or not isinstance(access_token, str):
            return {}
        try:
            with self._http() as http:
                response = http.get(endpoint, headers={"Authorization": f"Bearer {access_token}"})
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"{self.provider.title} does not answer ({type(exc).__name__} for userinfo)"
            ) from exc
        if response.status_code != 200:
            raise ProviderUnavailable(f"{self.provider.title} answered {response.status_code} for userinfo")
        try:
            info = response.json()
        except ValueError as exc:
            raise ProviderUnavailable(f"{self.provider.title} answered userinfo with no JSON") from exc
        if not isinstance(info, dict) or info.get("sub") != subject:  # Core 5.3.2: must be the same person
            raise InvalidIdToken(f"{self.provider.title}'s userinfo names another subject than the ID token")
        return info

    def logout_url(
        self, post_logout_redirect_uri: str, *, ui_locales: str | None = None, state: str | None = None
    ) -> str | None:
        """RP-initiated logout: the provider's end-session URL (None when it has none). It names this
        client, not the ID token: an ID token may hold a national identifier, which never goes in a URL.
        The provider sends `state` back to `post_logout_redirect_uri` (`?state=`)."""
        try:
            endpoint = self.metadata().get("end_session_endpoint")
        except OpenIdError:
            return None
        if not isinstance(endpoint, str):
            return None
        params = {"client_id": self.provider.client_id, "post_logout_redirect_uri": post_logout_redirect_uri}
        if ui_locales:
            params["ui_locales"] = ui_locales
        if state:
            params["state"] = state
        return str(httpx.URL(endpoint, params=params))


class OpenIdClients:
    """The clients of every configured provider, by name (one per service process)."""

    def __init__(self, providers: tuple[OpenIdProvider, ...] | list[OpenIdProvider], **options: Any) -> None:
        self._clients = {p.name: OpenIdClient(p, **options) for p in providers}

    def __bool__(self) -> bool:
        return bool(self._clients)

    def get(self, name: str) -> OpenIdClient | None:
        return self._clients.get(name)

    def providers(self) -> list[OpenIdProvider]:
        return [client.provider for client in self._clients.values()]
