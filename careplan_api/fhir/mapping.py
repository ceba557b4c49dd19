"""FHIR R4 mapping of one citizen's care-plan record: pure functions from records to JSON dicts.

Each function returns one resource as a plain dict (what the API sends); tests validate them with
fhir.resources' R4B models (`careplan_api.fhir.validation`). Ids come from `ids.resource_id`, so a
re-export carries the same ids. References are `urn:uuid:` full URLs, resolvable inside the Bundle.
See docs/fhir.md for the mapping table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from careplan_api import plain_words
from careplan_api.effect import WEEK_TZ, WeekEffect, eaten_with_robot, week_effect, week_of
from careplan_api.errors import InvalidInput
from careplan_api.fhir import codes
from careplan_api.fhir.ids import full_url, resource_id
from careplan_api.fhir.records import (
    AuditRecord,
    CitizenRecord,
    DeviceRecord,
    GoalAssessment,
    PowerOfAttorney,
)
from careplan_api.i18n import Lang, texts
from careplan_api.meal_summary import AssistanceLevel, IncidentKind, MealSummary

Resource = dict[str, Any]


class BundleType(StrEnum):
    """Bundle types the export can produce."""

    SEARCHSET = "searchset"  # the answer of $everything
    COLLECTION = "collection"  # a document-less set, e.g. for files
    TRANSACTION = "transaction"  # PUT every resource by id: loading it twice updates, never duplicates


def _instant(when: datetime) -> str:
    if when.tzinfo is None:
        raise InvalidInput(f"time {when.isoformat()} has no UTC offset; FHIR needs one")
    return when.isoformat()


def _text(value: str | None) -> str | None:
    """FHIR strings may not be empty or only whitespace: such a value becomes absent (None)."""
    return value.strip() or None if value else None


def _ref(resource_type: str, *keys: object) -> dict[str, str]:
    return {"reference": full_url(resource_id(resource_type, *keys))}


def patient_ref(record: CitizenRecord) -> dict[str, str]:
    """Reference to the citizen's Patient."""
    return _ref("Patient", record.citizen_id)


def patient(record: CitizenRecord) -> Resource:
    """The citizen as a Patient: a pseudonymous identifier only, no name, no CPR number."""
    return {
        "resourceType": "Patient",
        "id": resource_id("Patient", record.citizen_id),
        "meta": {"security": [codes.coding(codes.V3_OBSERVATION_VALUE, "PSEUDED", "pseudonymized")]},
        "identifier": [{"system": codes.BIDVIS_CITIZEN_ID, "value": str(record.citizen_id)}],
        "active": record.active,
    }


def device(record: CitizenRecord, dev: DeviceRecord) -> Resource:
    """An eating robot registered to the citizen."""
    resource: Resource = {
        "resourceType": "Device",
        "id": resource_id("Device", dev.device_id),
        "identifier": [{"system": codes.BIDVIS_DEVICE_ID, "value": str(dev.device_id)}],
        "status": "inactive" if dev.revoked_at is not None else "active",
        "deviceName": [{"name": _text(dev.label) or "bidvis", "type": "user-friendly-name"}],
        "modelNumber": "OpenManipulator-X-class eating assistance arm",
        "type": {"text": "Spiserobot (eating assistance robot arm)"},
        "patient": patient_ref(record),
    }
    if dev.software_version:
        resource["version"] = [{"value": dev.software_version}]
    return resource


def device_use_statement(record: CitizenRecord, dev: DeviceRecord) -> Resource:
    """That the citizen uses the robot, from registration until the device was withdrawn."""
    period = {"start": _instant(dev.registered_at)}
    if dev.revoked_at is not None:
        period["end"] = _instant(dev.revoked_at)
    return {
        "resourceType": "DeviceUseStatement",
        "id": resource_id("DeviceUseStatement", record.citizen_id, dev.device_id),
        "status": "completed" if dev.revoked_at is not None else "active",
        "subject": patient_ref(record),
        "timingPeriod": period,
        "recordedOn": _instant(dev.registered_at),
        "device": _ref("Device", dev.device_id),
    }


_INCIDENT_COMPONENTS = (
    ("safety-stops", IncidentKind.SAFETY_STOP),
    ("faults", IncidentKind.FAULT),
    ("misfires", IncidentKind.MISFIRE),
    ("bite-timeouts", IncidentKind.BITE_TIMEOUT),
)


