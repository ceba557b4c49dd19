"""Browser login to the care-plan pages: the login form, the cookie and its flags, what the cookie
opens (GET pages only) and what it never opens (JSON API, FHIR, anything that changes state),
logout with revocation, the open-redirect guard, the purpose form, and the audit of page reads."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from careplan_api.deps import SESSION_COOKIE
from careplan_api.models import AuditAction, AuditEntry, User

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """The login is database-independent; the API's auth tests cover PostgreSQL."""
    return sqlite_url


@pytest.fixture
def browser(app: FastAPI) -> Iterator[TestClient]:
    """A client that behaves like a browser on HTTPS: asks for HTML, keeps cookies, does not follow redirects."""
    with TestClient(app, base_url="https://testserver", follow_redirects=False, headers=BROWSER) as client:
        yield client


def log_in(browser: TestClient, who: str, password: str, **form: str):
    return browser.post("/login", data={"username": who, "password": password, **form})


def report(citizen, **query: str) -> str:
    return f"/reports/citizens/{citizen}" + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def reads(app: FastAPI, who_id) -> list[tuple[str, str | None]]:
    with app.state.session_factory() as session:
        rows = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.actor_id == who_id, AuditEntry.action == AuditAction.READ)
            .order_by(AuditEntry.id)
        ).all()
        return [(e.resource, e.purpose) for e in rows]


def test_the_login_page_is_a_labelled_form_in_danish_and_english(browser):
    html = browser.get("/login").text
    assert '<html lang="da">' in html and "<h1>Log ind</h1>" in html
    assert '<label for="username">Brugernavn</label>' in html and 'id="username"' in html
    assert '<label for="password">Adgangskode</label>' in html and 'type="password"' in html
    assert 'autocomplete="current-password"' in html and 'method="post" action="/login"' in html
    english = browser.get("/login?lang=en").text
    assert '<html lang="en">' in english and '<label for="username">Username</label>' in english
    assert '<input type="hidden" name="lang" value="en">' in english


def test_login_sets_the_apis_token_in_a_strict_httponly_secure_cookie(browser, world, app):
    response = log_in(browser, "analyst", world.password)
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"
    cookie = response.headers["set-cookie"]
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert {"httponly", "secure", "path", "max-age"} <= flags
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Path=/;" in cookie + ";" and f"Max-Age={app.state.settings.access_token_ttl_s}" in cookie
    token = browser.cookies[SESSION_COOKIE]
    # the same JWT the API issues: it works as a bearer token on the API
    me = browser.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    assert me.status_code == 200 and me.json()["username"] == "analyst"
    with app.state.session_factory() as session:
        logins = session.scalars(select(AuditEntry.resource).where(AuditEntry.action == AuditAction.LOGIN)).all()
    assert logins == ["POST /login"]


def test_the_secure_flag_follows_the_setting(browser, world, app):
    app.state.settings = app.state.settings.model_copy(update={"cookie_secure": False})
    cookie = log_in(browser, "analyst", world.password).headers["set-cookie"]
    assert "httponly" in cookie.lower() and "secure" not in cookie.lower()


def test_a_wrong_password_shows_the_form_with_an_error_and_sets_no_cookie(browser, world, app):
    wrong = log_in(browser, "relative", "not the password", lang="da")
    unknown = log_in(browser, "nobody_here", "not the password", lang="da")
    with app.state.session_factory() as session:
        session.get(User, world.user_ids["staff_b"]).is_active = False
        session.commit()
    inactive = log_in(browser, "staff_b", world.password, lang="da")
    for response in (wrong, unknown, inactive):
        assert response.status_code == 200 and "set-cookie" not in response.headers
        assert 'role="alert"' in response.text and "Brugernavn eller adgangskode passer ikke" in response.text
    # no user enumeration: the three answers are the same page
    assert wrong.text == unknown.text == inactive.text
    assert SESSION_COOKIE not in browser.cookies
    english = log_in(browser, "relative", "nope", lang="en").text
    assert "Wrong username or password" in english and '<html lang="en">' in english


def test_a_relative_with_a_valid_fuldmagt_reads_the_report_by_cookie(browser, world, app):
    assert log_in(browser, "relative", world.password).headers["location"] == f"/reports/citizens/{world.alice}"
    response = browser.get(report(world.alice, purpose="omsorg"))
    assert response.status_code == 200 and "Måltidsrapport" in response.text
    assert 'action="/logout"' in response.text  # a logout button on every page opened by cookie
    assert reads(app, world.user_ids["relative"]) == [(f"GET /reports/citizens/{world.alice}", "omsorg")]


