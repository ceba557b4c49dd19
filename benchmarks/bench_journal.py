"""Usage journal: cost of one durable `record()` (what the journal writer thread pays per event),
and how fast a backlog drains to an in-memory service through `JournalSync.sync_once` (the local
side of delivery: read pending, build the batch, mark sent)."""

from __future__ import annotations

from careplan_api.schemas import IngestResult, UsageBatch, UsageEventType
from controller.journal import JournalSync, UsageJournal


class AcceptAll:
    """A service that accepts every event at once (no network), to measure the journal's side."""

    def send(self, batch: UsageBatch) -> IngestResult:
        return IngestResult(accepted=len(batch.events), duplicates=0, rejected=[])


def test_record_one_event_durably(benchmark, tmp_path):
    with UsageJournal(tmp_path / "journal.sqlite3") as journal:
        journal.start_meal()
        data = {"bowl": 1, "kind": "switch"}
        benchmark.pedantic(journal.record, args=(UsageEventType.BITE_OFFERED, data), rounds=500, iterations=1)


def test_record_ten_events_in_one_transaction(benchmark, tmp_path):
    with UsageJournal(tmp_path / "journal.sqlite3") as journal:
        journal.start_meal()
        events = [(UsageEventType.BITE_OFFERED, {"bowl": 1, "n": n}, None) for n in range(10)]
        benchmark.pedantic(journal.record_many, args=(events,), rounds=200, iterations=1)


def test_drain_a_backlog_of_5000_events(benchmark, tmp_path):
    def setup():
        journal = UsageJournal(tmp_path / f"journal-{len(list(tmp_path.iterdir()))}.sqlite3")
        journal.start_meal()
        for n in range(4999):
            journal.record(UsageEventType.BITE_TAKEN, {"n": n})
        return (JournalSync(journal, AcceptAll(), batch_size=500),), {}

    def drain(sync: JournalSync) -> None:
        while sync.journal.counts().pending:
            sync.sync_once()
        sync.journal.close()

    benchmark.pedantic(drain, setup=setup, rounds=3, iterations=1)
