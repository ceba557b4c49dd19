"""The meal report page and trend plot over HTTP: access per role, audit with purpose, Danish by
default and English on request, and the page structure that WCAG 2.1 AA needs."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from careplan_api.models import AuditAction, AuditEntry, utcnow

ROLE_STATUS = {
    "staff_a": 200,
    "staff_b": 403,
    "relative": 200,
    "relative_expired": 403,
    "relative_audit_only": 403,
    "citizen": 200,
    "analyst": 403,
    "admin": 403,
    "device_alice": 403,
}


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Pages render the same data on both databases; the FHIR route tests cover PostgreSQL."""
    return sqlite_url


class PageStructure(HTMLParser):
    """Collects what an accessibility review of these pages looks at."""

    def __init__(self) -> None:
        super().__init__()
        self.html_lang: str | None = None
        self.headings: list[int] = []
        self.ids: set[str] = set()
        self.links: list[dict[str, str | None]] = []
        self.tables = 0
        self.captions = 0
        self.th_without_scope = 0
        self.figures = 0
        self.figcaptions = 0
        self.images: list[dict[str, str | None]] = []
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "html":
            self.html_lang = a.get("lang")
        elif tag in ("h1", "h2", "h3", "h4"):
            self.headings.append(int(tag[1]))
        elif tag == "a":
            self.links.append(a)
        elif tag == "table":
            self.tables += 1
        elif tag == "caption":
            self.captions += 1
        elif tag == "th" and "scope" not in a:
            self.th_without_scope += 1
        elif tag == "figure":
            self.figures += 1
        elif tag == "figcaption":
            self.figcaptions += 1
        if a.get("role") == "img" or tag == "img":
            self.images.append(a)
        self.stack.append(tag)

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop() != tag:
            pass

    def handle_data(self, data):
        if "svg" not in self.stack:
            self.text.append(data)


def check_accessible_structure(html: str, lang: str) -> PageStructure:
    page = PageStructure()
    page.feed(html)
    assert page.html_lang == lang
    assert page.headings.count(1) == 1 and page.headings[0] == 1
    assert all(b - a <= 1 for a, b in zip(page.headings, page.headings[1:], strict=False)), (
        page.headings
    )  # no skipped level
    assert page.tables == page.captions and page.tables > 0
    assert page.th_without_scope == 0
    assert page.figures == page.figcaptions
    assert all(img.get("aria-label") or img.get("alt") for img in page.images)
    assert any(link.get("href") == "#main" for link in page.links) and "main" in page.ids  # skip link
    return page


@pytest.fixture
def meals_of_alice(client, world) -> list[uuid.UUID]:
    meal_ids = [uuid.uuid4() for _ in range(3)]
    events = []
    for days_ago, meal_id in zip((20, 6, 0), meal_ids, strict=True):
        events += world.meal_events(meal_id, bites=4, start=utcnow() - timedelta(days=days_ago, hours=1))
    response = client.post("/api/v1/usage-events", json={"events": events}, headers=world.headers("device_alice"))
    assert response.status_code == 200 and response.json()["accepted"] == len(events), response.text
    return meal_ids


def report_url(citizen_id, **query) -> str:
    extra = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/reports/citizens/{citizen_id}" + (f"?{extra}" if extra else "")