def test_a_relative_whose_fuldmagt_expired_can_log_in_but_reads_nothing(browser, world, app):
    assert log_in(browser, "relative_expired", world.password).status_code == 303
    response = browser.get(report(world.alice, purpose="omsorg"))
    assert response.status_code == 403
    with app.state.session_factory() as session:
        denied = session.scalars(
            select(AuditEntry).where(
                AuditEntry.actor_id == world.user_ids["relative_expired"], AuditEntry.action == AuditAction.DENIED
            )
        ).all()
    assert [(e.outcome, e.purpose) for e in denied] == [("denied", "omsorg")]


def test_an_analyst_sees_the_dashboard_but_no_person(browser, world, app):
    log_in(browser, "analyst", world.password)
    dashboard = browser.get("/dashboard?purpose=kvartal")
    assert dashboard.status_code == 200 and "Kommunens overblik" in dashboard.text
    assert browser.get(report(world.alice, purpose="omsorg")).status_code == 403
    assert browser.get(f"/reports/citizens/{world.alice}/access-log?purpose=omsorg").status_code == 403
    assert ("GET /dashboard (aggregates)", "kvartal") in reads(app, world.user_ids["analyst"])


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/usage-events", {"events": []}),
        ("GET", "/api/v1/citizens/{alice}", None),
        ("GET", "/api/v1/citizens/{alice}/meals", None),
        ("POST", "/api/v1/citizens/{alice}/notes", {"text": "via cookie"}),
        ("PUT", "/api/v1/citizens/{alice}/goal", {"level": 1}),
        ("GET", "/api/v1/auth/me", None),
        ("POST", "/api/v1/auth/logout", None),
        ("GET", "/fhir/Patient/{alice}/$everything", None),
        ("GET", "/dashboard/aggregates.json", None),
        ("POST", "/api/v1/users", {"username": "x", "password": "longenough", "role": "analyst"}),
    ],
)
@pytest.mark.parametrize("who", ["staff_a", "admin"])
def test_the_cookie_never_authorises_the_api_fhir_or_a_change(browser, world, method, path, body, who):
    log_in(browser, who, world.password)
    assert SESSION_COOKIE in browser.cookies
    kwargs = {"json": body} if body is not None else {}
    for accept in ("application/json", BROWSER["Accept"]):
        response = browser.request(
            method, path.format(alice=world.alice), headers={"Accept": accept, "X-Purpose": "omsorg"}, **kwargs
        )
        assert response.status_code in (401, 403), (accept, response.status_code, response.text[:200])
        assert "location" not in response.headers


def test_the_cookie_opens_no_page_by_post(browser, world):
    log_in(browser, "staff_a", world.password)
    assert browser.post(report(world.alice, purpose="omsorg")).status_code == 405


def test_logout_revokes_the_token_and_the_old_cookie_is_refused(browser, world, app):
    log_in(browser, "staff_a", world.password)
    token = browser.cookies[SESSION_COOKIE]
    assert browser.get(report(world.alice, purpose="omsorg")).status_code == 200
    response = browser.post("/logout")
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert f"{SESSION_COOKIE}=;" in response.headers["set-cookie"] and "Max-Age=0" in response.headers["set-cookie"]
    assert SESSION_COOKIE not in browser.cookies
    browser.cookies.set(
        SESSION_COOKIE, token, domain="testserver.local"
    )  # the jar files dotless hosts under .local  # a copy kept by an attacker
    refused = browser.get(report(world.alice, purpose="omsorg"))
    assert refused.status_code == 303 and refused.headers["location"].startswith("/login?next=")
    assert "Max-Age=0" in refused.headers["set-cookie"]
    assert browser.get(report(world.alice, purpose="omsorg"), headers={"Accept": "application/json"}).status_code == 401
    api = browser.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    assert api.status_code == 401 and "revoked" in api.text  # the same revocation list as the API


def test_logout_without_a_login_or_with_garbage_only_clears_the_cookie(browser):
    assert browser.post("/logout").status_code == 303
    browser.cookies.set(
        SESSION_COOKIE, "not.a.jwt", domain="testserver.local"
    )  # the jar files dotless hosts under .local
    assert browser.post("/logout").status_code == 303


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "/%0d%0aSet-Cookie:x=1",
        "",
        "dashboard",
        "/\t/evil.example",
    ],
)
def test_next_must_be_a_local_path(browser, world, target):
    response = log_in(browser, "analyst", world.password, next=target)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location == "/dashboard" or (location == target and target.startswith("/") and not target.startswith("//"))
    assert not urlsplit(location).netloc and not urlsplit(location).scheme


def test_next_brings_the_reader_back_to_the_page_they_asked_for(browser, world):
    wanted = report(world.alice, weeks="4", lang="en")
    first = browser.get(wanted)
    assert first.status_code == 303
    login_url = first.headers["location"]
    assert parse_qs(urlsplit(login_url).query)["next"] == [wanted]
    assert f'name="next" value="{wanted}"' in browser.get(login_url).text.replace("&amp;", "&")
    assert log_in(browser, "staff_a", world.password, next=wanted).headers["location"] == wanted


