"""`bidvis careplan ...`: run the care-plan service and administer it from the command line.

Every administration command takes `--database-url` (default: a SQLite file in the per-user data
folder, `$XDG_DATA_HOME/bidvis/careplan.sqlite3`, else `~/.local/share/bidvis/careplan.sqlite3`;
or `BIDVIS_CAREPLAN_DATABASE_URL`), migrates the database if needed, and prints one JSON object.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

import typer

careplan_app = typer.Typer(name="careplan", help="The municipal care-plan service (FastAPI).", no_args_is_help=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy URL; default: SQLite file in the per-user data folder"),
]
CLI_PURPOSE = "administration from the command line"


def register(app: typer.Typer) -> None:
    """Add this part's commands to the `bidvis` app."""
    app.add_typer(careplan_app)


def _settings(database_url: str | None) -> Any:
    from careplan_api.settings import Settings

    return Settings(database_url=database_url) if database_url else Settings()


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _admin_session(database_url: str | None) -> Any:
    """A context manager yielding (session, settings) on a migrated database, secrets resolved; errors end the command."""
    from contextlib import contextmanager

    from careplan_api.db import make_engine, make_session_factory, upgrade_database
    from careplan_api.errors import CareplanError

    @contextmanager
    def opened() -> Any:
        try:
            settings = _settings(database_url).with_secrets()
            settings.require_secrets()
            engine = make_engine(settings)
            if settings.run_migrations:
                upgrade_database(engine)
        except (CareplanError, ValueError) as exc:
            _fail(str(exc))
        try:
            with make_session_factory(engine)() as session:
                try:
                    yield session, settings
                except CareplanError as exc:
                    session.rollback()
                    _fail(str(exc))
        finally:
            engine.dispose()

    return opened()


def _log(session: Any, action: Any, resource: str, citizen_id: Any, purpose: str = CLI_PURPOSE) -> None:
    """Write the command's audit entry, with the operator who ran it (the caller commits)."""
    from careplan_api.services import audit

    audit.record(
        session,
        actor=audit.Operator.current(),
        action=action,
        resource=resource,
        citizen_id=citizen_id,
        purpose=purpose,
    )


def _print(obj: dict[str, Any]) -> None:
    typer.echo(json.dumps(obj))


def _parse_valid_until(value: str) -> datetime:
    """An ISO date (valid through that day, UTC) or an ISO date-time with offset."""
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(0), UTC) + timedelta(days=1)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("use YYYY-MM-DD or an ISO date-time with offset", param_hint="--valid-until") from None
    if parsed.tzinfo is None:
        raise typer.BadParameter(
            "a date-time needs an offset, e.g. 2027-01-31T12:00:00+01:00", param_hint="--valid-until"
        )
    return parsed


@careplan_app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", min=1, max=65535)] = 8000,
    database_url: DatabaseUrl = None,
    workers: Annotated[
        int, typer.Option(help="worker processes (each a whole app; share nothing but the database)", min=1, max=64)
    ] = 1,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(help="addresses of reverse proxies whose X-Forwarded-For is trusted (default 127.0.0.1)"),
    ] = None,
) -> None:
    """Run the service with uvicorn (JSON logs on stderr, migrations applied once on start).

    With `--workers N` the secrets, the schema and the settings are prepared once here; each worker
    then builds the app from the environment (no migration of its own). Throttles, quotas, token
    revocations and dashboard releases live in the database, so every worker answers the same.
    """
    import os

    import uvicorn

    from careplan_api.app import create_app
    from careplan_api.db import make_engine, upgrade_database
    from careplan_api.errors import CareplanError
    from careplan_api.garbage_collection import prepare_worker_collector
    from careplan_api.observability import configure_json_logging

    settings = _settings(database_url)
    configure_json_logging(settings.log_level)
    options: dict[str, Any] = {"host": host, "port": port, "log_config": None, "access_log": False}
    if forwarded_allow_ips is not None:
        options["forwarded_allow_ips"] = forwarded_allow_ips
    if workers == 1:
        try:
            app = create_app(settings)
        except CareplanError as exc:
            _fail(str(exc))
        prepare_worker_collector(settings.gc_freeze_after_startup, settings.gc_pause_log_ms)
        uvicorn.run(app, **options)
        return
    if settings.database_url.startswith("sqlite"):
        _fail("several workers need PostgreSQL (--database-url postgresql+psycopg://...); SQLite has one writer")
    try:
        settings = settings.with_secrets()  # generated once, before the workers start
        settings.require_secrets()
        if settings.run_migrations:
            engine = make_engine(settings)
            upgrade_database(engine)
            engine.dispose()
    except CareplanError as exc:
        _fail(str(exc))
    os.environ["BIDVIS_CAREPLAN_DATABASE_URL"] = settings.database_url
    os.environ["BIDVIS_CAREPLAN_DATA_DIR"] = str(settings.data_dir)
    os.environ["BIDVIS_CAREPLAN_RUN_MIGRATIONS"] = "false"
    uvicorn.run("careplan_api.app:app_from_environment", factory=True, workers=workers, **options)


