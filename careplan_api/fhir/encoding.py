"""The `$everything` Bundle as JSON bytes, assembled from cached per-meal entries.

A year of meals is ~2,200 of the Bundle's entries; a meal's entries change only while it is eaten.
`everything_json` gives the same JSON as `orjson.dumps(everything_bundle(...))`, but takes each
meal's resources already encoded when the record carries them (`CitizenRecord.encoded_meals`, made
by `encode_meal_resources` and stored by the database), else its encoded entries from an
`EntryCache` keyed by the (hashable) `MealSummary` itself, so an unchanged meal is never mapped or
encoded twice, and a changed meal can never hit a stale entry.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import orjson

from careplan_api.bounded_cache import BoundedCache
from careplan_api.fhir.ids import resource_id
from careplan_api.fhir.mapping import (
    BundleType,
    audit_event,
    bundle_entry,
    bundle_head,
    check_record,
    effect_observation,
    effect_weeks,
    leading_resources,
    meal_resources,
    resource_count,
)
from careplan_api.fhir.records import CitizenRecord
from careplan_api.meal_summary import MealSummary


class EntryCache(BoundedCache[object, bytes]):
    """Encoded Bundle entries of meals, least recently used out; thread-safe."""

    def __init__(self, max_meals: int = 20_000) -> None:
        super().__init__(max_meals)


def encode_meal_resources(citizen_id: UUID, meal: MealSummary) -> tuple[bytes, bytes]:
    """The meal's Observation and Provenance as JSON bytes (they depend on nothing but the citizen
    id and the meal, so they can be stored with the meal and put into any later Bundle)."""
    observation, provenance = meal_resources(CitizenRecord(citizen_id, created_at=meal.started_at), meal)
    return orjson.dumps(observation), orjson.dumps(provenance)


def _encoded_entries(meal: MealSummary, encoded: tuple[bytes, bytes], bundle_type: BundleType) -> bytes:
    entries = []
    for resource_type, resource in zip(("Observation", "Provenance"), encoded, strict=True):
        entry = bundle_entry(
            {"resourceType": resource_type, "id": resource_id(resource_type, meal.meal_id)}, bundle_type
        )
        entry["resource"] = orjson.Fragment(resource)  # same key order, the stored bytes inside
        entries.append(orjson.dumps(entry))
    return b",".join(entries)


def everything_json(
    record: CitizenRecord,
    *,
    as_of: datetime,
    bundle_type: BundleType = BundleType.SEARCHSET,
    cache: EntryCache | None = None,
) -> bytes:
    """`Patient/{id}/$everything` as UTF-8 JSON bytes (see the module docstring)."""
    check_record(record, as_of)
    parts = [orjson.dumps(bundle_entry(r, bundle_type)) for r in leading_resources(record, as_of)]
    for meal in record.meals:
        stored = record.encoded_meals.get(meal.meal_id)
        if stored is not None:
            parts.append(_encoded_entries(meal, stored, bundle_type))
            continue
        key = (bundle_type, record.citizen_id, meal)
        encoded = cache.get(key) if cache is not None else None
        if encoded is None:
            encoded = b",".join(orjson.dumps(bundle_entry(r, bundle_type)) for r in meal_resources(record, meal))
            if cache is not None:
                cache.put(key, encoded)
        parts.append(encoded)
    parts.extend(
        orjson.dumps(bundle_entry(effect_observation(record, w, as_of), bundle_type)) for w in effect_weeks(record)
    )
    parts.extend(orjson.dumps(bundle_entry(audit_event(record, e), bundle_type)) for e in record.audit)
    head = orjson.dumps(bundle_head(record, bundle_type=bundle_type, as_of=as_of, total=resource_count(record)))
    return head[:-1] + b',"entry":[' + b",".join(parts) + b"]}"
