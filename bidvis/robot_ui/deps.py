"""Request dependencies of the robot's web app: the one `RobotSession`, and the logged-in staff account."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from bidvis.robot_ui.session import RobotSession
from bidvis.robot_ui.staff_login import StaffLogin
from controller.messages import Language, negotiate

SESSION_COOKIE = "bidvis_staff"


class StaffLoginRequired(Exception):
    """A staff route was asked for without a valid login (answered 403, or a redirect for a page)."""


def get_session(request: Request) -> RobotSession:
    return request.app.state.session


def get_login(request: Request) -> StaffLogin:
    return request.app.state.login


def current_staff(request: Request) -> str:
    """The logged-in staff account's name; raises `StaffLoginRequired` without one (or when the
    account has been removed since)."""
    name = request.session.get("staff")
    if not isinstance(name, str) or not request.app.state.login.accounts.exists(name):
        request.session.clear()
        raise StaffLoginRequired("log in as staff first (/login)")
    return name


def request_language(request: Request) -> Language:
    """The reader's language: `?lang=`, else the staff session's choice, else the browser's, else Danish."""
    chosen = request.query_params.get("lang") or request.scope.get("session", {}).get("lang")
    return negotiate(chosen, request.headers.get("accept-language"))


Session = Annotated[RobotSession, Depends(get_session)]
Login = Annotated[StaffLogin, Depends(get_login)]
Staff = Annotated[str, Depends(current_staff)]
Reader = Annotated[Language, Depends(request_language)]
