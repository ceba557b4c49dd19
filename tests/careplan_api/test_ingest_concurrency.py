"""Concurrent resends of the same batches over real HTTP: every event stored exactly once."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from careplan_api.client import CareplanClient
from careplan_api.models import Meal, UsageEventRecord
from careplan_api.schemas import UsageBatch

SENDERS = 8
RESENDS_PER_BATCH = SENDERS


def test_concurrent_resends_store_each_event_once(live_server, world, app):
    meal_ids = [uuid.uuid4() for _ in range(3)]
    batches = [UsageBatch.model_validate({"events": world.meal_events(m, bites=5)}) for m in meal_ids]
    jobs = [b for b in batches for _ in range(RESENDS_PER_BATCH)]

    def send(batch: UsageBatch):
        with CareplanClient(live_server, world.device_tokens["device_alice"], backoff_base_s=0.05) as client:
            return batch, client.post_events(batch)

    with ThreadPoolExecutor(SENDERS) as pool:
        results = list(pool.map(send, jobs))

    total = sum(len(b.events) for b in batches)
    assert sum(r.accepted for _, r in results) == total
    assert sum(r.duplicates for _, r in results) == total * (RESENDS_PER_BATCH - 1)
    assert all(not r.rejected and r.accepted + r.duplicates == len(b.events) for b, r in results)
    with app.state.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(UsageEventRecord)) == total
        meals = session.scalars(select(Meal).where(Meal.id.in_(meal_ids))).all()
    assert [(m.bites_taken, m.event_count) for m in meals] == [(5, len(batches[0].events))] * 3


def test_concurrent_overlapping_batches_of_one_meal_keep_the_counters_right(live_server, world, app):
    meal_id = uuid.uuid4()
    events = world.meal_events(meal_id, bites=20)
    # overlapping windows of the same meal, sent at once: every event arrives several times
    windows = [events[i : i + 15] for i in range(0, len(events), 5)]

    def send(window):
        with CareplanClient(live_server, world.device_tokens["device_alice"], backoff_base_s=0.05) as client:
            return client.post_events(UsageBatch.model_validate({"events": window}))

    with ThreadPoolExecutor(SENDERS) as pool:
        results = list(pool.map(send, windows))
    assert sum(r.accepted for r in results) == len(events)
    with app.state.session_factory() as session:
        meal = session.get(Meal, meal_id)
    assert (meal.bites_offered, meal.bites_taken, meal.triggers, meal.event_count) == (20, 20, 20, len(events))
