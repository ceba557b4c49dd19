"""The robot's staff login pages, in Danish and English, as anyone at the robot may meet them (a
citizen or a relative included): with passwords only, with a choice of login service and the
break-glass form, a wrong password, too many tries, an unknown service, and every refusal of an
OpenID login. Each page's running text is plain language (LIX at most 35, tests/readability.py) and a
Danish page shows no English or system text; the one command (how accounts are made) is shown as a
command (`<code>`). A refusal that needs a provider's answer is made by a provider client that raises it."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from bidvis.robot_ui.app import create_app
from bidvis.robot_ui.deps import SESSION_COOKIE
from bidvis.robot_ui.staff_openid import StaffOpenId
from bidvis.robot_ui.texts import Language, staff_words
from careplan_api import openid
from careplan_api.local_postgres import free_port
from careplan_api.models import Role
from careplan_api.openid import OpenIdClients, OpenIdProvider
from tests.bidvis.conftest import ROBOT_URL
from tests.login_pages import refusal_pages, throttled_page
from tests.readability import page_text, text_problems

ENGLISH = re.compile(
    r"\b(log in|please|try|wrong|password|user name|accounts?|error|answer|provider|state|nonce|token)\b", re.I
)
REFUSALS = [
    openid.ProviderUnavailable("down"),
    openid.StateUnknown("replayed"),
    openid.TokenExpired("expired"),
    openid.ProviderRefused("cancelled"),
    openid.ClaimsRefused("another unit"),
    openid.WrongIssuer("another issuer"),
    openid.InvalidIdToken("bad signature"),
]


def _provider(name: str, title: str) -> OpenIdProvider:
    return OpenIdProvider(
        name=name,
        title=title,
        issuer=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        client_id="robot-12",
        client_secret="not-used-0123456789",
        roles_claim="roles",
        role_map={"sosu": Role.STAFF},
    )


def _pages(robot, tmp_path, make_staff_login, lang: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    pages: dict[str, str] = {}
    wrong = {"username": "Anna", "password": "not the password", "lang": lang}
    passwords_only = make_staff_login(tmp_path / "passwords")
    with TestClient(create_app(robot.session, passwords_only), base_url=ROBOT_URL) as browser:
        pages["passwords only"] = browser.get(f"/login?lang={lang}").text
        pages["wrong password"] = browser.post("/login", data=wrong).text
        if (throttled := throttled_page(browser, wrong)) is not None:
            pages["too many tries"] = throttled
    with_services = make_staff_login(tmp_path / "services")
    with_services.password_accounts = frozenset({"Bo"})  # break-glass only
    with_services.openid = StaffOpenId(OpenIdClients([_provider("kommune", "Kommunens login")]), unit=None)
    with TestClient(create_app(robot.session, with_services), base_url=ROBOT_URL) as browser:
        pages["choice"] = browser.get(f"/login?lang={lang}").text
        pages["unknown service"] = browser.get(f"/login/oidc/nosuch?lang={lang}").text
        client = with_services.openid.clients.get("kommune")
        pages |= refusal_pages(browser, client, f"/login/oidc/kommune?lang={lang}", REFUSALS, monkeypatch)
    assert "too many tries" in pages, "the login throttle never answered 429"
    return pages


def _problems(html: str, lang: str) -> list[str]:
    """What is wrong with one page's texts: its LIX, on a Danish page English or system text, and a
    command shown as text rather than as a command."""
    problems = text_problems(html, lang, ENGLISH, lambda text: text.replace("Anna", "NAME"))
    if lang == "da":
        text = " ".join(page_text(html).all)
        problems += [f"a command outside <code>: {m.group(0)!r}" for m in re.finditer(r"\bbidvis \w+", text)]
    return problems


@pytest.mark.parametrize("lang", ["da", "en"])
def test_every_staff_login_page_of_the_robot_is_plain_language(robot, tmp_path, make_staff_login, lang, monkeypatch):
    pages = _pages(robot, tmp_path, make_staff_login, lang, monkeypatch)
    assert len(pages) == 5 + len(REFUSALS)
    bad = {name: found for name, html in pages.items() if (found := _problems(html, lang))}
    assert not bad, "\n".join(f"{name}: {problem}" for name, found in bad.items() for problem in found)
    assert "<code>bidvis ui add-staff" in pages["passwords only"]


@pytest.mark.parametrize(
    ("key", "text"),
    [
        (
            "oidc_refused_state",
            "Anmodningen kunne ikke gennemføres, idet den medsendte tilstandsparameter enten allerede er "
            "anvendt, er udløbet eller stammer fra en anden browsersession, hvorfor autentificeringen skal "
            "påbegyndes påny.",
        ),
        ("login_wrong", "Wrong user name or password."),
        ("login_no_accounts", "Robotten har ingen konti endnu. Opret en med bidvis ui add-staff NAVN."),
    ],
)
def test_a_long_winded_english_or_system_text_fails_the_check(
    robot, tmp_path, make_staff_login, monkeypatch, key, text
):
    """The check bites: put back a long-winded text, an English one or a bare command, and a page fails."""
    danish = dict(staff_words(Language.DANISH)) | {key: text}

    def words(language: Language) -> dict[str, str]:
        return danish if language is Language.DANISH else staff_words(language)

    for module in ("bidvis.robot_ui.routes.login", "bidvis.robot_ui.routes.openid"):
        monkeypatch.setattr(f"{module}.staff_words", words)
    pages = _pages(robot, tmp_path, make_staff_login, "da", monkeypatch)
    if key == "login_no_accounts":  # shown when the robot has no account at all
        with TestClient(
            create_app(robot.session, make_staff_login(tmp_path / "none", names=())), base_url=ROBOT_URL
        ) as b:
            pages["no accounts"] = b.post("/login", data={"username": "Anna", "password": "x" * 12}).text
    assert any(_problems(html, "da") for html in pages.values())


@pytest.mark.parametrize("lang", ["da", "en"])
def test_the_robots_logout_pages_are_plain_language(robot, tmp_path, make_staff_login, lang, monkeypatch):
    """After a password login the logout ends on the login page; after an OpenID login on a page that
    says so and goes on to the provider's logout. Both in the language of the session."""
    login = make_staff_login(tmp_path / "services")
    login.openid = StaffOpenId(OpenIdClients([_provider("kommune", "Kommunens login")]), unit=None)
    monkeypatch.setattr(login.openid.clients.get("kommune"), "logout_url", lambda *_a, **_k: "http://127.0.0.1:9/end")
    pages = {}
    with TestClient(create_app(robot.session, login), base_url=ROBOT_URL) as browser:
        for provider in (None, "kommune"):
            epoch = login.accounts.epoch("Anna")
            assert epoch is not None
            browser.cookies.set(
                SESSION_COOKIE, login.sessions.begin("Anna", epoch, "testclient", lang, provider=provider)
            )
            pages[f"logged out after {provider or 'a password'}"] = browser.post("/logout").text
    assert "http://127.0.0.1:9/end" in pages["logged out after kommune"]
    assert staff_words(Language(lang))["logged_out_here"] in pages["logged out after kommune"]
    bad = {name: found for name, html in pages.items() if (found := _problems(html, lang))}
    assert not bad, "\n".join(f"{name}: {problem}" for name, found in bad.items() for problem in found)
    assert all(f'lang="{lang}"' in html and page_text(html).running for html in pages.values())
