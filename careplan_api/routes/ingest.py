"""Device ingest: `POST /api/v1/usage-events`."""

from __future__ import annotations

from fastapi import APIRouter, Request

from careplan_api.deps import CurrentDevice, SessionDep, SettingsDep
from careplan_api.schemas import IngestResult, RawUsageBatch
from careplan_api.services.ingest import IngestLimits, ingest_batch

router = APIRouter(prefix="/api/v1", tags=["ingest"])


@router.post("/usage-events", response_model=IngestResult)
def post_usage_events(
    request: Request, batch: RawUsageBatch, device: CurrentDevice, session: SessionDep, settings: SettingsDep
) -> IngestResult:
    """Store a batch of the device's usage events, each once however often it is sent.

    The whole request is refused (422) when the body is not `{"events": [...]}` with at most 1000
    items, and 413 when it is larger than the body limit. Otherwise every event is checked on its
    own: invalid ones come back in `rejected` with a reason, the others are stored (`accepted`) or
    were already stored (`duplicates`).
    """
    limits = IngestLimits(settings.max_event_data_bytes, settings.max_event_clock_skew_s)
    with request.app.state.write_lock:
        result = ingest_batch(session, device, batch.events, limits)
    request.app.state.metrics.count_ingest(result)
    return result
