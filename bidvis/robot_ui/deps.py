"""Request dependencies of the robot's web app: the robot, and who is asking.

Who may do what (every route declares it with one of these):

- `Staff` / `StaffActor`: a logged-in staff member whose session is live (not ended, not idle);
  using it counts as activity. `Watcher`: the same, but reading the live status is not activity
  (the page polls it), so an unattended staff page still times out.
- `Panel`: a paired panel (its bearer token, or the cookie the browser panel got when paired) or
  a staff member.
- `Stopper`: whoever may STOP the arm: a paired panel, or staff, even when their session has
  idled out (it has not been ended), so that STOP is never refused to staff at the table.

Without what a route needs, the answer is 401 (a page answers with the login or the pairing page
instead). Requests from other sites never get this far (`web_guard.WebGuard`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Request

from bidvis.robot_ui.arm_lease import ArmHeld
from bidvis.robot_ui.audit import AuditAction, AuditError, AuditLog
from bidvis.robot_ui.panels import PairingCodes, PanelRegistry
from bidvis.robot_ui.session import RobotSession
from bidvis.robot_ui.staff_login import StaffLogin
from controller.messages import Language, negotiate

log = logging.getLogger(__name__)
SESSION_COOKIE = "bidvis_staff"
PANEL_COOKIE = "bidvis_panel"


class NotAuthenticated(Exception):
    """The request needs a staff login or a paired panel (answered 401; a page redirects)."""


class StaffLoginRequired(NotAuthenticated):
    """A staff route was asked for without a live staff session."""


class PanelPairingRequired(NotAuthenticated):
    """A panel route was asked for without a paired panel's token or a staff session."""


class ActorKind(StrEnum):
    STAFF = "staff"
    PANEL = "panel"


@dataclass(frozen=True)
class Actor:
    """Who is asking: a staff account or a paired panel, and the client address it asks from."""

    kind: ActorKind
    name: str  # the account name, or the panel's name
    ident: str  # the account name, or the panel id
    client: str

    @property
    def ref(self) -> str:
        """As the audit trail names it: `staff:Anna`, `panel:p-1a2b3c4d`."""
        return f"{self.kind.value}:{self.ident}"

    @property
    def label(self) -> str:
        """As the journal and the pages say it: `staff Anna from 10.0.0.7`."""
        who = self.name if self.kind is ActorKind.STAFF else f"{self.name} ({self.ident})"
        return f"{self.kind.value} {who} from {self.client}"


@dataclass(frozen=True)
class PanelAccess:
    """The paired panels and the open pairing codes."""

    registry: PanelRegistry
    codes: PairingCodes


def client_address(request: Request) -> str:
    """The client's address as the server saw it (bidvis is served directly, never behind a proxy)."""
    return request.client.host if request.client else "unknown"


def get_session(request: Request) -> RobotSession:
    return request.app.state.session


def get_login(request: Request) -> StaffLogin:
    return request.app.state.login


def get_audit(request: Request) -> AuditLog:
    return request.app.state.audit


def get_panels(request: Request) -> PanelAccess:
    return request.app.state.panels


def staff_from_cookie(request: Request, *, touch: bool, idle_ok: bool = False) -> Actor | None:
    """The staff member of the request's session cookie, or None. A session of a local account whose
    password changed, or that was disabled or removed, ends here, with every other session of it (a
    session from an OpenID Provider lives as long as the session limits allow, or until logout)."""
    login: StaffLogin = request.app.state.login
    token = request.cookies.get(SESSION_COOKIE)
    session = login.sessions.get(token, idle_ok=idle_ok)
    if token is None or session is None:
        return None
    if session.provider is None and login.accounts.epoch(session.account) != session.epoch:
        ended = login.sessions.end_account(session.account)
        try:
            request.app.state.audit.record(
                AuditAction.SESSIONS_ENDED,
                actor=f"staff:{session.account}",
                client=client_address(request),
                detail={"sessions": ended, "reason": "password changed, or account disabled or removed"},
            )
        except AuditError:  # the sessions have ended all the same; a STOP still goes through
            log.exception("ending the sessions of %s not audited", session.account)
        return None
    if touch:
        login.sessions.touch(token)
    return Actor(ActorKind.STAFF, session.name, session.account, client_address(request))


