"""OpenID Connect login of the care plan against a real, certified OpenID Provider (node's oidc-provider,
started by the tests on 127.0.0.1): two providers as in a municipality, the national one for citizens and
relatives (a CPR claim) and the municipality's for staff (roles and units claims). Driven with httpx
through the provider's own pages; the browser test is test_openid_login_in_chromium.py.

Refusals: a replayed answer (state), an answer without this browser's cookie, an answer from another
issuer, a misconfigured issuer, a person with no record, a provider that is down before and during a
login. Each gets a page that says what to do, an audit entry, and never a 500."""

from __future__ import annotations

import base64
import json
import logging
import re
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from careplan_api.app import create_app
from careplan_api.local_postgres import free_port
from careplan_api.models import (
    AuditAction,
    AuditEntry,
    EatingGoal,
    Fuldmagt,
    FuldmagtScope,
    FuldmagtSource,
    IdentityLink,
    Role,
    StaffNote,
    User,
)
from careplan_api.openid import OpenIdProvider
from careplan_api.services.login import get_user
from careplan_api.services.openid_login import set_national_id
from careplan_api.services.security import cpr_hmac
from tests.careplan_api.conftest import make_settings, serve
from tests.openid_provider import CLIENT_SECRET, OpenIdProviderProcess, client, log_in_at_provider

ALICE_CPR = "010150-1234"  # the world's citizen Alice (conftest.World)
RELATIVE_CPR = "020260-2345"
ACCOUNTS_NATIONAL = {
    "alice": {"name": "Alice Testesen", "cpr": ALICE_CPR},
    "karen": {"name": "Karen Testesen", "cpr": RELATIVE_CPR},
    "stranger": {"name": "Ukendt Person", "cpr": "030370-3456"},
    "sofie": {"name": "Sofie Jensen", "cpr": "040480-4567"},  # holds a fuldmagt from the national register
}
ACCOUNTS_MUNICIPAL = {
    "anna": {"name": "Anna Hansen", "preferred_username": "anna@kommune.test", "roles": ["sosu"], "units": ["ou-a"]},
    "bo": {"name": "Bo Berg", "roles": ["bidvis-admin"]},
    "nobody": {"name": "Ny Medarbejder", "roles": ["kantine"], "units": ["ou-a"]},
}


@pytest.fixture(scope="module")
def careplan_port() -> int:
    return free_port()


def _callbacks(port: int, name: str) -> tuple[list[str], tuple[str, ...]]:
    return [f"http://127.0.0.1:{port}/login/oidc/{name}/callback"], (f"http://127.0.0.1:{port}/login",)


@pytest.fixture(scope="module")
def national(careplan_port: int) -> Iterator[OpenIdProviderProcess]:
    provider = OpenIdProviderProcess([client("careplan", *_callbacks(careplan_port, "mitid"))], ACCOUNTS_NATIONAL)
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def municipal(careplan_port: int) -> Iterator[OpenIdProviderProcess]:
    provider = OpenIdProviderProcess([client("careplan", *_callbacks(careplan_port, "kommune"))], ACCOUNTS_MUNICIPAL)
    yield provider
    provider.stop()


def providers(national_issuer: str, municipal_issuer: str, unknown_people: str = "refuse") -> list[OpenIdProvider]:
    """The configuration a municipality writes (docs/identity.md)."""
    return [
        OpenIdProvider(
            name="mitid",
            title="MitID",
            issuer=national_issuer,
            client_id="careplan",
            client_secret=CLIENT_SECRET,
            scopes=("openid", "profile", "bidvis"),
            default_role=Role.CITIZEN,
            national_id_claim="cpr",
            unknown_people=unknown_people,
        ),
        OpenIdProvider(
            name="kommune",
            title="Kommunens login",
            issuer=municipal_issuer,
            client_id="careplan",
            client_secret=CLIENT_SECRET,
            scopes=("openid", "profile", "bidvis"),
            roles_claim="roles",
            role_map={"sosu": Role.STAFF, "bidvis-admin": Role.ADMIN},
            units_claim="units",
            unit_map={"ou-a": "Unit A"},
        ),
    ]


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def settings(database_url, tmp_path, national, municipal):
    return make_settings(
        database_url,
        tmp_path,
        openid_providers=providers(national.issuer, municipal.issuer),
        password_login="break_glass",
        cookie_secure=False,  # httpx keeps Secure cookies for https only
    )


