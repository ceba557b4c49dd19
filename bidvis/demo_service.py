"""The care-plan side of `bidvis demo`: a local service on a SQLite file, a demo citizen and device.

`LocalCareplan` migrates the database, makes sure a demo citizen with an enrolled device exists
(kept in `demo-device.json` beside the database, so repeated demos add meals to one citizen), and
serves the real FastAPI app with uvicorn on a free loopback port in a background thread.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEMO_CITIZEN_NAME = "Demo-borger"
DEVICE_FILE_NAME = "demo-device.json"
STARTUP_TIMEOUT_S = 20.0


class DemoServiceError(RuntimeError):
    """The local care-plan service of the demo could not be set up."""


@dataclass(frozen=True)
class DemoDevice:
    """The demo citizen and the robot's device credentials."""

    citizen_id: str
    device_id: str
    token: str


class LocalCareplan:
    """The care-plan service on `database_url`, served on 127.0.0.1 while the context is open."""

    def __init__(self, data_dir: Path, database_url: str | None = None) -> None:
        from careplan_api.settings import Settings

        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        # the embedded demo has no OpenID Provider: its people log in with local passwords (docs/identity.md)
        fields: dict[str, Any] = {"data_dir": data_dir, "password_login": "everyone"}
        if database_url:
            fields["database_url"] = database_url
        self.settings = Settings(**fields).with_secrets()
        self.database_url = self.settings.database_url
        self.base_url = ""
        self.device: DemoDevice | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._app: Any = None

    def __enter__(self) -> LocalCareplan:
        from careplan_api.app import create_app
        from careplan_api.errors import CareplanError

        try:
            self._app = create_app(self.settings)
        except (CareplanError, ValueError) as exc:
            raise DemoServiceError(f"care-plan database {self.settings.database_url_masked}: {exc}") from exc
        self.device = self._demo_device()
        self._serve()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the server (the database file stays, with everything stored)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10.0)
            self._thread = None
        if self._app is not None:
            self._app.state.engine.dispose()

    def _session(self) -> Any:
        return self._app.state.session_factory()

    def _demo_device(self) -> DemoDevice:
        """The stored demo device if its citizen still exists in this database, else a new one."""
        from careplan_api.models import Citizen
        from careplan_api.services import people

        path = self.data_dir / DEVICE_FILE_NAME
        stored = _read_device_file(path, self.database_url)
        with self._session() as session:
            if stored and session.get(Citizen, uuid.UUID(stored.citizen_id)) is not None:
                return stored
            _, cpr_key = self.settings.require_secrets()
            citizen = people.create_citizen(
                session, DEMO_CITIZEN_NAME, cpr_key, None, people.get_or_create_unit(session)
            )
            device, token = people.enroll_device(session, citizen.id, "bidvis demo robot")
            session.commit()
            created = DemoDevice(str(citizen.id), str(device.id), token)
        path.write_text(json.dumps({"database_url": self.database_url, **created.__dict__}))
        path.chmod(0o600)
        return created

    def _serve(self) -> None:
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(self._app, log_level="warning", access_log=False, log_config=None)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="careplan-demo", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise DemoServiceError("the local care-plan service did not start")
            time.sleep(0.02)
        self.base_url = f"http://127.0.0.1:{port}"

    def stored_events(self, meal_ids: set[str]) -> int:
        """How many events of these meals the service has stored."""
        from sqlalchemy import func, select

        from careplan_api.models import UsageEventRecord

        if not meal_ids:
            return 0
        with self._session() as session:
            query = (
                select(func.count())
                .select_from(UsageEventRecord)
                .where(UsageEventRecord.meal_id.in_([uuid.UUID(m) for m in meal_ids]))
            )
            return int(session.execute(query).scalar_one())

    def meal_incidents(self, meal_ids: set[str]) -> list[dict[str, str]]:
        """The incidents (safety stops, faults, misfires, bite timeouts, with their reasons) of these
        meals as the care plan's meal report shows them: `careplan_api.meal_summary` over the
        events the service stored."""
        from sqlalchemy import select

        from careplan_api.meal_summary import summarize_meal
        from careplan_api.models import UsageEventRecord

        incidents = []
        with self._session() as session:
            for meal_id in sorted(meal_ids):
                rows = list(
                    session.scalars(select(UsageEventRecord).where(UsageEventRecord.meal_id == uuid.UUID(meal_id)))
                )
                if rows:
                    summary = summarize_meal(uuid.UUID(meal_id), rows[0].device_id, rows)
                    incidents += [
                        {"kind": i.kind.value, "reason": i.reason, "at": i.at.isoformat()} for i in summary.incidents
                    ]
        return incidents


def _read_device_file(path: Path, database_url: str) -> DemoDevice | None:
    """The demo device stored for this database, or None when absent, foreign or unreadable."""
    try:
        raw = json.loads(path.read_text())
        if raw.get("database_url") != database_url:
            return None
        device = DemoDevice(str(raw["citizen_id"]), str(raw["device_id"]), str(raw["token"]))
        uuid.UUID(device.citizen_id)
        return device
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
