"""FHIR R4 export of the care plan: pure mapping from plain records to resources and Bundles,
NDJSON bulk export, and validation with fhir.resources' R4B models. See docs/fhir.md."""

from careplan_api.fhir.bulk import EXPORT_TYPES, NDJSON_MEDIA_TYPE, iter_ndjson, ndjson_line, write_ndjson_export
from careplan_api.fhir.mapping import BundleType, citizen_resources, everything_bundle
from careplan_api.fhir.records import (
    AuditRecord,
    CitizenRecord,
    DeviceRecord,
    GoalAssessment,
    PowerOfAttorney,
)

__all__ = [
    "EXPORT_TYPES",
    "NDJSON_MEDIA_TYPE",
    "AuditRecord",
    "BundleType",
    "CitizenRecord",
    "DeviceRecord",
    "GoalAssessment",
    "PowerOfAttorney",
    "citizen_resources",
    "everything_bundle",
    "iter_ndjson",
    "ndjson_line",
    "write_ndjson_export",
]
