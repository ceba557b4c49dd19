"""Two fuldmagt imports of the same register at once, on SQLite and PostgreSQL: the race is made
certain by running the other import to its commit just before this one's first write (an engine
event), after this one has read that the register has no cursor and no entries yet. The cursor is
one upsert (no collision on its key; the cursor of the register's later answer stays, whichever
commits last); an import that finds the other's entries stored runs once more; one that meets
other imports twice stops with a clear error and changes nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from careplan_api.db import make_engine, make_session_factory
from careplan_api.fuldmagt_register import FileFuldmagtRegister, import_changes
from careplan_api.models import Fuldmagt, RegisterCursor, utcnow
from careplan_api.services import register_cursors
from careplan_api.settings import Settings
from tests.careplan_api.test_fuldmagt_import_command import _out, citizen_id, entry, register_file, run  # noqa: F401

REGISTER = "https://register.example/feed"


@contextmanager
def before_first_write(prefix: str, other: Callable[[], None], times: int = 1) -> Iterator[list[str]]:
    """Run `other` (another import, to its commit) just before each of the next `times` statements
    that start with `prefix`, in any engine; `other`'s own statements are let through. Yields the
    statements it ran before."""
    seen: list[str] = []
    running = [False]

    def hook(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if running[0] or len(seen) >= times or not statement.startswith(prefix):
            return
        seen.append(statement)
        running[0] = True
        try:
            other()
        finally:
            running[0] = False

    event.listen(Engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", hook)


@pytest.fixture
def sessions(database_url: str, tmp_path: Path) -> Iterator[Callable[[], Session]]:
    engine = make_engine(Settings(database_url=database_url, data_dir=tmp_path))
    yield make_session_factory(engine)
    engine.dispose()


def _kept(sessions: Callable[[], Session]) -> list[tuple[str, str]]:
    with sessions() as session:
        return [tuple(row) for row in session.execute(select(RegisterCursor.source, RegisterCursor.cursor))]


def test_a_first_cursor_that_another_import_stored_meanwhile_is_no_collision(sessions):
    def other_import() -> None:  # asks the register after this one did, so its cursor is the newer
        with sessions() as other:
            assert register_cursors.advance(other, REGISTER, "c-other", None)
            other.commit()

    with sessions() as session:
        assert register_cursors.stored(session, REGISTER) is None
        with before_first_write("INSERT INTO ", other_import) as ran:
            moved = register_cursors.advance(session, REGISTER, "c-this", None)
            session.commit()
    assert ran and not moved and _kept(sessions) == [(REGISTER, "c-other")]


@pytest.mark.parametrize("this_asked_later", [False, True])
def test_two_first_cursors_of_a_register_do_not_collide_and_the_later_answer_stays(sessions, this_asked_later):
    asked = utcnow()
    other_asked = asked - timedelta(seconds=1) if this_asked_later else asked + timedelta(seconds=1)

    def other_import() -> None:
        with sessions() as other:
            assert register_cursors.advance(other, REGISTER, "c-other", None, other_asked)
            other.commit()

    with sessions() as session:
        assert register_cursors.stored(session, REGISTER) is None  # a first import, as far as it knows
        with before_first_write("INSERT INTO fuldmagt_register_cursors", other_import) as ran:
            moved = register_cursors.advance(session, REGISTER, "c-this", None, asked)
            session.commit()
        assert ran, "the other import did not run in between"
    assert moved is this_asked_later
    assert _kept(sessions) == [(REGISTER, "c-this" if this_asked_later else "c-other")]


def test_a_second_cursor_for_a_kept_register_replaces_it_and_the_same_one_changes_nothing(sessions):
    with sessions() as session:
        assert register_cursors.advance(session, REGISTER, "c1", None)
        assert register_cursors.advance(session, REGISTER, "c2", None)
        assert not register_cursors.advance(session, REGISTER, "c2", None)
        session.commit()
    assert _kept(sessions) == [(REGISTER, "c2")]


@pytest.fixture
def import_elsewhere(database_url: str, tmp_path: Path, citizen_id) -> Callable[[str], Callable[[], None]]:  # noqa: F811
    """`import_elsewhere(path)`: the function that imports the register file `path` in a session of
    its own, cursor included, and commits (another operator's run)."""
    settings = Settings(database_url=database_url, data_dir=tmp_path).with_secrets()
    _jwt_key, cpr_key = settings.require_secrets()

    def make(path: str) -> Callable[[], None]:
        def import_it() -> None:
            engine = make_engine(settings)
            try:
                with make_session_factory(engine)() as session:
                    report = import_changes(session, FileFuldmagtRegister(Path(path)), None, cpr_key)
                    register_cursors.advance(session, register_cursors.register_name(path), report.cursor, None)
                    session.commit()
            finally:
                engine.dispose()

        return import_it

    return make


def _fuldmagter(sessions: Callable[[], Session]) -> list[str | None]:
    with sessions() as session:
        return list(session.scalars(select(Fuldmagt.register_ref).order_by(Fuldmagt.register_ref)))


def test_two_first_imports_of_a_register_at_once_store_each_fuldmagt_once(run, tmp_path, sessions, import_elsewhere):  # noqa: F811
    register = register_file(tmp_path, entry("DF-1"), entry("DF-2"))
    with before_first_write("INSERT INTO fuldmagter ", import_elsewhere(register)) as ran:
        result = run("import-fuldmagter", "--register", register)
    assert ran and result.exit_code == 0, result.output
    out = _out(result)
    assert (out["created"], out["unchanged"], out["since"], out["cursor"]) == (0, 2, "c1", "c1")  # ran once more
    assert _fuldmagter(sessions) == ["DF-1", "DF-2"]
    assert _kept(sessions) == [(str(Path(register).resolve()), "c1")]


def test_an_import_that_meets_other_imports_twice_stops_with_a_clear_error_and_changes_nothing(
    run,  # noqa: F811
    tmp_path,
    sessions,
    import_elsewhere,
):
    register = register_file(tmp_path, entry("DF-1"), entry("DF-2"))
    first = import_elsewhere(register_file(tmp_path, entry("DF-1"), name="first.json"))
    second = import_elsewhere(register_file(tmp_path, entry("DF-2"), name="second.json"))
    others = iter([first, second])
    with before_first_write("INSERT INTO fuldmagter ", lambda: next(others)(), times=2) as ran:
        result = run("import-fuldmagter", "--register", register)
    assert len(ran) == 2 and result.exit_code == 1
    assert "other imports of this register" in result.output and "Traceback" not in result.output
    assert _fuldmagter(sessions) == ["DF-1", "DF-2"]  # each stored once, by the others
    assert str(Path(register).resolve()) not in dict(_kept(sessions))  # this run kept no cursor
