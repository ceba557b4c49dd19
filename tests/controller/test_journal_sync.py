"""Journal sync: batches to the care-plan service, backoff and Retry-After while it is down,
exactly-once delivery across a day-long outage and a restart, rejected events kept with reasons."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from careplan_api.client import backoff_delay_s
from careplan_api.schemas import IngestResult, RejectedEvent, UsageBatch, UsageEvent, UsageEventType
from controller.journal import JournalCounts, JournalSync, UsageJournal


class ServiceDown(ConnectionError):
    """The fake service is unreachable."""


class TooManyRequests(Exception):
    """HTTP 429 with a Retry-After header, as the real client reports it."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"429 Too Many Requests, Retry-After: {retry_after_s}")
        self.retry_after_s = retry_after_s


@dataclass
class FakeCareplanService:
    """An in-memory service implementing `UsageSender`: stores each event id once, like the real one.

    It can be down, answer 429 with Retry-After, lose its answer after storing (so the device
    resends), reject events whose data has a "poison" key, or answer with wrong counts.
    """

    down: bool = False
    retry_after_s: float | None = None
    lose_answers: int = 0
    miscount_answers: int = 0
    stored: dict[UUID, UsageEvent] = field(default_factory=dict)
    times_stored: dict[UUID, int] = field(default_factory=dict)
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, batch: UsageBatch) -> IngestResult:
        with self.lock:
            self.calls += 1
            if self.down:
                raise ServiceDown("connection refused")
            if self.retry_after_s is not None:
                raise TooManyRequests(self.retry_after_s)
            accepted = duplicates = 0
            rejected: list[RejectedEvent] = []
            for event in batch.events:
                if "poison" in event.data:
                    rejected.append(RejectedEvent(id=str(event.id), reason="data.poison is not allowed"))
                elif event.id in self.stored:
                    duplicates += 1
                else:
                    self.stored[event.id] = event
                    self.times_stored[event.id] = self.times_stored.get(event.id, 0) + 1
                    accepted += 1
            if self.lose_answers:
                self.lose_answers -= 1
                raise TimeoutError("answer lost on the way back")
            if self.miscount_answers:
                self.miscount_answers -= 1
                return IngestResult(accepted=0, duplicates=0, rejected=[])
            return IngestResult(accepted=accepted, duplicates=duplicates, rejected=rejected)


@pytest.fixture
def journal(tmp_path):
    with UsageJournal(tmp_path / "journal.sqlite3") as opened:
        yield opened


def _meal(journal: UsageJournal, bites: int) -> list[UUID]:
    """Record a whole meal (the bites in one transaction); return the ids of its events."""
    meal_id = journal.start_meal()
    journal.record_many(
        (kind, {"bite": bite}, None)
        for bite in range(bites)
        for kind in (UsageEventType.BITE_OFFERED, UsageEventType.BITE_TAKEN)
    )
    journal.end_meal()
    return [event.id for event, _ in journal.events(meal_id)]


def test_sync_once_delivers_a_batch_and_marks_it_sent(journal):
    service = FakeCareplanService()
    ids = _meal(journal, 3)
    outcome = JournalSync(journal, service).sync_once()
    assert (outcome.sent, outcome.rejected, outcome.failed) == (len(ids), 0, False)
    assert set(service.stored) == set(ids)
    assert journal.counts() == JournalCounts(pending=0, sent=len(ids), rejected=0)


def test_nothing_pending_means_no_request(journal):
    service = FakeCareplanService()
    outcome = JournalSync(journal, service, idle_interval_s=7.0).sync_once()
    assert (outcome.sent, outcome.failed, outcome.retry_in_s) == (0, False, 7.0)
    assert service.calls == 0


def test_large_backlog_goes_in_batches_back_to_back(journal):
    service = FakeCareplanService()
    _meal(journal, 60)
    sync = JournalSync(journal, service, batch_size=50)
    first = sync.sync_once()
    assert (first.sent, first.retry_in_s) == (50, 0.0)
    while journal.counts().pending:
        sync.sync_once()
    assert service.calls == 3 and len(service.stored) == 122


