"""Alembic migrations: the schema they build is the models' schema, on SQLite and PostgreSQL; the
data migration of 0002 fills the meal summaries, 0006 rebuilds them in the new form, 0007 keeps the
fuldmagt import's cursors, and every step can be undone."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, insert, inspect, select, update

from careplan_api import meal_summary_store, plain_words
from careplan_api.db import downgrade_database, make_engine, make_session_factory, upgrade_database
from careplan_api.fhir.encoding import encode_meal_resources
from careplan_api.meal_summary import summarize_meal
from careplan_api.meal_summary_store import DERIVED_VERSION, load_stored_meals, summary_from_row, summary_row
from careplan_api.models import (
    Base,
    Citizen,
    Device,
    Meal,
    MealSummaryRecord,
    Role,
    UsageEventRecord,
)
from careplan_api.settings import Settings
from careplan_api.synthetic_meals import synthetic_meals
from tests.careplan_api.test_meal_summary_store import STORED_FORM_FINGERPRINTS, stored_form_fingerprint


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
    assert {
        "citizens",
        "usage_events",
        "meal_summaries",
        "audit_log",
        "fuldmagter",
        "eating_goals",
        "alembic_version",
    } <= tables


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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A database with no tables at all (not the migrated template)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    server = request.getfixturevalue("postgres_server")
    name = f"m_{uuid.uuid4().hex[:12]}"
    yield server.create_database(name)
    server.drop_database(name)


def _stored_summaries(connection) -> dict[uuid.UUID, tuple]:
    rows = connection.execute(select(MealSummaryRecord.__table__)).mappings()
    return {
        row["meal_id"]: (
            summary_from_row(
                row["meal_id"],
                row["device_id"],
                row["started_at"],
                row["ended_at"],
                row["complete"],
                row["bites_offered"],
                row["bites_taken"],
                row["assistance_level"],
                row["calibration_changes"],
                row["details"],
            ),
            row["fhir_observation"],
        )
        for row in rows
    }


def _insert_meals(connection, citizen_id: uuid.UUID, device_id: uuid.UUID, meals: dict[uuid.UUID, list]) -> None:
    """A citizen, their device, and `meals` with their events (stored in reverse order)."""
    connection.execute(insert(Citizen.__table__).values(id=citizen_id, name="Migrated"))
    connection.execute(insert(Device.__table__).values(id=device_id, citizen_id=citizen_id, token_sha256="0" * 64))
    for meal_id, events in meals.items():
        connection.execute(
            insert(Meal.__table__).values(
                id=meal_id, citizen_id=citizen_id, device_id=device_id, status="ended", started_at=events[0].at
            )
        )
        connection.execute(
            insert(UsageEventRecord.__table__),
            [
                {
                    "id": e.id,
                    "meal_id": meal_id,
                    "device_id": device_id,
                    "citizen_id": citizen_id,
                    "type": e.type.value,
                    "at": e.at,
                    "data": e.data,
                }
                for e in reversed(events)
            ],
        )


def test_0002_fills_meal_summaries_for_stored_meals_and_its_downgrade_keeps_the_events(empty_database_url, tmp_path):
    engine = make_engine(Settings(database_url=empty_database_url, data_dir=tmp_path))
    citizen_id, device_id = uuid.uuid4(), uuid.uuid4()
    meals = dict(synthetic_meals(datetime(2026, 1, 5, 7, tzinfo=UTC), 3, random.Random(5)))
    try:
        upgrade_database(engine, "0001")
        with engine.begin() as connection:  # what a database of revision 0001 holds: events and meals only
            _insert_meals(connection, citizen_id, device_id, meals)
        upgrade_database(engine)
        with engine.connect() as connection:
            stored = _stored_summaries(connection)
        assert {m: s for m, (s, _json) in stored.items()} == {
            m: summarize_meal(m, device_id, events) for m, events in meals.items()
        }
        assert all(
            observation == encode_meal_resources(citizen_id, summary)[0].decode()
            for summary, observation in stored.values()
        )

        downgrade_database(engine, "0001")
        with engine.connect() as connection:
            assert "meal_summaries" not in inspect(connection).get_table_names()
            assert connection.scalar(select(func.count()).select_from(UsageEventRecord.__table__)) == sum(
                map(len, meals.values())
            )
        upgrade_database(engine)
        with engine.connect() as connection:
            assert _stored_summaries(connection) == stored
    finally:
        engine.dispose()


def test_0003_goes_down_to_0002_keeping_the_people_and_up_again(empty_database_url, tmp_path):
    from sqlalchemy import func

    from careplan_api.db import make_session_factory
    from careplan_api.models import DashboardRelease, EatingGoal, LoginFailure, User
    from careplan_api.services import people
    from careplan_api.services.security import password_hasher

    settings = Settings(database_url=empty_database_url, data_dir=tmp_path).with_secrets()
    engine = make_engine(settings)
    try:
        upgrade_database(engine)
        with make_session_factory(engine)() as session:
            citizen = people.create_citizen(session, "Migrated", settings.require_secrets()[1])
            people.assess_goal(session, citizen.id, 3, "", None, hand_feeding_minutes=25.0)
            people.create_user(session, "kept", "longenough", Role.ADMIN, hasher=password_hasher("CHEAPEST"))
            session.add(LoginFailure(account="kept", address="192.0.2.1", at_s=1.0, from_known=False))
            session.add(DashboardRelease(period="2026-11", content={"period": "2026-11"}))
            session.commit()
        downgrade_database(engine, "0002")
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            user_columns = {c["name"] for c in inspect(connection).get_columns("users")}
            assert connection.execute(select(func.count()).select_from(User.__table__)).scalar() == 1
            assert connection.execute(select(func.count()).select_from(EatingGoal.__table__)).scalar() == 1
        assert not {"login_failures", "login_known_addresses", "dashboard_releases"} & tables
        assert "tokens_valid_after" not in user_columns
        upgrade_database(engine)
        with make_session_factory(engine)() as session:
            goal = session.scalar(select(EatingGoal))
            assert (
                goal is not None and goal.level == 3 and goal.hand_feeding_minutes is None
            )  # the column came back empty
    finally:
        engine.dispose()


def test_0005_goes_down_to_0004_keeping_fuldmagter_with_a_login_and_up_again(empty_database_url, tmp_path):
    from careplan_api.db import make_session_factory
    from careplan_api.models import Fuldmagt, FuldmagtSource, User
    from careplan_api.services import people
    from careplan_api.services.security import password_hasher

    settings = Settings(database_url=empty_database_url, data_dir=tmp_path).with_secrets()
    engine = make_engine(settings)
    try:
        upgrade_database(engine)
        with make_session_factory(engine)() as session:
            citizen = people.create_citizen(session, "Migrated", settings.require_secrets()[1])
            relative = people.create_user(
                session, "rel", "longenough", Role.RELATIVE, hasher=password_hasher("CHEAPEST"), citizen_id=citizen.id
            )
            people.grant_fuldmagt(session, relative, citizen.id, source=FuldmagtSource.CITIZEN, holder_name="Rel")
            session.add(
                Fuldmagt(
                    citizen_id=citizen.id,
                    scope="full",
                    holder_national_id_hmac="ab" * 32,
                    source=FuldmagtSource.REGISTER,
                    register_ref="DF-1",
                )
            )
            session.commit()
        downgrade_database(engine, "0004")
        with engine.connect() as connection:
            columns = {c["name"] for c in inspect(connection).get_columns("fuldmagter")}
            rows = connection.execute(select(Fuldmagt.__table__.c.relative_user_id)).all()
        assert "source" not in columns and "holder_national_id_hmac" not in columns
        assert len(rows) == 1 and rows[0][0] is not None  # the holder without a login could not stay
        upgrade_database(engine)
        with make_session_factory(engine)() as session:
            kept = session.scalar(select(Fuldmagt))
            assert kept is not None and kept.source is FuldmagtSource.ADMIN and kept.reason == ""
            assert session.scalar(select(func.count()).select_from(User)) == 1
    finally:
        engine.dispose()


def test_0007_goes_down_to_0006_forgetting_the_cursors_only_and_up_again(empty_database_url, tmp_path):
    from careplan_api.models import Fuldmagt, FuldmagtSource, RegisterCursor
    from careplan_api.services import people, register_cursors

    settings = Settings(database_url=empty_database_url, data_dir=tmp_path).with_secrets()
    engine = make_engine(settings)
    try:
        upgrade_database(engine)
        with make_session_factory(engine)() as session:
            citizen = people.create_citizen(session, "Migrated", settings.require_secrets()[1])
            session.add(
                Fuldmagt(
                    citizen_id=citizen.id,
                    scope="full",
                    holder_national_id_hmac="ab" * 32,
                    source=FuldmagtSource.REGISTER,
                    register_ref="DF-1",
                )
            )
            register_cursors.advance(session, "https://register.example/feed", "c7", None)
            session.commit()
        downgrade_database(engine, "0006")
        with engine.connect() as connection:
            assert "fuldmagt_register_cursors" not in inspect(connection).get_table_names()
            assert connection.execute(select(Fuldmagt.__table__.c.register_ref)).scalars().all() == ["DF-1"]
        upgrade_database(engine)
        with make_session_factory(engine)() as session:
            assert session.scalar(select(func.count()).select_from(RegisterCursor)) == 0
            assert register_cursors.stored(session, "https://register.example/feed") is None  # asks from the start
            register_cursors.advance(session, "https://register.example/feed", "c8", None)
            session.commit()
            assert register_cursors.stored(session, "https://register.example/feed") == "c8"
    finally:
        engine.dispose()


@contextmanager
def _form_1() -> Iterator[None]:
    """The code as it wrote the stored form 1 (before migration 0006): the FHIR bowl text "Skål {bowl}"."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plain_words, "bowl", lambda name, _t: f"Skål {name}")
        patch.setattr(meal_summary_store, "DERIVED_VERSION", 1)
        yield


