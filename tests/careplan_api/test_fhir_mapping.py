"""FHIR mapping of a citizen's record: every bundle validates with fhir.resources (R4B), ids are
deterministic, references resolve inside the bundle, and no personal identifier leaks."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from fhir.resources.R4B.bundle import Bundle
from hypothesis import given, settings
from hypothesis import strategies as st

from careplan_api.errors import InvalidInput
from careplan_api.fhir import (
    AuditRecord,
    BundleType,
    CitizenRecord,
    DeviceRecord,
    GoalAssessment,
    PowerOfAttorney,
    citizen_resources,
    codes,
    everything_bundle,
)
from careplan_api.fhir.encoding import EntryCache, everything_json
from careplan_api.fhir.ids import resource_id
from careplan_api.fhir.mapping import effect_weeks
from careplan_api.fhir.validation import FhirValidationError, validate_resource
from careplan_api.meal_summary import AssistanceLevel, summarize_meal
from careplan_api.schemas import UsageEvent, UsageEventType
from careplan_api.synthetic_meals import synthetic_meals

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
AS_OF = T0 + timedelta(days=30)


def make_record(days: int = 3, seed: int = 7, **overrides) -> CitizenRecord:
    rng = random.Random(seed)
    device_id = UUID(int=rng.getrandbits(128), version=4)
    meals = tuple(summarize_meal(meal_id, device_id, events) for meal_id, events in synthetic_meals(T0, days, rng))
    fields = dict(
        citizen_id=UUID(int=rng.getrandbits(128), version=4),
        created_at=T0 - timedelta(days=60),
        devices=(DeviceRecord(device_id, T0 - timedelta(days=30), software_version="0.1.0"),),
        meals=meals,
        goal=GoalAssessment(
            AssistanceLevel.SEVERE, date(2026, 1, 5), AssistanceLevel.MODERATE, "Spiser selv med robotten"
        ),
        powers_of_attorney=(
            PowerOfAttorney(UUID(int=1), UUID(int=2), "care_plan", T0 - timedelta(days=10), T0 + timedelta(days=100)),
            PowerOfAttorney(UUID(int=3), UUID(int=4), "full", T0 - timedelta(days=400), T0 - timedelta(days=1)),
        ),
        audit=(
            AuditRecord(17, T0, UUID(int=9), "staff", "read", "care", "GET /reports/citizens/x"),
            AuditRecord(
                18, T0, UUID(int=10), "relative", "read", "follow my mother's meals", "report", outcome="denied"
            ),
            AuditRecord(19, T0, None, "", "export", "bulk export", "FHIR $export"),
        ),
    )
    fields.update(overrides)
    return CitizenRecord(**fields)


def references(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [ref for value in node.values() for ref in references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in references(value)]
    return []


@pytest.mark.parametrize("bundle_type", list(BundleType))
def test_everything_bundle_validates_as_r4b_for_every_bundle_type(bundle_type):
    bundle = everything_bundle(make_record(), as_of=AS_OF, bundle_type=bundle_type)
    parsed = Bundle.model_validate(bundle)
    assert parsed.type == bundle_type.value
    assert len(parsed.entry) == len(bundle["entry"])
    # the JSON that the API sends (not only the dict) parses too
    assert Bundle.model_validate_json(json.dumps(bundle)).id == bundle["id"]


def test_every_resource_validates_on_its_own():
    for resource in citizen_resources(make_record(), AS_OF):
        validate_resource(resource)


def test_bundle_has_each_required_resource_type_and_one_observation_per_meal():
    record = make_record(days=4)
    bundle = everything_bundle(record, as_of=AS_OF)
    kinds = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
    assert kinds[0] == "Patient"
    for kind in (
        "Device",
        "DeviceUseStatement",
        "Condition",
        "Goal",
        "RelatedPerson",
        "Consent",
        "Provenance",
        "AuditEvent",
    ):
        assert kind in kinds, kind
    assert len(record.meals) == 12
    assert kinds.count("Observation") == len(record.meals) + len(effect_weeks(record))  # meals and weeks
    assert kinds.count("Provenance") == len(record.meals)
    assert bundle["total"] == len(bundle["entry"])


def test_all_references_resolve_to_full_urls_inside_the_bundle():
    bundle = everything_bundle(make_record(), as_of=AS_OF)
    full_urls = {entry["fullUrl"] for entry in bundle["entry"]}
    assert all(url.startswith("urn:uuid:") for url in full_urls)
    assert len(full_urls) == len(bundle["entry"]), "duplicate fullUrl"
    refs = references([entry["resource"] for entry in bundle["entry"]])
    assert refs and set(refs) <= full_urls


def test_re_export_gives_the_same_resource_ids_and_content():
    first = everything_bundle(make_record(), as_of=AS_OF)
    second = everything_bundle(make_record(), as_of=AS_OF + timedelta(days=1))
    ids = lambda b: [(e["resource"]["resourceType"], e["resource"]["id"]) for e in b["entry"]]  # noqa: E731
    assert ids(first) == ids(second)
    # resources do not change between exports unless the data (or a fuldmagt's validity) changes
    assert [e["resource"] for e in first["entry"]] == [e["resource"] for e in second["entry"]]


def test_transaction_bundle_puts_each_resource_by_its_id_so_loading_twice_updates():
    bundle = everything_bundle(make_record(), as_of=AS_OF, bundle_type=BundleType.TRANSACTION)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert entry["request"] == {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
    assert "total" not in bundle


def test_ids_depend_on_the_stable_key_only():
    meal_id = uuid4()
    assert resource_id("Observation", meal_id) == resource_id("Observation", meal_id)
    assert resource_id("Observation", meal_id) != resource_id("Provenance", meal_id)
    assert resource_id("Observation", meal_id) != resource_id("Observation", uuid4())
    with pytest.raises(ValueError):
        resource_id("Observation")


def test_a_bowl_is_numbered_in_the_fhir_text_as_on_the_panel():
    meal_id, device_id = uuid4(), uuid4()
    events = [
        UsageEvent(id=uuid4(), meal_id=meal_id, type=UsageEventType.MEAL_STARTED, at=T0),
        UsageEvent(id=uuid4(), meal_id=meal_id, type=UsageEventType.BOWL_SELECTED, at=T0, data={"bowl": "0"}),
        UsageEvent(id=uuid4(), meal_id=meal_id, type=UsageEventType.BITE_TAKEN, at=T0 + timedelta(seconds=5)),
        UsageEvent(
            id=uuid4(), meal_id=meal_id, type=UsageEventType.BITE_TAKEN, at=T0 + timedelta(seconds=9), data={"bowl": 1}
        ),
    ]
    meal = summarize_meal(meal_id, device_id, events)
    record = make_record(days=0, meals=(meal,), devices=(DeviceRecord(device_id, T0 - timedelta(days=1)),))
    texts = [
        component["code"]["text"]
        for resource in citizen_resources(record, AS_OF)
        for component in resource.get("component", ())
        if component["code"]["coding"][0]["code"] == "bowl-bites-taken"
    ]
    assert texts == ["Skål 1", "Skål 2"]  # the robot's bowls 0 and 1 are the panel's "Skål 1" and "Skål 2"


def test_patient_is_pseudonymous_with_no_name_or_cpr():
    record = make_record(days=1)
    patient = next(iter(citizen_resources(record, AS_OF)))
    assert patient["identifier"] == [{"system": codes.BIDVIS_CITIZEN_ID, "value": str(record.citizen_id)}]
    assert "name" not in patient and "telecom" not in patient and "address" not in patient
    assert patient["meta"]["security"][0]["code"] == "PSEUDED"
    text = json.dumps(everything_bundle(record, as_of=AS_OF))
    assert "cpr" not in text.lower()


def test_meal_observation_components_carry_bites_duration_pace_assistance_and_incidents():
    meal_id, device_id = uuid4(), uuid4()

    def ev(seconds: float, event_type: UsageEventType, **data) -> UsageEvent:
        return UsageEvent(id=uuid4(), meal_id=meal_id, type=event_type, at=T0 + timedelta(seconds=seconds), data=data)

    events = [
        ev(0, UsageEventType.MEAL_STARTED),
        ev(1, UsageEventType.BOWL_SELECTED, bowl="kartoffelmos"),
        ev(2, UsageEventType.TRIGGER, kind="staff"),
        ev(3, UsageEventType.BITE_OFFERED),
        ev(8, UsageEventType.BITE_TAKEN),
        ev(10, UsageEventType.TRIGGER, kind="switch"),
        ev(11, UsageEventType.BITE_OFFERED),
        ev(12, UsageEventType.SAFETY_STOP, reason="face_contact"),
        ev(120, UsageEventType.MEAL_ENDED, assistance_level=3),
    ]
    meal = summarize_meal(meal_id, device_id, events)
    record = make_record(days=0, meals=(meal,), devices=(DeviceRecord(device_id, T0 - timedelta(days=1)),))
    obs = next(r for r in citizen_resources(record, AS_OF) if r["resourceType"] == "Observation")
    by_code = {}
    for component in obs["component"]:
        by_code.setdefault(component["code"]["coding"][0]["code"], []).append(component)
    assert by_code["bites-offered"][0]["valueInteger"] == 2
    assert by_code["bites-taken"][0]["valueInteger"] == 1
    assert by_code["duration"][0]["valueQuantity"] == {"value": 120.0, "unit": "s", "system": codes.UCUM, "code": "s"}
    assert by_code["pace"][0]["valueQuantity"]["value"] == 0.5
    level = by_code[codes.FUNCTION_LEVEL_CODE][0]["valueCodeableConcept"]["coding"][0]
    assert level == {"system": codes.FSIII, "code": "B4", "display": "Svære begrænsninger"}
    assert by_code["staff-assists"][0]["valueInteger"] == 1
    assert by_code["bowl-bites-taken"][0]["code"]["text"] == "kartoffelmos"  # a named bowl keeps its name
    assert by_code["safety-stops"][0]["valueInteger"] == 1
    assert by_code["incident"][0]["valueString"].endswith("face_contact")
    assert obs["status"] == "final"
    assert obs["code"]["coding"][1]["code"] == codes.EATING_CONDITION_CODE


def test_unfinished_meal_is_preliminary_without_an_end():
    meal_id, device_id = uuid4(), uuid4()
    events = [UsageEvent(id=uuid4(), meal_id=meal_id, type=UsageEventType.MEAL_STARTED, at=T0)]
    meal = summarize_meal(meal_id, device_id, events)
    record = make_record(days=0, meals=(meal,), devices=(DeviceRecord(device_id, T0),))
    obs = next(r for r in citizen_resources(record, AS_OF) if r["resourceType"] == "Observation")
    assert obs["status"] == "preliminary" and "end" not in obs["effectivePeriod"]
    assert not any(c["code"]["coding"][0]["code"] == "pace" for c in obs["component"])
    validate_resource(obs)


def test_condition_and_goal_use_fsiii_codes_and_levels():
    resources = {r["resourceType"]: r for r in citizen_resources(make_record(days=0), AS_OF)}
    condition, goal = resources["Condition"], resources["Goal"]
    assert condition["code"]["coding"][0] == {
        "system": "http://kl.dk/fhir/common/caresocial/CodeSystem/FSIII",
        "code": "41c201d5-6d3d-4576-b3d2-510a9b105631",
        "display": "Spise og drikke",
    }
    assert condition["severity"]["coding"][0]["code"] == "B4"  # assessed level 3
    assert goal["target"][0]["detailCodeableConcept"]["coding"][0]["code"] == "B3"  # target level 2
    assert goal["addresses"][0]["reference"] == f"urn:uuid:{condition['id']}"


@pytest.mark.parametrize("level", list(AssistanceLevel))
def test_each_assessed_level_maps_to_one_fsiii_severity(level):
    goal = GoalAssessment(level, date(2026, 1, 1))
    resources = {r["resourceType"]: r for r in citizen_resources(make_record(days=0, goal=goal), AS_OF)}
    assert resources["Condition"]["severity"]["coding"][0]["code"] == f"B{level + 1}"
    assert resources["Goal"]["target"][0]["detailCodeableConcept"] == resources["Condition"]["severity"]


def test_fuldmagt_becomes_related_person_and_consent_active_only_while_valid():
    resources = list(citizen_resources(make_record(days=0), AS_OF))
    consents = [r for r in resources if r["resourceType"] == "Consent"]
    people = [r for r in resources if r["resourceType"] == "RelatedPerson"]
    assert [c["status"] for c in consents] == ["active", "inactive"]
    assert [p["active"] for p in people] == [True, False]
    assert consents[0]["provision"]["actor"][0]["reference"] == {"reference": f"urn:uuid:{people[0]['id']}"}
    assert consents[0]["provision"]["action"][0]["text"] == "care_plan"
    assert people[0]["relationship"][0]["coding"][0]["code"] == "POWATT"


def test_revoked_fuldmagt_is_inactive_even_before_its_end_date():
    poa = PowerOfAttorney(uuid4(), uuid4(), "full", T0 - timedelta(days=5), T0 + timedelta(days=300), revoked_at=T0)
    resources = list(citizen_resources(make_record(days=0, powers_of_attorney=(poa,)), AS_OF))
    consent = next(r for r in resources if r["resourceType"] == "Consent")
    person = next(r for r in resources if r["resourceType"] == "RelatedPerson")
    assert consent["status"] == "inactive" and not person["active"]
    assert person["period"]["end"] == T0.isoformat()


def test_audit_events_record_who_what_why_and_outcome():
    events = [r for r in citizen_resources(make_record(days=0), AS_OF) if r["resourceType"] == "AuditEvent"]
    assert [e["action"] for e in events] == ["R", "R", "E"]
    assert [e["outcome"] for e in events] == ["0", "4", "0"]
    assert events[0]["agent"][0]["purposeOfUse"][0]["text"] == "care"
    assert events[0]["agent"][0]["who"]["identifier"]["value"] == str(UUID(int=9))
    assert events[2]["agent"][0]["who"] == {"display": "system"}
    assert events[1]["agent"][0]["purposeOfUse"][0]["text"] == "follow my mother's meals"


def test_provenance_names_the_device_as_author_of_each_meal():
    record = make_record(days=1)
    resources = list(citizen_resources(record, AS_OF))
    device = next(r for r in resources if r["resourceType"] == "Device")
    for prov in (r for r in resources if r["resourceType"] == "Provenance"):
        assert prov["agent"][0]["who"]["reference"] == f"urn:uuid:{device['id']}"
        assert prov["target"][0]["reference"].startswith("urn:uuid:")


def test_revoked_device_is_inactive_and_its_use_completed():
    record = make_record(days=0)
    dev = replace(record.devices[0], revoked_at=T0)
    resources = {r["resourceType"]: r for r in citizen_resources(replace(record, devices=(dev,)), AS_OF)}
    assert resources["Device"]["status"] == "inactive"
    assert resources["DeviceUseStatement"]["status"] == "completed"
    assert resources["DeviceUseStatement"]["timingPeriod"]["end"] == T0.isoformat()


def test_meal_from_unknown_device_is_refused_rather_than_a_dangling_reference():
    record = make_record(days=1)
    with pytest.raises(InvalidInput, match="devices not in the record"):
        everything_bundle(replace(record, devices=()), as_of=AS_OF)


def test_naive_export_time_is_refused():
    with pytest.raises(InvalidInput, match="UTC offset"):
        everything_bundle(make_record(days=0), as_of=datetime(2026, 1, 1))


def test_validation_rejects_broken_resources_with_a_named_error():
    with pytest.raises(FhirValidationError, match="no resourceType"):
        validate_resource({"id": "x"})
    with pytest.raises(FhirValidationError, match="unknown FHIR R4B resource type"):
        validate_resource({"resourceType": "NotAResource"})
    with pytest.raises(FhirValidationError, match="(?s)Observation/x.*status"):
        validate_resource({"resourceType": "Observation", "id": "x", "code": {"text": "meal"}})
    with pytest.raises(FhirValidationError, match="effectiveDateTime"):
        validate_resource(
            {
                "resourceType": "Observation",
                "id": "x",
                "status": "final",
                "code": {"text": "meal"},
                "effectiveDateTime": "yesterday",
            }
        )


@settings(max_examples=40, deadline=None)
@given(
    labels=st.lists(st.text(min_size=0, max_size=200), min_size=1, max_size=4),
    reasons=st.lists(
        st.one_of(st.text(max_size=300), st.integers(), st.none(), st.booleans(), st.lists(st.integers())), max_size=4
    ),
    level=st.one_of(st.integers(-5, 9), st.text(max_size=3), st.none(), st.floats(allow_nan=True)),
)
def test_hostile_event_data_still_gives_a_valid_bundle(labels, reasons, level):
    meal_id, device_id = uuid4(), uuid4()
    events = [UsageEvent(id=uuid4(), meal_id=meal_id, type=UsageEventType.MEAL_STARTED, at=T0)]
    for i, label in enumerate(labels):
        events.append(
            UsageEvent(
                id=uuid4(),
                meal_id=meal_id,
                type=UsageEventType.BOWL_SELECTED,
                at=T0 + timedelta(seconds=i),
                data={"bowl": label},
            )
        )
        events.append(
            UsageEvent(
                id=uuid4(),
                meal_id=meal_id,
                type=UsageEventType.BITE_TAKEN,
                at=T0 + timedelta(seconds=i, milliseconds=1),
            )
        )
    for i, reason in enumerate(reasons):
        events.append(
            UsageEvent(
                id=uuid4(),
                meal_id=meal_id,
                type=UsageEventType.SAFETY_STOP,
                at=T0 + timedelta(seconds=i),
                data={"reason": reason},
            )
        )
    events.append(
        UsageEvent(
            id=uuid4(),
            meal_id=meal_id,
            type=UsageEventType.MEAL_ENDED,
            at=T0 + timedelta(minutes=5),
            data={"assistance_level": level},
        )
    )
    meal = summarize_meal(meal_id, device_id, events)
    record = make_record(days=0, meals=(meal,), devices=(DeviceRecord(device_id, T0),))
    Bundle.model_validate(everything_bundle(record, as_of=AS_OF))


@pytest.mark.parametrize("bundle_type", list(BundleType))
def test_json_assembled_from_cached_meal_entries_equals_the_bundle(bundle_type):
    record = make_record(days=3)
    cache = EntryCache()
    expected = everything_bundle(record, as_of=AS_OF, bundle_type=bundle_type)
    cold = everything_json(record, as_of=AS_OF, bundle_type=bundle_type, cache=cache)
    assert len(cache) == len(record.meals)
    warm = everything_json(record, as_of=AS_OF, bundle_type=bundle_type, cache=cache)
    assert json.loads(cold) == json.loads(warm) == expected
    assert everything_json(record, as_of=AS_OF, bundle_type=bundle_type) == cold  # without a cache


def test_a_changed_meal_never_gets_a_stale_cached_entry():
    record = make_record(days=1)
    cache = EntryCache()
    everything_json(record, as_of=AS_OF, cache=cache)
    changed = replace(record.meals[0], bites_taken=record.meals[0].bites_taken + 1)
    record2 = replace(record, meals=(changed, *record.meals[1:]))
    bundle = json.loads(everything_json(record2, as_of=AS_OF, cache=cache))
    assert bundle == everything_bundle(record2, as_of=AS_OF)


def test_entry_cache_forgets_the_least_recently_used():
    cache = EntryCache(max_meals=2)
    for key in "abc":
        cache.put(key, key.encode())
    assert cache.get("a") is None and cache.get("c") == b"c" and len(cache) == 2