@pytest.fixture
def base(app, careplan_port) -> Iterator[str]:
    yield from serve(app, careplan_port)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10, headers={"Accept": "text/html", "Accept-Language": "da"}) as c:
        yield c


def _token_payload(token: str) -> dict:
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def _me(http: httpx.Client, base: str) -> dict:
    token = http.cookies.get("bidvis_session")
    assert token, "no login cookie"
    return httpx.get(f"{base}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json()


def _audit(app, action: AuditAction) -> list[AuditEntry]:
    with app.state.session_factory() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_a_citizen_logs_in_with_the_national_provider_as_her_own_citizen_record(app, base, http, world):
    done = log_in_at_provider(http, f"{base}/login/oidc/mitid", "alice")
    assert done.status_code == 200 and str(done.url).startswith(f"{base}/login/oidc/mitid/callback")
    assert f'url=/reports/citizens/{world.alice}"' in done.text  # on to her own report
    me = _me(http, base)
    assert me["role"] == "citizen" and me["citizen_id"] == str(world.alice)
    assert me["id"] == str(world.user_ids["citizen"])  # found by the hashed CPR claim: the existing login
    token = http.cookies.get("bidvis_session")
    assert token is not None
    payload = _token_payload(token)
    assert payload["idp"] == "mitid" and payload["sub"] == str(world.user_ids["citizen"])
    assert "0101501234" not in json.dumps(payload) and ALICE_CPR not in json.dumps(payload)
    with app.state.session_factory() as session:
        link = session.scalar(select(IdentityLink).where(IdentityLink.user_id == world.user_ids["citizen"]))
        assert link is not None and link.issuer.endswith(str(urlsplit(link.issuer).port)) and link.subject == "alice"
    logins = [e for e in _audit(app, AuditAction.LOGIN) if e.resource == "GET /login/oidc/mitid/callback"]
    assert len(logins) == 1 and logins[0].citizen_id == world.alice


def test_the_cpr_number_is_in_no_url_log_line_or_audit_entry_of_a_login_and_logout(
    app, base, http, world, caplog, national
):
    """Item 1: the CPR claim of the national provider is hashed at once (the URLs visited are in the log
    too, as httpx writes each request's)."""
    caplog.set_level(logging.DEBUG)
    assert "url=/reports/citizens/" in log_in_at_provider(http, f"{base}/login/oidc/mitid", "alice").text
    logout = http.post(f"{base}/logout", data={"lang": "da"})
    assert logout.status_code == 303 and logout.headers["location"].startswith(national.issuer)
    lines = [record.getMessage() for record in caplog.records]
    assert any("/login/oidc/mitid/callback?code=" in line for line in lines)  # the URLs are there to check
    with app.state.session_factory() as session:
        entries = [f"{e.resource} {e.purpose} {e.actor_name}" for e in session.scalars(select(AuditEntry))]
    seen = [*lines, logout.headers["location"], *entries, *(cookie.value or "" for cookie in http.cookies.jar)]
    assert [text for text in seen if re.search(r"010150-?1234", text)] == []


def test_a_relative_registered_by_national_identifier_logs_in_to_the_citizen_she_holds_a_fuldmagt_for(
    app, base, http, world
):
    with app.state.session_factory() as session:
        set_national_id(session, get_user(session, world.user_ids["relative"]), RELATIVE_CPR, app.state.cpr_key)
        session.commit()
    done = log_in_at_provider(http, f"{base}/login/oidc/mitid", "karen")
    assert done.status_code == 200
    me = _me(http, base)
    assert me["role"] == "relative" and me["id"] == str(world.user_ids["relative"])
    assert f"url=/reports/citizens/{world.alice}" in done.text
    report = http.get(f"{base}/reports/citizens/{world.alice}?purpose=omsorg")
    assert report.status_code == 200 and "Måltidsrapport" in report.text


def test_the_holder_of_a_fuldmagt_known_by_cpr_only_becomes_a_relative_at_her_first_login(app, base, http, world):
    with app.state.session_factory() as session:
        session.add(
            Fuldmagt(
                citizen_id=world.alice,
                scope=FuldmagtScope.CARE_PLAN,
                holder_name="Sofie Jensen",
                holder_national_id_hmac=cpr_hmac("040480-4567", app.state.cpr_key),
                source=FuldmagtSource.REGISTER,
                register_ref="dfm-1",
            )
        )
        session.commit()
    done = log_in_at_provider(http, f"{base}/login/oidc/mitid", "sofie")
    assert done.status_code == 200 and f"url=/reports/citizens/{world.alice}" in done.text
    me = _me(http, base)
    assert me["role"] == "relative" and me["username"] == "Sofie Jensen"
    assert http.get(f"{base}/reports/citizens/{world.alice}?purpose=omsorg").status_code == 200


def test_staff_get_role_and_unit_from_the_municipal_providers_claims(app, base, http, world):
    done = log_in_at_provider(http, f"{base}/login/oidc/kommune?next=/reports/citizens/{world.alice}", "anna")
    assert done.status_code == 200 and f"url=/reports/citizens/{world.alice}" in done.text
    me = _me(http, base)
    assert me["role"] == "staff" and me["username"] == "Anna Hansen"
    with app.state.session_factory() as session:
        user = session.get(User, uuid.UUID(me["id"]))
        assert user is not None and user.unit_id is not None
        assert user.password_hash == "!"  # no password: OpenID only
    assert http.get(f"{base}/reports/citizens/{world.alice}?purpose=omsorg").status_code == 200  # unit A
    assert http.get(f"{base}/reports/citizens/{world.bob}?purpose=omsorg").status_code == 403  # unit B


def test_staff_logged_in_through_the_provider_register_a_paper_fuldmagt_on_the_page(app, base, http, world):
    """Staff have no password and no API token in this (the default) mode: the page is their way to do it."""
    assert "url=/login" in log_in_at_provider(http, f"{base}/login/oidc/kommune", "anna").text  # on to who is logged in
    assert '<a href="/fuldmagter?lang=da">Borgere og fuldmagter i din enhed</a>' in http.get(f"{base}/login").text
    page = http.get(f"{base}/fuldmagter")
    assert page.status_code == 200 and "Fuldmagt på papir" in page.text
    assert f'value="{world.alice}"' in page.text and str(world.bob) not in page.text  # her unit's citizens only
    reason = "underskrevet på plejehjemmet; borgeren har ikke MitID"
    form = {"citizen": str(world.alice), "holder_name": "Karen", "holder_username": "relative", "scope": "full"}
    done = http.post(f"{base}/fuldmagter/paper", data=form | {"reason": reason}, follow_redirects=True)
    assert done.status_code == 200 and str(done.url).endswith("/fuldmagter?lang=da&done=paper")
    assert "Fuldmagten på papir er skrevet ind." in done.text
    with app.state.session_factory() as session:
        row = session.scalar(select(Fuldmagt).where(Fuldmagt.source == FuldmagtSource.PAPER))
        assert row is not None and row.citizen_id == world.alice and row.reason == reason
        anna = session.get(User, row.granted_by_user_id)
        assert anna is not None and anna.username == "Anna Hansen" and anna.password_hash == "!"
        entry = session.scalar(select(AuditEntry).where(AuditEntry.resource == f"fuldmagt {row.id}"))
        assert entry is not None and entry.purpose == f"fuldmagt on paper: {reason}" and entry.citizen_id == world.alice


def test_staff_logged_in_through_the_provider_assess_the_goal_write_a_note_and_end_a_fuldmagt_on_pages(
    app, base, http, world
):
    """The staff writes that were in the API only, on pages: the goal and a note on the report, the end of a
    fuldmagt on /fuldmagter (no API token in this mode); audited with her as the actor."""
    log_in_at_provider(http, f"{base}/login/oidc/kommune", "anna")
    report = f"{base}/reports/citizens/{world.alice}"
    page = http.get(f"{report}?purpose=omsorg")
    assert page.status_code == 200 and 'id="goal-form"' in page.text and 'id="note-form"' in page.text
    goal = {"purpose": "omsorg", "level": "3", "goal_text": "Spiser selv med robotten", "hand_feeding_minutes": "15"}
    done = http.post(f"{report}/goal", data=goal, follow_redirects=True)
    assert done.status_code == 200 and "Vurderingen er gemt." in done.text and "3 Svære begrænsninger" in done.text
    done = http.post(f"{report}/notes", data={"purpose": "omsorg", "text": "Spiste godt i dag"}, follow_redirects=True)
    assert done.status_code == 200 and "Notatet er gemt." in done.text and "Spiste godt i dag" in done.text
    with app.state.session_factory() as session:
        fuldmagt_id = session.scalar(
            select(Fuldmagt.id).where(
                Fuldmagt.relative_user_id == world.user_ids["relative"], Fuldmagt.citizen_id == world.alice
            )
        )
    assert f'action="/fuldmagter/{fuldmagt_id}/end"' in http.get(f"{base}/fuldmagter").text
    reason = "borgeren har bedt os om det"
    done = http.post(f"{base}/fuldmagter/{fuldmagt_id}/end", data={"reason": reason}, follow_redirects=True)
    assert done.status_code == 200 and "Fuldmagten er ophævet." in done.text
    with app.state.session_factory() as session:
        anna = session.scalar(select(User).where(User.username == "Anna Hansen"))
        assert anna is not None and anna.password_hash == "!"
        goal_row = session.scalar(select(EatingGoal).where(EatingGoal.citizen_id == world.alice))
        assert goal_row is not None and (goal_row.level, goal_row.assessed_by) == (3, anna.id)
        note = session.scalar(select(StaffNote).where(StaffNote.citizen_id == world.alice))
        assert note is not None and (note.text, note.author_id) == ("Spiste godt i dag", anna.id)
        ended = session.get(Fuldmagt, fuldmagt_id)
        assert ended is not None and ended.revoked_at is not None and ended.revoked_by_user_id == anna.id
        written = session.execute(
            select(AuditEntry.resource, AuditEntry.purpose).where(
                AuditEntry.actor_id == anna.id, AuditEntry.action == AuditAction.UPDATE
            )
        ).all()
    assert set(written) == {
        (f"POST /reports/citizens/{world.alice}/goal", "omsorg"),
        (f"POST /reports/citizens/{world.alice}/notes", "omsorg"),
        (f"fuldmagt {fuldmagt_id}", f"fuldmagt ended: {reason}"),
    }


def test_an_administrator_role_from_claims(base, http):
    log_in_at_provider(http, f"{base}/login/oidc/kommune", "bo")
    assert _me(http, base)["role"] == "admin"


@pytest.mark.parametrize(
    ("provider", "account"), [("mitid", "stranger"), ("kommune", "nobody")], ids=["no-record", "unmapped-role"]
)
def test_a_person_the_care_plan_has_nothing_for_is_refused_with_a_page(app, base, http, provider, account):
    done = log_in_at_provider(http, f"{base}/login/oidc/{provider}", account)
    assert done.status_code == 403
    assert "Du har ikke adgang her" in done.text and "bidvis_session" not in http.cookies
    assert "030370" not in done.text
    refused = _audit(app, AuditAction.DENIED)
    assert [e.resource for e in refused] == [f"GET /login/oidc/{provider}/callback: claims"]


def test_a_replayed_answer_is_refused(app, base, http, world):
    callback = log_in_at_provider(
        http, f"{base}/login/oidc/mitid", "alice", stop_at=f"{base}/login/oidc/mitid/callback"
    )
    url = urljoin(str(callback.url), callback.headers["location"])
    replay_cookies = httpx.Cookies(http.cookies)  # a copy, as an attacker holding the browser's cookies has
    assert http.get(url).status_code == 200  # the login
    again = httpx.get(url, cookies=replay_cookies, headers={"Accept": "text/html"})
    assert again.status_code == 400 and "allerede brugt" in again.text
    assert "bidvis_session" not in again.cookies
    assert [e.resource for e in _audit(app, AuditAction.DENIED)] == ["GET /login/oidc/mitid/callback: state"]


def test_an_answer_in_a_browser_that_did_not_start_the_login_is_refused(base, http):
    callback = log_in_at_provider(
        http, f"{base}/login/oidc/mitid", "alice", stop_at=f"{base}/login/oidc/mitid/callback"
    )
    url = urljoin(str(callback.url), callback.headers["location"])
    other_browser = httpx.get(url, headers={"Accept": "text/html"})  # a link sent to a victim (login CSRF)
    assert other_browser.status_code == 400 and "anden browser" in other_browser.text


def test_an_answer_that_names_another_issuer_is_refused(app, base, http):
    callback = log_in_at_provider(
        http, f"{base}/login/oidc/mitid", "alice", stop_at=f"{base}/login/oidc/mitid/callback"
    )
    url = urljoin(str(callback.url), callback.headers["location"])
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["iss"]  # RFC 9207: oidc-provider names itself in the answer
    query["iss"] = "https://evil.example"
    mixed_up = http.get(url.split("?")[0] + "?" + urlencode(query))
    assert mixed_up.status_code == 400 and "kunne ikke godkendes" in mixed_up.text
    assert [e.resource for e in _audit(app, AuditAction.DENIED)] == ["GET /login/oidc/mitid/callback: wrong_issuer"]


def test_the_login_page_offers_each_provider_and_the_password_only_as_break_glass(base, http, world):
    page = http.get(f"{base}/login")
    assert "Log ind med MitID" in page.text and "Log ind med Kommunens login" in page.text
    assert "Nødadgang for administrator" in page.text
    as_staff = http.post(f"{base}/login", data={"username": "staff_a", "password": world.password})
    assert as_staff.status_code == 200 and "Brugernavn eller adgangskode passer ikke" in as_staff.text
    token = httpx.post(f"{base}/api/v1/auth/token", data={"username": "staff_a", "password": world.password})
    assert token.status_code == 401
    admin = httpx.post(f"{base}/api/v1/auth/token", data={"username": "admin", "password": world.password})
    assert admin.status_code == 200


def test_an_unknown_provider_name_is_a_404_page(base, http):
    response = http.get(f"{base}/login/oidc/nosuch")
    assert response.status_code == 404 and "Den login-tjeneste findes ikke her" in response.text


def test_a_provider_that_is_down_gets_a_clear_page_before_and_during_a_login(tmp_path, sqlite_url):
    port = free_port()
    provider = OpenIdProviderProcess([client("careplan", *_callbacks(port, "mitid"))], ACCOUNTS_NATIONAL)
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = make_settings(
        sqlite_url, tmp_path, openid_providers=providers(provider.issuer, down), cookie_secure=False
    )
    app = create_app(settings)
    try:
        for base in serve(app, port):
            with httpx.Client(timeout=10, headers={"Accept": "text/html"}) as http:
                before = http.get(f"{base}/login/oidc/kommune?lang=en")
                assert before.status_code == 503 and before.headers["retry-after"]
                assert "Kommunens login does not answer right now" in before.text

                callback = log_in_at_provider(
                    http, f"{base}/login/oidc/mitid?lang=en", "alice", stop_at=f"{base}/login/oidc/mitid/callback"
                )
                provider.stop()  # down between the login form and the code exchange
                during = http.get(urljoin(str(callback.url), callback.headers["location"]))
                assert during.status_code == 503 and "MitID does not answer right now" in during.text
            outcomes = [e.outcome for e in _audit(app, AuditAction.DENIED)]
            assert outcomes == ["unavailable", "unavailable"]
    finally:
        provider.stop()
        app.state.engine.dispose()


def test_a_misconfigured_issuer_is_refused_with_a_page(tmp_path, sqlite_url, national):
    wrong = national.issuer.replace("127.0.0.1", "localhost")  # the same server, but not the issuer it names
    settings = make_settings(sqlite_url, tmp_path, openid_providers=providers(wrong, wrong)[:1])
    app = create_app(settings)
    try:
        with TestClient(app) as browser:
            response = browser.get("/login/oidc/mitid", headers={"Accept": "text/html"})
        assert response.status_code == 400 and "kunne ikke godkendes" in response.text
        assert [e.resource for e in _audit(app, AuditAction.DENIED)] == ["GET /login/oidc/mitid: wrong_issuer"]
    finally:
        app.state.engine.dispose()


def test_a_login_cancelled_at_the_provider_is_a_page_that_offers_to_try_again(app, base, http):
    start = http.get(f"{base}/login/oidc/mitid")
    state = dict(parse_qsl(urlsplit(start.headers["location"]).query))["state"]
    cancelled = http.get(f"{base}/login/oidc/mitid/callback", params={"error": "access_denied", "state": state})
    assert cancelled.status_code == 400 and "MitID afbrød login" in cancelled.text
    assert 'href="/login/oidc/mitid?lang=da"' in cancelled.text
    assert [e.resource for e in _audit(app, AuditAction.DENIED)] == ["GET /login/oidc/mitid/callback: provider_error"]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "code=x",
        "state=forged&code=x",
        "state=" + "%00%ED%A0%80%FF" * 1500 + "&code=" + "y" * 5000,  # NUL, a UTF-8 surrogate, bad bytes
        "error=%3Cscript%3Ealert(1)%3C/script%3E",
        "state=a&state=b&code=x&code=y",
    ],
    ids=["nothing", "no-state", "forged-state", "huge-garbage", "script-in-error", "repeated"],
)
def test_a_hostile_callback_is_refused_with_a_page(base, http, query):
    response = http.get(f"{base}/login/oidc/mitid/callback?{query}")
    assert response.status_code == 400 and "bidvis_session" not in http.cookies
    assert "<script>alert" not in response.text