@careplan_app.command()
def migrate(database_url: DatabaseUrl = None) -> None:
    """Bring the database schema to the newest version (Alembic); prints {"revision": ...}. Run it
    once before starting workers that have `BIDVIS_CAREPLAN_RUN_MIGRATIONS=false`."""
    from sqlalchemy import text

    from careplan_api.db import make_engine, upgrade_database
    from careplan_api.errors import CareplanError

    try:
        engine = make_engine(_settings(database_url))
        upgrade_database(engine)
        with engine.connect() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        engine.dispose()
    except CareplanError as exc:
        _fail(str(exc))
    _print({"revision": revision})


@careplan_app.command("add-citizen")
def add_citizen(
    name: Annotated[str, typer.Option(help="the citizen's name")],
    cpr: Annotated[str | None, typer.Option(help="CPR number (stored only as a keyed hash)")] = None,
    unit: Annotated[str, typer.Option(help="care unit name (created if new)")] = "default",
    database_url: DatabaseUrl = None,
) -> None:
    """Register a citizen; prints {"citizen_id": ...}."""
    from careplan_api.models import AuditAction
    from careplan_api.services import people

    with _admin_session(database_url) as (session, settings):
        _jwt_key, cpr_key = settings.require_secrets()
        citizen = people.create_citizen(session, name, cpr_key, cpr, people.get_or_create_unit(session, unit))
        _log(session, AuditAction.CREATE, "cli add-citizen", citizen.id)
        session.commit()
        _print({"citizen_id": str(citizen.id)})


@careplan_app.command("enroll-device")
def enroll_device(
    citizen: Annotated[str, typer.Option(help="the citizen's id")],
    label: Annotated[str, typer.Option(help="a name for the device")] = "",
    database_url: DatabaseUrl = None,
) -> None:
    """Register a device to a citizen; prints {"device_id": ..., "token": ...} (the token only this once)."""
    from careplan_api.models import AuditAction
    from careplan_api.services import people

    citizen_id = _uuid(citizen, "--citizen")
    with _admin_session(database_url) as (session, _settings):
        device, token = people.enroll_device(session, citizen_id, label)
        _log(session, AuditAction.CREATE, "cli enroll-device", citizen_id)
        session.commit()
        _print({"device_id": str(device.id), "token": token})


@careplan_app.command("add-user")
def add_user(
    username: Annotated[str, typer.Option(help="login name")],
    role: Annotated[str, typer.Option(help="staff, relative, citizen, analyst or admin")],
    citizen: Annotated[str | None, typer.Option(help="citizen id (for citizen and relative users)")] = None,
    valid_until: Annotated[
        str | None, typer.Option(help="relative: fuldmagt ends after this date (YYYY-MM-DD, UTC)")
    ] = None,
    unit: Annotated[str, typer.Option(help="staff: care unit name (created if new)")] = "default",
    database_url: DatabaseUrl = None,
) -> None:
    """Create a login with the password read from standard input; prints {"user_id": ...}.

    A relative gets a fuldmagt (scope full) for --citizen, ending at --valid-until.
    """
    from careplan_api.models import AuditAction, FuldmagtScope, Role
    from careplan_api.services import people

    try:
        role_value = Role(role)
    except ValueError:
        raise typer.BadParameter("one of staff, relative, citizen, analyst, admin", param_hint="--role") from None
    citizen_id = _uuid(citizen, "--citizen") if citizen else None
    until = _parse_valid_until(valid_until) if valid_until else None
    if until is not None and role_value is not Role.RELATIVE:
        raise typer.BadParameter("only a relative's fuldmagt has an end date", param_hint="--valid-until")
    password = _password_from_stdin("add-user")
    from careplan_api.services.security import password_hasher

    with _admin_session(database_url) as (session, settings):
        user = people.create_user(
            session,
            username,
            password,
            role_value,
            hasher=password_hasher(settings.argon2_profile),
            unit=people.get_or_create_unit(session, unit) if role_value is Role.STAFF else None,
            citizen_id=citizen_id,
        )
        if role_value is Role.RELATIVE and citizen_id is not None:
            people.grant_fuldmagt(session, user, citizen_id, FuldmagtScope.FULL, until)
        _log(session, AuditAction.CREATE, "cli add-user", citizen_id)
        session.commit()
        _print({"user_id": str(user.id)})


