"""Hostile journal files and disks: each a clear, typed error, and nothing already stored is lost."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from careplan_api.schemas import UsageEventType
from controller.journal import (
    JournalCorruptError,
    JournalError,
    JournalForeignError,
    JournalFullError,
    JournalOpenError,
    JournalReadOnlyError,
    UsageJournal,
)


def test_random_bytes_are_not_a_journal(tmp_path):
    path = tmp_path / "journal.sqlite3"
    path.write_bytes(os.urandom(8192))
    with pytest.raises(JournalCorruptError, match="not a journal|not a database"):
        UsageJournal(path)


def test_a_text_file_is_not_a_journal(tmp_path):
    path = tmp_path / "journal.sqlite3"
    path.write_text("speed_m_s = 0.15\n" * 100)
    with pytest.raises(JournalCorruptError, match=str(path)):
        UsageJournal(path)


def test_another_applications_database_is_refused_untouched(tmp_path):
    path = tmp_path / "other.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    db.execute("INSERT INTO photos (name) VALUES ('cat.jpg')")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(JournalForeignError, match="another application"):
        UsageJournal(path)
    assert path.read_bytes() == before


def test_a_journal_from_newer_software_is_refused(tmp_path):
    path = tmp_path / "journal.sqlite3"
    UsageJournal(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    with pytest.raises(JournalForeignError, match="newer"):
        UsageJournal(path)


def test_a_damaged_journal_is_reported_not_used(tmp_path):
    path = tmp_path / "journal.sqlite3"
    with UsageJournal(path) as journal:
        journal.start_meal()
        for n in range(400):
            journal.record(UsageEventType.BITE_OFFERED, {"n": n, "pad": "x" * 200})
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    size = path.stat().st_size
    with path.open("r+b") as handle:  # overwrite pages in the middle, keep the header
        handle.seek(size // 2)
        handle.write(b"\xde\xad\xbe\xef" * 2048)
    with pytest.raises(JournalCorruptError):
        UsageJournal(path)


@pytest.mark.parametrize("where", ["missing-directory", "is-a-directory"])
def test_unusable_paths_are_clear_errors(tmp_path, where):
    path = tmp_path / "nowhere" / "journal.sqlite3" if where == "missing-directory" else tmp_path
    with pytest.raises(JournalOpenError, match="directory"):
        UsageJournal(path)


def test_a_full_journal_says_so_and_keeps_what_it_has(tmp_path):
    path = tmp_path / "journal.sqlite3"
    with UsageJournal(path, max_bytes=64 * 1024) as journal:
        journal.start_meal()
        stored = 1
        with pytest.raises(JournalFullError, match="full"):
            for n in range(10_000):
                journal.record(UsageEventType.BITE_OFFERED, {"n": n, "pad": "x" * 500})
                stored += 1
        assert journal.counts().pending == stored
        # once the backlog is delivered and pruned, the same bounded journal records again
        journal.mark_sent([event.id for event in journal.pending(stored)])
        assert journal.prune_sent(datetime.now(UTC) + timedelta(days=1)) == stored
        journal.record(UsageEventType.BITE_TAKEN)
        assert journal.counts().pending == 1


def test_a_read_only_journal_refuses_writes_but_reads(tmp_path):
    path = tmp_path / "journal.sqlite3"
    with UsageJournal(path) as journal:
        journal.start_meal()
    with UsageJournal(path, read_only=True) as journal:
        assert journal.counts().pending == 1
        with pytest.raises(JournalReadOnlyError, match="read-only"):
            journal.record(UsageEventType.BITE_TAKEN)
        assert journal.counts().pending == 1
    with pytest.raises(JournalOpenError, match="does not exist"):
        UsageJournal(tmp_path / "absent.sqlite3", read_only=True)


def test_a_tampered_row_is_flagged_rejected_and_does_not_block_the_outbox(tmp_path):
    path = tmp_path / "journal.sqlite3"
    with UsageJournal(path) as journal:
        journal.start_meal()
        good = journal.record(UsageEventType.BITE_OFFERED)
        bad = journal.record(UsageEventType.BITE_TAKEN)
    db = sqlite3.connect(path)
    db.execute("UPDATE events SET at = 'yesterday-ish', data = '{broken' WHERE id = ?", (str(bad),))
    db.commit()
    db.close()
    with UsageJournal(path) as journal:
        pending = journal.pending()
        assert good in [e.id for e in pending] and bad not in [e.id for e in pending]
        (rejected,) = journal.rejected()
        assert str(rejected.event.id) == str(bad)
        assert rejected.event.data == {"raw": "{broken"}  # kept as it is on disk, for staff to see
        assert "unreadable in the local journal" in rejected.reason
        assert journal.counts().rejected == 1
        assert len(journal.events()) == 3  # inspection does not trip over the damaged row


def test_errors_form_one_tree():
    for error in (JournalCorruptError, JournalForeignError, JournalFullError, JournalOpenError, JournalReadOnlyError):
        assert issubclass(error, JournalError)


def test_a_killed_process_keeps_every_event_whose_record_returned(tmp_path):
    """SIGKILL in the middle of recording (the closest a test gets to pulling the plug): every id
    the writer saw `record()` return is in the journal when it is reopened."""
    import signal
    import subprocess
    import sys

    path = tmp_path / "journal.sqlite3"
    script = (
        "import sys\n"
        "from controller.journal import UsageJournal\n"
        f"journal = UsageJournal({str(path)!r})\n"
        "journal.start_meal()\n"
        "while True:\n"
        "    print(journal.record('bite_offered', {'pad': 'x' * 100}), flush=True)\n"
    )
    repo = Path(__file__).resolve().parents[2]
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=repo) as child:
        acknowledged = [child.stdout.readline().strip() for _ in range(200)]
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        acknowledged += [line.strip() for line in child.stdout if len(line.strip()) == 36]  # whole ids
    with UsageJournal(path) as journal:
        stored = {str(event.id) for event, _ in journal.events()}
        assert journal.open_meal_id is not None
    assert set(acknowledged) <= stored
    assert len(stored) >= 201


def test_an_event_too_big_for_the_disk_is_refused_whole(tmp_path):
    """SQLite's own "database or disk is full" (here: one event larger than the journal's room)
    becomes JournalFullError, and the transaction leaves nothing half-written."""
    with UsageJournal(tmp_path / "journal.sqlite3", max_bytes=64 * 1024) as journal:
        journal.start_meal()
        with pytest.raises(JournalFullError, match="database or disk is full"):
            journal.record(UsageEventType.FAULT, {"log": "x" * 2_000_000})
        assert journal.counts().total == 1
        journal.record(UsageEventType.FAULT, {"log": "short"})
        assert journal.counts().total == 2


@pytest.mark.parametrize(
    "damage",
    ["UPDATE meta SET value = 'not-a-uuid'", "DROP TABLE meta"],
    ids=["bad-meal-id", "missing-table"],
)
def test_a_journal_with_damaged_bookkeeping_is_reported(tmp_path, damage):
    path = tmp_path / "journal.sqlite3"
    with UsageJournal(path) as journal:
        journal.start_meal()
    db = sqlite3.connect(path)
    db.execute(damage)
    db.commit()
    db.close()
    with pytest.raises(JournalCorruptError, match="meal record is damaged"):
        UsageJournal(path)


@pytest.fixture
def tiny_filesystem(tmp_path):
    """A 256 KiB tmpfs mounted for the test (needs root, as on the CI machine), then unmounted."""
    import subprocess

    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_really_full_disk_is_a_journal_full_error(tiny_filesystem):
    with UsageJournal(tiny_filesystem / "journal.sqlite3") as journal:
        journal.start_meal()
        stored = 1
        with pytest.raises(JournalFullError, match="full"):
            for n in range(100_000):
                journal.record(UsageEventType.BITE_OFFERED, {"n": n, "pad": "x" * 200})
                stored += 1
        assert journal.counts().pending == stored


def test_a_read_only_filesystem_is_a_read_only_error(tiny_filesystem):
    import subprocess

    path = tiny_filesystem / "journal.sqlite3"
    with UsageJournal(path) as journal:
        journal.start_meal()
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_filesystem)], check=True)
    with pytest.raises(JournalReadOnlyError, match="read-only"):
        UsageJournal(path)
