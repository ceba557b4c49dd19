"""The service's FHIR CapabilityStatement (`GET /fhir/metadata`): what a FHIR client can do here.

Pure: built from the export types and the service's version; validated against the R4B model in
the tests. It says how to authenticate (OAuth2 password flow at `/api/v1/auth/token`) and how the
purpose of use travels (the token, chosen at login, or an `X-Purpose` header).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from careplan_api.fhir.bulk import EXPORT_TYPES

FHIR_VERSION = "4.0.1"
EVERYTHING_DEFINITION = "http://hl7.org/fhir/OperationDefinition/Patient-everything"
EXPORT_DEFINITION = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"
SECURITY_TEXT = (
    "OAuth2 bearer tokens: POST /api/v1/auth/token (password flow, form fields username, password and "
    "purpose). Every read of personal data needs a purpose of use: the one the token was issued with "
    "at login, or an X-Purpose header (or purpose query parameter) on the request; without either the "
    "answer is 400. Every read is written to the citizen's access log."
)


def capability_statement(base_url: str, software_version: str, published: datetime) -> dict[str, Any]:
    """The CapabilityStatement of this service at `base_url` (e.g. `https://careplan.example/fhir`)."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": published.isoformat(),
        "publisher": "bidvis",
        "kind": "instance",
        "software": {"name": "bidvis care plan", "version": software_version},
        "implementation": {"description": "bidvis municipal care plan: meals of eating robots", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Read-only export of the care plan; see docs/fhir.md.",
                "security": {
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "OAuth",
                                    "display": "OAuth",
                                }
                            ]
                        }
                    ],
                    "description": SECURITY_TEXT,
                },
                "resource": [
                    {
                        "type": "Patient",
                        "operation": [{"name": "everything", "definition": EVERYTHING_DEFINITION}],
                    }
                ]
                + [{"type": kind} for kind in EXPORT_TYPES if kind != "Patient"],
                "operation": [{"name": "export", "definition": EXPORT_DEFINITION}],
            }
        ],
    }
