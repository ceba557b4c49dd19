"""The robot's web app: `create_app(session, login)` serves the staff pages (behind a staff login),
the citizen's panel (no login: it is the citizen's tablet) and their JSON API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from bidvis.robot_ui.arm import ArmFault, ArmNotConnected, ArmStopped, JogBusy
from bidvis.robot_ui.deps import SESSION_COOKIE, StaffLoginRequired, request_language
from bidvis.robot_ui.errors import Busy, FieldError, NotReady, Unjournalled
from bidvis.robot_ui.routes import arm, login, pages, panel, setup
from bidvis.robot_ui.session import RobotSession
from bidvis.robot_ui.staff_login import StaffLogin
from controller.config import ConfigError, ConfigValidationError
from controller.messages import DEFAULT_LANGUAGE, Message, MessageError
from controller.triggers import InvalidCommand
from firmware_bridge import BridgeError

HERE = Path(__file__).parent


def _error(
    status: int, message: str | Message, fields: list[str] | None = None, request: Request | None = None
) -> JSONResponse:
    """An error answer: `detail` in English (logs, scripts); a robot `Message` also gives its `key`,
    `values` and `text` in the reader's language, which the pages show."""
    body: dict[str, object] = {"detail": str(message)}
    if isinstance(message, Message):
        body.update(message.as_json(request_language(request) if request is not None else DEFAULT_LANGUAGE))
    if fields is not None:
        body["fields"] = fields
    return JSONResponse(body, status_code=status)


def _said(exc: Exception) -> str | Message:
    """What an error says: its robot message when it has one (`MessageError`), else its English text."""
    return exc.message if isinstance(exc, MessageError) else str(exc)


def create_app(session: RobotSession, staff_login: StaffLogin) -> FastAPI:
    """The app over one robot session (closed when the app shuts down); staff log in with the
    accounts of `staff_login`, whose key signs the session cookie."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        session.close()

    app = FastAPI(title="bidvis robot", summary="Set-up pages for staff and the citizen's panel", lifespan=lifespan)
    app.state.session = session
    app.state.login = staff_login
    app.add_middleware(
        SessionMiddleware,
        secret_key=staff_login.secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=staff_login.max_age_s,
        same_site="strict",
        https_only=staff_login.https_only,
    )
    app.state.templates = Jinja2Templates(directory=HERE / "templates")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for router in (login.router, pages.router, arm.stop_router, arm.router, setup.router, panel.router):
        app.include_router(router)

    @app.exception_handler(StaffLoginRequired)
    async def login_required(request: Request, exc: StaffLoginRequired) -> Response:
        if request.url.path.startswith("/api/"):
            return _error(403, str(exc))
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(ConfigValidationError)
    async def validation(_: Request, exc: ConfigValidationError) -> JSONResponse:
        return _error(422, str(exc), exc.fields)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_: Request, exc: Exception) -> JSONResponse:
        # FastAPI's 422 without the echoed input: a NaN or Infinity in it cannot be written as JSON (a 500)
        assert isinstance(exc, RequestValidationError)
        return JSONResponse(
            {"detail": jsonable_encoder([{k: v for k, v in e.items() if k != "input"} for e in exc.errors()])},
            status_code=422,
        )

    @app.exception_handler(FieldError)
    async def field(request: Request, exc: FieldError) -> JSONResponse:
        return _error(422, _said(exc), [exc.field], request)

    @app.exception_handler(InvalidCommand)
    async def invalid_command(request: Request, exc: InvalidCommand) -> JSONResponse:
        return _error(422, _said(exc), ["bowl"], request)

    async def conflict(request: Request, exc: Exception) -> JSONResponse:
        return _error(409, _said(exc), request=request)

    @app.exception_handler(ConfigError)
    async def config_file(_: Request, exc: ConfigError) -> JSONResponse:
        return _error(500, f"cannot save: {exc}")

    @app.exception_handler(Unjournalled)
    async def unjournalled(request: Request, exc: Unjournalled) -> JSONResponse:
        return _error(503, _said(exc), request=request)

    @app.exception_handler(BridgeError)
    async def bus(_: Request, exc: BridgeError) -> JSONResponse:
        return _error(503, f"servo bus: {exc}")

    for kind in (JogBusy, ArmStopped, Busy, ArmNotConnected, ArmFault, NotReady):
        app.exception_handler(kind)(conflict)

    return app