def _count(code: str, value: int) -> Resource:
    return {"code": codes.meal_concept(code), "valueInteger": value}


def _meal_components(meal: MealSummary) -> list[Resource]:
    components = [
        _count("bites-offered", meal.bites_offered),
        _count("bites-taken", meal.bites_taken),
        {
            "code": codes.meal_concept("duration"),
            "valueQuantity": {"value": round(meal.duration_s, 1), "unit": "s", "system": codes.UCUM, "code": "s"},
        },
    ]
    pace = meal.pace_bites_per_min
    if pace is not None:
        components.append(
            {
                "code": codes.meal_concept("pace"),
                "valueQuantity": {"value": round(pace, 2), "unit": "/min", "system": codes.UCUM, "code": "/min"},
            }
        )
    if meal.assistance_level is not None:
        components.append(
            {
                "code": codes.concept(codes.KL_COMMON, codes.FUNCTION_LEVEL_CODE, codes.FUNCTION_LEVEL_DISPLAY),
                "valueCodeableConcept": codes.severity_concept(meal.assistance_level),
            }
        )
    components.append(_count("staff-assists", meal.staff_assists))
    components.extend(
        {
            # the bowl as the robot's panel names it (bowl 0 is "Skål 1"); the stored form depends on
            # this text: a change needs meal_summary_store.DERIVED_VERSION raised (migration 0006)
            "code": codes.meal_concept("bowl-bites-taken", plain_words.bowl(tally.bowl, texts(Lang.DA))),
            "valueInteger": tally.bites_taken,
        }
        for tally in meal.bowls
    )
    incident_counts = Counter(incident.kind for incident in meal.incidents)
    components.extend(_count(code, incident_counts[kind]) for code, kind in _INCIDENT_COMPONENTS)
    components.extend(
        {
            "code": codes.meal_concept("incident", incident.kind.value),
            "valueString": f"{_instant(incident.at)} {incident.reason or incident.kind.value}",
        }
        for incident in meal.incidents
        if incident.kind in (IncidentKind.SAFETY_STOP, IncidentKind.FAULT)
    )
    return components


def meal_observation(record: CitizenRecord, meal: MealSummary) -> Resource:
    """One Observation per meal: bites, duration, pace, assistance level, incidents."""
    period = {"start": _instant(meal.started_at)}
    if meal.complete:
        period["end"] = _instant(meal.ended_at)
    return {
        "resourceType": "Observation",
        "id": resource_id("Observation", meal.meal_id),
        "identifier": [{"system": f"{codes.BIDVIS_MEAL}:meal-id", "value": str(meal.meal_id)}],
        "status": "final" if meal.complete else "preliminary",
        "category": [codes.concept(codes.OBSERVATION_CATEGORY, "activity", "Activity")],
        "code": {
            "coding": [
                codes.coding(codes.BIDVIS_MEAL, "meal", codes.MEAL_DISPLAY["meal"]),
                codes.coding(codes.FSIII, codes.EATING_CONDITION_CODE, codes.EATING_CONDITION_DISPLAY),
            ],
            "text": codes.MEAL_DISPLAY["meal"],
        },
        "subject": patient_ref(record),
        "effectivePeriod": period,
        "device": _ref("Device", meal.device_id),
        "component": _meal_components(meal),
    }


def effect_weeks(record: CitizenRecord) -> list[WeekEffect]:
    """The effect figures of each week in which the record has a meal eaten with the robot."""
    by_week: dict[date, list[MealSummary]] = {}
    for meal in record.meals:
        if eaten_with_robot(meal):
            by_week.setdefault(week_of(meal), []).append(meal)
    return [week_effect(monday, by_week[monday], record.assessments) for monday in sorted(by_week)]


