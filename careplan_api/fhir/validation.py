"""Validation of exported resources with fhir.resources' R4B models (FHIR R4-compatible)."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from careplan_api.errors import CareplanError


class FhirValidationError(CareplanError, ValueError):
    """A resource does not validate against the FHIR R4B model; the message names the resource and field."""


def validate_resource(resource: dict[str, Any]) -> Any:
    """Parse one resource dict with its R4B model; returns the model, raises `FhirValidationError`."""
    resource_type = resource.get("resourceType") if isinstance(resource, dict) else None
    if not isinstance(resource_type, str):
        raise FhirValidationError("not a FHIR resource: no resourceType")
    try:
        model = get_fhir_model_class(resource_type)
    except (KeyError, ValueError) as exc:
        raise FhirValidationError(f"unknown FHIR R4B resource type {resource_type!r}") from exc
    try:
        return model.model_validate(resource)
    except ValidationError as exc:
        raise FhirValidationError(f"{resource_type}/{resource.get('id')} is not valid FHIR R4B: {exc}") from exc
