"""The staff's forms on the meal report page: an FSIII "Spise og drikke" assessment and a note, sent
with the browser's login cookie only (as staff of the municipality's OpenID Provider have it; the
real login is in test_openid_login.py). Through the API's services, audited as the API's writes,
FHIR following the goal; other sites, other units, citizens and relatives refused; bad values come
back as the report saying, in plain Danish or English, what to correct."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from careplan_api.models import AuditAction, AuditEntry, EatingGoal, StaffNote
from tests.careplan_api.conftest import PASSWORD
from tests.careplan_api.test_login_texts import _problems

PURPOSE = "omsorg"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


def _browser(app, who: str) -> TestClient:
    browser = TestClient(app, base_url="https://testserver", headers={"Accept": "text/html"})
    assert browser.post("/login", data={"username": who, "password": PASSWORD}).status_code == 200
    return browser


def _goal(world, **values: str) -> dict[str, str]:
    return {"purpose": PURPOSE, "level": "2", "goal_text": "Spiser selv med robotten"} | values


def _stored(app) -> tuple[list[EatingGoal], list[StaffNote]]:
    with app.state.session_factory() as session:
        return list(session.scalars(select(EatingGoal))), list(session.scalars(select(StaffNote)))


def test_staff_assess_the_goal_and_write_a_note_on_the_report_page(app, client, world):
    browser = _browser(app, "staff_a")
    report = f"/reports/citizens/{world.alice}"
    page = browser.get(f"{report}?purpose={PURPOSE}")
    assert f'action="{report}/goal"' in page.text and f'action="{report}/notes"' in page.text
    for lang in ("da", "en"):  # plain words, and Danish on the Danish page
        assert _problems(browser.get(f"{report}?purpose={PURPOSE}&lang={lang}").text, lang, list(world.user_ids)) == []

    done = browser.post(f"{report}/goal", data=_goal(world, hand_feeding_minutes="12,5"), follow_redirects=False)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"{report}?lang=da&purpose={PURPOSE}&done=goal#goal-form"
    shown = browser.get(done.headers["location"]).text
    assert "Vurderingen er gemt." in shown and "2 Moderate begrænsninger" in shown
    note = "Spiste hele portionen.\n<b>Glad</b> i dag"
    done = browser.post(
        f"{report}/notes", data={"purpose": PURPOSE, "text": note, "lang": "en"}, follow_redirects=False
    )
    assert done.headers["location"] == f"{report}?lang=en&purpose={PURPOSE}&done=note#note-form"
    shown = browser.get(done.headers["location"]).text
    assert "The note is saved." in shown and "&lt;b&gt;Glad&lt;/b&gt;" in shown and "<b>Glad" not in shown

    (goal,), (stored_note,) = _stored(app)
    assert (goal.level, goal.goal_text, goal.hand_feeding_minutes) == (2, "Spiser selv med robotten", 12.5)
    assert goal.assessed_by == world.user_ids["staff_a"] and stored_note.author_id == world.user_ids["staff_a"]
    with app.state.session_factory() as session:  # audited as the API's writes: update, with the purpose
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.UPDATE)).all()
    assert {(e.resource, e.purpose, e.actor_id) for e in entries} == {
        (f"POST {report}/goal", PURPOSE, world.user_ids["staff_a"]),
        (f"POST {report}/notes", PURPOSE, world.user_ids["staff_a"]),
    }
    notes = client.get(f"/api/v1/citizens/{world.alice}/notes", headers=world.headers("staff_a")).json()
    assert [n["text"] for n in notes] == [note]  # the API's own notes
    bundle = client.get(f"/fhir/Patient/{world.alice}/$everything", headers=world.headers("staff_a")).json()
    by_type = {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"]}  # FHIR follows the goal
    assert by_type["Condition"]["severity"]["coding"][0]["code"] == "B3"  # FSIII level 2
    assert by_type["Goal"]["description"]["text"] == "Spiser selv med robotten"
    citizen = _browser(app, "citizen")  # the citizen reads it in her access log, in words
    log = citizen.get(f"{report}/access-log").text
    assert "ændret" in log and _problems(log, "da", list(world.user_ids)) == []


@pytest.mark.parametrize(("who", "query"), [("citizen", ""), ("relative", "?purpose=p%C3%A5r%C3%B8rende+med+fuldmagt")])
def test_the_citizen_and_the_relative_see_no_staff_forms(app, world, who, query):
    html = _browser(app, who).get(f"/reports/citizens/{world.alice}{query}").text
    assert "Måltidsrapport" in html
    assert "goal-form" not in html and "note-form" not in html and 'method="post" action="/reports' not in html


TOO_LONG_GOAL = "x" * 2001
BAD_VALUES = {
    "goal": [
        {"level": "5"},
        {"level": "-1"},
        {"level": "to"},
        {"level": ""},
        {"hand_feeding_minutes": "241"},
        {"hand_feeding_minutes": "-1"},
        {"hand_feeding_minutes": "nan"},
        {"hand_feeding_minutes": "1e999"},
        {"hand_feeding_minutes": "tyve"},
        {"goal_text": TOO_LONG_GOAL},
        {"goal_text": "a\x00b"},
    ],
    "note": [{"text": ""}, {"text": " \n\t "}, {"text": "x" * 10_001}, {"text": "a\x00b"}],
}


@pytest.mark.parametrize(("form", "values"), [(f, v) for f, vs in BAD_VALUES.items() for v in vs])
def test_bad_values_come_back_as_the_report_saying_what_to_correct(app, world, form, values):
    browser = _browser(app, "staff_a")
    report = f"/reports/citizens/{world.alice}"
    data = (_goal(world) if form == "goal" else {"purpose": PURPOSE, "text": "ok"}) | values
    path = {"goal": "goal", "note": "notes"}[form]
    answer = browser.post(f"{report}/{path}", data=data, follow_redirects=False)
    correct = {"goal": "Vælg et niveau fra 0 til 4.", "note": "Skriv noget i notatet."}[form]
    assert answer.status_code == 422 and correct in answer.text and "Måltidsrapport" in answer.text
    assert f'href="{report}?purpose={PURPOSE}&amp;lang=en"' in answer.text  # the report, not the form's address
    assert _stored(app) == ([], [])
    english = browser.post(f"{report}/{path}", data=data | {"lang": "en"}, follow_redirects=False).text
    assert {"goal": "Choose a level from 0 to 4.", "note": "Write something in the note."}[form] in english


def test_other_sites_other_units_citizens_and_relatives_are_refused(app, world):
    report = f"/reports/citizens/{world.alice}"
    staff = _browser(app, "staff_a")
    foreign = staff.post(f"{report}/goal", data=_goal(world), headers={"Sec-Fetch-Site": "cross-site"})
    assert foreign.status_code == 403
    assert staff.post(f"{report}/notes", data={"text": "uden formål"}).status_code == 400  # no purpose: none read
    unknown = staff.post(f"/reports/citizens/{uuid.uuid4()}/notes", data={"purpose": PURPOSE, "text": "x"})
    assert unknown.status_code == 403
    for who in ("staff_b", "citizen", "relative"):
        browser = _browser(app, who)
        for form, data in (("goal", _goal(world)), ("notes", {"purpose": PURPOSE, "text": "hej"})):
            answer = browser.post(f"{report}/{form}", data=data, follow_redirects=False)
            assert answer.status_code == 403, (who, form)
            assert "Kun personale i borgerens enhed kan skrive i borgerens plan." in answer.text
            assert _problems(answer.text, "da", []) == []
    assert _stored(app) == ([], [])
    with app.state.session_factory() as session:  # each refusal is in the citizen's access log
        denied = session.scalars(select(AuditEntry.actor_name).where(AuditEntry.action == AuditAction.DENIED)).all()
    assert sorted(set(denied)) == ["citizen", "relative", "staff_a", "staff_b"]


FORM_STATUS = {"staff_a": 303, "staff_b": 403, "relative": 403, "citizen": 403, "analyst": 403, "admin": 403}


@pytest.mark.parametrize("who", [*FORM_STATUS, "device_alice"])
def test_the_report_forms_per_role(client, world, who):
    """With a bearer token as well as the cookie: only staff of the citizen's unit write."""
    for form, data in (("goal", _goal(world)), ("notes", {"purpose": PURPOSE, "text": "hej"})):
        answer = client.post(
            f"/reports/citizens/{world.alice}/{form}", data=data, headers=world.headers(who), follow_redirects=False
        )
        assert answer.status_code == FORM_STATUS.get(who, 403), (form, answer.text)