def _uuid(value: str, option: str) -> Any:
    import uuid

    try:
        return uuid.UUID(value)
    except ValueError:
        raise typer.BadParameter("not a UUID (as printed by add-citizen)", param_hint=option) from None


def _password_from_stdin(command: str) -> str:
    """The first line of standard input (never an argument: those show in `ps` and shell history)."""
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        _fail(f"give the password on standard input, e.g. `printf '%s\\n' \"$PW\" | bidvis careplan {command} ...`", 2)
    return password


def _change_user(database_url: str | None, username: str, command: str, change: Any) -> None:
    """Apply `change(session, settings, user)` to the user, audit it with the operator, print the user."""
    from careplan_api.models import AuditAction
    from careplan_api.services import login

    with _admin_session(database_url) as (session, settings):
        user = login.get_user(session, username=username)
        change(session, settings, user)
        _log(session, AuditAction.UPDATE, f"cli {command}", user.citizen_id)
        session.commit()
        _print({"user_id": str(user.id), "username": user.username, "is_active": user.is_active})


Username = Annotated[str, typer.Option(help="login name")]


@careplan_app.command("reset-password")
def reset_password(username: Username, database_url: DatabaseUrl = None) -> None:
    """Set a new password (read from standard input) for a user who lost theirs; their tokens stop
    working and their failed logins are forgotten."""
    from careplan_api.services import login
    from careplan_api.services.security import password_hasher

    password = _password_from_stdin("reset-password")
    _change_user(
        database_url,
        username,
        "reset-password",
        lambda session, settings, user: login.reset_password(
            session, password_hasher(settings.argon2_profile), user, password
        ),
    )


@careplan_app.command("deactivate-user")
def deactivate_user(username: Username, database_url: DatabaseUrl = None) -> None:
    """Stop a login at once: every token of it is refused."""
    from careplan_api.services import login

    _change_user(database_url, username, "deactivate-user", lambda s, _settings, u: login.set_active(s, u, False))


@careplan_app.command("reactivate-user")
def reactivate_user(username: Username, database_url: DatabaseUrl = None) -> None:
    """Let a deactivated login in again (tokens from before stay refused)."""
    from careplan_api.services import login

    _change_user(database_url, username, "reactivate-user", lambda s, _settings, u: login.set_active(s, u, True))


@careplan_app.command("set-national-id")
def set_national_id(username: Username, database_url: DatabaseUrl = None) -> None:
    """Link a login to its person's CPR number (read from standard input, kept only as a keyed hash): their
    first login through an OpenID Provider that gives the national identifier finds them (docs/identity.md)."""
    from careplan_api.services import openid_login

    number = sys.stdin.readline().strip()
    if not number:
        _fail("give the CPR number on standard input (never as an argument: those show in `ps` and shell history)", 2)
    _change_user(
        database_url,
        username,
        "set-national-id",
        lambda session, settings, user: openid_login.set_national_id(
            session, user, number, settings.require_secrets()[1]
        ),
    )


@careplan_app.command("link-identity")
def link_identity(
    username: Username,
    issuer: Annotated[str, typer.Option(help="the OpenID Provider's issuer URL, as configured")],
    subject: Annotated[str, typer.Option(help="the person's subject (sub) at that provider")],
    database_url: DatabaseUrl = None,
) -> None:
    """Link a login to a person at an OpenID Provider (issuer and subject): their logins there log in as it."""
    from careplan_api.services import openid_login

    _change_user(
        database_url,
        username,
        "link-identity",
        lambda session, _settings, user: openid_login.link_identity(session, user, issuer, subject),
    )


