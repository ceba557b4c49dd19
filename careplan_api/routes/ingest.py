"""Device ingest: `POST /api/v1/usage-events`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from careplan_api.deps import DeviceToken, SettingsDep, authenticate_device
from careplan_api.schemas import IngestResult, QuotaAnswer, RawUsageBatch
from careplan_api.services.ingest import IngestLimits, check_events, store_batch
from careplan_api.services.ingest_quota import IngestQuota, QuotaExceeded, take

router = APIRouter(prefix="/api/v1", tags=["ingest"])


@router.post(
    "/usage-events",
    response_model=IngestResult,
    responses={
        429: {
            "model": QuotaAnswer,
            "description": "over the device's quota (events per second, batch size); nothing stored; "
            "resend after Retry-After, in batches of at most max_batch_events",
        }
    },
)
async def post_usage_events(
    request: Request, batch: RawUsageBatch, token: DeviceToken, settings: SettingsDep
) -> IngestResult | JSONResponse:
    """Store a batch of the device's usage events, each once however often it is sent.

    The whole request is refused (422) when the body is not `{"events": [...]}` with at most 1000
    items, 413 when it is larger than the body limit, and 429 (with Retry-After) when it exceeds
    the device's quota. Otherwise every event is checked on its own: invalid ones come back in
    `rejected` with a reason, the others are stored (`accepted`) or were already stored (`duplicates`).
    """
    limits = IngestLimits(settings.max_event_data_bytes, settings.max_event_clock_skew_s)
    quota = IngestQuota(settings.ingest_events_per_s, settings.ingest_max_batch_events)
    result = await run_in_threadpool(_authenticate_and_store, request.app.state, token, batch.events, limits, quota)
    if isinstance(result, QuotaExceeded):
        request.app.state.metrics.ingest_throttled.inc()
        answer = QuotaAnswer(
            detail=result.detail, events_per_s=result.events_per_s, max_batch_events=result.max_batch_events
        )
        return JSONResponse(
            answer.model_dump(),
            status.HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": str(result.retry_after_s)},
        )
    request.app.state.metrics.count_ingest(result)
    return result


def _authenticate_and_store(
    state: State, token: str, events: list[Any], limits: IngestLimits, quota: IngestQuota
) -> IngestResult | QuotaExceeded:
    """The database part of a request, in one thread-pool call (each hand-over between the event
    loop and a worker thread waits for the scheduler, which on a loaded machine is the tail latency).
    The events are checked before the write lock: while one batch is in SQLite's C code (which
    releases the GIL) the next one is validated."""
    with state.session_factory() as session:
        device = authenticate_device(session, token, state.jwt_key)
        checked = check_events(events, limits)
        with state.write_lock:
            refused = take(session, device, len(events), quota)
            if refused is not None:
                session.rollback()
                return refused
            return store_batch(session, device, checked)
