"""Request dependencies of the robot's web app: the one `RobotSession` of this app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from bidvis.robot_ui.session import RobotSession


def get_session(request: Request) -> RobotSession:
    return request.app.state.session


Session = Annotated[RobotSession, Depends(get_session)]