def effect_observation(record: CitizenRecord, week: WeekEffect, as_of: datetime) -> Resource:
    """One Observation per week with robot meals: meals, staff minutes freed, the share of bites the
    citizen started, and the FSIII level in force at the week's end (docs/fhir.md)."""
    start = datetime.combine(week.monday, time.min, tzinfo=WEEK_TZ)
    end = start + timedelta(days=7)
    components: list[Resource] = [
        _count("meals-with-robot", week.meals),
        {
            "code": codes.meal_concept("staff-minutes-freed"),
            "valueQuantity": {
                "value": round(week.staff_minutes_freed, 1),
                "unit": "min",
                "system": codes.UCUM,
                "code": "min",
            },
        },
        _count("meals-without-feeding-time", week.meals_without_feeding_time),
    ]
    share = week.self_started_share
    if share is not None:
        components.append(
            {
                "code": codes.meal_concept("self-started-share"),
                "valueQuantity": {"value": round(100 * share, 1), "unit": "%", "system": codes.UCUM, "code": "%"},
            }
        )
    if week.fsiii_level is not None:
        components.append(
            {
                "code": codes.concept(codes.KL_COMMON, codes.FUNCTION_LEVEL_CODE, codes.FUNCTION_LEVEL_DISPLAY),
                "valueCodeableConcept": codes.severity_concept(AssistanceLevel(week.fsiii_level)),
            }
        )
    return {
        "resourceType": "Observation",
        "id": resource_id("Observation", record.citizen_id, "effect", f"{week.year}-W{week.week:02d}"),
        "status": "final" if as_of >= end else "preliminary",
        "category": [codes.concept(codes.OBSERVATION_CATEGORY, "activity", "Activity")],
        "code": {
            "coding": [codes.coding(codes.BIDVIS_MEAL, "robot-effect-week", codes.MEAL_DISPLAY["robot-effect-week"])],
            "text": codes.MEAL_DISPLAY["robot-effect-week"],
        },
        "subject": patient_ref(record),
        "effectivePeriod": {"start": _instant(start), "end": _instant(end)},
        "component": components,
    }


def meal_provenance(record: CitizenRecord, meal: MealSummary) -> Resource:
    """That the meal Observation was generated by the robot, not typed by a person."""
    return {
        "resourceType": "Provenance",
        "id": resource_id("Provenance", meal.meal_id),
        "target": [_ref("Observation", meal.meal_id)],
        "occurredPeriod": {"start": _instant(meal.started_at), "end": _instant(meal.ended_at)},
        "recorded": _instant(meal.ended_at),
        "activity": codes.concept(codes.DATA_OPERATION, "CREATE", "create"),
        "agent": [
            {
                "type": codes.concept(codes.PROVENANCE_PARTICIPANT, "author", "Author"),
                "who": _ref("Device", meal.device_id),
                "onBehalfOf": patient_ref(record),
            }
        ],
    }


def eating_condition(record: CitizenRecord, goal: GoalAssessment) -> Resource:
    """The FSIII condition "Spise og drikke" with the assessed level as severity."""
    return {
        "resourceType": "Condition",
        "id": resource_id("Condition", record.citizen_id, codes.EATING_CONDITION_CODE),
        "clinicalStatus": codes.concept(codes.CONDITION_CLINICAL, "active"),
        "category": [codes.concept(codes.CONDITION_CATEGORY, "problem-list-item")],
        "severity": codes.severity_concept(goal.assessed_level),
        "code": codes.eating_condition_concept(),
        "subject": patient_ref(record),
        "recordedDate": goal.assessed_on.isoformat(),
    }


def eating_goal(record: CitizenRecord, goal: GoalAssessment) -> Resource:
    """The goal for eating: the FSIII level aimed for (the assessed one when none is set)."""
    target = goal.target_level if goal.target_level is not None else goal.assessed_level
    resource: Resource = {
        "resourceType": "Goal",
        "id": resource_id("Goal", record.citizen_id, codes.EATING_CONDITION_CODE),
        "lifecycleStatus": "active",
        "category": [codes.concept(codes.KL_COMMON, codes.GOAL_CATEGORY_CODE, codes.GOAL_CATEGORY_DISPLAY)],
        "description": codes.concept(
            codes.FSIII, codes.GOAL_DESCRIPTION_CODE, codes.GOAL_DESCRIPTION_DISPLAY, text=_text(goal.note)
        ),
        "subject": patient_ref(record),
        "startDate": goal.assessed_on.isoformat(),
        "target": [
            {
                "measure": codes.concept(codes.KL_COMMON, codes.FUNCTION_LEVEL_CODE, codes.FUNCTION_LEVEL_DISPLAY),
                "detailCodeableConcept": codes.severity_concept(target),
            }
        ],
        "addresses": [_ref("Condition", record.citizen_id, codes.EATING_CONDITION_CODE)],
    }
    return resource


