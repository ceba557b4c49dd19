"""The pages a citizen or a relative sees right after logging in to the care plan, and after logging
out, in Danish and English: with a password (the demo) and through an OpenID Provider ("you are
logged in", then the report; the relative is first asked why), and the page a logout ends on. Each
is measured as the login pages are (tests/readability.py, test_login_texts.py): running text at
LIX 35 at most, and no English or system text on a Danish page. The pages keep the language the
person chose at the login and the logout. The provider is a client whose discovery and token answers
are given in the test (nothing listens at its address); the rest is the real routes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from careplan_api.app import create_app
from careplan_api.i18n import Lang, texts
from careplan_api.models import Role, User
from careplan_api.services import people
from careplan_api.services.openid_login import link_identity
from tests.careplan_api.conftest import make_settings
from tests.careplan_api.test_login_texts import _problems, _provider
from tests.readability import page_text

PROVIDER_END = "http://127.0.0.1:9/end-session"  # never reached: the test reads the redirect only


@pytest.fixture
def app(sqlite_url, tmp_path) -> Iterator[FastAPI]:
    settings = make_settings(
        sqlite_url, tmp_path, openid_providers=[_provider("mitid", "MitID", Role.CITIZEN)], cookie_secure=False
    )
    application = create_app(settings)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def care_plan(app, world) -> FastAPI:
    """Alice has eaten with the robot (a safety stop included) and has an FSIII goal with the time
    hand-feeding takes, so that every part of the report has text; her and her relative's logins are
    linked to identities at the provider."""
    with TestClient(app) as api:
        for _ in range(2):
            answer = api.post(
                "/api/v1/usage-events", json={"events": world.meal_events()}, headers=world.headers("device_alice")
            )
            assert answer.status_code == 200, answer.text
    with app.state.session_factory() as session:
        people.assess_goal(session, world.alice, 3, "Spise selv med robotten", None, hand_feeding_minutes=20.0)
        for who in ("citizen", "relative"):
            user = session.get(User, world.user_ids[who])
            assert user is not None
            link_identity(session, user, app.state.openid.get("mitid").provider.issuer, f"sub-{who}")
        session.commit()
    return app


def _landed(browser: TestClient, who: str, lang: str, url: str, page: str, label: str) -> dict[str, str]:
    """The page a login ended on, and for a relative, who is asked why first, the report after it."""
    if who != "relative":
        return {label: page}
    answer = dict(parse_qsl(urlsplit(url).query)) | {"purpose": texts(Lang(lang))["purpose_care"]}
    report = browser.get(url.split("?")[0], params=answer)  # as the question's form sends it
    assert report.status_code == 200, report.text
    return {label: page, f"{label}: the report": report.text}


def _password_pages(app: FastAPI, world, who: str, lang: str) -> dict[str, str]:
    with TestClient(app, headers={"Accept": "text/html"}) as browser:
        landed = browser.post("/login", data={"username": who, "password": world.password, "lang": lang})
        pages = _landed(browser, who, lang, str(landed.url), landed.text, f"{who} after a password login")
        out = browser.post("/logout", data={"lang": lang})
        assert out.history and out.history[0].status_code == 303, "the logout did not go on to a page"
        pages[f"{who} after logging out"] = out.text
    return pages


def _fake_provider(app: FastAPI, who: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider's discovery answers and its ID token for `who`, given here (nothing listens there)."""
    client = app.state.openid.get("mitid")
    endpoints = {"authorization_endpoint": "http://127.0.0.1:9/auth", "end_session_endpoint": PROVIDER_END}
    monkeypatch.setattr(client, "metadata", lambda: endpoints)
    monkeypatch.setattr(client, "finish", lambda _pending, _params: {"sub": f"sub-{who}"})


def _openid_login(browser: TestClient, query: str) -> tuple[str, str]:
    """Log in through the provider from `/login/oidc/mitid?{query}`: the "you are logged in" page and
    the address it goes on to."""
    to_provider = browser.get(f"/login/oidc/mitid?{query}")
    state = parse_qs(urlsplit(to_provider.headers["location"]).query)["state"][0]
    done = browser.get(f"/login/oidc/mitid/callback?state={state}&code=c")
    target = re.search(r'id="continue" href="([^"]+)"', done.text)
    assert target is not None, done.text
    return done.text, target.group(1).replace("&amp;", "&")


