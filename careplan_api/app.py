"""The FastAPI application: `create_app(settings)` wires database, routes, middleware and metrics.

    from careplan_api.app import create_app
    from careplan_api.settings import Settings
    app = create_app(Settings(database_url="sqlite:///care.sqlite3"))

The database is migrated to the newest schema when the app is created (unless
`settings.run_migrations` is off). Everything lives on `app.state`: `settings`, `engine`,
`session_factory`, `write_lock` (serialises bulk writes on SQLite), `metrics`, `jwt_key`, `cpr_key`,
`password_hasher`, `login_throttle`, `openid` (the clients of the OpenID Providers), and for ingest
`device_cache`, `ingest_limits`, `ingest_quota`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from careplan_api.db import make_engine, make_session_factory, make_write_lock, upgrade_database
from careplan_api.errors import CareplanError, Conflict, Forbidden, InvalidInput, NotFound
from careplan_api.garbage_collection import prepare_worker_collector
from careplan_api.observability import ACCESS_LOGGER, Metrics, configure_json_logging
from careplan_api.openid import OpenIdClients
from careplan_api.routes import admin, auth, citizens, dashboard, fhir, fuldmagter, ingest, openid, ops, reports
from careplan_api.services.device_auth import DeviceCache
from careplan_api.services.ingest import IngestLimits
from careplan_api.services.ingest_quota import IngestQuota
from careplan_api.services.login_throttle import LoginLimits, LoginThrottle
from careplan_api.services.security import InvalidToken, password_hasher
from careplan_api.settings import Settings

RETRY_AFTER_S = 1
_ERROR_STATUS: dict[type[CareplanError], int] = {
    NotFound: status.HTTP_404_NOT_FOUND,
    Conflict: status.HTTP_409_CONFLICT,
    Forbidden: status.HTTP_403_FORBIDDEN,
    InvalidInput: status.HTTP_422_UNPROCESSABLE_CONTENT,
    InvalidToken: status.HTTP_401_UNAUTHORIZED,
}
_access_log = logging.getLogger(ACCESS_LOGGER)


# On every answer unless the route set its own: nothing is cached (most answers hold personal
# data, and a cached one would outlive a logout), sniffed into another type, or framed by another site.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)


def with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` plus each of `SECURITY_HEADERS` that is not already set."""
    present = {name.lower() for name, _value in headers}
    return [*headers, *((name, value) for name, value in SECURITY_HEADERS if name not in present)]


class GuardMiddleware:
    """Refuses bodies over the limit with 413, adds `SECURITY_HEADERS`, measures every request, and
    logs it without personal data."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, metrics: Metrics) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500
        response_started = False
        refused = False  # a 413 went out; whatever the app sends afterwards is dropped

        async def send_wrapper(message: Message) -> None:
            nonlocal status_code, response_started
            if refused:
                return
            if message["type"] == "http.response.start":
                status_code = message["status"]
                response_started = True
                message = {**message, "headers": with_security_headers(list(message.get("headers", [])))}
            await send(message)

        async def refuse() -> None:
            nonlocal refused, status_code
            response = JSONResponse(
                {"detail": f"request body larger than {self.max_body_bytes} bytes"},
                status.HTTP_413_CONTENT_TOO_LARGE,
                headers={"Connection": "close"},
            )
            response.raw_headers[:] = with_security_headers(response.raw_headers)
            await response(scope, receive, send)
            refused, status_code = True, status.HTTP_413_CONTENT_TOO_LARGE

        received = 0

        async def receive_wrapper() -> Message:
            nonlocal received
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes and not response_started:
                    await refuse()
                    return {"type": "http.disconnect"}  # the app stops reading; its answer is dropped
            return message

        try:
            declared = _content_length(scope)
            if declared is not None and declared > self.max_body_bytes:
                await refuse()
            else:
                await self.app(scope, receive_wrapper, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path_format", None) or getattr(route, "path", None) or "unmatched"
            duration = time.perf_counter() - started
            self.metrics.observe_request(scope["method"], template, status_code, duration)
            _access_log.info(
                "request",
                extra={
                    "fields": {
                        "method": scope["method"],
                        "route": template,
                        "status": status_code,
                        "duration_ms": round(duration * 1000, 2),
                    }
                },
            )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    logging.getLogger("careplan_api").warning("database unavailable", extra={"fields": {"error": type(exc).__name__}})
    return JSONResponse(
        {"detail": "the database is unavailable; retry later"},
        status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def _careplan_error(_request: Request, exc: Exception) -> JSONResponse:
    code = next((c for t, c in _ERROR_STATUS.items() if isinstance(exc, t)), status.HTTP_400_BAD_REQUEST)
    return JSONResponse({"detail": str(exc)}, code)


def _request_invalid(_request: Request, exc: Exception) -> Response:
    """FastAPI's 422 answer, with ASCII escapes: the errors echo the input, and a lone surrogate in
    it (valid JSON, "\\ud800") cannot be encoded as UTF-8, which turned a 422 into a 500."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {k: v for k, v in error.items() if k != "input"}
        if any("password" in str(part) for part in error.get("loc", ()))
        else error
        for error in exc.errors()
    ]  # a password is never echoed back, not even to its sender
    body = json.dumps({"detail": jsonable_encoder(errors)}, ensure_ascii=True)
    return Response(body, status.HTTP_422_UNPROCESSABLE_CONTENT, media_type="application/json")


