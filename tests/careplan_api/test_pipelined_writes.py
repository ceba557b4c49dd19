"""`db.pipelined`: the statements of the block are stored as without it; an error in any of them
comes out as SQLAlchemy's error (at the block's end on PostgreSQL) and nothing of the transaction
is stored; a connection lost during the block is invalidated and the next request gets a new one."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from careplan_api.db import pipelined
from careplan_api.models import AuditAction, AuditEntry
from careplan_api.services import audit


def _entries(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(AuditEntry))


def _append(connection, resource: str) -> None:
    audit.append(connection, actor=None, action=AuditAction.CREATE, resource=resource)


def test_the_statements_of_the_block_are_stored(app):
    engine = app.state.engine
    before = _entries(engine)
    with engine.begin() as connection:
        _append(connection, "before the block")
        with pipelined(connection):
            _append(connection, "in the block 1")
            _append(connection, "in the block 2")
        _append(connection, "after the block")
    assert _entries(engine) == before + 4


def test_an_error_in_the_block_is_sqlalchemys_and_nothing_is_stored(app):
    engine = app.state.engine
    before = _entries(engine)
    with pytest.raises(IntegrityError), engine.begin() as connection:
        _append(connection, "before the block")
        with pipelined(connection):
            _append(connection, "in the block")
            connection.execute(AuditEntry.__table__.insert().inline(), {"resource": "no actor"})  # NOT NULL
    assert _entries(engine) == before
    with engine.begin() as connection:  # the engine goes on
        _append(connection, "next transaction")
    assert _entries(engine) == before + 1


def test_a_connection_lost_in_the_block_is_invalidated(app, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no connection to lose")
    engine = app.state.engine
    before = _entries(engine)
    with pytest.raises(OperationalError) as raised, engine.begin() as connection:
        pid = connection.scalar(text("SELECT pg_backend_pid()"))
        with engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pipelined(connection):
            _append(connection, "in the block")
    assert raised.value.connection_invalidated
    assert _entries(engine) == before  # and a new connection answers
