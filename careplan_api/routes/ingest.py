"""Device ingest: `POST /api/v1/usage-events`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from careplan_api.deps import DeviceToken, SettingsDep, authenticate_device
from careplan_api.schemas import IngestResult, RawUsageBatch
from careplan_api.services.ingest import IngestLimits, check_events, store_batch

router = APIRouter(prefix="/api/v1", tags=["ingest"])


@router.post("/usage-events", response_model=IngestResult)
async def post_usage_events(
    request: Request, batch: RawUsageBatch, token: DeviceToken, settings: SettingsDep
) -> IngestResult:
    """Store a batch of the device's usage events, each once however often it is sent.

    The whole request is refused (422) when the body is not `{"events": [...]}` with at most 1000
    items, and 413 when it is larger than the body limit. Otherwise every event is checked on its
    own: invalid ones come back in `rejected` with a reason, the others are stored (`accepted`) or
    were already stored (`duplicates`).
    """
    limits = IngestLimits(settings.max_event_data_bytes, settings.max_event_clock_skew_s)
    result = await run_in_threadpool(_authenticate_and_store, request.app.state, token, batch.events, limits)
    request.app.state.metrics.count_ingest(result)
    return result


def _authenticate_and_store(state: State, token: str, events: list[Any], limits: IngestLimits) -> IngestResult:
    """The database part of a request, in one thread-pool call (each hand-over between the event
    loop and a worker thread waits for the scheduler, which on a loaded machine is the tail latency).
    The events are checked before the write lock: while one batch is in SQLite's C code (which
    releases the GIL) the next one is validated."""
    with state.session_factory() as session:
        device = authenticate_device(session, token, state.jwt_key)
        checked = check_events(events, limits)
        with state.write_lock:
            return store_batch(session, device, checked)
