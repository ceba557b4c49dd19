"""The journal against the real care-plan service: FastAPI app served by uvicorn on 127.0.0.1,
the real HTTP client, a SQLite database. Outage = the server is stopped, then started again."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from careplan_api.app import create_app
from careplan_api.local_postgres import free_port
from careplan_api.models import UsageEventRecord
from careplan_api.schemas import UsageEventType
from careplan_api.services import people
from careplan_api.settings import Settings
from controller.journal import CareplanSender, JournalCounts, JournalSync, UsageJournal


@dataclass
class Service:
    """A care-plan app, one enrolled device, and a uvicorn server that can be stopped and restarted."""

    settings: Settings
    port: int
    token: str

    def __post_init__(self) -> None:
        self.app = create_app(self.settings)
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import uvicorn

        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def stored(self) -> int:
        with self.app.state.session_factory() as session:
            return session.scalar(select(func.count()).select_from(UsageEventRecord))

    def stored_ids(self) -> set:
        with self.app.state.session_factory() as session:
            return set(session.scalars(select(UsageEventRecord.id)))


def _service(tmp_path: Path, **overrides: object) -> Service:
    overrides.setdefault("ingest_events_per_s", 1e6)  # the quota has its own test below
    overrides.setdefault("ingest_max_batch_events", 1000)
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'careplan.sqlite3'}",
        jwt_secret="journal-test-jwt-Qa7Ws2Ed9Rf4Tg6Yh1Uj3Ik8Ol5Pz0Xc",
        cpr_hmac_key="journal-test-cpr-Mn4Bv7Cx1Za9Sd3Fg6Hj2Kl8Qw5Er0Ty",
        argon2_profile="CHEAPEST",
        **overrides,
    )
    service = Service(settings, free_port(), "")
    with service.app.state.session_factory() as session:
        citizen = people.create_citizen(session, "Journal Testesen", service.app.state.cpr_key)
        _, service.token = people.enroll_device(session, citizen.id, "journal-test")
        session.commit()
    return service


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    running = _service(tmp_path)
    running.start()
    yield running
    running.stop()
    running.app.state.engine.dispose()


def _meals(journal: UsageJournal, meals: int, bites: int) -> None:
    for _ in range(meals):
        journal.start_meal({"bowls": [0, 1]})
        journal.record(UsageEventType.BOWL_SELECTED, {"bowl": 0})
        bite = [
            (UsageEventType.TRIGGER, {"kind": "switch", "accepted": True}, None),
            (UsageEventType.BITE_OFFERED, {"bowl": 0}, None),
            (UsageEventType.BITE_TAKEN, {"bowl": 0}, None),
        ]
        journal.record_many(bite * bites)
        journal.end_meal("completed")


def test_meals_reach_the_real_service_once_across_an_outage(tmp_path, service):
    sender = CareplanSender(service.url, service.token, timeout_s=5.0)
    with UsageJournal(tmp_path / "journal.sqlite3") as journal:
        sync = JournalSync(journal, sender, batch_size=200, backoff_base_s=0.01, backoff_cap_s=0.05)
        _meals(journal, 2, 20)
        assert sync.sync_once().sent == 2 * 63
        service.stop()  # outage: connection refused
        _meals(journal, 10, 30)
        outcomes = [sync.sync_once() for _ in range(3)]
        assert all(o.failed for o in outcomes)
        assert "ServiceUnavailable" in sync.status.last_error
        assert journal.counts().pending == 10 * 93
        backup = tmp_path / "backup.sqlite3"
        with sqlite3.connect(journal.path) as live, sqlite3.connect(backup) as copy:
            live.backup(copy)
        service.start()  # the service is back
        with sync:
            assert sync.flush(timeout=120.0)
        total = 2 * 63 + 10 * 93
        assert journal.counts() == JournalCounts(pending=0, sent=total, rejected=0)
        assert service.stored() == total
        assert service.stored_ids() == {event.id for event, _ in journal.events()}
    # a journal restored from a backup resends what was already delivered: nothing is stored twice
    with UsageJournal(backup) as restored:
        assert restored.counts().pending == 10 * 93
        sync = JournalSync(restored, sender, batch_size=200)
        while restored.counts().pending:
            assert not sync.sync_once().failed
    assert service.stored() == total
    sender.close()


def test_an_event_the_service_rejects_is_kept_with_its_reason(tmp_path, service):
    sender = CareplanSender(service.url, service.token)
    with UsageJournal(tmp_path / "journal.sqlite3") as journal:
        journal.start_meal()
        too_big = journal.record(UsageEventType.FAULT, {"log": "x" * 10_000})
        journal.record(UsageEventType.FAULT, {"reason": "servo 12 overload"})
        outcome = JournalSync(journal, sender).sync_once()
        assert (outcome.sent, outcome.rejected) == (2, 1)
        (record,) = journal.rejected()
        assert record.event.id == too_big and record.reason
    assert service.stored() == 2
    sender.close()


def test_a_batch_too_large_for_the_service_is_split_not_dropped(tmp_path):
    service = _service(tmp_path, max_request_body_bytes=40_000)
    service.start()
    sender = CareplanSender(service.url, service.token)
    try:
        with UsageJournal(tmp_path / "journal.sqlite3") as journal:
            _meals(journal, 3, 60)
            sync = JournalSync(journal, sender, batch_size=1000)
            for _ in range(100):
                if not journal.counts().pending:
                    break
                assert not sync.sync_once().failed
            assert journal.counts() == JournalCounts(pending=0, sent=3 * 183, rejected=0)
        assert service.stored() == 3 * 183
    finally:
        sender.close()
        service.stop()
        service.app.state.engine.dispose()


def test_a_revoked_device_keeps_its_events_pending(tmp_path, service):
    sender = CareplanSender(service.url, "not-a-valid-device-token")
    with UsageJournal(tmp_path / "journal.sqlite3") as journal:
        _meals(journal, 1, 2)
        outcome = JournalSync(journal, sender, backoff_base_s=0.01).sync_once()
        assert outcome.failed and "DeviceUnauthorized" in outcome.error
        assert journal.counts().pending == 9
    sender.close()


def test_the_journal_honours_the_ingest_quota_and_loses_nothing(tmp_path):
    running = _service(tmp_path, ingest_events_per_s=200.0, ingest_max_batch_events=40)
    running.start()
    try:
        sender = CareplanSender(running.url, running.token, timeout_s=5.0)
        with UsageJournal(tmp_path / "journal.sqlite3") as journal:
            sync = JournalSync(journal, sender, batch_size=500)  # larger than the service allows
            _meals(journal, 3, 30)  # 3 x 93 events: more than the bucket holds at once
            outcomes = []
            deadline = time.monotonic() + 60
            while journal.counts().pending and time.monotonic() < deadline:
                outcome = sync.sync_once()
                outcomes.append(outcome)
                if outcome.failed:
                    time.sleep(outcome.retry_in_s)
            assert journal.counts() == JournalCounts(pending=0, sent=3 * 93, rejected=0)
            assert any("ingest quota" in (o.error or "") for o in outcomes)  # it was told to wait, and did
            assert sync.status.consecutive_failures == 0  # a quota is not an outage: no growing backoff
            assert running.stored_ids() == {event.id for event, _state in journal.events()}
        sender.client.close()
    finally:
        running.stop()
        running.app.state.engine.dispose()
