"""`GET /fhir/Patient/{id}/$everything` and the bulk NDJSON export over HTTP, on SQLite and
PostgreSQL: valid R4B bundles, deterministic ids, every role's access, and the audit entries."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from careplan_api.fhir import EXPORT_TYPES
from careplan_api.fhir.validation import validate_resource
from careplan_api.models import AuditAction, AuditEntry, utcnow
from tests.careplan_api.fhir_helpers import is_meal_observation

ROLE_STATUS = {
    "staff_a": 200,  # the citizen's unit
    "staff_b": 403,  # another unit
    "relative": 200,  # valid fuldmagt, scope full
    "relative_expired": 403,
    "relative_audit_only": 403,  # fuldmagt for the audit log only
    "citizen": 200,  # themself
    "analyst": 403,  # aggregates only
    "admin": 403,  # manages, does not read care plans
    "device_alice": 403,  # a device token only posts events
}


def everything_url(citizen_id: uuid.UUID, **query: str) -> str:
    extra = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/fhir/Patient/{citizen_id}/$everything" + (f"?{extra}" if extra else "")


@pytest.fixture
def two_meals(client, world) -> list[uuid.UUID]:
    meal_ids = [uuid.uuid4(), uuid.uuid4()]
    events = world.meal_events(meal_ids[0], bites=3, start=utcnow() - timedelta(days=3)) + world.meal_events(
        meal_ids[1], bites=5, start=utcnow() - timedelta(hours=2)
    )
    response = client.post("/api/v1/usage-events", json={"events": events}, headers=world.headers("device_alice"))
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(events)
    return meal_ids


def test_everything_returns_a_valid_r4b_bundle_with_one_observation_per_meal(client, world, two_meals):
    response = client.get(everything_url(world.alice), headers=world.headers("staff_a"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = response.json()
    Bundle.model_validate(bundle)
    observations = [e["resource"] for e in bundle["entry"] if is_meal_observation(e["resource"])]
    assert sorted(o["identifier"][0]["value"] for o in observations) == sorted(map(str, two_meals))
    bites = sorted(
        c["valueInteger"]
        for o in observations
        for c in o["component"]
        if c["code"]["coding"][0]["code"] == "bites-taken"
    )
    assert bites == [3, 5]
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"Patient", "Device", "DeviceUseStatement", "RelatedPerson", "Consent", "Provenance", "AuditEvent"} <= kinds
    assert "Alice" not in response.text and "010150" not in response.text  # no name, no CPR


def test_re_export_keeps_every_resource_id(client, world, two_meals):
    first = client.get(everything_url(world.alice), headers=world.headers("staff_a")).json()
    second = client.get(everything_url(world.alice), headers=world.headers("staff_a")).json()
    ids = lambda b: {(e["resource"]["resourceType"], e["resource"]["id"]) for e in b["entry"]}  # noqa: E731
    assert ids(first) <= ids(second)  # the second export only adds the audit event of the first
    added = ids(second) - ids(first)
    assert {kind for kind, _ in added} == {"AuditEvent"}


def test_everything_with_goal_has_fsiii_condition_and_goal(client, world, two_meals):
    with world.app.state.session_factory() as session:
        from careplan_api.services.people import assess_goal

        assess_goal(session, world.alice, 3, "Spiser selv med robotten", None)
        session.commit()
    bundle = client.get(everything_url(world.alice), headers=world.headers("staff_a")).json()
    by_type = {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"]}
    assert by_type["Condition"]["code"]["coding"][0]["code"] == "41c201d5-6d3d-4576-b3d2-510a9b105631"
    assert by_type["Condition"]["severity"]["coding"][0]["code"] == "B4"
    assert by_type["Goal"]["description"]["text"] == "Spiser selv med robotten"


def test_start_and_end_select_meals_by_day(client, world, two_meals):
    today = utcnow().date()
    recent = client.get(
        everything_url(world.alice, start=str(today - timedelta(days=1))), headers=world.headers("staff_a")
    ).json()
    old = client.get(
        everything_url(world.alice, end=str(today - timedelta(days=2))), headers=world.headers("staff_a")
    ).json()

    def obs(b):
        return [e["resource"]["identifier"][0]["value"] for e in b["entry"] if is_meal_observation(e["resource"])]

    assert obs(recent) == [str(two_meals[1])]
    assert obs(old) == [str(two_meals[0])]


def test_transaction_bundle_type_puts_by_id(client, world, two_meals):
    bundle = client.get(everything_url(world.alice, _bundleType="transaction"), headers=world.headers("staff_a")).json()
    Bundle.model_validate(bundle)
    assert bundle["type"] == "transaction"
    assert all(e["request"]["method"] == "PUT" for e in bundle["entry"])


@pytest.mark.parametrize("who", list(ROLE_STATUS))
def test_everything_access_per_role(client, world, two_meals, who):
    response = client.get(everything_url(world.alice), headers=world.headers(who))
    assert response.status_code == ROLE_STATUS[who], response.text


def test_everything_needs_a_login_and_a_purpose(client, world):
    assert client.get(everything_url(world.alice)).status_code == 401
    assert client.get(everything_url(world.alice), headers=world.headers("staff_a", purpose=None)).status_code == 400
    bad_token = {"Authorization": "Bearer not-a-token", "X-Purpose": "care"}
    assert client.get(everything_url(world.alice), headers=bad_token).status_code == 401


def test_every_export_is_audited_with_who_and_why_also_when_refused(client, world, two_meals):
    client.get(everything_url(world.alice), headers=world.headers("staff_a", purpose="handover to hospital"))
    client.get(everything_url(world.alice), headers=world.headers("staff_b", purpose="curious"))
    with world.app.state.session_factory() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.citizen_id == world.alice)).all()
    granted = [e for e in entries if e.action is AuditAction.EXPORT]
    denied = [e for e in entries if e.action is AuditAction.DENIED]
    assert [(e.actor_id, e.purpose) for e in granted] == [(world.user_ids["staff_a"], "handover to hospital")]
    assert [(e.actor_id, e.purpose, e.outcome) for e in denied] == [(world.user_ids["staff_b"], "curious", "denied")]
    assert "$everything" in granted[0].resource


def test_unknown_or_malformed_citizen(client, world):
    assert client.get(everything_url(uuid.uuid4()), headers=world.headers("staff_a")).status_code == 403
    assert client.get("/fhir/Patient/not-a-uuid/$everything", headers=world.headers("staff_a")).status_code == 422
    assert (
        client.get("/fhir/Patient/1%27%20OR%201=1--/$everything", headers=world.headers("staff_a")).status_code == 422
    )


def test_hostile_query_parameters_get_a_clear_4xx(client, world):
    for query in (
        {"start": "yesterday"},
        {"_bundleType": "document"},
        {"start": "2026-02-10", "end": "2026-02-01"},
        {"end": "9999-12-31"},
        {"start": "0001-01-01"},
        {"start": "2026-02-30"},
    ):
        response = client.get(everything_url(world.alice, **query), headers=world.headers("staff_a"))
        assert response.status_code == 422, (query, response.text)


def test_citizen_without_meals_still_has_a_valid_bundle(client, world):
    bundle = client.get(everything_url(world.alice), headers=world.headers("citizen")).json()
    Bundle.model_validate(bundle)
    assert not [e for e in bundle["entry"] if is_meal_observation(e["resource"])]


def test_bulk_manifest_lists_one_ndjson_file_per_type(client, world):
    response = client.get("/fhir/$export", headers=world.headers("admin"))
    assert response.status_code == 200
    manifest = response.json()
    assert [o["type"] for o in manifest["output"]] == list(EXPORT_TYPES)
    assert all(o["url"].endswith(f"/fhir/$export/{o['type']}.ndjson") for o in manifest["output"])


@pytest.mark.parametrize("who", [w for w in ROLE_STATUS if w != "admin"])
def test_bulk_export_is_for_administrators_only(client, world, who):
    assert client.get("/fhir/$export", headers=world.headers(who)).status_code == 403
    assert client.get("/fhir/$export/Observation.ndjson", headers=world.headers(who)).status_code == 403


def test_bulk_ndjson_has_one_valid_resource_per_line_and_audits_each_citizen(client, world, two_meals):
    response = client.get("/fhir/$export/Observation.ndjson", headers=world.headers("admin", purpose="monthly import"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+ndjson")
    lines = response.text.splitlines()
    assert sum(is_meal_observation(json.loads(line)) for line in lines) == 2  # and the week's effect
    for line in lines:
        resource = json.loads(line)
        assert resource["resourceType"] == "Observation"
        validate_resource(resource)
    patients = client.get(
        "/fhir/$export/Patient.ndjson", headers=world.headers("admin", purpose="monthly import")
    ).text.splitlines()
    assert len(patients) == 2  # alice and bob
    with world.app.state.session_factory() as session:
        exported = session.scalars(select(AuditEntry.citizen_id).where(AuditEntry.action == AuditAction.EXPORT)).all()
    assert sorted(map(str, exported)) == sorted(map(str, [world.alice, world.bob] * 2))


def test_bulk_export_refuses_unknown_types_and_needs_a_purpose(client, world):
    assert client.get("/fhir/$export/Practitioner.ndjson", headers=world.headers("admin")).status_code == 404
    assert (
        client.get("/fhir/$export/Observation.ndjson", headers=world.headers("admin", purpose=None)).status_code == 400
    )


def test_audit_events_are_peoples_accesses_not_the_devices_ingest(client, world, two_meals):
    client.get(everything_url(world.alice), headers=world.headers("staff_a", purpose="first look"))
    bundle = client.get(everything_url(world.alice), headers=world.headers("staff_a")).json()
    events = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "AuditEvent"]
    purposes = [e["agent"][0].get("purposeOfUse", [{}])[0].get("text") for e in events]
    assert "first look" in purposes and "device ingest" not in purposes
    assert all(e["agent"][0]["type"]["text"] != "device" for e in events)
