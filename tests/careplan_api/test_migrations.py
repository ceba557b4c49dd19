"""Alembic migrations: the schema they build is the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from careplan_api.db import downgrade_database, make_engine, upgrade_database
from careplan_api.models import Base
from careplan_api.settings import Settings


def test_the_migrated_schema_matches_the_models(database_url, tmp_path):
    engine = make_engine(Settings(database_url=database_url, data_dir=tmp_path))
    try:
        upgrade_database(engine)
        upgrade_database(engine)  # idempotent
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
            tables = set(inspect(connection).get_table_names())
    finally:
        engine.dispose()
    assert not diff, f"models and migrations differ: {diff}"
    assert {"citizens", "usage_events", "audit_log", "fuldmagter", "eating_goals", "alembic_version"} <= tables


def test_a_new_database_is_migrated_from_empty_and_back(tmp_path):
    engine = make_engine(Settings(database_url=f"sqlite:///{tmp_path / 'fresh.sqlite3'}", data_dir=tmp_path))
    try:
        upgrade_database(engine)
        downgrade_database(engine, "base")
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
        upgrade_database(engine)
        with engine.connect() as connection:
            assert "audit_log" in inspect(connection).get_table_names()
    finally:
        engine.dispose()
