"""Pairing the citizen's panel: staff ask for a one-time code, the tablet enters it; staff revoke.

- `POST /api/pair` (no login: the one-time code is the credential): pairs the client, answers
  `{"panel_id": ..., "token": ...}` and gives a browser the panel cookie. Wrong codes are
  throttled per address.
- `GET /api/panels`, `POST /api/panels/pairing-code`, `POST /api/panels/{panel_id}/revoke`: staff.
"""

from __future__ import annotations

from typing import Any

import segno
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from bidvis.robot_ui.audit import AuditAction
from bidvis.robot_ui.deps import Audit, Panels, StaffAudit, client_address, current_staff
from bidvis.robot_ui.panels import CODE_TTL_S, panel_as_dict
from bidvis.robot_ui.routes.pages import set_panel_cookie
from bidvis.robot_ui.schemas import PairingCodeRequest, PairRequest

router = APIRouter(prefix="/api", tags=["pairing"])
staff_router = APIRouter(prefix="/api/panels", tags=["pairing"], dependencies=[Depends(current_staff)])
PAIRING = "pairing"  # the name wrong codes are counted under, per address


@router.post("/pair", response_model=None)
def pair(body: PairRequest, request: Request, response: Response, panels: Panels, audit: Audit) -> Any:
    """A tablet enters the code staff were shown: it is paired, once."""
    audit.require_working()
    client = client_address(request)
    throttle = panels.codes.throttle
    wait_s = throttle.retry_after_s(PAIRING, client)
    if wait_s > 0:
        return JSONResponse(
            {"detail": f"too many wrong codes; try again in {int(wait_s) + 1} s"},
            status_code=429,
            headers={"Retry-After": str(int(wait_s) + 1)},
        )
    issued = panels.codes.redeem(body.code)
    if issued is None:
        throttle.failed(PAIRING, client)
        audit.record(AuditAction.PAIRING_FAILED, actor="anonymous", client=client)
        return JSONResponse({"detail": "wrong or expired code; ask staff for a new one"}, status_code=401)
    panel, token = panels.registry.pair(issued.name, f"staff:{issued.issued_by}")
    audit.record(
        AuditAction.PANEL_PAIRED,
        actor=f"panel:{panel.panel_id}",
        client=client,
        target=panel.panel_id,
        new=panel_as_dict(panel),
        detail={"code_issued_by": issued.issued_by},
    )
    set_panel_cookie(request, response, token)
    return {"panel_id": panel.panel_id, "token": token, "name": panel.name}


@staff_router.get("")
def list_panels(panels: Panels) -> dict[str, Any]:
    """Every panel paired with this robot, revoked ones too."""
    return {"panels": [panel_as_dict(p) for p in panels.registry.panels()]}


@staff_router.post("/pairing-code")
def pairing_code(body: PairingCodeRequest, request: Request, panels: Panels, record: StaffAudit) -> dict[str, Any]:
    """A one-time code (and its QR code, a link to this robot's pairing page) for a new panel."""
    issued = panels.codes.issue(body.name, record.actor.name)
    shown = f"{issued.code[:4]}-{issued.code[4:]}"
    link = f"{request.url.scheme}://{request.headers['host']}/pair#{shown}"  # after '#': never sent to a server
    record(AuditAction.PAIRING_CODE_ISSUED, target=issued.name, expires_in_s=CODE_TTL_S)
    return {
        "code": shown,
        "name": issued.name,
        "expires_in_s": int(CODE_TTL_S),
        "link": link,
        "qr_svg": segno.make(link, error="m").svg_data_uri(scale=5, border=2),
        "message": f"enter {shown} on the tablet's pairing page within {int(CODE_TTL_S // 60)} minutes",
    }


@staff_router.post("/{panel_id}/revoke")
def revoke(panel_id: str, panels: Panels, record: StaffAudit) -> dict[str, Any]:
    """The panel's token is refused from now on."""
    before = next((p for p in panels.registry.panels() if p.panel_id == panel_id), None)
    panel = panels.registry.revoke(panel_id, record.actor.ref)
    record(
        AuditAction.PANEL_REVOKED,
        target=panel_id,
        old=None if before is None else panel_as_dict(before),
        new=panel_as_dict(panel),
    )
    return {"message": f"panel {panel.name} ({panel_id}) revoked", "panel": panel_as_dict(panel)}
