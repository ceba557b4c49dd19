"""The care plan's login pages as a citizen or a relative meets them, in Danish and English: the
choice of login service, the break-glass form, a wrong password, too many tries, who is logged in,
every refusal of an OpenID login, and the page after it. Each page's running text is plain language
(LIX at most 35, tests/readability.py) and a Danish page shows no English or system text (role keys,
request paths, codes). The pages come from the real routes; a refusal that needs a provider's answer
is made by a provider client that raises it, so every refusal text is on a page in this test."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from careplan_api import openid
from careplan_api.app import create_app
from careplan_api.i18n import Lang, texts
from careplan_api.local_postgres import free_port
from careplan_api.models import Role
from careplan_api.openid import OpenIdProvider
from careplan_api.routes.auth import SESSION_COOKIE
from tests.careplan_api.conftest import make_settings
from tests.login_pages import refusal_pages, throttled_page
from tests.readability import page_text, text_problems

# English words that a Danish login page must not show (beside SYSTEM_TEXT's)
ENGLISH = re.compile(r"\b(log in|please|try|wrong|password|username|error|answer|provider|state|nonce|token)\b", re.I)
# every way an OpenID login is refused (careplan_api.routes.openid._refusal_page_key)
REFUSALS = [
    openid.ProviderUnavailable("down"),
    openid.StateUnknown("replayed"),
    openid.TokenExpired("expired"),
    openid.ProviderRefused("cancelled"),
    openid.ClaimsRefused("no role"),
    openid.WrongIssuer("another issuer"),
    openid.WrongAudience("another client"),
    openid.NonceMismatch("another login"),
    openid.InvalidIdToken("bad signature"),
]


def _provider(name: str, title: str, role: Role | None) -> OpenIdProvider:
    return OpenIdProvider(
        name=name,
        title=title,
        issuer=f"http://127.0.0.1:{free_port()}",  # nothing listens there: only the refusals are reached
        client_id="careplan",
        client_secret="not-used-0123456789",
        default_role=role,
    )


@pytest.fixture
def app(sqlite_url, tmp_path) -> Iterator[FastAPI]:
    settings = make_settings(
        sqlite_url,
        tmp_path,
        openid_providers=[_provider("mitid", "MitID", Role.CITIZEN), _provider("kommune", "Kommunens login", None)],
        password_login="break_glass",
        cookie_secure=False,
    )
    application = create_app(settings)
    yield application
    application.state.engine.dispose()


def _pages(app: FastAPI, world, lang: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every login page a citizen or relative can meet, by what it shows: name -> HTML."""
    pages: dict[str, str] = {}
    html = {"Accept": "text/html"}
    with TestClient(app, headers=html) as browser:
        pages["choice"] = browser.get(f"/login?lang={lang}").text
        wrong = {"username": "citizen", "password": "not the password", "lang": lang}
        pages["wrong password"] = browser.post("/login", data=wrong).text
        if (throttled := throttled_page(browser, wrong)) is not None:
            pages["too many tries"] = throttled
        pages["unknown service"] = browser.get(f"/login/oidc/nosuch?lang={lang}").text
        pages["cancelled at the provider"] = browser.get(
            f"/login/oidc/mitid/callback?error=access_denied&lang={lang}"
        ).text
        pages["used answer"] = browser.get(f"/login/oidc/mitid/callback?state=old&code=x&lang={lang}").text
        pages["provider down"] = browser.get(f"/login/oidc/kommune?lang={lang}").text
        client = app.state.openid.get("mitid")
        pages |= refusal_pages(browser, client, f"/login/oidc/mitid?lang={lang}", REFUSALS, monkeypatch)
    for who in ("citizen", "relative"):
        with TestClient(app, headers=html, cookies={SESSION_COOKIE: world.tokens[who]}) as browser:
            pages[f"logged in as {who}"] = browser.get(f"/login?lang={lang}").text
    assert "too many tries" in pages, "the login throttle never answered 429"
    return pages


def _problems(html: str, lang: str, names: list[str]) -> list[str]:
    """What is wrong with one page's texts: its LIX, and on a Danish page English or system text."""

    def hide_names(text: str) -> str:  # people's user names are theirs to keep
        for name in sorted(names, key=len, reverse=True):
            text = re.sub(rf"(?<!\(){re.escape(name)}\b(?!\))", "NAME", text)
        return text

    return text_problems(html, lang, ENGLISH, hide_names)


@pytest.mark.parametrize("lang", ["da", "en"])
def test_every_login_page_a_citizen_or_relative_meets_is_plain_language(app, world, lang, monkeypatch):
    pages = _pages(app, world, lang, monkeypatch)
    assert len(pages) == 7 + len(REFUSALS) + 2
    bad = {name: found for name, html in pages.items() if (found := _problems(html, lang, list(world.user_ids)))}
    assert not bad, "\n".join(f"{name}: {problem}" for name, found in bad.items() for problem in found)
    for name, html in pages.items():
        assert f'lang="{lang}"' in html and page_text(html).running, name


def test_the_logged_in_page_names_the_role_in_the_readers_language(app, world, monkeypatch):
    pages = _pages(app, world, "da", monkeypatch)
    assert "(borger)" in pages["logged in as citizen"] and "(pårørende)" in pages["logged in as relative"]


@pytest.mark.parametrize(
    ("key", "text"),
    [
        (
            "login_refused_state",
            "Anmodningen kunne ikke gennemføres, idet den medsendte tilstandsparameter enten allerede er "
            "anvendt, er udløbet eller stammer fra en anden browsersession, hvorfor autentificeringen skal "
            "påbegyndes påny.",
        ),
        ("login_failed", "Brugernavnet og/eller adgangskoden kunne desværre ikke verificeres af systemet."),
        ("login_failed", "Wrong username or password. Please try again."),
        ("signed_in_as", "Du er logget ind som {username} ({role}) via token."),
    ],
)
def test_a_long_winded_english_or_system_text_on_a_login_page_fails_the_check(app, world, monkeypatch, key, text):
    """The check bites: put back a long-winded text, an English one or a system word, and a page fails."""
    monkeypatch.setitem(texts(Lang.DA), key, text)  # type: ignore[arg-type]
    pages = _pages(app, world, "da", monkeypatch)
    assert any(_problems(html, "da", list(world.user_ids)) for html in pages.values())
