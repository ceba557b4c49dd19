"""Engine, sessions and schema migrations, all built from `Settings` when asked (never at import)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import psycopg
import pydantic_core
from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from careplan_api.errors import DatabaseError
from careplan_api.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def _to_json(value: Any) -> str:
    """JSON columns are encoded by pydantic-core (Rust): ingest writes thousands of them a second."""
    return pydantic_core.to_json(value).decode()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(settings: Settings) -> Engine:
    """An engine for `settings.database_url`; a SQLite file's folder is created if missing."""
    try:
        url = make_url(settings.database_url)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"database URL {settings.database_url_masked!r} is not valid: {exc}") from exc
    kwargs: dict[str, Any] = {"pool_pre_ping": True, "json_serializer": _to_json}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    # As many connections as the server has worker threads (Starlette: 40), so that no thread
    # holding a thread-pool slot waits for a connection held by a thread waiting for a slot.
    kwargs.update(pool_size=settings.db_pool_size, max_overflow=settings.db_pool_size)
    try:
        engine = create_engine(url, **kwargs)
    except (SQLAlchemyError, ImportError) as exc:
        raise DatabaseError(f"cannot create an engine for {url.render_as_string(hide_password=True)}: {exc}") from exc
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def make_write_lock(engine: Engine) -> AbstractContextManager[Any]:
    """A lock that serialises this process's big write transactions on SQLite.

    SQLite allows one writer at a time and makes the others poll with growing sleeps (up to 100 ms
    each), which under concurrent ingest costs seconds of latency; queueing the writers on a lock
    in the process instead hands the database over at once. PostgreSQL needs no lock (row locks).
    """
    return threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()


@contextmanager
def pipelined(connection: Connection) -> Iterator[None]:
    """On PostgreSQL, send the block's statements without waiting for each one's answer (psycopg's
    pipeline mode): they travel in one round trip, at the end of the block, where an error in any
    of them is raised as SQLAlchemy's `DBAPIError` (its `OperationalError` for a lost connection,
    which is then invalidated), as if the statement had raised it. Only for statements whose results
    nobody reads (no RETURNING, no rowcount). On SQLite (in-process, no round trips) the block runs
    as it is."""
    if connection.dialect.name != "postgresql":
        yield
        return
    driver = connection.connection.driver_connection
    try:
        with driver.pipeline():  # type: ignore[union-attr]
            yield
    except psycopg.Error as exc:  # raised by psycopg itself at the sync: give it SQLAlchemy's shape
        lost = bool(driver.closed or driver.broken)  # type: ignore[union-attr]
        if lost:
            connection.invalidate(exc)  # the pool must not hand this connection out again
        raise DBAPIError.instance(None, None, exc, psycopg.Error, connection_invalidated=lost) from exc


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (routes read them after committing)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def _run_alembic(engine: Engine, verb: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            getattr(command, verb)(config, revision)
    except SQLAlchemyError as exc:
        raise DatabaseError(
            f"cannot migrate {engine.url.render_as_string(hide_password=True)}: {exc.__class__.__name__}: {exc}"
        ) from exc


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    """Run the Alembic migrations up to `revision` on `engine`'s database (idempotent)."""
    _run_alembic(engine, "upgrade", revision)


def downgrade_database(engine: Engine, revision: str) -> None:
    """Undo migrations down to `revision` (`"base"`: drop every table of the service)."""
    _run_alembic(engine, "downgrade", revision)
