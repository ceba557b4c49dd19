"""The municipality dashboard over HTTP: analysts and administrators only, aggregates only, per closed
month released once and then fixed, small groups suppressed, every view audited."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from careplan_api.effect import WEEK_TZ
from careplan_api.models import AuditAction, AuditEntry, Device, utcnow
from careplan_api.services import people
from careplan_api.services.ingest import IngestLimits, ingest_batch

ROLE_STATUS = {
    "staff_a": 403,
    "staff_b": 403,
    "relative": 403,
    "relative_expired": 403,
    "relative_audit_only": 403,
    "citizen": 403,
    "analyst": 200,
    "admin": 200,
    "device_alice": 403,
}


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """The dashboard's SQL is plain aggregation; SQLite is enough here (the FHIR tests cover both)."""
    return sqlite_url


@pytest.fixture
def settings(database_url, tmp_path):
    from .conftest import make_settings

    return make_settings(database_url, tmp_path, dashboard_release_delay_days=0)  # last month is released


def last_month_meal_time():
    """Noon on the 15th of last month (Danish time): in the newest released month."""
    first = utcnow().astimezone(WEEK_TZ).replace(day=1, hour=12, minute=0, second=0, microsecond=0)
    return (first - timedelta(days=1)).replace(day=15)


def add_citizens(world, unit_name: str, count: int, level: int | None = None, first: int = 0) -> list[uuid.UUID]:
    ids = []
    with world.app.state.session_factory() as session:
        unit = people.get_or_create_unit(session, unit_name)
        for i in range(first, first + count):
            citizen = people.create_citizen(session, f"Navn {unit_name} {i}", world.app.state.cpr_key, None, unit)
            if level is not None or i % 2 == 0:
                people.assess_goal(session, citizen.id, 2 if level is None else level, "", None)
            device, _token = people.enroll_device(session, citizen.id)
            session.commit()
            events = world.meal_events(uuid.uuid4(), bites=3 + i, start=last_month_meal_time())
            ingest_batch(session, session.get(Device, device.id), events, IngestLimits())
            ids.append(citizen.id)
    return ids


@pytest.fixture
def municipality(world) -> dict[str, list[uuid.UUID]]:
    """Unit "Solhaven" with 6 eating citizens, "Egely" with 2 and "Toften" with 1, each with a meal last
    month. (Two small units hide each other, and together they are three: Solhaven is hidden too.)"""
    return {name: add_citizens(world, name, count) for name, count in (("Solhaven", 6), ("Egely", 3), ("Toften", 2))}


@pytest.mark.parametrize("who", list(ROLE_STATUS))
def test_dashboard_access_per_role(client, world, who):
    assert client.get("/dashboard", headers=world.headers(who)).status_code == ROLE_STATUS[who]
    assert client.get("/dashboard/aggregates.json", headers=world.headers(who)).status_code == ROLE_STATUS[who]


def test_dashboard_needs_a_login(client):
    assert client.get("/dashboard").status_code == 401


def test_small_units_are_suppressed_and_large_ones_shown(client, world, municipality):
    data = client.get("/dashboard/aggregates.json?months=1", headers=world.headers("analyst")).json()
    [release] = data["releases"]
    units = {g["label"]: g for g in release["by_unit"]}
    assert units["Solhaven"]["citizens"] == 6 and not units["Solhaven"]["suppressed"]
    assert units["Solhaven"]["meals"] == 6 and units["Solhaven"]["meals_per_citizen"] == 1
    assert units["Egely"]["suppressed"] and units["Egely"]["citizens"] is None and units["Egely"]["meals"] is None
    assert units["Toften"]["suppressed"]
    assert release["total"]["citizens"] == 11
    assert all(g["suppressed"] or g["citizens"] >= 5 for g in release["by_level"])


def test_a_released_month_never_changes_so_later_queries_cannot_be_differenced(client, world, municipality):
    first = client.get("/dashboard/aggregates.json?months=1", headers=world.headers("analyst")).json()["releases"]
    add_citizens(world, "Egely", 2, first=10)  # late meals of last month arrive
    with world.app.state.session_factory() as session:
        people.assess_goal(session, municipality["Solhaven"][0], 4, "", None)  # and a re-assessment
        session.commit()
    again = client.get("/dashboard/aggregates.json?months=2", headers=world.headers("analyst")).json()["releases"]
    assert again[0] == first[0]  # the same month, whatever the filter or the time: the same figures
    page = client.get("/dashboard?lang=en&months=3", headers=world.headers("analyst")).text
    hidden = sum(g["suppressed"] for g in first[0]["by_unit"] + first[0]["by_level"])
    assert hidden >= 2 and page.count(">fewer than 5<") == hidden


def test_dashboard_page_shows_aggregates_and_never_a_person(client, world, municipality):
    response = client.get("/dashboard?lang=en", headers=world.headers("analyst"))
    assert response.status_code == 200
    html = response.text
    assert '<html lang="en">' in html and "Municipality overview" in html
    assert "fewer than 5" in html and "Solhaven" in html
    assert "Navn" not in html  # no names
    assert not any(str(c) in html for ids in municipality.values() for c in ids)  # no pseudonyms either
    assert "<svg" in html and 'role="img" aria-label="Bar chart of meals per citizen for 1 unit."' in html


def test_dashboard_is_danish_by_default(client, world, municipality):
    html = client.get("/dashboard", headers=world.headers("admin")).text
    assert '<html lang="da">' in html and "Kommunens overblik" in html and "færre end 5" in html


def test_fewer_than_five_citizens_show_no_figures_at_all(client, world):
    add_citizens(world, "Lille", 3)
    data = client.get("/dashboard/aggregates.json?months=1", headers=world.headers("analyst")).json()
    [release] = data["releases"]
    assert release["total"]["suppressed"] and release["by_unit"] == [] and release["by_level"] == []


def test_the_current_month_is_not_released(client, world):
    data = client.get("/dashboard/aggregates.json?months=24", headers=world.headers("analyst")).json()
    this_month = utcnow().astimezone(WEEK_TZ).strftime("%Y-%m")
    assert len(data["releases"]) == 24 and this_month not in {r["period"] for r in data["releases"]}


def test_dashboard_views_are_audited_without_a_citizen(client, world):
    client.get("/dashboard?purpose=kvartalsrapport", headers=world.headers("analyst", purpose=None))
    with world.app.state.session_factory() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.actor_id == world.user_ids["analyst"])).all()
    assert [(e.action, e.purpose, e.citizen_id) for e in entries] == [(AuditAction.READ, "kvartalsrapport", None)]


@pytest.mark.parametrize("query", ["months=0", "months=1000", "months=x", "purpose=" + "p" * 300, "lang=" + "x" * 50])
def test_hostile_dashboard_parameters_get_422(client, world, query):
    assert client.get(f"/dashboard?{query}", headers=world.headers("analyst")).status_code == 422