def panel_from_token(request: Request) -> Actor | None:
    """The paired panel of the request's bearer token (or the browser panel's cookie), or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        token = request.cookies.get(PANEL_COOKIE, "")
    panel = request.app.state.panels.registry.verify(token.strip())
    if panel is None:
        return None
    return Actor(ActorKind.PANEL, panel.name, panel.panel_id, client_address(request))


def staff_actor(request: Request) -> Actor:
    actor = staff_from_cookie(request, touch=True)
    if actor is None:
        raise StaffLoginRequired("log in as staff first (/login)")
    return actor


def watching_staff(request: Request) -> Actor:
    actor = staff_from_cookie(request, touch=False)
    if actor is None:
        raise StaffLoginRequired("log in as staff first (/login)")
    return actor


def current_staff(actor: Annotated[Actor, Depends(staff_actor)]) -> str:
    """The logged-in staff account's name (what changes are saved and journalled with)."""
    return actor.name


def panel_or_staff(request: Request) -> Actor:
    actor = panel_from_token(request) or staff_from_cookie(request, touch=True)
    if actor is None:
        raise PanelPairingRequired("this panel is not paired with the robot: pair it at /pair, or log in as staff")
    return actor


def stopper(request: Request) -> Actor:
    actor = staff_from_cookie(request, touch=True, idle_ok=True) or panel_from_token(request)
    if actor is None:
        raise NotAuthenticated("STOP is for staff (log in) and the robot's paired panel")
    return actor


@dataclass(frozen=True)
class Recorder:
    """Records audit entries for one actor: `record(AuditAction.JOG, target=..., old=..., new=...)`."""

    log: AuditLog
    actor: Actor

    def __call__(
        self, action: AuditAction, *, target: str | None = None, old: Any = None, new: Any = None, **detail: Any
    ) -> None:
        self.log.record(
            action,
            actor=self.actor.ref,
            client=self.actor.client,
            target=target,
            old=old,
            new=new,
            detail=detail or None,
        )

    @contextmanager
    def refused_while_held(self, target: str) -> Iterator[None]:
        """Record an `ArmHeld` refusal of `target` (what was asked) with who holds the arm, and re-raise it."""
        try:
            yield
        except ArmHeld as refused:
            self(AuditAction.ARM_HELD, target=target, holder=refused.holder.operator, use=refused.holder.use.value)
            raise


def _staff_recorder(request: Request, actor: Annotated[Actor, Depends(staff_actor)]) -> Recorder:
    request.app.state.audit.require_working()
    return Recorder(request.app.state.audit, actor)


def _panel_recorder(request: Request, actor: Annotated[Actor, Depends(panel_or_staff)]) -> Recorder:
    request.app.state.audit.require_working()
    return Recorder(request.app.state.audit, actor)


def _stop_recorder(request: Request, actor: Annotated[Actor, Depends(stopper)]) -> Recorder:
    return Recorder(request.app.state.audit, actor)  # STOP is never refused, not even for the audit trail


def request_language(request: Request) -> Language:
    """The reader's language: `?lang=`, else the staff session's choice, else the browser's, else Danish.
    Never touches the session (asking the language must not keep a session alive)."""
    chosen = request.query_params.get("lang")
    if not chosen:
        kept = request.app.state.login.sessions.get(request.cookies.get(SESSION_COOKIE), idle_ok=True)
        chosen = kept.language if kept is not None else None
    return negotiate(chosen, request.headers.get("accept-language"))


Session = Annotated[RobotSession, Depends(get_session)]
Login = Annotated[StaffLogin, Depends(get_login)]
Audit = Annotated[AuditLog, Depends(get_audit)]
Panels = Annotated[PanelAccess, Depends(get_panels)]
Staff = Annotated[str, Depends(current_staff)]
StaffActor = Annotated[Actor, Depends(staff_actor)]
Watcher = Annotated[Actor, Depends(watching_staff)]
Panel = Annotated[Actor, Depends(panel_or_staff)]
Stopper = Annotated[Actor, Depends(stopper)]
StaffAudit = Annotated[Recorder, Depends(_staff_recorder)]
PanelAudit = Annotated[Recorder, Depends(_panel_recorder)]
StopAudit = Annotated[Recorder, Depends(_stop_recorder)]
Reader = Annotated[Language, Depends(request_language)]