def _holder_key(poa: PowerOfAttorney) -> UUID:
    return poa.relative_id if poa.relative_id is not None else poa.fuldmagt_id


def _period(poa: PowerOfAttorney) -> Resource:
    period = {"start": _instant(poa.valid_from)}
    if poa.ends_at is not None:
        period["end"] = _instant(poa.ends_at)
    return period


def related_person(record: CitizenRecord, poa: PowerOfAttorney, as_of: datetime) -> Resource:
    """The person who holds a fuldmagt (pseudonymous user id, no name; none while a holder from
    the national register has not logged in yet)."""
    resource: Resource = {
        "resourceType": "RelatedPerson",
        "id": resource_id("RelatedPerson", record.citizen_id, _holder_key(poa)),
        "active": poa.is_valid_at(as_of),
        "patient": patient_ref(record),
        "relationship": [codes.concept(codes.V3_ROLE_CODE, "POWATT", "power of attorney", text="Fuldmagt")],
        "period": _period(poa),
    }
    if poa.relative_id is not None:
        resource["identifier"] = [{"system": codes.BIDVIS_USER_ID, "value": str(poa.relative_id)}]
    return resource


_CONSENT_SOURCE_TEXT = {
    "citizen": "Givet digitalt af borgeren",
    "paper": "Givet på papir, registreret af personalet",
    "register": "Fra det nationale fuldmagtsregister",
    "admin": "Registreret af en administrator",
}


def fuldmagt_consent(record: CitizenRecord, poa: PowerOfAttorney, as_of: datetime) -> Resource:
    """The fuldmagt as a Consent: the citizen permits the holder to access, within its scope and
    period (which ends when the fuldmagt was ended), given the way `source` says."""
    return {
        "resourceType": "Consent",
        "id": resource_id("Consent", poa.fuldmagt_id),
        "status": "active" if poa.is_valid_at(as_of) else "inactive",
        "scope": codes.concept(codes.CONSENT_SCOPE, "patient-privacy", "Privacy Consent"),
        "category": [codes.concept(codes.LOINC, "59284-0", "Consent Document", text="Fuldmagt")],
        "patient": patient_ref(record),
        "dateTime": _instant(poa.valid_from),
        "performer": [patient_ref(record)],
        "policyRule": codes.concept(codes.V3_ACT_CODE, "OPTIN", "opt-in", text=_CONSENT_SOURCE_TEXT.get(poa.source)),
        "provision": {
            "type": "permit",
            "period": _period(poa),
            "actor": [
                {
                    "role": codes.concept(codes.V3_ROLE_CODE, "POWATT", "power of attorney"),
                    "reference": _ref("RelatedPerson", record.citizen_id, _holder_key(poa)),
                }
            ],
            "action": [codes.concept(codes.CONSENT_ACTION, "access", "Access", text=_text(poa.scope))],
        },
    }


_AUDIT_ACTION = {"read": "R", "search": "E", "create": "C", "update": "U", "delete": "D"}  # else E(xecute)
_AUDIT_OUTCOME = {"ok": "0", "denied": "4"}  # else 8 (serious failure)


def audit_event(record: CitizenRecord, entry: AuditRecord) -> Resource:
    """One audit-log line about the citizen's data: who, when, what and why."""
    role = _text(entry.actor_role) or "system"
    agent: Resource = {
        "type": {"text": role},
        "who": (
            {"identifier": {"system": codes.BIDVIS_USER_ID, "value": str(entry.actor_id)}}
            if entry.actor_id is not None
            else {"display": role}
        ),
        "requestor": True,
    }
    if purpose := _text(entry.purpose):
        agent["purposeOfUse"] = [{"text": purpose}]
    entity: Resource = {"what": patient_ref(record)}
    if what := _text(entry.what):
        entity["description"] = what
    return {
        "resourceType": "AuditEvent",
        "id": resource_id("AuditEvent", entry.entry_id),
        "type": codes.coding(codes.AUDIT_EVENT_TYPE, "rest", "RESTful Operation"),
        "subtype": [codes.coding(codes.BIDVIS_AUDIT_ACTION, entry.action)],
        "action": _AUDIT_ACTION.get(entry.action, "E"),
        "recorded": _instant(entry.at),
        "outcome": _AUDIT_OUTCOME.get(entry.outcome, "8"),
        "agent": [agent],
        "source": {
            "observer": {"display": "bidvis careplan_api"},
            "type": [codes.coding(codes.AUDIT_SOURCE_TYPE, "4", "Application Server")],
        },
        "entity": [entity],
    }


