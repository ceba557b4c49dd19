"""Stored meal summaries (`careplan_api.meal_summary_store`), on SQLite and PostgreSQL: always equal
to summarising all of the meal's events from scratch, however the events arrived; the export read
from them is byte for byte the export made from the events."""

from __future__ import annotations

import hashlib
import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from unittest import mock

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from careplan_api import synthetic_meals as synthetic_meals_module
from careplan_api.care_record import load_citizen_record, load_meal_summaries
from careplan_api.fhir.encoding import encode_meal_resources, everything_json
from careplan_api.fhir.mapping import BundleType
from careplan_api.meal_summary import summarize_meal
from careplan_api.meal_summary_store import (
    DERIVED_VERSION,
    StoredMealCache,
    load_stored_meals,
    summary_from_row,
    summary_row,
)
from careplan_api.models import Citizen, Device, MealSummaryRecord
from careplan_api.schemas import UsageEvent, UsageEventType
from careplan_api.services.ingest import IngestLimits, ingest_batch
from careplan_api.synthetic_meals import synthetic_meals
from controller.safety import SafetyReason
from tests.careplan_api.fhir_helpers import is_meal_observation

T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # a Monday
NOW = T0 + timedelta(days=120)
AS_OF = NOW + timedelta(hours=1)

# Few distinct times and data values, so that events often share an instant (the hard case).
_EVENT = st.fixed_dictionaries(
    {
        "type": st.sampled_from(list(UsageEventType)),
        "second": st.integers(0, 4),
        "bowl": st.sampled_from([None, "1", "2", 3]),
        "kind": st.sampled_from(["switch", "staff", "gesture"]),
        "reason": st.sampled_from(["face force", "mouth lost"]),
        "assistance_level": st.sampled_from([None, 0, 2, 4, 7, "x"]),
    }
)


def _wire_event(meal_id: uuid.UUID, spec: dict) -> dict:
    kind = spec["type"]
    data: dict[str, object] = {}
    if (
        kind in (UsageEventType.BOWL_SELECTED, UsageEventType.BITE_OFFERED, UsageEventType.BITE_TAKEN)
        and spec["bowl"] is not None
    ):
        data["bowl"] = spec["bowl"]
    if kind in (UsageEventType.TRIGGER, UsageEventType.MISFIRE):
        data["kind"] = spec["kind"]
    if kind in (UsageEventType.SAFETY_STOP, UsageEventType.FAULT, UsageEventType.MISFIRE):
        data["reason"] = spec["reason"]
    if kind is UsageEventType.MEAL_ENDED and spec["assistance_level"] is not None:
        data["assistance_level"] = spec["assistance_level"]
    at = T0 + timedelta(seconds=spec["second"])
    return {"id": str(uuid.uuid4()), "meal_id": str(meal_id), "type": kind.value, "at": at.isoformat(), "data": data}


def _from_scratch(meal_id: uuid.UUID, device_id: uuid.UUID, wire_events: list[dict]):
    return summarize_meal(meal_id, device_id, [UsageEvent.model_validate(e) for e in wire_events])


def _stored_row(session, meal_id: uuid.UUID) -> MealSummaryRecord:
    return session.execute(select(MealSummaryRecord).where(MealSummaryRecord.meal_id == meal_id)).scalar_one()


def _summary_of(row: MealSummaryRecord):
    return summary_from_row(
        row.meal_id,
        row.device_id,
        row.started_at,
        row.ended_at,
        row.complete,
        row.bites_offered,
        row.bites_taken,
        row.assistance_level,
        row.calibration_changes,
        row.details,
    )


@given(specs=st.lists(_EVENT, min_size=1, max_size=40), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=200, deadline=None)
def test_a_summary_does_not_depend_on_the_order_of_its_events(specs, seed):
    meal_id, device_id = uuid.uuid4(), uuid.uuid4()
    events = [UsageEvent.model_validate(_wire_event(meal_id, spec)) for spec in specs]
    rng = random.Random(seed)
    # a database may give "no data" back as None instead of {}
    shuffled = [
        e.model_copy(update={"data": None}) if not e.data and rng.random() < 0.5 else e
        for e in rng.sample(events, k=len(events))
    ]
    assert summarize_meal(meal_id, device_id, shuffled) == summarize_meal(meal_id, device_id, events)