def _dbapi_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return _database_unavailable(request, exc)
    raise exc


def app_from_environment() -> FastAPI:
    """`create_app(Settings())`: the factory each worker process of `bidvis careplan serve --workers N`
    calls (`uvicorn --factory`), configured by the `BIDVIS_CAREPLAN_*` environment, with JSON logs."""
    settings = Settings()
    configure_json_logging(settings.log_level)
    app = create_app(settings)
    prepare_worker_collector(settings.gc_freeze_after_startup, settings.gc_pause_log_ms)
    return app


def login_limits(settings: Settings) -> LoginLimits:
    return LoginLimits(
        max_failures_per_pair=settings.login_max_failures_per_account_and_address,
        max_failures_per_address=settings.login_max_failures_per_address,
        max_failures_per_account=settings.login_max_failures_per_account,
        window_s=settings.login_failure_window_s,
        known_address_s=settings.login_known_address_days * 86400.0,
    )


def create_app(settings: Settings) -> FastAPI:
    """Build the service for `settings` (secrets from `settings.with_secrets()` when unset)."""
    settings = settings.with_secrets()
    jwt_key, cpr_key = settings.require_secrets()
    engine = make_engine(settings)
    if settings.run_migrations:
        upgrade_database(engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(
        title="bidvis care plan",
        version="1.0.0",
        summary="Meals from eating-assistance robots in the municipal care plan; audited; FHIR R4 export.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.write_lock = make_write_lock(engine)
    app.state.metrics = Metrics()
    app.state.started_at = datetime.now(UTC).replace(microsecond=0)
    app.state.jwt_key = jwt_key
    app.state.cpr_key = cpr_key
    app.state.password_hasher = password_hasher(settings.argon2_profile)
    app.state.login_throttle = LoginThrottle(login_limits(settings), app.state.session_factory)
    app.state.openid = OpenIdClients(settings.openid_providers)
    app.state.device_cache = DeviceCache()
    app.state.ingest_limits = IngestLimits(settings.max_event_data_bytes, settings.max_event_clock_skew_s)
    app.state.ingest_quota = IngestQuota(settings.ingest_events_per_s, settings.ingest_max_batch_events)

    for module in (ops, auth, ingest, citizens, admin, fhir, reports, dashboard, fuldmagter):
        app.include_router(module.router)
    app.include_router(fuldmagter.page_router)
    app.include_router(auth.browser_router)
    app.include_router(openid.router)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(DBAPIError, _dbapi_error)
    app.add_exception_handler(CareplanError, _careplan_error)
    app.add_middleware(GuardMiddleware, max_body_bytes=settings.max_request_body_bytes, metrics=app.state.metrics)
    return app
