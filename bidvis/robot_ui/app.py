"""The robot's web app: `create_app(session, login)` serves the staff pages (behind a staff login),
the citizen's panel (a paired panel only), the pairing page, and their JSON API.

Every request passes `web_guard.WebGuard` first (the robot's own host names only; nothing that
changes state from another site; security headers on every answer), then `body_limit.BodyLimit`
(a body over the cap is refused with 413 before it is read); then each route's dependency says
who may call it (`deps`). Every action is recorded in the audit trail (`audit`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from swagger_ui_bundle import swagger_ui_path

from bidvis.robot_ui.arm import ArmFault, ArmNotConnected, ArmParked, ArmStopped
from bidvis.robot_ui.audit import AUDIT_FILE, AuditError, AuditLog
from bidvis.robot_ui.body_limit import MAX_BODY_BYTES, BodyLimit
from bidvis.robot_ui.deps import NotAuthenticated, PanelAccess, StaffLoginRequired, request_language
from bidvis.robot_ui.errors import Busy, FieldError, NotReady, TriggerRefused, Unjournalled
from bidvis.robot_ui.panels import (
    MAX_NAME_CHARS,
    PANELS_FILE,
    InvalidPanelName,
    PairingCodes,
    PanelError,
    PanelRegistry,
    UnknownPanel,
)
from bidvis.robot_ui.routes import arm, docs, login, openid, pages, pairing, panel, setup
from bidvis.robot_ui.session import RobotSession
from bidvis.robot_ui.staff_login import StaffLogin
from bidvis.robot_ui.web_guard import SiteAddress, WebGuard
from controller.config import ConfigError, ConfigValidationError
from controller.invalid_values import refusal
from controller.messages import DEFAULT_LANGUAGE, Message, MessageError
from controller.triggers import InvalidCommand
from firmware_bridge import BridgeError

HERE = Path(__file__).parent
log = logging.getLogger(__name__)


def _error(
    status: int,
    message: str | Message,
    fields: list[str] | None = None,
    request: Request | None = None,
    detail: object = None,
) -> JSONResponse:
    """An error answer: `detail` in English (logs, scripts; the message's English unless given); a robot
    `Message` also gives its `key`, `values` and `text` in the reader's language, which the pages show.
    Never raises: when the message cannot be said (a broken catalogue), the answer has `detail` only."""
    try:
        body: dict[str, object] = {"detail": str(message) if detail is None else detail}
        if isinstance(message, Message):
            body.update(message.as_json(request_language(request) if request is not None else DEFAULT_LANGUAGE))
    except Exception:  # an error answer must not fail in turn: the English is enough then
        log.exception("cannot say the refusal %r", message)
        body = {"detail": detail if detail is not None else getattr(message, "key", message)}
    if fields is not None:
        body["fields"] = fields
    return JSONResponse(body, status_code=status)


def _said(exc: Exception) -> str | Message:
    """What an error says: its robot message when it has one (`MessageError`), else its English text."""
    return exc.message if isinstance(exc, MessageError) else str(exc)


def _detail(exc: Exception) -> str:
    """An error's English for the answer's `detail`; a lower layer's cause, which the reader gets in
    words only (`controller.causes`), is logged too."""
    if isinstance(exc, MessageError) and exc.cause is not None:
        log.warning("refused: %s", exc)
    return str(exc)


def _panel_refusal(exc: PanelError) -> tuple[int, Message]:
    """The status and the words of a refusal about a panel: a name it may not have, a panel the robot
    does not know, else the panels file that cannot be read or written."""
    if isinstance(exc, InvalidPanelName):
        return 422, Message("refusal.panel_name", max=MAX_NAME_CHARS)
    if isinstance(exc, UnknownPanel):
        return 404, Message("refusal.unknown_panel")
    return 500, Message("refusal.panels_file")


def create_app(
    session: RobotSession,
    staff_login: StaffLogin,
    *,
    site: SiteAddress | None = None,
    panels: PanelAccess | None = None,
    audit: AuditLog | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The app over one robot session (closed when the app shuts down). Staff log in with the
    accounts of `staff_login`; the app answers to the names of `site` (loopback only by default);
    the paired panels and the audit trail live next to the session's calibration unless given;
    request bodies larger than `max_body_bytes` are refused (413)."""
    data_dir = session.documents.calibration_path.parent
    audit = audit or AuditLog(data_dir / AUDIT_FILE)
    site = site or SiteAddress.local()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        session.close()
        audit.close()

    app = FastAPI(
        title="bidvis robot",
        summary="Set-up pages for staff and the citizen's panel",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # the API docs are for staff: routes/docs.py
    )
    app.state.session = session
    app.state.login = staff_login
    app.state.site = site
    app.state.audit = audit
    app.state.jog_presses = {}  # owner -> the jog press last audited (routes/arm.py)
    app.state.panels = panels or PanelAccess(PanelRegistry(data_dir / PANELS_FILE), PairingCodes())
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(WebGuard, site=site)  # added last: the outermost, it sees every request first
    app.state.templates = Jinja2Templates(directory=HERE / "templates")
    app.mount("/static/swagger-ui", StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for router in (
        login.router,
        openid.router,
        pages.router,
        pairing.router,
        pairing.staff_router,
        docs.router,
        arm.watch_router,
        arm.stop_router,
        arm.router,
        setup.router,
        panel.router,
    ):
        app.include_router(router)

    @app.exception_handler(NotAuthenticated)
    async def not_authenticated(request: Request, exc: NotAuthenticated) -> Response:
        if request.url.path.startswith("/api/") or request.url.path == "/openapi.json":
            return _error(401, str(exc))
        if isinstance(exc, StaffLoginRequired):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return RedirectResponse("/pair", status_code=303)

    @app.exception_handler(ConfigValidationError)
    async def validation(request: Request, exc: ConfigValidationError) -> JSONResponse:
        return _error(422, exc.message, exc.fields, request, detail=str(exc))

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: Exception) -> JSONResponse:
        # FastAPI's errors as `detail`, without the echoed input: a NaN or Infinity in it cannot be
        # written as JSON (a 500); the problems in the reader's language as `text`
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        detail = jsonable_encoder([{k: v for k, v in e.items() if k != "input"} for e in errors])
        fields = [name for e in errors if (name := ".".join(str(part) for part in e["loc"][1:]))]
        return _error(422, refusal(errors, skip=1), fields, request, detail=detail)

    @app.exception_handler(FieldError)
    async def field(request: Request, exc: FieldError) -> JSONResponse:
        return _error(422, _said(exc), [exc.field], request)

    @app.exception_handler(InvalidCommand)
    async def invalid_command(request: Request, exc: InvalidCommand) -> JSONResponse:
        return _error(422, _said(exc), ["bowl"], request)

    async def conflict(request: Request, exc: Exception) -> JSONResponse:
        return _error(409, _said(exc), request=request, detail=_detail(exc))

    @app.exception_handler(ConfigError)
    async def config_file(request: Request, exc: ConfigError) -> JSONResponse:
        return _error(500, Message("refusal.cannot_save"), request=request, detail=f"cannot save: {exc}")

    @app.exception_handler(Unjournalled)
    async def unjournalled(request: Request, exc: Unjournalled) -> JSONResponse:
        return _error(503, _said(exc), request=request, detail=_detail(exc))

    @app.exception_handler(BridgeError)
    async def bus(request: Request, exc: BridgeError) -> JSONResponse:
        return _error(503, Message("refusal.servo_bus"), request=request, detail=f"servo bus: {exc}")

    @app.exception_handler(AuditError)
    async def audit_failed(request: Request, exc: AuditError) -> JSONResponse:
        detail = f"the audit trail does not work, so actions are refused: {exc}"
        return _error(503, Message("refusal.audit_broken"), request=request, detail=detail)

    @app.exception_handler(PanelError)
    async def panel_error(request: Request, exc: PanelError) -> JSONResponse:
        status, message = _panel_refusal(exc)
        return _error(status, message, request=request, detail=str(exc))

    @app.exception_handler(TriggerRefused)
    async def refused(request: Request, exc: TriggerRefused) -> JSONResponse:
        return _error(403, _said(exc), request=request)

    for kind in (ArmStopped, Busy, ArmNotConnected, ArmFault, ArmParked, NotReady):
        app.exception_handler(kind)(conflict)

    return app
