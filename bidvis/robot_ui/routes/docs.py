"""The robot's API documentation, for staff only: the OpenAPI schema and Swagger UI, served from
the robot itself (swagger-ui-bundle), never from a CDN."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from bidvis.robot_ui.deps import Watcher
from bidvis.robot_ui.web_guard import CONTENT_SECURITY_POLICY

router = APIRouter(include_in_schema=False)
# Swagger UI styles some of its parts inline; its scripts still come from the robot only.
DOCS_POLICY = CONTENT_SECURITY_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


@router.get("/openapi.json")
def openapi(request: Request, staff: Watcher) -> dict[str, Any]:
    return request.app.openapi()


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request, staff: Watcher) -> HTMLResponse:
    response = request.app.state.templates.TemplateResponse(request, "docs.html", {"title": request.app.title})
    response.headers["content-security-policy"] = DOCS_POLICY
    return response