def test_an_api_client_without_login_still_gets_401(browser, world):
    assert browser.get(report(world.alice), headers={"Accept": "application/json"}).status_code == 401
    assert browser.get("/dashboard", headers={"Accept": "*/*"}).status_code == 401


def test_a_cross_site_login_or_logout_post_is_refused(browser, world):
    evil = {"Origin": "https://evil.example"}
    response = browser.post("/login", data={"username": "staff_a", "password": world.password}, headers=evil)
    assert response.status_code == 403 and "set-cookie" not in response.headers
    log_in(browser, "staff_a", world.password)
    assert browser.post("/logout", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert browser.get(report(world.alice, purpose="omsorg")).status_code == 200  # still logged in
    sibling = browser.post(
        "/login",
        data={"username": "staff_a", "password": world.password},
        headers={"Sec-Fetch-Site": "same-site", "Origin": "https://other.testserver"},
    )
    assert sibling.status_code == 403
    # our own pages: same origin, or Origin `null` (they send Referrer-Policy: no-referrer)
    for own in (
        {"Origin": "https://testserver"},
        {"Origin": "null", "Sec-Fetch-Site": "same-origin"},
        {"Origin": "null"},
    ):
        response = browser.post("/login", data={"username": "staff_a", "password": world.password}, headers=own)
        assert response.status_code == 303, own


def test_a_browser_without_a_purpose_is_asked_why_and_nothing_is_read(browser, world, app):
    log_in(browser, "staff_a", world.password)
    asked = browser.get(report(world.alice, weeks="4"))
    assert asked.status_code == 200 and '<html lang="da">' in asked.text
    assert "Hvorfor åbner du borgerens oplysninger?" in asked.text
    assert 'value="omsorg"' in asked.text and 'value="opfølgning"' in asked.text
    assert '<label for="purpose_note">' in asked.text and "<legend>Formål</legend>" in asked.text
    assert '<input type="hidden" name="weeks" value="4">' in asked.text
    assert "Måltider i perioden" not in asked.text
    assert reads(app, world.user_ids["staff_a"]) == []
    # the form's answer: a choice and a note, logged together
    answered = browser.get(
        report(world.alice, weeks="4", lang="da", purpose="opf%C3%B8lgning", purpose_note="efter+fald")
    )
    assert answered.status_code == 200 and "opfølgning: efter fald" in answered.text
    assert reads(app, world.user_ids["staff_a"]) == [(f"GET /reports/citizens/{world.alice}", "opfølgning: efter fald")]
    english = browser.get(f"/reports/citizens/{world.alice}/access-log?lang=en")
    assert "Why do you open the citizen&#39;s data?" in english.text and 'value="care"' in english.text


def test_a_too_short_purpose_is_asked_again_with_the_reason(browser, world, app):
    log_in(browser, "staff_a", world.password)
    response = browser.get(report(world.alice, purpose_note="ok"))
    assert response.status_code == 200 and 'role="alert"' in response.text and "3 til 200 tegn" in response.text
    assert reads(app, world.user_ids["staff_a"]) == []


def test_every_page_read_by_cookie_is_audited_with_its_purpose(browser, world, app):
    log_in(browser, "citizen", world.password)
    assert browser.get(report(world.alice, purpose="mit+indsyn")).status_code == 200
    assert browser.get(f"/reports/citizens/{world.alice}/trend.svg?purpose=mit+indsyn").status_code == 200
    assert browser.get(f"/reports/citizens/{world.alice}/access-log?purpose=hvem+kiggede").status_code == 200
    assert browser.get(f"/reports/citizens/{world.alice}/trend.svg").status_code == 200  # own data: not asked why
    base = f"GET /reports/citizens/{world.alice}"
    assert reads(app, world.user_ids["citizen"]) == [
        (base, "mit indsyn"),
        (f"{base}/trend.svg", "mit indsyn"),
        (f"{base}/access-log", "hvem kiggede"),
        (f"{base}/trend.svg", "the citizen's own record"),
    ]


def test_the_login_page_shows_who_is_logged_in(browser, world):
    log_in(browser, "staff_a", world.password)
    html = browser.get("/login").text
    assert "Du er logget ind som staff_a (personale)." in html and 'action="/logout"' in html
    assert 'name="password"' not in html


@pytest.mark.parametrize(
    "form",
    [
        {"username": "x" * 5000, "password": "p"},
        {"username": "staff_a"},
        {"username": "staff_a\x00", "password": "\x00"},
        {"username": "' OR 1=1 --", "password": "' OR 1=1 --"},
        {"username": "staff_a", "password": "p", "next": "/" + "a" * 5000},
    ],
)
def test_hostile_login_forms_get_a_clear_refusal(browser, form):
    response = browser.post("/login", data=form)
    assert response.status_code in (200, 422)
    assert "set-cookie" not in response.headers
