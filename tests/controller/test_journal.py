"""The usage journal as a durable local outbox: recording, meals, restart, outbox states, threads."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID, uuid4

import pytest

from careplan_api.schemas import UsageEventType
from controller.journal import (
    EventState,
    JournalCounts,
    JournalDataError,
    NoOpenMealError,
    UsageJournal,
)


@pytest.fixture
def journal(tmp_path):
    with UsageJournal(tmp_path / "journal.sqlite3") as opened:
        yield opened


def test_database_is_durable_wal_with_synchronous_full(tmp_path):
    path = tmp_path / "journal.sqlite3"
    UsageJournal(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    with UsageJournal(path) as journal:
        assert journal._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_meal_records_every_kind_of_event_in_order(journal):
    meal_id = journal.start_meal({"bowls": [0, 1]})
    recorded = [
        (UsageEventType.BOWL_SELECTED, {"bowl": 1}),
        (UsageEventType.TRIGGER, {"kind": "switch", "command": "next_bite"}),
        (UsageEventType.BITE_OFFERED, {"bowl": 1}),
        (UsageEventType.BITE_TAKEN, {"bowl": 1}),
        (UsageEventType.MISFIRE, {"kind": "mouth_gesture", "reason": "released_before_dwell"}),
        (UsageEventType.BITE_TIMEOUT, {"waited_s": 15.0}),
        (UsageEventType.SAFETY_STOP, {"reason": "contact"}),
        (UsageEventType.FAULT, {"reason": "servo 13 overheating"}),
        (UsageEventType.CALIBRATION_CHANGED, {"changed_by": "staff:anna", "fields": ["spoon"]}),
    ]
    ids = [journal.record(kind, data) for kind, data in recorded]
    journal.end_meal("completed", {"bites_taken": 1})
    events = journal.pending(100)
    assert [e.type for e in events] == (
        [UsageEventType.MEAL_STARTED] + [k for k, _ in recorded] + [UsageEventType.MEAL_ENDED]
    )
    assert [e.id for e in events[1:-1]] == ids
    assert {e.meal_id for e in events} == {meal_id}
    assert events[-1].data == {"reason": "completed", "bites_taken": 1}
    assert events[1].data == {"bowl": 1}
    assert all(e.at.utcoffset() is not None for e in events)
    assert len({e.id for e in events}) == len(events)


def test_times_keep_their_offset_and_default_to_the_clock(tmp_path):
    fixed = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    with UsageJournal(tmp_path / "j.sqlite3", clock=lambda: fixed) as journal:
        journal.start_meal()
        copenhagen = datetime(2026, 11, 23, 13, 0, 5, tzinfo=timezone(timedelta(hours=1)))
        journal.record(UsageEventType.BITE_TAKEN, at=copenhagen)
        started, taken = journal.pending()
    assert started.at == fixed
    assert taken.at == copenhagen
    assert taken.at.utcoffset() == timedelta(hours=1)


def test_pending_survives_a_restart_and_so_does_the_open_meal(tmp_path):
    path = tmp_path / "journal.sqlite3"
    journal = UsageJournal(path)
    meal_id = journal.start_meal()
    for bowl in range(5):
        journal.record(UsageEventType.BITE_OFFERED, {"bowl": bowl})
    before = journal.pending()
    journal.close()
    with UsageJournal(path) as reopened:
        assert reopened.pending() == before
        assert reopened.open_meal_id == meal_id
        reopened.record(UsageEventType.BITE_TAKEN)
        assert reopened.pending()[-1].meal_id == meal_id


def test_a_meal_left_open_by_a_power_cut_is_ended_as_interrupted(tmp_path):
    path = tmp_path / "journal.sqlite3"
    lunch = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    journal = UsageJournal(path, clock=lambda: lunch)
    first = journal.start_meal()
    journal.record(UsageEventType.BITE_TAKEN, at=lunch + timedelta(minutes=4))
    journal.close()  # power cut; back on the next morning
    with UsageJournal(path, clock=lambda: lunch + timedelta(hours=20)) as reopened:
        second = reopened.start_meal()
        events = reopened.pending()
    assert second != first
    ended = [e for e in events if e.type is UsageEventType.MEAL_ENDED]
    assert len(ended) == 1
    assert ended[0].meal_id == first
    assert ended[0].data == {"reason": "interrupted"}
    assert ended[0].at == lunch + timedelta(minutes=4)  # the meal did not last 20 hours
    assert events[-1].at == lunch + timedelta(hours=20)


def test_mark_sent_and_rejected_move_events_out_of_pending(journal):
    journal.start_meal()
    ids = [journal.record(UsageEventType.BITE_OFFERED, {"n": n}) for n in range(4)]
    assert journal.mark_sent(ids[:2]) == 2
    assert journal.mark_sent(ids[:2]) == 0  # already sent: not counted twice
    assert journal.mark_rejected({ids[2]: "bad bowl"}) == 1
    assert journal.counts() == JournalCounts(pending=2, sent=2, rejected=1)
    assert journal.counts().total == 5
    assert [e.id for e in journal.pending()][1:] == [ids[3]]
    (rejected,) = journal.rejected()
    assert (rejected.event.id, rejected.reason, rejected.attempts) == (ids[2], "bad bowl", 1)
    assert journal.requeue_rejected([ids[2]]) == 1
    assert journal.counts().rejected == 0
    states = {e.id: s for e, s in journal.events()}
    assert states[ids[0]] is EventState.SENT and states[ids[2]] is EventState.PENDING


def test_pending_respects_the_limit_and_order(journal):
    journal.start_meal()
    ids = [journal.record(UsageEventType.TRIGGER, {"n": n}) for n in range(10)]
    assert [e.id for e in journal.pending(3)][1:] == ids[:2]
    journal.mark_sent([e.id for e in journal.pending(5)])
    assert [e.id for e in journal.pending(3)] == ids[4:7]


def test_prune_removes_only_old_sent_events(tmp_path):
    times = iter([datetime(2026, 1, d, tzinfo=UTC) for d in range(1, 10)])
    with UsageJournal(tmp_path / "j.sqlite3", clock=lambda: next(times)) as journal:
        journal.start_meal()  # Jan 1
        old = journal.record(UsageEventType.BITE_TAKEN)  # Jan 2
        still_pending = journal.record(UsageEventType.BITE_TAKEN)  # Jan 3
        new = journal.record(UsageEventType.BITE_TAKEN)  # Jan 4
        journal.mark_sent([old, new])  # clock: Jan 5
        assert journal.prune_sent(datetime(2026, 1, 3, tzinfo=UTC)) == 1
        remaining = {e.id for e, _ in journal.events()}
    assert old not in remaining and {still_pending, new} <= remaining


def test_events_outside_a_meal_need_an_explicit_meal(journal):
    with pytest.raises(NoOpenMealError, match="outside a meal"):
        journal.record(UsageEventType.CALIBRATION_CHANGED, {"changed_by": "staff"})
    with pytest.raises(NoOpenMealError):
        journal.end_meal()
    session = uuid4()
    event_id = journal.record(UsageEventType.CALIBRATION_CHANGED, {"changed_by": "staff"}, meal_id=session)
    (event,) = journal.pending()
    assert (event.id, event.meal_id) == (event_id, session)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda j: j.record("teleported"), "unknown event type"),
        (lambda j: j.record(UsageEventType.MEAL_STARTED), "start_meal"),
        (lambda j: j.record(UsageEventType.BITE_TAKEN, {"force": float("nan")}), "not JSON"),
        (lambda j: j.record(UsageEventType.BITE_TAKEN, {"when": object()}), "not JSON"),
        (lambda j: j.record(UsageEventType.BITE_TAKEN, ["not", "a", "dict"]), "mapping"),
        (lambda j: j.record(UsageEventType.BITE_TAKEN, at=datetime(2026, 1, 1)), "timezone-aware"),
        (lambda j: j.record(UsageEventType.BITE_TAKEN, at="2026-01-01T00:00:00Z"), "timezone-aware"),
        (lambda j: j.prune_sent(datetime(2026, 1, 1)), "timezone-aware"),
    ],
)
def test_bad_events_are_refused_and_nothing_is_stored(journal, call, match):
    journal.start_meal()
    with pytest.raises(JournalDataError, match=match):
        call(journal)
    assert journal.counts().total == 1


def test_record_from_the_loop_thread_while_another_thread_drains(journal):
    journal.start_meal()
    stop = threading.Event()
    drained: list[UUID] = []
    errors: list[BaseException] = []

    def drain() -> None:
        try:
            while not stop.is_set() or journal.counts().pending:
                batch = [e.id for e in journal.pending(50)]
                journal.mark_sent(batch)
                drained.extend(batch)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def loop(n: int) -> list[UUID]:
        return [journal.record(UsageEventType.BITE_OFFERED, {"n": i}) for i in range(n)]

    drainer = threading.Thread(target=drain)
    drainer.start()
    recorded: list[list[UUID]] = [[], []]
    writers = [threading.Thread(target=lambda k=k: recorded[k].extend(loop(300))) for k in range(2)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    stop.set()
    drainer.join(30)
    assert errors == []
    assert len(drained) == len(set(drained)) == 601
    assert set(recorded[0]) | set(recorded[1]) <= set(drained)
    assert journal.counts() == JournalCounts(pending=0, sent=601, rejected=0)


def test_record_many_is_all_or_nothing(journal):
    journal.start_meal()
    ids = journal.record_many([(UsageEventType.BITE_OFFERED, {"bowl": 0}, None), ("bite_taken", None, None)])
    assert [e.id for e in journal.pending()][1:] == ids
    with pytest.raises(JournalDataError, match="not JSON"):
        journal.record_many(
            [(UsageEventType.BITE_OFFERED, {"ok": 1}, None), (UsageEventType.BITE_TAKEN, {"x": float("inf")}, None)]
        )
    with pytest.raises(JournalDataError, match="unknown event type"):
        journal.record_many([(UsageEventType.BITE_OFFERED, None, None), ("bite_eaten", None, None)])
    assert journal.counts().total == 3
    assert journal.record_many([]) == []
