"""NDJSON bulk export: one valid resource per line, one file per resource type, same bytes when
exported again."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from careplan_api.errors import InvalidInput
from careplan_api.fhir import EXPORT_TYPES, iter_ndjson, write_ndjson_export
from careplan_api.fhir.mapping import effect_weeks
from careplan_api.fhir.validation import validate_resource
from careplan_api.meal_summary import AssistanceLevel
from careplan_api.synthetic_meals import synthetic_citizen_record

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
AS_OF = datetime(2026, 4, 1, tzinfo=UTC)


def make_record(days: int, seed: int = 1):
    return synthetic_citizen_record(T0, days, seed)


@pytest.fixture
def records():
    base = [make_record(days=2, seed=seed) for seed in (1, 2, 3)]
    return [base[0], replace(base[1], goal=None, powers_of_attorney=()), base[2]]


def test_files_per_type_with_one_valid_resource_per_line(records, tmp_path):
    written = write_ndjson_export(records, tmp_path, AS_OF)
    assert list(written) == [t for t in EXPORT_TYPES if t in written]
    assert written["Patient"][1] == 3
    assert sum(len(r.meals) for r in records) == 18
    assert written["Observation"][1] == sum(len(r.meals) + len(effect_weeks(r)) for r in records)  # meals, weeks
    assert written["Condition"][1] == 2 and written["Consent"][1] == 4 and written["AuditEvent"][1] == 6
    for kind, (path, count) in written.items():
        lines = path.read_text(encoding="utf-8").splitlines()
        assert len(lines) == count
        ids = set()
        for line in lines:
            resource = json.loads(line)
            assert resource["resourceType"] == kind
            validate_resource(resource)
            ids.add(resource["id"])
        assert len(ids) == count, f"duplicate ids in {kind}"


def test_export_again_gives_identical_files(records, tmp_path):
    first = write_ndjson_export(records, tmp_path / "a", AS_OF)
    second = write_ndjson_export(records, tmp_path / "b", AS_OF)
    for kind in first:
        assert first[kind][0].read_bytes() == second[kind][0].read_bytes()


def test_streamed_lines_match_the_files(records, tmp_path):
    written = write_ndjson_export(records, tmp_path, AS_OF)
    streamed = "".join(iter_ndjson(records, "Observation", AS_OF))
    assert streamed == written["Observation"][0].read_text(encoding="utf-8")


def test_text_stays_utf8_and_one_line(tmp_path):
    record = make_record(days=0)
    record = replace(
        record, goal=replace(record.goal, note="Spiser grød\nselv – æøå", assessed_level=AssistanceLevel.TOTAL)
    )
    path, _count = write_ndjson_export([record], tmp_path, AS_OF)["Goal"]
    raw = path.read_bytes()
    assert raw.count(b"\n") == 1 and "æøå".encode() in raw


def test_unknown_resource_type_is_refused():
    with pytest.raises(InvalidInput, match="Practitioner"):
        list(iter_ndjson([], "Practitioner", AS_OF))


def test_empty_export_writes_nothing(tmp_path):
    assert write_ndjson_export([], tmp_path, AS_OF) == {}
    assert list(tmp_path.iterdir()) == []