@pytest.mark.parametrize("no_data", [None, {}])
def test_two_bowl_choices_at_one_instant_give_one_answer_whatever_the_order(no_data):
    meal_id, device_id = uuid.uuid4(), uuid.uuid4()

    def event(kind: UsageEventType, second: int, data: dict | None) -> UsageEvent:
        return UsageEvent.model_construct(
            id=uuid.uuid4(), meal_id=meal_id, type=kind, at=T0 + timedelta(seconds=second), data=data
        )

    events = [
        event(UsageEventType.BOWL_SELECTED, 0, {"bowl": "1"}),
        event(UsageEventType.BOWL_SELECTED, 0, no_data),
        event(UsageEventType.BITE_OFFERED, 1, {}),
    ]
    answers = {
        summarize_meal(meal_id, device_id, order).bowls for order in (events, events[::-1], events[1::-1] + events[2:])
    }
    assert answers == {
        summarize_meal(meal_id, device_id, [events[0], event(UsageEventType.BOWL_SELECTED, 0, {}), events[2]]).bowls
    }


def test_events_of_one_instant_are_taken_in_the_order_a_bite_happens():
    """The synthetic journal stamps a bite's outcome and the next bowl choice, and a trigger and its
    offer, with the same time: shuffled, they summarise as in the journal's own order."""
    device_id = uuid.uuid4()
    for meal_id, events in synthetic_meals(T0, 7, random.Random(3)):
        in_journal_order = summarize_meal(meal_id, device_id, events)
        reversed_order = summarize_meal(meal_id, device_id, events[::-1])
        assert reversed_order == in_journal_order
        assert sum(t.bites_taken for t in in_journal_order.bowls) == in_journal_order.bites_taken


@given(
    specs=st.lists(_EVENT, min_size=1, max_size=25),
    seed=st.integers(0, 2**32 - 1),
    batches=st.integers(1, 5),
)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_stored_summary_equals_the_from_scratch_summary_whatever_the_arrival(app, world, specs, seed, batches):
    meal_id = uuid.uuid4()
    events = [_wire_event(meal_id, spec) for spec in specs]
    rng = random.Random(seed)
    arrivals = events + rng.sample(events, k=rng.randint(0, len(events)))  # some resent
    rng.shuffle(arrivals)
    cuts = sorted(rng.sample(range(1, len(arrivals)), k=min(batches - 1, len(arrivals) - 1)))
    with app.state.session_factory() as session:
        device = session.get(Device, world.device_ids["device_alice"])
        for start, end in zip([0, *cuts], [*cuts, len(arrivals)], strict=True):
            result = ingest_batch(session, device, arrivals[start:end], IngestLimits(), now=NOW)
            assert not result.rejected
        row = _stored_row(session, meal_id)
    expected = _from_scratch(meal_id, device.id, events)
    assert _summary_of(row) == expected
    assert row.derived_version == DERIVED_VERSION
    observation, provenance = encode_meal_resources(world.alice, expected)
    assert (row.fhir_observation.encode(), row.fhir_provenance.encode()) == (observation, provenance)


def test_concurrent_overlapping_batches_leave_the_from_scratch_summary(app, world):
    meal_id = uuid.uuid4()
    events = world.meal_events(meal_id, bites=12, start=NOW - timedelta(hours=1))
    random.Random(7).shuffle(events)
    windows = [events[i : i + 9] for i in range(0, len(events), 3)]  # every event sent up to three times

    def send(window: list[dict]) -> None:
        with app.state.session_factory() as session, app.state.write_lock:
            ingest_batch(
                session, session.get(Device, world.device_ids["device_alice"]), window, IngestLimits(), now=NOW
            )

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(send, windows))
    with app.state.session_factory() as session:
        row = _stored_row(session, meal_id)
    assert _summary_of(row) == _from_scratch(meal_id, world.device_ids["device_alice"], events)


def _load_record(app, citizen_id: uuid.UUID):
    with app.state.session_factory() as session:
        return load_citizen_record(session, session.get(Citizen, citizen_id))