def test_the_stand_in_for_the_old_code_writes_the_stored_form_1_exactly():
    with _form_1():
        assert stored_form_fingerprint() == STORED_FORM_FINGERPRINTS[1]


def _rows(connection) -> dict[uuid.UUID, dict]:
    return {
        row["meal_id"]: dict(row)
        for row in connection.execute(
            select(MealSummaryRecord.__table__).order_by(MealSummaryRecord.meal_id)
        ).mappings()
    }


def _derived(row: dict) -> tuple:
    """What a row holds that is derived from the meal's events (its form)."""
    return (row["derived_version"], row["details"], row["fhir_observation"], row["fhir_provenance"], row["bites_taken"])


def test_0006_rebuilds_stored_meals_with_the_panels_bowl_names_and_its_downgrade_restores_form_1(
    empty_database_url, tmp_path
):
    engine = make_engine(Settings(database_url=empty_database_url, data_dir=tmp_path))
    citizen_id, device_id = uuid.uuid4(), uuid.uuid4()
    meals = dict(synthetic_meals(datetime(2026, 1, 5, 7, tzinfo=UTC), 3, random.Random(5)))
    summaries = {m: summarize_meal(m, device_id, events) for m, events in meals.items()}
    now = datetime(2026, 1, 9, tzinfo=UTC)
    try:
        upgrade_database(engine, "0005")
        with _form_1():  # what a database of revision 0005 holds: meals, events and their summaries of form 1
            form_1 = [summary_row(citizen_id, summary, now) for summary in summaries.values()]
        with engine.begin() as connection:
            _insert_meals(connection, citizen_id, device_id, meals)
            connection.execute(insert(MealSummaryRecord.__table__), form_1)
            before = _rows(connection)
        assert all(row["derived_version"] == 1 for row in before.values())
        assert any('"text":"Skål 0"' in row["fhir_observation"] for row in before.values())

        upgrade_database(engine)
        with engine.connect() as connection:
            after = _rows(connection)
        assert {m: row["derived_version"] for m, row in after.items()} == dict.fromkeys(meals, DERIVED_VERSION)
        assert {m: row["fhir_observation"] for m, row in after.items()} == {
            m: encode_meal_resources(citizen_id, summary)[0].decode() for m, summary in summaries.items()
        }
        assert not any('"text":"Skål 0"' in row["fhir_observation"] for row in after.values())
        assert {m: row["revision"] for m, row in after.items()} == dict.fromkeys(meals, 2)  # caches read them again
        with make_session_factory(engine)() as session:
            stored = load_stored_meals(session, citizen_id)
        assert [m.summary for m in stored] == sorted(summaries.values(), key=lambda s: (s.started_at, str(s.meal_id)))
        assert all(m.encoded is not None for m in stored)  # the rows are used, not summarised again

        damaged = next(iter(meals))
        with engine.begin() as connection:
            connection.execute(
                update(MealSummaryRecord.__table__)
                .where(MealSummaryRecord.meal_id == damaged)
                .values(details={"bowls": [], "incidents": [], "triggers": []})
            )
        downgrade_database(engine, "0005")
        with engine.connect() as connection:
            down = _rows(connection)
        assert (
            down[damaged]["derived_version"] == DERIVED_VERSION
        )  # cannot be turned back: the old code does not use it
        assert {m: _derived(row) for m, row in down.items() if m != damaged} == {
            m: _derived(row) for m, row in before.items() if m != damaged
        }
        assert {m: row["revision"] for m, row in down.items() if m != damaged} == dict.fromkeys(
            set(meals) - {damaged}, 3
        )

        upgrade_database(engine)
        with engine.connect() as connection:
            again = _rows(connection)
        assert {m: _derived(row) for m, row in again.items()} == {m: _derived(row) for m, row in after.items()}
    finally:
        engine.dispose()