def _openid_pages(app: FastAPI, world, who: str, lang: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    _fake_provider(app, who, monkeypatch)
    pages = {}
    with TestClient(app, headers={"Accept": "text/html"}, follow_redirects=False) as browser:
        pages[f"{who}: logged in through the provider"], url = _openid_login(browser, f"lang={lang}")
        pages |= _landed(browser, who, lang, url, browser.get(url).text, f"{who} after logging in through the provider")
        out = browser.post("/logout", data={"lang": lang})
        assert out.headers["location"].startswith(PROVIDER_END)  # the provider's logout, then back to /login
        back = browser.get("/login", headers={"Accept-Language": lang})
        pages[f"{who} back from the provider's logout"] = back.text
    return pages


@pytest.mark.parametrize("lang", ["da", "en"])
def test_the_pages_after_login_and_logout_are_plain_language_in_the_chosen_language(
    care_plan, world, lang, monkeypatch
):
    pages: dict[str, str] = {}
    for who in ("citizen", "relative"):
        pages |= _password_pages(care_plan, world, who, lang)
        pages |= _openid_pages(care_plan, world, who, lang, monkeypatch)
    assert len(pages) == 2 * 5 + 2  # the relative is asked why once more in each way
    bad = {name: found for name, html in pages.items() if (found := _problems(html, lang, list(world.user_ids)))}
    assert not bad, "\n".join(f"{name}: {problem}" for name, found in bad.items() for problem in found)
    for name, html in pages.items():
        assert f'<html lang="{lang}"' in html and page_text(html).running, name
    t = texts(Lang(lang))
    for who in ("citizen", "relative"):
        assert t["report_intro_own" if who == "citizen" else "purpose_intro"] in pages[f"{who} after a password login"]
        report = f"{who} after logging in through the provider" + (": the report" if who == "relative" else "")
        assert t["effect_title"] in pages[report]


def test_the_citizens_own_report_speaks_to_the_citizen(care_plan, world):
    for lang in ("da", "en"):
        pages = _password_pages(care_plan, world, "citizen", lang)
        text = " ".join(page_text(pages["citizen after a password login"]).running)
        assert not re.search(r"\b(borgeren|the citizen)\b", text), text


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("report_intro_own", "Here you can see how your meals with the eating robot go."),
        ("trend_download", "SVG"),
    ],
)
def test_a_long_winded_english_or_system_text_after_login_fails_the_check(care_plan, world, monkeypatch, key, text):
    """The check bites: put back a long-winded text, an English one or a file format's name, and a page fails."""
    monkeypatch.setitem(texts(Lang.DA), key, text)  # type: ignore[arg-type]
    pages = _password_pages(care_plan, world, "citizen", "da")
    assert any(_problems(html, "da", list(world.user_ids)) for html in pages.values())


def _language(html: str) -> str:
    found = re.search(r'<html lang="([a-z]+)"', html)
    assert found is not None, html
    return found.group(1)


# each language chosen on the login page against a browser that prefers the other one
CHOICE_AGAINST_BROWSER = [("da", "en-GB,en;q=0.9"), ("en", "da")]


@pytest.mark.parametrize(("chosen", "accept_language"), CHOICE_AGAINST_BROWSER)
def test_a_language_chosen_at_the_password_login_wins_over_the_browsers_through_login_and_logout(
    care_plan, world, chosen, accept_language
):
    headers = {"Accept": "text/html", "Accept-Language": accept_language}
    with TestClient(care_plan, headers=headers) as browser:
        assert f'<input type="hidden" name="lang" value="{chosen}">' in browser.get(f"/login?lang={chosen}").text
        landed = browser.post("/login", data={"username": "citizen", "password": world.password, "lang": chosen})
        assert landed.history[0].headers["location"] == f"/reports/citizens/{world.alice}?lang={chosen}"
        assert _language(landed.text) == chosen
        out = browser.post("/logout", data={"lang": chosen})
        assert out.history[0].headers["location"] == f"/login?lang={chosen}" and _language(out.text) == chosen


@pytest.mark.parametrize(("chosen", "accept_language"), CHOICE_AGAINST_BROWSER)
def test_a_language_chosen_at_the_openid_login_wins_over_the_browsers_through_login_and_the_providers_logout(
    care_plan, world, chosen, accept_language, monkeypatch
):
    _fake_provider(care_plan, "citizen", monkeypatch)
    headers = {"Accept": "text/html", "Accept-Language": accept_language}
    with TestClient(care_plan, headers=headers, follow_redirects=False) as browser:
        done, url = _openid_login(browser, f"lang={chosen}")
        assert _language(done) == chosen and url == f"/reports/citizens/{world.alice}?lang={chosen}"
        assert _language(browser.get(url).text) == chosen
        out = browser.post("/logout", data={"lang": chosen})
        to_provider = parse_qs(urlsplit(out.headers["location"]).query)
        assert to_provider["state"] == [chosen] and to_provider["ui_locales"] == [chosen]
        back = browser.get(f"/login?state={chosen}")  # where the provider sends the browser after its logout
        assert _language(back.text) == chosen


def test_without_a_chosen_language_the_browsers_decides_and_none_is_written(care_plan, world, monkeypatch):
    _fake_provider(care_plan, "citizen", monkeypatch)
    headers = {"Accept": "text/html", "Accept-Language": "en"}
    with TestClient(care_plan, headers=headers, follow_redirects=False) as browser:
        done, url = _openid_login(browser, "")
        assert url == f"/reports/citizens/{world.alice}" and _language(done) == "en"
        out = browser.post("/logout")
        assert "state" not in parse_qs(urlsplit(out.headers["location"]).query)
        assert _language(browser.get("/login").text) == "en"


@pytest.mark.parametrize("hostile", ["fr", "da<b>", "../en", "\u00e6"])
def test_an_unknown_or_hostile_language_is_not_carried_on(care_plan, world, monkeypatch, hostile):
    _fake_provider(care_plan, "citizen", monkeypatch)
    headers = {"Accept": "text/html", "Accept-Language": "en"}
    with TestClient(care_plan, headers=headers, follow_redirects=False) as browser:
        login = browser.post("/login", data={"username": "citizen", "password": world.password, "lang": hostile})
        assert login.headers["location"] == f"/reports/citizens/{world.alice}"
        _done, url = _openid_login(browser, urlencode({"lang": hostile}))
        assert url == f"/reports/citizens/{world.alice}"
        out = browser.post("/logout", data={"lang": hostile})
        assert "state" not in parse_qs(urlsplit(out.headers["location"]).query)
        assert _language(browser.get("/login", params={"state": hostile}).text) == "en"