def test_rejected_events_stay_flagged_with_the_reason_and_the_rest_is_sent(journal):
    service = FakeCareplanService()
    journal.start_meal()
    poisoned = journal.record(UsageEventType.FAULT, {"poison": True})
    fine = journal.record(UsageEventType.FAULT, {"reason": "servo 12 overload"})
    outcome = JournalSync(journal, service).sync_once()
    assert (outcome.sent, outcome.rejected) == (2, 1)
    (record,) = journal.rejected()
    assert (record.event.id, record.reason) == (poisoned, "data.poison is not allowed")
    assert fine in service.stored and poisoned not in service.stored
    assert journal.counts() == JournalCounts(pending=0, sent=2, rejected=1)


def test_a_lost_answer_is_resent_and_counted_as_duplicate_not_stored_twice(journal):
    service = FakeCareplanService(lose_answers=1)
    ids = _meal(journal, 2)
    sync = JournalSync(journal, service, rng=random.Random(1))
    assert sync.sync_once().failed
    assert journal.counts().pending == len(ids)
    assert sync.sync_once().sent == len(ids)
    assert set(service.times_stored.values()) == {1}
    assert journal.counts().sent == len(ids)


def test_an_answer_with_wrong_counts_is_not_trusted(journal):
    service = FakeCareplanService(miscount_answers=1)
    ids = _meal(journal, 1)
    sync = JournalSync(journal, service, rng=random.Random(1))
    outcome = sync.sync_once()
    assert outcome.failed and "inconsistent answer" in outcome.error
    assert journal.counts().pending == len(ids)
    assert sync.sync_once().sent == len(ids)


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap(journal):
    service = FakeCareplanService(down=True)
    _meal(journal, 1)
    sync = JournalSync(journal, service, backoff_base_s=1.0, backoff_cap_s=60.0, rng=random.Random(3))
    delays = [sync.sync_once().retry_in_s for _ in range(12)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(60.0, 2.0 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert sync.status.consecutive_failures == 12
    assert "ServiceDown: connection refused" in sync.status.last_error
    service.down = False
    assert sync.sync_once().sent == 4
    assert sync.status.consecutive_failures == 0 and sync.status.last_error is None


def test_retry_after_is_honoured_but_capped(journal):
    service = FakeCareplanService(retry_after_s=120.0)
    _meal(journal, 1)
    sync = JournalSync(journal, service, backoff_base_s=1.0, max_retry_after_s=3600.0)
    assert sync.sync_once().retry_in_s == 120.0
    service.retry_after_s = 86_400.0
    assert sync.sync_once().retry_in_s == 3600.0


def test_backoff_jitter_spreads_devices_apart():
    delays = {round(backoff_delay_s(5, base_s=1.0, cap_s=300.0, rng=random.Random(seed)), 6) for seed in range(20)}
    assert len(delays) == 20
    assert all(8.0 <= d <= 16.0 for d in delays)
    huge = backoff_delay_s(10_000, base_s=1.0, cap_s=300.0, rng=random.Random(0))
    assert 150.0 <= huge <= 300.0


def test_a_sender_that_crashes_is_a_failed_attempt_not_a_dead_thread(journal):
    class Broken:
        def send(self, batch: UsageBatch) -> IngestResult:
            raise RuntimeError("client bug")

    _meal(journal, 1)
    outcome = JournalSync(journal, Broken()).sync_once()
    assert outcome.failed and "RuntimeError: client bug" in outcome.error
    assert journal.counts().pending == 4


def test_a_closed_journal_is_a_failed_attempt(journal):
    _meal(journal, 1)
    journal.close()
    outcome = JournalSync(journal, FakeCareplanService()).sync_once()
    assert outcome.failed and "journal" in outcome.error


def test_batch_size_is_bounded_by_the_wire_contract(journal):
    with pytest.raises(ValueError, match="batch_size"):
        JournalSync(journal, FakeCareplanService(), batch_size=5000)


def test_a_day_long_outage_and_a_restart_lose_nothing_and_deliver_each_event_once(tmp_path):
    """Thousands of events over a simulated day with the service down and one power cut in the
    middle; the retries stay sparse (backoff), and when the service returns every event arrives
    exactly once."""
    path = tmp_path / "journal.sqlite3"
    start = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    now_s = 0.0

    def clock() -> datetime:
        return start + timedelta(seconds=now_s)

    service = FakeCareplanService(down=True, lose_answers=2)
    journal = UsageJournal(path, clock=clock)
    sync = JournalSync(journal, service, batch_size=400, backoff_base_s=1.0, backoff_cap_s=300.0, rng=random.Random(7))
    recorded: list[UUID] = []
    next_attempt_s = 0.0
    rng = random.Random(11)
    day_s = 24 * 3600.0
    meals_at = sorted(rng.uniform(0, day_s - 3600) for _ in range(6))
    restarted = False
    while now_s < day_s:
        if meals_at and now_s >= meals_at[0]:
            meals_at.pop(0)
            recorded.extend(_meal(journal, 300))
        if not restarted and now_s >= day_s / 2:  # power cut: the process and its thread are gone
            journal.close()
            journal = UsageJournal(path, clock=clock)
            sync = JournalSync(journal, service, batch_size=400, rng=random.Random(8))
            restarted = True
        if now_s >= next_attempt_s:
            outcome = sync.sync_once()
            next_attempt_s = now_s + outcome.retry_in_s
        now_s += 10.0
    attempts_during_outage = service.calls
    assert len(recorded) >= 3000
    assert journal.counts().pending == len(recorded)
    assert attempts_during_outage < 24 * 3600 / 150  # backed off: at most one try per ~2.5 min
    service.down = False
    while journal.counts().pending:
        outcome = sync.sync_once()
        now_s += outcome.retry_in_s
    assert set(service.stored) == set(recorded)
    assert set(service.times_stored.values()) == {1}
    assert journal.counts() == JournalCounts(pending=0, sent=len(recorded), rejected=0)
    journal.close()


def test_background_thread_delivers_everything_while_the_loop_records(journal):
    service = FakeCareplanService(down=True)
    sync = JournalSync(journal, service, batch_size=100, idle_interval_s=0.01, backoff_base_s=0.001, backoff_cap_s=0.01)
    recorded: list[UUID] = []
    with sync:
        recorded.extend(_meal(journal, 100))
        assert sync.status.running
        service.down = False
        recorded.extend(_meal(journal, 100))
        assert sync.flush(timeout=60.0)
    assert not sync.status.running
    assert set(service.stored) == set(recorded)
    assert set(service.times_stored.values()) == {1}
    assert sync.status.events_sent == len(recorded)


def test_the_thread_survives_an_unexpected_error_and_goes_on(journal, monkeypatch):
    service = FakeCareplanService()
    sync = JournalSync(journal, service, idle_interval_s=0.01, backoff_base_s=0.001, backoff_cap_s=0.01)
    real_pending = journal.pending
    calls = {"n": 0}

    def flaky_pending(limit: int):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise KeyError("a bug somewhere below")
        return real_pending(limit)

    monkeypatch.setattr(journal, "pending", flaky_pending)
    ids = _meal(journal, 2)
    with sync:
        assert sync.flush(timeout=30.0)
    assert set(service.stored) == set(ids)


@pytest.mark.parametrize("seed", range(3))
def test_random_faults_and_restarts_still_deliver_each_event_exactly_once(tmp_path, seed):
    """Random interleaving of recording, sync attempts, outages, 429s, lost and miscounted
    answers, and process restarts; at the end every event is stored once and marked sent."""
    rng = random.Random(seed)
    path = tmp_path / "journal.sqlite3"
    service = FakeCareplanService()
    journal = UsageJournal(path)
    sync = JournalSync(journal, service, batch_size=rng.choice([7, 50, 300]), rng=random.Random(seed))
    recorded: list[UUID] = []
    for _ in range(120):
        action = rng.random()
        if action < 0.3:
            recorded += _meal(journal, rng.randint(0, 12))
        elif action < 0.75:
            sync.sync_once()
        elif action < 0.82:
            service.down = not service.down
        elif action < 0.86:
            service.retry_after_s = None if service.retry_after_s else 30.0
        elif action < 0.92:
            service.lose_answers += 1
        elif action < 0.95:
            service.miscount_answers += 1
        else:  # restart the process
            journal.close()
            journal = UsageJournal(path)
            sync = JournalSync(journal, service, batch_size=rng.choice([7, 50, 300]), rng=random.Random(seed))
    service.down, service.retry_after_s, service.lose_answers, service.miscount_answers = False, None, 0, 0
    while journal.counts().pending:
        assert not sync.sync_once().failed
    assert set(service.stored) == set(recorded)
    assert set(service.times_stored.values()) <= {1}
    assert journal.counts() == JournalCounts(pending=0, sent=len(recorded), rejected=0)
    journal.close()