@careplan_app.command("access-log")
def access_log(
    citizen: Annotated[str, typer.Option(help="the citizen's id")],
    purpose: Annotated[str, typer.Option(help="why you read it (logged in the citizen's own access log)")],
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 500,
    database_url: DatabaseUrl = None,
) -> None:
    """Print a citizen's access log (newest first) as {"citizen_id", "entries": [...]}; this read is
    itself logged, with you as the operator."""
    from careplan_api.deps import valid_purpose
    from careplan_api.models import AuditAction
    from careplan_api.schemas import AuditEntryOut
    from careplan_api.services import audit, people

    if not valid_purpose(purpose.strip()):
        raise typer.BadParameter("3-200 printable characters saying why", param_hint="--purpose")
    citizen_id = _uuid(citizen, "--citizen")
    with _admin_session(database_url) as (session, _settings):
        people.get_citizen(session, citizen_id)
        _log(session, AuditAction.READ, "cli access-log", citizen_id, purpose=purpose.strip())
        session.commit()  # logged before it is shown
        entries = audit.entries_for_citizen(session, citizen_id, limit)
        _print(
            {
                "citizen_id": str(citizen_id),
                "entries": [AuditEntryOut.model_validate(e).model_dump(mode="json") for e in entries],
            }
        )


@careplan_app.command("import-fuldmagter")
def import_fuldmagter(
    register: Annotated[
        str,
        typer.Option(
            envvar="BIDVIS_CAREPLAN_FULDMAGT_REGISTER",
            help="the register: a JSON file (the local stand-in, or an export) or the https URL of its JSON feed",
        ),
    ],
    since: Annotated[
        str | None,
        typer.Option(help="ask from this cursor instead of the one kept from the last import ('' asks for everything)"),
    ] = None,
    citizen: Annotated[
        str | None, typer.Option(help="import only this citizen's fuldmagter (the citizen's id)")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Import fuldmagter from the national fuldmagt register (docs/fuldmagt.md); prints what changed
    as {"created", "updated", "unchanged", "duplicates", "not_our_citizen", "other_citizens",
    "refused": [{"ref", "reason"}], "since", "cursor"}.

    Without --since it asks from the cursor kept from the last import of this register, and keeps
    the new one with the entries (not with --citizen, which leaves the others out). Running it again
    changes nothing. Two runs at once are safe: the one that finds the other's entries stored runs
    once more, and the cursor of the register's later answer is kept. Every change is audited with
    you as the operator. Exit status 1 (nothing changed) when the register cannot be read, the
    citizen is unknown, or other imports got in the way twice; 3 when some entries were refused (the
    others are imported).
    """
    from pathlib import Path

    import httpx
    from sqlalchemy.exc import IntegrityError

    from careplan_api.fuldmagt_register import (
        FileFuldmagtRegister,
        HttpFuldmagtRegister,
        ImportReport,
        RegisterError,
        import_changes,
    )
    from careplan_api.models import utcnow
    from careplan_api.services import audit, people, register_cursors

    citizen_id = _uuid(citizen, "--citizen") if citizen else None
    client: httpx.Client | None = None
    source: Any
    if register.startswith(("https://", "http://")):
        client = httpx.Client(timeout=30, follow_redirects=False)
        source = HttpFuldmagtRegister(client, register)
    else:
        source = FileFuldmagtRegister(Path(register))
    try:
        with _admin_session(database_url) as (session, settings):
            if citizen_id is not None:
                people.get_citizen(session, citizen_id)  # NotFound: a clear error, nothing changed
            _jwt_key, cpr_key = settings.require_secrets()
            operator, name = audit.Operator.current(), register_cursors.register_name(register)

            def import_once() -> tuple[str | None, ImportReport]:
                asked_from = register_cursors.stored(session, name) if since is None and citizen_id is None else since
                asked_at = utcnow()
                report = import_changes(session, source, asked_from, cpr_key, actor=operator, citizen_id=citizen_id)
                if citizen_id is None and report.cursor:
                    register_cursors.advance(session, name, report.cursor, operator, asked_at)
                session.commit()  # the entries and the cursor together: a run that fails keeps the old cursor
                return asked_from, report

            try:
                asked_from, report = import_once()
            except IntegrityError:  # another import of this register stored some of the same entries first
                session.rollback()
                try:
                    asked_from, report = import_once()  # its entries are known now: updated or unchanged
                except IntegrityError:
                    session.rollback()
                    raise RegisterError(
                        "other imports of this register stored the same fuldmagter twice while this one ran; "
                        "nothing was changed by this run: run it again"
                    ) from None
    finally:
        if client is not None:
            client.close()
    _print(
        {
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "duplicates": report.duplicates,
            "not_our_citizen": report.not_our_citizen,
            "other_citizens": report.other_citizens,
            "refused": [{"ref": ref, "reason": reason} for ref, reason in report.refused],
            "since": asked_from,
            "cursor": report.cursor,
        }
    )
    if report.refused:
        typer.echo(f"error: {len(report.refused)} entries refused (see `refused`); the others are imported", err=True)
        raise typer.Exit(3)
