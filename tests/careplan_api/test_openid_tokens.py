"""The ID token checks of `careplan_api.openid.OpenIdClient` on real tokens from real providers (node's
oidc-provider on 127.0.0.1): two providers that sign with the same key, as tenants of one provider do, so
that only the issuer tells their tokens apart; a second client at the same provider; the clock moved on;
an ID token carried into another login (nonce). And the pure claims mapping, with hostile claims."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc.jwk import RSAKey

from careplan_api.identity_mapping import person_from_claims
from careplan_api.models import Role
from careplan_api.openid import (
    ClaimsRefused,
    NonceMismatch,
    OpenIdClient,
    OpenIdProvider,
    ProviderRefused,
    ProviderUnavailable,
    StateUnknown,
    TokenExpired,
    WrongAudience,
    WrongIssuer,
)
from careplan_api.services.security import cpr_hmac
from tests.openid_provider import CLIENT_SECRET, OpenIdProviderProcess, client, log_in_at_provider

REDIRECT = "http://127.0.0.1:9/callback"  # never served: the tests read the code from the redirect
ACCOUNTS = {"anna": {"name": "Anna Hansen", "roles": ["sosu"], "units": ["ou-a"]}}
KEY = b"k" * 16 + b"0123456789abcdef"


@pytest.fixture(scope="module")
def shared_key() -> dict:
    return RSAKey.generate_key(
        2048, parameters={"kid": "tenant-key", "use": "sig", "alg": "RS256"}, private=True
    ).as_dict(private=True)


@pytest.fixture(scope="module")
def tenant_a(shared_key) -> Iterator[OpenIdProviderProcess]:
    provider = OpenIdProviderProcess(
        [client("careplan", [REDIRECT]), client("other-service", [REDIRECT])], ACCOUNTS, jwks={"keys": [shared_key]}
    )
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def tenant_b(shared_key) -> Iterator[OpenIdProviderProcess]:
    provider = OpenIdProviderProcess([client("careplan", [REDIRECT])], ACCOUNTS, jwks={"keys": [shared_key]})
    yield provider
    provider.stop()


def rp(issuer: str, client_id: str = "careplan", **options) -> OpenIdClient:
    return OpenIdClient(
        OpenIdProvider(
            name="kommune",
            title="Kommunens login",
            issuer=issuer,
            client_id=client_id,
            client_secret=CLIENT_SECRET,
            scopes=("openid", "profile", "bidvis"),
            **options,
        )
    )


def real_login(relying_party: OpenIdClient, account: str = "anna") -> tuple[dict, str, dict]:
    """A whole login at the provider: (the token response, the nonce of the login, the callback's query)."""
    url, pending = relying_party.begin(REDIRECT)
    with httpx.Client(timeout=10) as http:
        redirect = log_in_at_provider(http, url, account, stop_at=REDIRECT)
    query = {k: v[0] for k, v in parse_qs(urlsplit(redirect.headers["location"]).query).items()}
    assert query["state"] == pending.state
    return relying_party._exchange(pending, query["code"]), pending.nonce, query


def test_a_real_login_gives_checked_claims_with_the_userinfo(tenant_a):
    relying_party = rp(tenant_a.issuer)
    url, pending = relying_party.begin(REDIRECT)
    with httpx.Client(timeout=10) as http:
        redirect = log_in_at_provider(http, url, "anna", stop_at=REDIRECT)
    query = {k: v[0] for k, v in parse_qs(urlsplit(redirect.headers["location"]).query).items()}
    assert "code_challenge=" in url and "code_challenge_method=S256" in url and "nonce=" in url  # PKCE
    claims = relying_party.finish(pending, query)
    assert claims["sub"] == "anna" and claims["iss"] == tenant_a.issuer
    assert claims["roles"] == ["sosu"] and claims["units"] == ["ou-a"]  # from userinfo
    with pytest.raises(StateUnknown):
        relying_party.finish(pending, {**query, "state": "someone else's"})


def test_a_token_of_another_tenant_signed_with_the_same_key_is_refused_for_its_issuer(tenant_a, tenant_b):
    token, nonce, _query = real_login(rp(tenant_b.issuer))
    assert rp(tenant_b.issuer).verify_id_token(token["id_token"], nonce)["iss"] == tenant_b.issuer
    with pytest.raises(WrongIssuer):
        rp(tenant_a.issuer).verify_id_token(token["id_token"], nonce)


def test_a_token_issued_to_another_client_is_refused_for_its_audience(tenant_a):
    token, nonce, _query = real_login(rp(tenant_a.issuer, client_id="other-service"))
    with pytest.raises(WrongAudience):
        rp(tenant_a.issuer).verify_id_token(token["id_token"], nonce)


def test_an_expired_token_is_refused(tenant_a):
    relying_party = rp(tenant_a.issuer)
    token, nonce, _query = real_login(relying_party)
    later = relying_party.clock() + 3600 + relying_party.provider.clock_skew_s + 1  # the provider's ID tokens last 1 h
    with pytest.raises(TokenExpired):
        relying_party.verify_id_token(token["id_token"], nonce, now=later)


def test_an_id_token_carried_into_another_login_is_refused_for_its_nonce(tenant_a):
    relying_party = rp(tenant_a.issuer)
    token, _nonce, _query = real_login(relying_party)
    _url, other_login = relying_party.begin(REDIRECT)
    with pytest.raises(NonceMismatch):
        relying_party.verify_id_token(token["id_token"], other_login.nonce)


def test_a_used_code_is_refused_by_the_provider(tenant_a):
    relying_party = rp(tenant_a.issuer)
    url, pending = relying_party.begin(REDIRECT)
    with httpx.Client(timeout=10) as http:
        redirect = log_in_at_provider(http, url, "anna", stop_at=REDIRECT)
    query = {k: v[0] for k, v in parse_qs(urlsplit(redirect.headers["location"]).query).items()}
    relying_party.finish(pending, query)
    with pytest.raises(ProviderRefused, match="invalid_grant"):
        relying_party.finish(pending, query)


def test_a_provider_that_does_not_answer(tenant_a):
    from careplan_api.local_postgres import free_port

    with pytest.raises(ProviderUnavailable, match="does not answer"):
        rp(f"http://127.0.0.1:{free_port()}").begin(REDIRECT)


# The claims mapping (pure)

STAFF = OpenIdProvider(
    name="kommune",
    title="Kommunens login",
    issuer="https://login.kommune.test",
    client_id="careplan",
    client_secret="x",
    roles_claim="realm_access.roles",
    role_map={"sosu": Role.STAFF, "bidvis-admin": Role.ADMIN, "analytiker": Role.ANALYST},
    units_claim="units",
    unit_map={"ou-a": "Unit A", "ou-b": "Unit B"},
)
NATIONAL = OpenIdProvider(
    name="mitid",
    title="MitID",
    issuer="https://nemlog-in.test",
    client_id="careplan",
    client_secret="x",
    default_role=Role.CITIZEN,
    national_id_claim="dk:gov:saml:attribute:CprNumberIdentifier",
)


def test_roles_and_units_come_from_nested_claims_through_the_maps():
    person = person_from_claims(
        STAFF, {"sub": "s1", "name": "Anna", "realm_access": {"roles": ["sosu", "other"]}, "units": "ou-a ou-x"}, None
    )
    assert (person.role, person.units, person.display_name) == (Role.STAFF, ("Unit A",), "Anna")


@pytest.mark.parametrize(
    ("claims", "says"),
    [
        ({"sub": "s", "realm_access": {"roles": ["sosu", "bidvis-admin"]}}, "several roles"),
        ({"sub": "s", "realm_access": {"roles": ["kantine"]}}, "no role"),
        ({"sub": "s", "realm_access": "sosu"}, "no role"),  # not the nested shape configured
        ({"sub": "s", "realm_access": {"roles": [{"$ne": 1}, 7, None]}}, "no role"),
        ({"sub": "", "realm_access": {"roles": ["sosu"]}}, "subject"),
        ({"sub": ["a"], "realm_access": {"roles": ["sosu"]}}, "subject"),
    ],
)
def test_claims_that_give_no_one_role_are_refused(claims, says):
    with pytest.raises(ClaimsRefused, match=says):
        person_from_claims(STAFF, claims, None)


def test_the_national_identifier_is_kept_only_as_its_keyed_hash():
    person = person_from_claims(
        NATIONAL, {"sub": "pseudonym-1", "dk:gov:saml:attribute:CprNumberIdentifier": "0101501234"}, KEY
    )
    assert person.role is Role.CITIZEN and person.national_id_hmac == cpr_hmac("010150-1234", KEY)
    assert "0101501234" not in repr(person)


@pytest.mark.parametrize("value", ["not a cpr", "3213991234", 101501234, ["0101501234"]])
def test_a_national_identifier_that_is_no_cpr_number_is_refused_without_repeating_it(value):
    with pytest.raises(ClaimsRefused) as refused:
        person_from_claims(NATIONAL, {"sub": "p", "dk:gov:saml:attribute:CprNumberIdentifier": value}, KEY)
    assert str(value) not in str(refused.value)


@pytest.mark.parametrize(
    "issuer", ["http://login.kommune.test", "ftp://x", "https://x/?q=1", "https://x/#f", "not a url"]
)
def test_an_issuer_must_be_https_except_on_loopback(issuer):
    with pytest.raises(ValueError, match="issuer"):
        OpenIdProvider(name="x", title="X", issuer=issuer, client_id="c", client_secret="s")
    assert OpenIdProvider(name="x", title="X", issuer="http://127.0.0.1:5/", client_id="c", client_secret="s")
