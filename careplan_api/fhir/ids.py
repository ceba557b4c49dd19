"""Deterministic resource ids: the same fact exported twice gets the same id, so a receiving
system updates the resource instead of storing a duplicate."""

from __future__ import annotations

from functools import lru_cache
from uuid import NAMESPACE_URL, uuid5

NAMESPACE = uuid5(NAMESPACE_URL, "urn:bidvis:fhir")


@lru_cache(maxsize=8192)
def resource_id(resource_type: str, *keys: object) -> str:
    """uuid5 of the resource type and its stable keys (citizen id, meal id ...), as a string.

    Cached: the Patient and Device ids are asked for once per referencing resource."""
    if not keys:
        raise ValueError("a resource id needs at least one stable key")
    return str(uuid5(NAMESPACE, "/".join([resource_type, *map(str, keys)])))


def full_url(resource_id_: str) -> str:
    """The Bundle.entry.fullUrl and reference form of an id: `urn:uuid:<id>`."""
    return f"urn:uuid:{resource_id_}"
