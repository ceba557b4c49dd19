"""Fuldmagter as the citizen gives them: grant, see, end (access follows within one request), the
holder's view, staff's paper fuldmagt with its reason, refusals, and FHIR RelatedPerson/Consent."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from careplan_api.models import AuditEntry, Fuldmagt, FuldmagtSource, Role
from careplan_api.services import people
from careplan_api.services.security import create_access_token, password_hasher
from tests.careplan_api.conftest import PASSWORD
from tests.careplan_api.test_login_texts import _problems

SOON = "2030-01-31T23:00:00Z"


@pytest.fixture
def sofie(app, world) -> dict[str, str]:
    """A relative's login with no fuldmagt yet: the headers to act as her."""
    with app.state.session_factory() as session:
        user = people.create_user(
            session, "sofie", PASSWORD, Role.RELATIVE, hasher=password_hasher("CHEAPEST"), citizen_id=world.alice
        )
        session.commit()
        token, _ = create_access_token(user, app.state.jwt_key, 600)
    return {"Authorization": f"Bearer {token}", "X-Purpose": "care"}


def _grant(client, world, **overrides):
    body = {"holder_username": "sofie", "holder_name": "Sofie Jensen", "scope": "care_plan", "valid_until": SOON}
    return client.post("/api/v1/fuldmagter/granted", json=body | overrides, headers=world.headers("citizen"))


def test_the_citizen_grants_sees_and_ends_a_fuldmagt_and_the_holders_access_follows(client, world, sofie):
    report = f"/api/v1/citizens/{world.alice}/meals"
    assert client.get(report, headers=sofie).status_code == 403

    granted = _grant(client, world)
    assert granted.status_code == 201, granted.text
    fuldmagt = granted.json()
    assert fuldmagt["source"] == "citizen" and fuldmagt["holder_name"] == "Sofie Jensen"
    assert client.get(report, headers=sofie).status_code == 200  # the very next request
    assert client.get(f"/api/v1/citizens/{world.alice}/audit", headers=sofie).status_code == 403  # scope

    mine = client.get("/api/v1/fuldmagter/granted", headers=world.headers("citizen")).json()
    assert fuldmagt["id"] in {f["id"] for f in mine} and len(mine) == 4  # and the three of the fixture
    held = client.get("/api/v1/fuldmagter/held", headers=sofie).json()
    assert [(h["id"], h["citizen_name"]) for h in held] == [(fuldmagt["id"], "Alice Testesen")]

    ended = client.post(f"/api/v1/fuldmagter/{fuldmagt['id']}/end", headers=world.headers("citizen"))
    assert ended.status_code == 200 and ended.json()["revoked_at"] is not None
    assert client.get(report, headers=sofie).status_code == 403  # the very next request

    log = client.get(f"/api/v1/citizens/{world.alice}/audit", headers=world.headers("citizen")).json()
    purposes = [e["purpose"] for e in log]
    assert "fuldmagt granted by the citizen" in purposes and "fuldmagt ended" in purposes


def test_the_holder_may_give_a_fuldmagt_back(client, world, sofie):
    fuldmagt = _grant(client, world).json()
    assert client.post(f"/api/v1/fuldmagter/{fuldmagt['id']}/end", headers=sofie).status_code == 200
    assert client.get(f"/api/v1/citizens/{world.alice}/meals", headers=sofie).status_code == 403


@pytest.mark.parametrize(
    ("override", "status"),
    [
        ({"holder_username": "nobody"}, 404),
        ({"holder_username": "staff_a"}, 404),  # only a relative's login holds one
        ({"valid_until": "2001-01-01T00:00:00Z"}, 422),
        ({"valid_until": "2099-01-01T00:00:00Z"}, 422),  # more than ten years
        ({"valid_until": "2030-01-01T00:00:00"}, 422),  # no time zone
        ({"scope": "everything"}, 422),
        ({"holder_name": "   "}, 422),
        ({"holder_name": "a\u0000b"}, 422),
    ],
)
def test_a_bad_grant_is_refused_and_stores_nothing(client, world, sofie, app, override, status):
    assert _grant(client, world, **override).status_code == status
    with app.state.session_factory() as session:
        assert session.scalar(select(Fuldmagt).where(Fuldmagt.source == FuldmagtSource.CITIZEN)) is None