def test_report_page_is_danish_by_default_and_accessible(client, world, meals_of_alice):
    response = client.get(report_url(world.alice), headers=world.headers("staff_a"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    page = check_accessible_structure(response.text, "da")
    text = " ".join(page.text)
    assert "Måltidsrapport" in text and "Bidder taget" in text and "Sikkerhedsstop" in text
    assert "face force above limit" in text  # the incident reason
    assert "Alice" not in response.text and "010150" not in response.text
    english = [link for link in page.links if link.get("hreflang") == "en"]
    assert english and "lang=en" in english[0]["href"]


def test_report_page_in_english_by_query_or_header(client, world, meals_of_alice):
    by_query = client.get(report_url(world.alice, lang="en"), headers=world.headers("staff_a"))
    by_header = client.get(
        report_url(world.alice), headers=world.headers("staff_a") | {"Accept-Language": "en-GB,en;q=0.9"}
    )
    for response in (by_query, by_header):
        page = check_accessible_structure(response.text, "en")
        assert "Meal report" in " ".join(page.text)


def test_report_shows_the_meals_of_the_period_and_their_weekly_trend(client, world, meals_of_alice):
    html = client.get(report_url(world.alice, weeks=2, lang="en"), headers=world.headers("staff_a")).text
    # 2 weeks: the meals of today and of 6 days ago (at most 13 days back); not the one 20 days ago
    assert html.count('<th scope="row">week') == 2 * 2  # the effect table and the trend table
    assert html.count("face force above limit") == 2


def test_report_embeds_the_trend_plot_with_a_text_alternative(client, world, meals_of_alice):
    html = client.get(report_url(world.alice), headers=world.headers("staff_a")).text
    assert '<div role="img" aria-label="Graf over bidder taget' in html
    assert "<svg" in html and "<script" not in html


@pytest.mark.parametrize("who", list(ROLE_STATUS))
def test_report_access_per_role(client, world, meals_of_alice, who):
    assert client.get(report_url(world.alice), headers=world.headers(who)).status_code == ROLE_STATUS[who]
    svg = client.get(f"/reports/citizens/{world.alice}/trend.svg", headers=world.headers(who))
    assert svg.status_code == ROLE_STATUS[who]


def test_trend_svg_is_an_svg_document(client, world, meals_of_alice):
    response = client.get(
        f"/reports/citizens/{world.alice}/trend.svg?weeks=8&lang=en", headers=world.headers("relative")
    )
    assert response.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(response.content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.find("{http://www.w3.org/2000/svg}title").text == "Trend per week"


def test_each_report_view_is_audited_with_its_purpose(client, world, meals_of_alice):
    client.get(report_url(world.alice, purpose="weekly%20follow-up"), headers=world.headers("relative", purpose=None))
    with world.app.state.session_factory() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.citizen_id == world.alice, AuditEntry.action == AuditAction.READ)
        ).all()
    assert [(e.actor_id, e.purpose) for e in entries] == [(world.user_ids["relative"], "weekly follow-up")]
    assert "/reports/citizens/" in entries[0].resource


def test_the_page_tells_the_reader_that_the_view_was_logged(client, world):
    html = client.get(
        report_url(world.alice, purpose="tjek%20af%20uge"), headers=world.headers("citizen", purpose=None)
    ).text
    assert "Ingen måltider i perioden." in html
    assert "Her kan du se, hvordan dine måltider" in html and "borgerens" not in html  # spoken to the citizen


def test_report_needs_login_and_purpose(client, world):
    assert client.get(report_url(world.alice)).status_code == 401
    assert client.get(report_url(world.alice), headers=world.headers("staff_a", purpose=None)).status_code == 400


@pytest.mark.parametrize(
    "query", [{"weeks": "0"}, {"weeks": "261"}, {"weeks": "abc"}, {"meals": "0"}, {"lang": "x" * 20}]
)
def test_hostile_report_parameters_get_422(client, world, query):
    assert client.get(report_url(world.alice, **query), headers=world.headers("staff_a")).status_code == 422


def test_unknown_language_falls_back_to_danish(client, world):
    html = client.get(report_url(world.alice, lang="tlh"), headers=world.headers("staff_a")).text
    assert '<html lang="da">' in html


def test_hostile_text_in_events_is_escaped_in_the_page(client, world):
    meal_id = uuid.uuid4()
    events = world.meal_events(meal_id, bites=1)
    events[-2]["data"]["reason"] = '<script>alert("x")</script>'
    events[1]["data"]["bowl"] = "<img src=x onerror=alert(1)>"
    assert client.post("/api/v1/usage-events", json={"events": events}, headers=world.headers("device_alice")).json()[
        "accepted"
    ] == len(events)
    html = client.get(report_url(world.alice), headers=world.headers("staff_a")).text
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html


def test_sql_in_the_purpose_is_stored_as_text_and_harms_nothing(client, world, meals_of_alice):
    purpose = "'; DROP TABLE audit_log; --"
    response = client.get(report_url(world.alice), headers=world.headers("staff_a", purpose=purpose))
    assert response.status_code == 200
    with world.app.state.session_factory() as session:
        purposes = session.scalars(select(AuditEntry.purpose).where(AuditEntry.citizen_id == world.alice)).all()
    assert purpose in purposes
    assert client.get(report_url(world.alice), headers=world.headers("staff_a")).status_code == 200


def test_oversized_accept_language_is_refused_and_odd_ones_fall_back(client, world):
    too_long = {"Accept-Language": "en;q=0.9," * 200}
    assert client.get(report_url(world.alice), headers=world.headers("staff_a") | too_long).status_code == 422
    odd = {"Accept-Language": "\u00e6\u00f8\u00e5;q=abc, *;q=1".encode()}  # raw UTF-8 bytes in a header
    html = client.get(report_url(world.alice), headers=world.headers("staff_a") | odd).text
    assert '<html lang="da">' in html


def test_the_meal_table_is_capped_by_the_meals_parameter(client, world, meals_of_alice):
    html = client.get(report_url(world.alice, meals=1, weeks=4), headers=world.headers("staff_a")).text
    table = html.split('id="meal-table-caption"')[1]
    assert table.count('<th scope="row">') == 1


LOG_STATUS = ROLE_STATUS | {"relative_audit_only": 200, "admin": 200}


@pytest.mark.parametrize("who", list(LOG_STATUS))
def test_access_log_page_per_role(client, world, who):
    response = client.get(f"/reports/citizens/{world.alice}/access-log", headers=world.headers(who))
    assert response.status_code == LOG_STATUS[who]


def test_the_citizen_sees_who_looked_and_why(client, world, meals_of_alice):
    client.get(report_url(world.alice, purpose="morgenm%C3%B8de"), headers=world.headers("staff_a", purpose=None))
    client.get(report_url(world.alice), headers=world.headers("staff_b", purpose="nysgerrig"))
    response = client.get(
        f"/reports/citizens/{world.alice}/access-log", headers=world.headers("citizen", purpose="mit indsyn")
    )
    page = check_accessible_structure(response.text, "da")
    text = " ".join(page.text)
    assert "staff_a (personale)" in text and "morgenmøde" in text and "læst" in text
    assert "staff_b (personale)" in text and "nysgerrig" in text and "afvist" in text
    assert "robotten sendte data om et måltid" in text  # the device's ingest, in words
    assert "GET /" not in text and "device ingest" not in text and "(staff)" not in text
    english = client.get(
        f"/reports/citizens/{world.alice}/access-log?lang=en", headers=world.headers("relative_audit_only")
    ).text
    assert "Who has looked at the data" in english and "refused" in english


ROLE_TESTED_ROUTES = {
    # route -> the test with its table for every role
    "/reports/citizens/{citizen_id}": "test_report_access_per_role",
    "/reports/citizens/{citizen_id}/trend.svg": "test_report_access_per_role",
    "/reports/citizens/{citizen_id}/access-log": "test_access_log_page_per_role",
    "/reports/citizens/{citizen_id}/goal": "test_staff_report_forms.py::test_the_report_forms_per_role",
    "/reports/citizens/{citizen_id}/notes": "test_staff_report_forms.py::test_the_report_forms_per_role",
    "/dashboard": "test_dashboard_pages.py::test_dashboard_access_per_role",
    "/dashboard/aggregates.json": "test_dashboard_pages.py::test_dashboard_access_per_role",
    "/fhir/Patient/{citizen_id}/$everything": "test_fhir_routes.py::test_everything_access_per_role",
    "/fhir/$export": "test_fhir_routes.py::test_bulk_export_is_for_administrators_only",
    "/fhir/$export/{resource_type}.ndjson": "test_fhir_routes.py::test_bulk_export_is_for_administrators_only",
    "/fhir/metadata": "test_fhir_client.py::test_the_capability_statement_is_valid_fhir_and_names_everything",
}


def test_every_report_fhir_and_dashboard_route_has_a_role_table(client):
    from careplan_api.routes import dashboard, fhir, reports

    paths = {route.path for module in (reports, dashboard, fhir) for route in module.router.routes}
    assert paths == set(ROLE_TESTED_ROUTES)
    served = set(client.get("/openapi.json").json()["paths"])
    assert paths <= served  # and the app includes them all
