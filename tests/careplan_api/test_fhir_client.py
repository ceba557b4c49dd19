"""A standard FHIR client library (fhirpy) reads a citizen's `$everything` over real HTTP with a
token that carries the purpose of use chosen at login: no custom header, no custom query."""

from __future__ import annotations

import httpx
import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome
from sqlalchemy import select

from careplan_api.fhir.validation import validate_resource
from careplan_api.models import AuditAction, AuditEntry
from tests.careplan_api.fhir_helpers import is_meal_observation


@pytest.fixture
def database_url(sqlite_url):
    return sqlite_url


def _login(base_url: str, username: str, password: str, purpose: str | None) -> str:
    form = {"username": username, "password": password} | ({"purpose": purpose} if purpose else {})
    response = httpx.post(f"{base_url}/api/v1/auth/token", data=form)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def test_fhirpy_reads_everything_with_the_purpose_chosen_at_login(live_server, world, app):
    meal = world.meal_events(bites=4)
    stored = httpx.post(
        f"{live_server}/api/v1/usage-events", json={"events": meal}, headers=world.headers("device_alice", None)
    )
    assert stored.json()["accepted"] == len(meal)
    token = _login(live_server, "staff_a", world.password, "handover to hospital")
    client = SyncFHIRClient(f"{live_server}/fhir", authorization=f"Bearer {token}")

    bundle = client.resource("Patient", id=str(world.alice)).execute("$everything", method="get")

    assert bundle["resourceType"] == "Bundle"
    resources = [entry["resource"] for entry in bundle["entry"]]
    for resource in resources:
        validate_resource(resource)
    assert sum(is_meal_observation(r) for r in resources) == 1
    with app.state.session_factory() as session:
        exports = session.scalars(
            select(AuditEntry).where(AuditEntry.citizen_id == world.alice, AuditEntry.action == AuditAction.EXPORT)
        ).all()
    assert [(e.actor_name, e.purpose) for e in exports] == [("staff_a", "handover to hospital")]


def test_without_a_purpose_in_the_token_the_client_is_told_how_to_give_one(live_server, world):
    token = _login(live_server, "staff_a", world.password, None)
    client = SyncFHIRClient(f"{live_server}/fhir", authorization=f"Bearer {token}")
    with pytest.raises(OperationOutcome, match="form field purpose"):
        client.resource("Patient", id=str(world.alice)).execute("$everything", method="get")


def test_a_request_purpose_overrides_the_tokens(client, world, app):
    response = client.post(
        "/api/v1/auth/token", data={"username": "staff_a", "password": world.password, "purpose": "care"}
    )
    headers = {"Authorization": f"Bearer {response.json()['access_token']}", "X-Purpose": "quality review"}
    assert client.get(f"/api/v1/citizens/{world.alice}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/citizens/{world.alice}", headers=headers | {"X-Purpose": ""}).status_code == 200
    with app.state.session_factory() as session:
        purposes = session.scalars(
            select(AuditEntry.purpose).where(
                AuditEntry.citizen_id == world.alice, AuditEntry.action == AuditAction.READ
            )
        ).all()
    assert purposes == ["quality review", "care"]


@pytest.mark.parametrize("purpose", ["x", "\x00bad", "y" * 201])
def test_an_unusable_purpose_at_login_is_refused(client, world, purpose):
    response = client.post(
        "/api/v1/auth/token", data={"username": "staff_a", "password": world.password, "purpose": purpose}
    )
    assert response.status_code == 422


def test_the_capability_statement_is_valid_fhir_and_names_everything(live_server):
    statement = SyncFHIRClient(f"{live_server}/fhir").execute("metadata", method="get")
    validate_resource(statement)
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert patient["operation"][0]["name"] == "everything"
    assert "purpose" in statement["rest"][0]["security"]["description"]