def test_only_the_citizen_grants_and_nobody_ends_another_citizens_fuldmagt(client, world, sofie, app):
    body = {"holder_username": "sofie", "holder_name": "S", "scope": "full", "valid_until": SOON}
    for who in ("relative", "staff_a", "admin", "analyst"):
        answer = client.post("/api/v1/fuldmagter/granted", json=body, headers=world.headers(who))
        assert answer.status_code == 403, (who, answer.text)
    fuldmagt = _grant(client, world).json()
    for who in ("staff_b", "relative", "analyst"):
        answer = client.post(f"/api/v1/fuldmagter/{fuldmagt['id']}/end", headers=world.headers(who))
        assert answer.status_code == 404, who
    assert client.get("/api/v1/fuldmagter/granted", headers=world.headers("relative")).status_code == 403
    assert client.get("/api/v1/fuldmagter/held", headers=world.headers("citizen")).status_code == 403
    end = f"/api/v1/fuldmagter/{fuldmagt['id']}/end"
    assert client.post(end, headers=world.headers("staff_a")).status_code == 422  # staff say why
    assert client.post(end, json={"reason": "x"}, headers=world.headers("staff_a")).status_code == 422
    ended = client.post(end, json={"reason": "borgeren bad os om det"}, headers=world.headers("staff_a"))
    assert ended.status_code == 200 and ended.json()["revoked_at"] is not None
    with app.state.session_factory() as session:
        purposes = session.scalars(select(AuditEntry.purpose).where(AuditEntry.resource.like("fuldmagt %")))
        assert "fuldmagt ended: borgeren bad os om det" in set(purposes)


def test_staff_register_a_paper_fuldmagt_with_the_reason_and_it_is_audited(client, world, sofie, app):
    path = f"/api/v1/citizens/{world.alice}/fuldmagter/paper"
    body = {"holder_username": "sofie", "holder_name": "Sofie Jensen", "scope": "full"}
    assert client.post(path, json=body, headers=world.headers("staff_a")).status_code == 422  # no reason
    assert client.post(path, json=body | {"reason": "x"}, headers=world.headers("staff_a")).status_code == 422
    reason = "signed on paper at the care home; no MitID"
    assert client.post(path, json=body | {"reason": reason}, headers=world.headers("staff_b")).status_code == 403
    assert client.post(path, json=body | {"reason": reason}, headers=world.headers("citizen")).status_code == 403
    answer = client.post(path, json=body | {"reason": reason}, headers=world.headers("staff_a"))
    assert answer.status_code == 201 and answer.json()["source"] == "paper"
    assert client.get(f"/api/v1/citizens/{world.alice}/audit", headers=sofie).status_code == 200  # scope full
    with app.state.session_factory() as session:
        row = session.get(Fuldmagt, uuid.UUID(answer.json()["id"]))
        assert row is not None and row.reason == reason and row.granted_by_user_id == world.user_ids["staff_a"]
        entries = session.scalars(select(AuditEntry).where(AuditEntry.resource == f"fuldmagt {row.id}")).all()
        assert [(e.actor_name, e.purpose) for e in entries] == [("staff_a", f"fuldmagt on paper: {reason}")]


def _fuldmagt_resources(client, world, fuldmagt_id):
    bundle = client.get(f"/fhir/Patient/{world.alice}/$everything", headers=world.headers("staff_a")).json()
    resources = [e["resource"] for e in bundle["entry"]]
    from careplan_api.fhir.ids import resource_id

    consent = next(
        r for r in resources if r["resourceType"] == "Consent" and r["id"] == resource_id("Consent", fuldmagt_id)
    )
    person = next(
        r
        for r in resources
        if r["resourceType"] == "RelatedPerson"
        and r["id"] == consent["provision"]["actor"][0]["reference"]["reference"].removeprefix("urn:uuid:")
    )
    return consent, person


