"""Helpers of the FHIR tests."""

from __future__ import annotations

from typing import Any


def is_meal_observation(resource: dict[str, Any]) -> bool:
    """A meal's Observation (not a week's effect Observation)."""
    return resource["resourceType"] == "Observation" and resource["code"]["coding"][0]["code"] == "meal"
