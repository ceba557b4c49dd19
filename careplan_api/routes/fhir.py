"""FHIR R4 export: `Patient/{id}/$everything` per citizen and a bulk NDJSON export of all citizens.

Both answer with FHIR JSON built by `careplan_api.fhir` (mapping in docs/fhir.md). Every export is
audited with its purpose: `$everything` through `deps.citizen_access` (action `export`), the bulk
export with one entry per exported citizen.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select

from careplan_api.care_record import (
    iter_citizen_records,
    load_citizen_record,
    stored_meal_cache,
)
from careplan_api.deps import AdminUser, ExportCarePlan, Purpose, SessionDep
from careplan_api.fhir import EXPORT_TYPES, NDJSON_MEDIA_TYPE, BundleType, iter_ndjson
from careplan_api.fhir.capability import capability_statement
from careplan_api.fhir.encoding import EntryCache, everything_json
from careplan_api.i18n import DISPLAY_TZ
from careplan_api.models import AuditAction, Citizen, utcnow
from careplan_api.services import audit

FHIR_JSON = "application/fhir+json"
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2999, 12, 31)
router = APIRouter(prefix="/fhir", tags=["fhir"])


def _entry_cache(state: object) -> EntryCache:
    cache = getattr(state, "fhir_entry_cache", None)
    if cache is None:
        cache = state.fhir_entry_cache = EntryCache()  # type: ignore[attr-defined]
    return cache


def _day_start(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time.min, tzinfo=DISPLAY_TZ)


@router.get(
    "/metadata",
    response_class=Response,
    responses={200: {"content": {FHIR_JSON: {}}, "description": "the service's FHIR CapabilityStatement"}},
)
def metadata(request: Request) -> Response:
    """What a FHIR client can do here (no login needed: it holds no personal data)."""
    base = str(request.base_url).rstrip("/") + "/fhir"
    statement = capability_statement(base, request.app.version, request.app.state.started_at)
    return Response(json.dumps(statement), media_type=FHIR_JSON)


@router.get(
    "/Patient/{citizen_id}/$everything",
    response_class=Response,
    responses={
        200: {"content": {FHIR_JSON: {}}, "description": "a Bundle (searchset) of everything about the citizen"}
    },
)
def patient_everything(
    request: Request,
    access: ExportCarePlan,
    session: SessionDep,
    start: Annotated[date | None, Query(description="only meals from this day on (Danish local date)")] = None,
    end: Annotated[date | None, Query(description="only meals up to and including this day")] = None,
    bundle_type: Annotated[
        BundleType, Query(alias="_bundleType", description="searchset (default), collection or transaction (PUT by id)")
    ] = BundleType.SEARCHSET,
) -> Response:
    """Everything about one citizen as a FHIR R4 Bundle: Patient, Device, DeviceUseStatement, one
    Observation per meal, Condition/Goal (FSIII), RelatedPerson + Consent per fuldmagt,
    Provenance per meal and the AuditEvents of the citizen's audit log."""
    for name, day in (("start", start), ("end", end)):
        if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name} must be between {EARLIEST_DAY} and {LATEST_DAY}"
            )
    if start is not None and end is not None and end < start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "end is before start")
    until = None if end is None else _day_start(end + timedelta(days=1))
    record = load_citizen_record(
        session, access.citizen, since=_day_start(start), until=until, cache=stored_meal_cache(request.app.state)
    )
    body = everything_json(record, as_of=utcnow(), bundle_type=bundle_type, cache=_entry_cache(request.app.state))
    return Response(body, media_type=FHIR_JSON, headers={"Cache-Control": "no-store"})


@router.get("/$export")
def bulk_export_manifest(request: Request, admin: AdminUser) -> dict[str, object]:
    """Where to fetch the bulk export: one NDJSON file per resource type (the layout of a FHIR Bulk
    Data `$export` result). For the municipality's systems, with an administrator's token."""
    base = str(request.base_url).rstrip("/")
    return {
        "transactionTime": utcnow().isoformat(),
        "request": f"{base}/fhir/$export",
        "requiresAccessToken": True,
        "output": [{"type": kind, "url": f"{base}/fhir/$export/{kind}.ndjson"} for kind in EXPORT_TYPES],
        "error": [],
    }


@router.get(
    "/$export/{resource_type}.ndjson",
    response_class=StreamingResponse,
    responses={200: {"content": {NDJSON_MEDIA_TYPE: {}}, "description": "one resource per line"}},
)
def bulk_export_type(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    purpose: Purpose,
    resource_type: Annotated[str, Path(max_length=40, description=f"one of {', '.join(EXPORT_TYPES)}")],
) -> StreamingResponse:
    """All citizens' resources of one type as NDJSON. Every exported citizen gets an audit entry."""
    if resource_type not in EXPORT_TYPES:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no export of {resource_type!r}; types: {', '.join(EXPORT_TYPES)}"
        )
    citizen_ids = session.scalars(select(Citizen.id)).all()
    for citizen_id in citizen_ids:
        audit.record(
            session,
            actor=admin,
            action=AuditAction.EXPORT,
            citizen_id=citizen_id,
            purpose=purpose,
            resource=f"GET {request.url.path} (bulk)",
        )
    session.commit()
    as_of = utcnow()
    session_factory = request.app.state.session_factory
    cache = stored_meal_cache(request.app.state)

    def lines() -> Iterator[str]:
        with session_factory() as stream_session:
            records = iter_citizen_records(stream_session, cache=cache)
            yield from iter_ndjson(records, resource_type, as_of)

    return StreamingResponse(lines(), media_type=NDJSON_MEDIA_TYPE, headers={"Cache-Control": "no-store"})