def test_fhir_related_person_and_consent_follow_the_grant_and_the_end(client, world, sofie):
    fuldmagt = _grant(client, world).json()
    consent, person = _fuldmagt_resources(client, world, fuldmagt["id"])
    assert consent["status"] == "active" and person["active"] is True
    assert consent["policyRule"]["text"] == "Givet digitalt af borgeren"
    assert consent["provision"]["period"]["end"].startswith("2030-01-31")
    client.post(f"/api/v1/fuldmagter/{fuldmagt['id']}/end", headers=world.headers("citizen"))
    consent, person = _fuldmagt_resources(client, world, fuldmagt["id"])
    assert consent["status"] == "inactive" and person["active"] is False
    assert consent["provision"]["period"]["end"] < "2030"  # ended now, not at the end date


def test_the_page_lets_the_citizen_grant_and_end_and_the_holder_see(app, world, sofie):
    from fastapi.testclient import TestClient

    client = TestClient(app, base_url="https://testserver", headers={"Accept": "text/html"})

    def log_in(name):
        client.cookies.clear()
        answer = client.post("/login", data={"username": name, "password": PASSWORD}, follow_redirects=False)
        assert answer.status_code == 303

    log_in("citizen")
    page = client.get("/fuldmagter")
    assert page.status_code == 200 and "Dine fuldmagter" in page.text
    form = {"holder_name": "Sofie Jensen", "holder_username": "sofie", "scope": "full", "valid_until": "2030-06-30"}
    foreign = client.post("/fuldmagter", data=form, headers={"Sec-Fetch-Site": "cross-site"})
    assert foreign.status_code == 403
    wrong = client.post("/fuldmagter", data=form | {"holder_username": "nobody"}, follow_redirects=False)
    assert wrong.status_code == 422 and "Vi kender ingen pårørende med det brugernavn" in wrong.text
    done = client.post("/fuldmagter", data=form, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/fuldmagter?lang=da&done=granted"
    page = client.get(done.headers["location"])
    assert "Fuldmagten er givet." in page.text and "30. juni 2030" in page.text and "Sofie Jensen" in page.text

    log_in("sofie")
    held = client.get("/fuldmagter?lang=en")
    assert "Powers of attorney you hold" in held.text and "Alice Testesen" in held.text
    assert "Your user name is sofie" in held.text

    log_in("citizen")
    with client.app.state.session_factory() as session:
        fuldmagt_id = session.scalar(select(Fuldmagt.id).where(Fuldmagt.source == FuldmagtSource.CITIZEN))
    ended = client.post(f"/fuldmagter/{fuldmagt_id}/end", follow_redirects=False)
    assert ended.status_code == 303
    assert "ophævet" in client.get("/fuldmagter").text


def test_the_page_lets_staff_register_a_paper_fuldmagt_for_their_units_citizens_only(client, app, world, sofie):
    from fastapi.testclient import TestClient

    browser = TestClient(app, base_url="https://testserver", headers={"Accept": "text/html"})
    assert browser.post("/login", data={"username": "staff_a", "password": PASSWORD}).status_code == 200
    page = browser.get("/fuldmagter")
    assert page.status_code == 200 and "Alice Testesen" in page.text and "Bob" not in page.text
    for lang in ("da", "en"):  # plain words, and Danish on the Danish page, as the citizen's pages
        names = ["Alice Testesen", *world.user_ids]  # the holders of the fixture's fuldmagter are named by login
        assert _problems(browser.get(f"/fuldmagter?lang={lang}").text, lang, names) == []
    with app.state.session_factory() as session:  # the choice of citizens is in each one's access log
        listed = session.scalars(select(AuditEntry.citizen_id).where(AuditEntry.resource.like("GET /fuldmagter (%")))
        assert set(listed) == {None, world.alice}  # the count, and the one citizen shown
    reason = "underskrevet på plejehjemmet"
    form = {"citizen": str(world.alice), "holder_name": "Sofie Jensen", "holder_username": "sofie", "scope": "full"}
    refused = {
        "foreign site": (form | {"reason": reason}, {"Sec-Fetch-Site": "cross-site"}, 403, ""),
        "no reason": (form | {"reason": " x "}, {}, 422, "Grunden skal være 3 til 1000 tegn"),
        "another unit": (form | {"citizen": str(world.bob), "reason": reason}, {}, 422, "Kun personale i borgerens"),
        "not an id": (form | {"citizen": "../1", "reason": reason}, {}, 422, "Udfyld alle felter"),
        "unknown holder": (form | {"holder_username": "nobody", "reason": reason}, {}, 422, "Vi kender ingen"),
        "bad date": (form | {"valid_until": "2020-01-01", "reason": reason}, {}, 422, "Udfyld alle felter"),
    }
    for what, (data, headers, code, text) in refused.items():
        answer = browser.post("/fuldmagter/paper", data=data, headers=headers, follow_redirects=False)
        assert (answer.status_code, text in answer.text) == (code, True), what
    done = browser.post("/fuldmagter/paper", data=form | {"reason": reason, "lang": "en"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/fuldmagter?lang=en&done=paper"
    with app.state.session_factory() as session:
        row = session.scalar(select(Fuldmagt).where(Fuldmagt.source == FuldmagtSource.PAPER))
        assert row is not None and row.reason == reason and row.valid_until is None and row.citizen_id == world.alice
    consent, person = _fuldmagt_resources(client, world, str(row.id))  # FHIR follows
    assert consent["policyRule"]["text"] == "Givet på papir, registreret af personalet" and person["active"] is True
    assert browser.get(f"/api/v1/citizens/{world.alice}/audit", headers=sofie).status_code == 200  # scope full
    browser.cookies.clear()
    assert browser.post("/login", data={"username": "citizen", "password": PASSWORD}).status_code == 200
    by_citizen = browser.post("/fuldmagter/paper", data=form | {"reason": reason}, follow_redirects=False)
    assert by_citizen.status_code == 422 and "Kun personale i borgerens enhed" in by_citizen.text


def test_the_page_lets_staff_end_a_fuldmagt_of_their_units_citizens_with_the_reason(client, app, world, sofie):
    from fastapi.testclient import TestClient

    fuldmagt_id = _grant(client, world).json()["id"]
    meals = f"/api/v1/citizens/{world.alice}/meals"
    assert client.get(meals, headers=sofie).status_code == 200
    browser = TestClient(app, base_url="https://testserver", headers={"Accept": "text/html"})
    assert browser.post("/login", data={"username": "staff_b", "password": PASSWORD}).status_code == 200
    assert fuldmagt_id not in browser.get("/fuldmagter").text  # another unit's citizen
    reason = "borgeren bad os om det i dag"
    end = f"/fuldmagter/{fuldmagt_id}/end"
    other_unit = browser.post(end, data={"reason": reason}, follow_redirects=False)
    assert other_unit.status_code == 422 and "Du kan kun ophæve en fuldmagt" in other_unit.text
    browser.cookies.clear()
    assert browser.post("/login", data={"username": "staff_a", "password": PASSWORD}).status_code == 200
    page = browser.get("/fuldmagter").text
    assert f'action="{end}"' in page and "Fra Alice Testesen til Sofie Jensen" in page
    assert f'href="/reports/citizens/{world.alice}?lang=da"' in page  # on to the report and its staff forms
    refused = {
        "foreign site": ({"reason": reason}, {"Sec-Fetch-Site": "cross-site"}, 403, ""),
        "no reason": ({}, {}, 422, "Skriv, hvorfor du ophæver fuldmagten."),
        "short reason": ({"reason": " x "}, {}, 422, "Grunden skal være 3 til 1000 tegn."),
        "control character": ({"reason": "ringede\x07 i dag"}, {}, 422, "Grunden skal være 3 til 1000 tegn."),
    }
    for what, (data, headers, code, text) in refused.items():
        answer = browser.post(end, data=data, headers=headers, follow_redirects=False)
        assert (answer.status_code, text in answer.text) == (code, True), what
        assert client.get(meals, headers=sofie).status_code == 200, what  # still valid
    done = browser.post(end, data={"reason": reason, "lang": "en"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/fuldmagter?lang=en&done=ended"
    assert client.get(meals, headers=sofie).status_code == 403  # the very next request
    assert f'action="{end}"' not in browser.get("/fuldmagter").text
    with app.state.session_factory() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.resource == f"fuldmagt {fuldmagt_id}")).all()
        assert ("staff_a", f"fuldmagt ended: {reason}") in [(e.actor_name, e.purpose) for e in entries]
    consent, person = _fuldmagt_resources(client, world, fuldmagt_id)  # FHIR follows
    assert consent["status"] == "inactive" and person["active"] is False
    browser.cookies.clear()
    assert browser.post("/login", data={"username": "citizen", "password": PASSWORD}).status_code == 200
    log = browser.get(f"/reports/citizens/{world.alice}/access-log").text
    assert f"fuldmagt ophævet: {reason}" in log  # in her access log, in words


def test_a_register_fuldmagt_is_held_by_the_login_with_the_holders_national_identifier(client, app, world, sofie):
    from careplan_api.services import fuldmagt as fuldmagter
    from careplan_api.services.security import cpr_hmac

    holder_hash = cpr_hmac("020260-4321", app.state.cpr_key)
    with app.state.session_factory() as session:
        fuldmagt = Fuldmagt(
            citizen_id=world.alice,
            scope="care_plan",
            holder_name="Sofie",
            holder_national_id_hmac=holder_hash,
            source=FuldmagtSource.REGISTER,
            register_ref="DF-1",
        )
        session.add(fuldmagt)
        session.commit()
        fuldmagt_id = str(fuldmagt.id)
    meals = f"/api/v1/citizens/{world.alice}/meals"
    assert client.get(meals, headers=sofie).status_code == 403  # no national identifier yet
    assert client.get("/api/v1/fuldmagter/held", headers=sofie).json() == []
    with app.state.session_factory() as session:
        user = session.scalar(select(people.User).where(people.User.username == "sofie"))
        user.national_id_hmac = cpr_hmac("020260-4321", app.state.cpr_key)  # as an OpenID login sets it
        session.commit()
    assert client.get(meals, headers=sofie).status_code == 200
    assert [h["id"] for h in client.get("/api/v1/fuldmagter/held", headers=sofie).json()] == [fuldmagt_id]
    with app.state.session_factory() as session:  # the OpenID login also records her as its holder
        user = session.scalar(select(people.User).where(people.User.username == "sofie"))
        staff = session.get(people.User, world.user_ids["staff_a"])
        assert fuldmagter.link_pending(session, staff, holder_hash) == 0  # only a relative's login
        assert fuldmagter.link_pending(session, user, cpr_hmac("010101-0000", app.state.cpr_key)) == 0
        assert fuldmagter.link_pending(session, user, holder_hash) == 1
        session.commit()
        assert session.get(Fuldmagt, uuid.UUID(fuldmagt_id)).relative_user_id == user.id
    assert client.post(f"/api/v1/fuldmagter/{fuldmagt_id}/end", headers=sofie).status_code == 200
    assert client.get(meals, headers=sofie).status_code == 403


def test_the_window_of_ten_years_is_measured_from_now(client, world, sofie):
    from careplan_api.models import utcnow

    inside = (utcnow() + timedelta(days=365 * 10)).isoformat()
    assert _grant(client, world, valid_until=inside).status_code == 201
