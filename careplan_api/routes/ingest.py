"""Device ingest: `POST /api/v1/usage-events`."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from careplan_api.deps import DeviceToken, authenticate_device, device_refused
from careplan_api.schemas import IngestResult, QuotaAnswer, RawUsageBatch
from careplan_api.services.ingest import check_events, store_batch
from careplan_api.services.ingest_quota import InactiveDevice, QuotaExceeded, take
from careplan_api.services.security import device_token_sha256

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
async def post_usage_events(request: Request, batch: RawUsageBatch, token: DeviceToken) -> IngestResult | JSONResponse:
    """Store a batch of the device's usage events, each once however often it is sent.

    The whole request is refused (422) when the body is not `{"events": [...]}` with at most 1000
    items, 413 when it is larger than the body limit, and 429 (with Retry-After) when it exceeds
    the device's quota. Otherwise every event is checked on its own: invalid ones come back in
    `rejected` with a reason, the others are stored (`accepted`) or were already stored (`duplicates`).
    """
    state = request.app.state
    result = await run_in_threadpool(_authenticate_and_store, state, token, batch.events)
    if isinstance(result, QuotaExceeded):
        state.metrics.ingest_throttled.inc()
        answer = QuotaAnswer(
            detail=result.detail, events_per_s=result.events_per_s, max_batch_events=result.max_batch_events
        )
        return JSONResponse(
            answer.model_dump(),
            status.HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": str(result.retry_after_s)},
        )
    state.metrics.count_ingest(result)
    return result


def _authenticate_and_store(state: State, token: str, events: list[Any]) -> IngestResult | QuotaExceeded:
    """The database part of a request, in one thread-pool call (each hand-over between the event
    loop and a worker thread waits for the scheduler, which on a loaded machine is the tail latency).
    The device comes from the token cache after its first request (no query); the quota's UPDATE
    then checks that it is still active. The events are checked before the write lock: while one
    batch is in SQLite's C code (which releases the GIL) the next one is validated."""
    with state.session_factory() as session:
        device = authenticate_device(session, token, state.jwt_key, state.device_cache)
        checked = check_events(events, state.ingest_limits)
        with state.write_lock:
            now_s = time.time()
            try:
                refused = take(session, device.id, len(events), state.ingest_quota, now_s)
            except InactiveDevice:
                session.rollback()
                state.device_cache.discard(device_token_sha256(token))
                raise device_refused() from None  # revoked since its token was cached
            if refused is not None:
                session.rollback()
                return refused
            seen = replace(device, last_seen_at=datetime.fromtimestamp(now_s, UTC))  # set by `take`
            return store_batch(session, seen, checked)
