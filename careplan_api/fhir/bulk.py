"""Bulk export of all citizens as NDJSON, one resource per line and one file per resource type,
the layout of the FHIR Bulk Data Access `$export` output that municipal systems import."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from careplan_api.errors import InvalidInput
from careplan_api.fhir.mapping import Resource, citizen_resources

NDJSON_MEDIA_TYPE = "application/fhir+ndjson"
EXPORT_TYPES = (
    "Patient",
    "Device",
    "DeviceUseStatement",
    "Condition",
    "Goal",
    "RelatedPerson",
    "Consent",
    "Observation",
    "Provenance",
    "AuditEvent",
)


def ndjson_line(resource: Resource) -> str:
    """One resource as one compact JSON line (UTF-8 text, newline-terminated)."""
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":")) + "\n"


def check_types(types: Iterable[str]) -> tuple[str, ...]:
    """The requested resource types in export order; `InvalidInput` names an unknown one."""
    wanted = tuple(types)
    unknown = sorted(set(wanted) - set(EXPORT_TYPES))
    if unknown:
        raise InvalidInput(f"cannot export resource type(s) {unknown}; known: {', '.join(EXPORT_TYPES)}")
    return tuple(t for t in EXPORT_TYPES if t in wanted)


def iter_ndjson(records: Iterable[Any], resource_type: str, as_of: datetime) -> Iterator[str]:
    """NDJSON lines of one resource type over all citizen records (streams, one citizen at a time)."""
    (resource_type,) = check_types([resource_type])
    for record in records:
        for resource in citizen_resources(record, as_of):
            if resource["resourceType"] == resource_type:
                yield ndjson_line(resource)


def write_ndjson_export(records: Iterable[Any], out_dir: Path, as_of: datetime) -> dict[str, tuple[Path, int]]:
    """Write `<Type>.ndjson` files for all citizens into `out_dir` in one pass.

    Returns {resource type: (path, number of resources)} for the types that had any resource.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    handles: dict[str, Any] = {}
    counts: dict[str, int] = {}
    try:
        for record in records:
            for resource in citizen_resources(record, as_of):
                kind = resource["resourceType"]
                if kind not in handles:
                    handles[kind] = (out_dir / f"{kind}.ndjson").open("w", encoding="utf-8")
                    counts[kind] = 0
                handles[kind].write(ndjson_line(resource))
                counts[kind] += 1
    finally:
        for handle in handles.values():
            handle.close()
    return {kind: (out_dir / f"{kind}.ndjson", counts[kind]) for kind in check_types(counts)}
