"""Code systems and codes of the FHIR export, in one place (docs/fhir.md lists them).

FSIII codes follow KL's care-and-social terminology (http://kl.dk/fhir/common/caresocial): the
condition "Spise og drikke" and the funktionsniveau severities B1 (level 0, ingen/ubetydelige
begrænsninger) to B5 (level 4, totale begrænsninger). Codes the standards do not have (bites,
pace, incidents) live in bidvis' own code system `BIDVIS_MEAL`.
"""

from __future__ import annotations

from typing import Any

from careplan_api.meal_summary import AssistanceLevel

FSIII = "http://kl.dk/fhir/common/caresocial/CodeSystem/FSIII"
KL_COMMON = "http://kl.dk/fhir/common/caresocial/CodeSystem/KLCommonCareSocialCodes"
BIDVIS_MEAL = "urn:bidvis:fhir:CodeSystem:meal"
BIDVIS_CITIZEN_ID = "urn:bidvis:citizen-pseudonym"
BIDVIS_DEVICE_ID = "urn:bidvis:device"
BIDVIS_USER_ID = "urn:bidvis:user-pseudonym"
BIDVIS_AUDIT_ACTION = "urn:bidvis:fhir:CodeSystem:audit-action"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
V3_ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
V3_OBSERVATION_VALUE = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
CONSENT_ACTION = "http://terminology.hl7.org/CodeSystem/consentaction"
LOINC = "http://loinc.org"
PROVENANCE_PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
AUDIT_SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"

EATING_CONDITION_CODE = "41c201d5-6d3d-4576-b3d2-510a9b105631"
EATING_CONDITION_DISPLAY = "Spise og drikke"
GOAL_CATEGORY_CODE = "ca552020-6ed1-4cdc-b0d4-32697f1f27ad"
GOAL_CATEGORY_DISPLAY = "FSIII tilstandsmål"
GOAL_DESCRIPTION_CODE = "e182c5dc-9f91-474a-92e8-f62be3d498f4"
GOAL_DESCRIPTION_DISPLAY = "Tilstand forsvinder, mindskes eller forbliver uændret"
FUNCTION_LEVEL_CODE = "66959f77-6e2a-4574-8423-3ff097f8b9fa"
FUNCTION_LEVEL_DISPLAY = "funktionsevneniveau"

SEVERITY_DISPLAY = {
    AssistanceLevel.NONE: "Ingen/ubetydelige begrænsninger",
    AssistanceLevel.LIGHT: "Lette begrænsninger",
    AssistanceLevel.MODERATE: "Moderate begrænsninger",
    AssistanceLevel.SEVERE: "Svære begrænsninger",
    AssistanceLevel.TOTAL: "Totale begrænsninger",
}

MEAL_DISPLAY = {
    "meal": "Måltid med spiserobot",
    "bites-offered": "Bidder tilbudt",
    "bites-taken": "Bidder taget",
    "duration": "Varighed",
    "pace": "Tempo (bidder pr. minut)",
    "bowl-bites-taken": "Bidder taget fra skål",
    "staff-assists": "Bidder udløst af personale",
    "safety-stops": "Sikkerhedsstop",
    "faults": "Fejl",
    "misfires": "Fejludløsninger",
    "bite-timeouts": "Bidder ikke taget i tide",
    "incident": "Hændelse",
    "robot-effect-week": "Effekt af spiserobot pr. uge",
    "meals-with-robot": "Måltider spist med robotten",
    "staff-minutes-freed": "Personaleminutter frigjort",
    "meals-without-feeding-time": "Måltider uden registreret madningstid",
    "self-started-share": "Andel bidder borgeren selv startede",
}


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    """A FHIR Coding as a plain dict."""
    out: dict[str, Any] = {"system": system, "code": code}
    if display is not None:
        out["display"] = display
    return out


def concept(system: str, code: str, display: str | None = None, text: str | None = None) -> dict[str, Any]:
    """A FHIR CodeableConcept with one coding."""
    out: dict[str, Any] = {"coding": [coding(system, code, display)]}
    if text is not None:
        out["text"] = text
    return out


def severity_concept(level: AssistanceLevel) -> dict[str, Any]:
    """FSIII funktionsniveau for a level 0-4 (B1-B5)."""
    return concept(FSIII, f"B{int(level) + 1}", SEVERITY_DISPLAY[level])


def eating_condition_concept() -> dict[str, Any]:
    """The FSIII condition "Spise og drikke"."""
    return concept(FSIII, EATING_CONDITION_CODE, EATING_CONDITION_DISPLAY)


def meal_concept(code: str, text: str | None = None) -> dict[str, Any]:
    """A code of bidvis' own meal code system."""
    return concept(BIDVIS_MEAL, code, MEAL_DISPLAY[code], text)