def check_record(record: CitizenRecord, as_of: datetime) -> None:
    """Refuse (`InvalidInput`) an export time without offset or meals of devices not in the record."""
    _instant(as_of)
    known_devices = {dev.device_id for dev in record.devices}
    strays = {meal.device_id for meal in record.meals} - known_devices
    if strays:
        raise InvalidInput(
            f"meals of citizen {record.citizen_id} name devices not in the record: {sorted(map(str, strays))}"
        )


def leading_resources(record: CitizenRecord, as_of: datetime) -> Iterator[Resource]:
    """Patient, devices and their use, Condition and Goal, and each fuldmagt (before the meals)."""
    yield patient(record)
    for dev in record.devices:
        yield device(record, dev)
        yield device_use_statement(record, dev)
    if record.goal is not None:
        yield eating_condition(record, record.goal)
        yield eating_goal(record, record.goal)
    for poa in record.powers_of_attorney:
        yield related_person(record, poa, as_of)
        yield fuldmagt_consent(record, poa, as_of)


def meal_resources(record: CitizenRecord, meal: MealSummary) -> tuple[Resource, Resource]:
    """The Observation of one meal and the Provenance that says the robot recorded it."""
    return meal_observation(record, meal), meal_provenance(record, meal)


def citizen_resources(record: CitizenRecord, as_of: datetime) -> Iterator[Resource]:
    """Every resource about one citizen, in a stable order: Patient first, audit events last."""
    check_record(record, as_of)
    yield from leading_resources(record, as_of)
    for meal in record.meals:
        yield from meal_resources(record, meal)
    for week in effect_weeks(record):
        yield effect_observation(record, week, as_of)
    for entry in record.audit:
        yield audit_event(record, entry)


def bundle_entry(resource: Resource, bundle_type: BundleType) -> Resource:
    """One Bundle.entry: `urn:uuid` fullUrl, the resource, and search mode or PUT request."""
    entry: Resource = {"fullUrl": full_url(resource["id"]), "resource": resource}
    if bundle_type is BundleType.SEARCHSET:
        entry["search"] = {"mode": "match"}
    elif bundle_type is BundleType.TRANSACTION:
        entry["request"] = {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
    return entry


def bundle_head(record: CitizenRecord, *, bundle_type: BundleType, as_of: datetime, total: int) -> Resource:
    """The Bundle without its entries (id from citizen, time and type)."""
    head: Resource = {
        "resourceType": "Bundle",
        "id": resource_id("Bundle", "everything", record.citizen_id, _instant(as_of), bundle_type.value),
        "type": bundle_type.value,
        "timestamp": _instant(as_of),
    }
    if bundle_type is BundleType.SEARCHSET:
        head["total"] = total
    return head


def resource_count(record: CitizenRecord) -> int:
    """How many resources `citizen_resources` yields for `record`."""
    return (
        1
        + 2 * len(record.devices)
        + (2 if record.goal is not None else 0)
        + 2 * len(record.powers_of_attorney)
        + 2 * len(record.meals)
        + len({week_of(meal) for meal in record.meals if eaten_with_robot(meal)})
        + len(record.audit)
    )


def everything_bundle(
    record: CitizenRecord, *, as_of: datetime, bundle_type: BundleType = BundleType.SEARCHSET
) -> Resource:
    """The answer of `Patient/{id}/$everything`: all resources of the citizen in one Bundle."""
    entries = [bundle_entry(resource, bundle_type) for resource in citizen_resources(record, as_of)]
    head = bundle_head(record, bundle_type=bundle_type, as_of=as_of, total=len(entries))
    return head | {"entry": entries}


__all__ = [
    "BundleType",
    "Resource",
    "audit_event",
    "bundle_entry",
    "bundle_head",
    "check_record",
    "citizen_resources",
    "device",
    "device_use_statement",
    "eating_condition",
    "eating_goal",
    "effect_observation",
    "effect_weeks",
    "everything_bundle",
    "fuldmagt_consent",
    "leading_resources",
    "meal_observation",
    "meal_provenance",
    "meal_resources",
    "patient",
    "patient_ref",
    "related_person",
    "resource_count",
]
