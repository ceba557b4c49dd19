"""One typed configuration object for the care-plan service, read from the environment.

Every field can be set as an environment variable with the prefix `BIDVIS_CAREPLAN_`, e.g.
`BIDVIS_CAREPLAN_DATABASE_URL=postgresql+psycopg://bidvis@db/bidvis`. Nothing is read at import
time: build a `Settings()` at the edge (CLI, tests) and pass it down.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from careplan_api.errors import ConfigurationError
from careplan_api.models import Role
from careplan_api.openid import OpenIdProvider

SECRETS_FILE_NAME = "secrets.json"
DATABASE_FILE_NAME = "careplan.sqlite3"
MIN_SECRET_BYTES = 32
MIN_SECRET_DISTINCT_BYTES = 10  # "a" * 32 is long enough but not random
SECRET_KEYS = ("jwt_secret", "cpr_hmac_key")


def mask_database_url(url: str) -> str:
    """`url` with its password replaced by `***` (unchanged when it holds none or cannot be read)."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return "<unreadable database URL>"
    return parsed.render_as_string(hide_password=True) if parsed.password else url


def new_secret() -> str:
    """A fresh secret: 48 random bytes, URL-safe base64 (64 characters)."""
    return secrets.token_urlsafe(48)


def secret_problem(value: str) -> str | None:
    """Why `value` is not good enough as a key (None when it is): at least `MIN_SECRET_BYTES` bytes
    and not an obvious pattern. The message never repeats the value."""
    raw = value.encode("utf-8", "surrogatepass")
    if len(raw) < MIN_SECRET_BYTES:
        return (
            f"is {len(raw)} bytes; a key needs at least {MIN_SECRET_BYTES} random bytes "
            "(make one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    if len(set(raw)) < MIN_SECRET_DISTINCT_BYTES:
        return f"has only {len(set(raw))} different characters; use random bytes (secrets.token_urlsafe(48))"
    return None


def default_data_dir() -> Path:
    """Per-user data folder: `$XDG_DATA_HOME/bidvis`, else `~/.local/share/bidvis`."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "bidvis"


class Settings(BaseSettings):
    """Configuration of the care-plan service (env prefix `BIDVIS_CAREPLAN_`)."""

    # hide_input_in_errors: a refused secret or URL is never repeated in the error message
    model_config = SettingsConfigDict(env_prefix="BIDVIS_CAREPLAN_", extra="forbid", hide_input_in_errors=True)

    data_dir: Path = Field(default_factory=default_data_dir, description="SQLite file and generated secrets live here")
    database_url: str = Field(default="", description="SQLAlchemy URL; empty means a SQLite file in data_dir")
    jwt_secret: SecretStr | None = Field(
        default=None, description="HS256 key for access tokens; generated into data_dir when unset"
    )
    cpr_hmac_key: SecretStr | None = Field(
        default=None, description="HMAC key for CPR numbers; generated into data_dir when unset"
    )
    argon2_profile: Literal["RFC_9106_LOW_MEMORY", "RFC_9106_HIGH_MEMORY", "CHEAPEST"] = Field(
        default="RFC_9106_LOW_MEMORY", description="password hashing cost; CHEAPEST is for tests only"
    )
    access_token_ttl_s: int = Field(default=3600, gt=0, le=7 * 24 * 3600)
    cookie_secure: bool = Field(
        default=True,
        description="mark the browser login cookie Secure (sent over HTTPS only); browsers also accept it on "
        "http://localhost. Switch off only to serve plain HTTP to another host in development",
    )
    openid_providers: tuple[OpenIdProvider, ...] = Field(
        default=(),
        description="the OpenID Providers people log in with, as a JSON list (docs/identity.md): one for citizens "
        "and relatives (the national one), one for staff (the municipality's), or more",
    )
    password_login: Literal["break_glass", "everyone"] = Field(
        default="break_glass",
        description="who may log in with a local password: only administrators (break-glass access when the "
        "providers are down), or everyone (the embedded demo, and a service without OpenID Providers)",
    )
    public_url: str = Field(
        default="",
        description="the service's address as browsers reach it (https://omsorg.kommune.dk), for the addresses "
        "registered at the providers; empty: taken from each request",
    )
    max_request_body_bytes: int = Field(default=1_048_576, gt=0)
    max_event_data_bytes: int = Field(default=4096, gt=0)
    max_event_clock_skew_s: float = Field(default=300.0, ge=0)
    db_pool_size: int = Field(default=20, gt=0)
    gc_freeze_after_startup: bool = Field(
        default=True,
        description="move the objects built at start-up out of the garbage collector's scans (gc.freeze), "
        "so that a full collection does not stall every request of the worker",
    )
    gc_pause_log_ms: float = Field(
        default=50.0, gt=0, description="log a warning for each garbage-collector pause at least this long"
    )
    login_max_failures_per_account_and_address: int = Field(
        default=10, gt=0, description="failed logins for one username from one client address within the window"
    )
    login_max_failures_per_address: int = Field(
        default=50, gt=0, description="failed logins from one client address (any username) within the window"
    )
    login_max_failures_per_account: int = Field(
        default=100,
        gt=0,
        description="failed logins for one username from addresses it has not logged in from before, within the "
        "window; its known addresses are never refused for this (so nobody elsewhere can lock the owner out)",
    )
    login_failure_window_s: float = Field(default=900.0, gt=0, description="the sliding window of the login throttle")
    login_known_address_days: float = Field(
        default=90.0, ge=0, description="an address stays known for an account this long after a successful login"
    )
    ingest_events_per_s: float = Field(
        default=50.0, gt=0, description="each device's sustained ingest quota (events per second)"
    )
    ingest_max_batch_events: int = Field(
        default=1000,
        gt=0,
        le=1000,
        description="each device's burst: the largest batch it may post, and the events it may post at once after a pause",
    )
    dashboard_release_delay_days: float = Field(
        default=7.0,
        ge=0,
        description="a month's dashboard figures are released (computed once, then fixed) this long after it ends",
    )
    run_migrations: bool = Field(
        default=True, description="run `alembic upgrade head` when the app or CLI opens the database"
    )
    log_level: str = "INFO"

    @field_validator("jwt_secret", "cpr_hmac_key")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None, info: object) -> SecretStr | None:
        if value is not None:
            problem = secret_problem(value.get_secret_value())
            if problem is not None:
                name = getattr(info, "field_name", "secret")
                raise ValueError(f"BIDVIS_CAREPLAN_{str(name).upper()} {problem}")
        return value

    @field_validator("openid_providers")
    @classmethod
    def _distinct_providers(cls, value: tuple[OpenIdProvider, ...]) -> tuple[OpenIdProvider, ...]:
        names = [provider.name for provider in value]
        if len(set(names)) != len(names):
            raise ValueError("each OpenID Provider needs its own name")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if value and not (value.startswith(("https://", "http://")) and "?" not in value and "#" not in value):
            raise ValueError("public_url is the service's base address, e.g. https://omsorg.kommune.dk")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / DATABASE_FILE_NAME}"
        return self

    @property
    def password_roles(self) -> frozenset[Role] | None:
        """The roles that may log in with a local password (`password_login`); None: every role."""
        return None if self.password_login == "everyone" else frozenset({Role.ADMIN})

    @property
    def database_url_masked(self) -> str:
        """The database URL with its password replaced by `***`: the only form ever printed or logged."""
        return mask_database_url(self.database_url)

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, (self.database_url_masked if name == "database_url" else value)

    def with_secrets(self) -> Settings:
        """A copy whose unset secrets are read from (or first written to) `data_dir/secrets.json`.

        The file is created with mode 0600 so that the CLI and the server on one machine share the
        keys. Deployments set both keys by environment instead.
        """
        if self.jwt_secret is not None and self.cpr_hmac_key is not None:
            return self
        path = self.data_dir / SECRETS_FILE_NAME
        if not path.exists():
            _write_private(path, {key: new_secret() for key in SECRET_KEYS})
        stored = _read_secrets(path)
        return self.model_copy(
            update={
                "jwt_secret": self.jwt_secret or SecretStr(stored["jwt_secret"]),
                "cpr_hmac_key": self.cpr_hmac_key or SecretStr(stored["cpr_hmac_key"]),
            }
        )

    def require_secrets(self) -> tuple[bytes, bytes]:
        """(jwt_secret, cpr_hmac_key) as bytes; raises `ConfigurationError` when either is unset."""
        if self.jwt_secret is None or self.cpr_hmac_key is None:
            raise ConfigurationError("jwt_secret and cpr_hmac_key must be set (or call Settings.with_secrets())")
        return self.jwt_secret.get_secret_value().encode(), self.cpr_hmac_key.get_secret_value().encode()


def _read_secrets(path: Path) -> dict[str, str]:
    """The keys of a secrets file, checked: a JSON object with both keys, each strong, mode 0600."""
    try:
        mode = path.stat().st_mode & 0o777
        stored = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read the secrets file {path}: {exc}; fix or delete it") from exc
    if mode & 0o077:
        raise ConfigurationError(
            f"the secrets file {path} can be read by other users (mode {mode:o}); run: chmod 600 {path}"
        )
    if not isinstance(stored, dict):
        raise ConfigurationError(f"the secrets file {path} is not a JSON object; fix or delete it")
    for key in SECRET_KEYS:
        value = stored.get(key)
        problem = secret_problem(value) if isinstance(value, str) else "is missing or not text"
        if problem is not None:
            raise ConfigurationError(
                f"the secrets file {path}: {key} {problem}; replace it (tokens signed with the old key stop "
                "working) or delete the file to generate new keys (then no citizen can be found by CPR again)"
            )
    return stored


def _write_private(path: Path, content: dict[str, str]) -> None:
    """Write `content` as JSON to `path`, readable by its owner only (0600), atomically."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(content, fh)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():  # another process made it first: keep theirs, so that every process agrees
            partial.unlink()
            return
        os.link(partial, path)
        partial.unlink()
    except FileExistsError:
        partial.unlink(missing_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot write the secrets file {path}: {exc}") from exc