def _ingest_synthetic(app, world, days: int) -> dict[uuid.UUID, list[UsageEvent]]:
    """`days` days of synthetic meals for alice, sent in shuffled batches of 500 with resends."""
    meals = dict(synthetic_meals(T0, days, random.Random(2026)))
    wire = [e.model_dump(mode="json") for events in meals.values() for e in events]
    rng = random.Random(11)
    rng.shuffle(wire)
    wire += rng.sample(wire, k=len(wire) // 10)
    with app.state.session_factory() as session:
        device = session.get(Device, world.device_ids["device_alice"])
        for start in range(0, len(wire), 500):
            assert not ingest_batch(session, device, wire[start : start + 500], IngestLimits(), now=NOW).rejected
    return meals


def test_everything_from_stored_summaries_is_byte_identical_to_the_export_from_events(app, world):
    meals = _ingest_synthetic(app, world, days=28)
    device_id = world.device_ids["device_alice"]
    # the summaries as the export made them before they were stored: from the events, in journal order
    from_events = sorted(
        (summarize_meal(m, device_id, events) for m, events in meals.items()),
        key=lambda s: (s.started_at, str(s.meal_id)),
    )
    with app.state.session_factory() as session:
        record = load_citizen_record(session, session.get(Citizen, world.alice))
    assert record.meals == tuple(from_events)
    assert set(record.encoded_meals) == set(meals)
    before = replace(record, meals=tuple(from_events), encoded_meals={})
    for bundle_type in BundleType:
        assert everything_json(record, as_of=AS_OF, bundle_type=bundle_type) == everything_json(
            before, as_of=AS_OF, bundle_type=bundle_type
        )


def test_everything_over_http_matches_the_export_from_events(client, app, world):
    meals = _ingest_synthetic(app, world, days=7)
    response = client.get(f"/fhir/Patient/{world.alice}/$everything", headers=world.headers("staff_a"))
    assert response.status_code == 200, response.text
    bundle = response.json()
    device_id = world.device_ids["device_alice"]
    observations = {
        e["resource"]["identifier"][0]["value"]: e["resource"]
        for e in bundle["entry"]
        if is_meal_observation(e["resource"])
    }
    expected = {}
    for meal_id, events in meals.items():
        observation, _provenance = encode_meal_resources(world.alice, summarize_meal(meal_id, device_id, events))
        expected[str(meal_id)] = orjson.loads(observation)
    assert observations == expected


def test_a_row_of_an_older_summariser_is_not_used(app, world):
    meals = _ingest_synthetic(app, world, days=2)
    outdated = next(iter(meals))
    with app.state.session_factory() as session:
        fresh = load_stored_meals(session, world.alice)
        session.execute(
            update(MealSummaryRecord)
            .where(MealSummaryRecord.meal_id == outdated)
            .values(derived_version=DERIVED_VERSION - 1, bites_taken=-1, fhir_observation="{}")
        )
        session.commit()
        again = load_stored_meals(session, world.alice)
    assert [m.summary for m in again] == [m.summary for m in fresh]
    assert {m.summary.meal_id for m in again if m.encoded is None} == {outdated}
    record = _load_record(app, world.alice)
    assert b'"bites-taken"' in everything_json(record, as_of=AS_OF)
    assert everything_json(record, as_of=AS_OF) == everything_json(replace(record, encoded_meals={}), as_of=AS_OF)


@pytest.mark.parametrize(
    "damage",
    [
        {"details": {}},
        {"details": {"bowls": [["1"]], "incidents": [], "triggers": []}},
        {"details": {"bowls": [], "incidents": [["meteor", "x", ""]], "triggers": []}},
    ],
)
def test_a_damaged_row_is_not_used_and_the_meal_is_summarised_from_its_events(app, world, damage):
    meals = _ingest_synthetic(app, world, days=1)
    damaged = next(iter(meals))
    with app.state.session_factory() as session:
        session.execute(update(MealSummaryRecord).where(MealSummaryRecord.meal_id == damaged).values(**damage))
        session.commit()
        loaded = load_stored_meals(session, world.alice)
    device_id = world.device_ids["device_alice"]
    assert {m.summary.meal_id: m.summary for m in loaded} == {
        meal_id: summarize_meal(meal_id, device_id, events) for meal_id, events in meals.items()
    }
    assert [m.summary.meal_id for m in loaded if m.encoded is None] == [damaged]


def test_reports_read_the_stored_summaries_within_the_period(app, world):
    meals = _ingest_synthetic(app, world, days=14)
    since = T0 + timedelta(days=7)
    with app.state.session_factory() as session:
        summaries = load_meal_summaries(session, world.alice, since=since)
    device_id = world.device_ids["device_alice"]
    expected = sorted(
        (s for s in (summarize_meal(m, device_id, e) for m, e in meals.items()) if s.started_at >= since),
        key=lambda s: (s.started_at, str(s.meal_id)),
    )
    assert summaries == expected and len(summaries) == 21


def test_a_cached_meal_is_read_again_when_new_events_change_it_even_at_the_same_clock_time(app, world):
    meal_id = uuid.uuid4()
    events = world.meal_events(meal_id, bites=4, start=NOW - timedelta(hours=1))
    first, rest = events[:6], events[6:]
    cache = StoredMealCache()
    with app.state.session_factory() as session:
        device = session.get(Device, world.device_ids["device_alice"])
        ingest_batch(session, device, first, IngestLimits(), now=NOW)
        (before,) = load_stored_meals(session, world.alice, cache=cache)
        (again,) = load_stored_meals(session, world.alice, cache=cache)
        ingest_batch(session, device, rest, IngestLimits(), now=NOW)  # the same `now`: only the revision tells
        (after,) = load_stored_meals(session, world.alice, cache=cache)
        revision = _stored_row(session, meal_id).revision
    assert again is before  # unchanged: taken from the cache
    assert (before.summary.bites_taken, after.summary.bites_taken, revision) == (1, 4, 2)
    assert after.summary == _from_scratch(meal_id, device.id, events)
    assert after.encoded == encode_meal_resources(world.alice, after.summary)


def test_the_export_over_http_follows_new_events_with_a_warm_cache(client, app, world):
    meal_id = uuid.uuid4()
    events = world.meal_events(meal_id, bites=3)
    url, headers = f"/fhir/Patient/{world.alice}/$everything", world.headers("staff_a")

    def bites_taken() -> int:
        bundle = client.get(url, headers=headers).json()
        (observation,) = [e["resource"] for e in bundle["entry"] if is_meal_observation(e["resource"])]
        return next(
            c["valueInteger"] for c in observation["component"] if c["code"]["coding"][0]["code"] == "bites-taken"
        )

    device = world.headers("device_alice", purpose=None)
    assert client.post("/api/v1/usage-events", json={"events": events[:5]}, headers=device).status_code == 200
    assert bites_taken() == 1
    assert len(app.state.stored_meal_cache) == 1
    assert client.post("/api/v1/usage-events", json={"events": events[5:]}, headers=device).status_code == 200
    assert bites_taken() == 3


def test_a_meal_of_another_citizen_is_never_read(app, world):
    _ingest_synthetic(app, world, days=1)
    with app.state.session_factory() as session:
        assert load_stored_meals(session, world.bob) == []


@pytest.mark.parametrize("bad_level", [5, -1])
def test_the_database_refuses_an_impossible_assistance_level(app, world, bad_level):
    _ingest_synthetic(app, world, days=1)
    with app.state.session_factory() as session, pytest.raises(IntegrityError):
        session.execute(update(MealSummaryRecord).values(assistance_level=bad_level))
        session.flush()


# sha256 of the stored form (summary columns and FHIR JSON) of 30 synthetic days (bowls numbered 0 and 1
# as the robot sends them), per DERIVED_VERSION. 2: the FHIR bowl text as the panel says it (migration 0006).
STORED_FORM_FINGERPRINTS = {
    1: "8347fda38599758c8b7117198341c85362b156c354d34de48a4fa038c3bd1a25",
    2: "9e1b3f2d6e373feb2d8f9826855e44c13d64513ee52b7c6d9a2f786ff7ab4fe2",
}
# the stop reasons of the journals the fingerprints were taken on: their input is pinned, so that a change
# of the synthetic journals is not mistaken for a change of the stored form
FINGERPRINT_STOP_REASONS = ("face_contact", "mouth_lost", "estop_pressed")


def stored_form_fingerprint() -> str:
    """The fingerprint of the stored form the code writes now (see STORED_FORM_FINGERPRINTS)."""
    citizen_id, device_id = uuid.UUID(int=1), uuid.UUID(int=2)
    digest = hashlib.sha256()
    with mock.patch("careplan_api.synthetic_meals.STOP_REASONS", FINGERPRINT_STOP_REASONS):
        journals = list(synthetic_meals(T0, 30, random.Random(2026)))
    for meal_id, events in journals:
        row = summary_row(citizen_id, summarize_meal(meal_id, device_id, events), T0)
        del row["updated_at"], row["revision"]  # bookkeeping, not derived from the events
        digest.update(orjson.dumps(row, default=str))
    return digest.hexdigest()


def test_a_change_of_the_stored_form_comes_with_a_new_derived_version():
    assert stored_form_fingerprint() == STORED_FORM_FINGERPRINTS.get(DERIVED_VERSION), (
        "summarize_meal or the meal's FHIR mapping now gives other results than the rows already stored: "
        "bump meal_summary_store.DERIVED_VERSION, add a migration that calls rebuild_meal_summaries, "
        "and record the new fingerprint here"
    )


def test_the_synthetic_journals_stop_for_reasons_the_controller_journals():
    assert set(synthetic_meals_module.STOP_REASONS) <= {reason.value for reason in SafetyReason}
