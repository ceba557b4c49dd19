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
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from careplan_api.errors import ConfigurationError

SECRETS_FILE_NAME = "secrets.json"
DATABASE_FILE_NAME = "careplan.sqlite3"


def default_data_dir() -> Path:
    """Per-user data folder: `$XDG_DATA_HOME/bidvis`, else `~/.local/share/bidvis`."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "bidvis"


class Settings(BaseSettings):
    """Configuration of the care-plan service (env prefix `BIDVIS_CAREPLAN_`)."""

    model_config = SettingsConfigDict(env_prefix="BIDVIS_CAREPLAN_", extra="forbid")

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
    max_request_body_bytes: int = Field(default=1_048_576, gt=0)
    max_event_data_bytes: int = Field(default=4096, gt=0)
    max_event_clock_skew_s: float = Field(default=300.0, ge=0)
    db_pool_size: int = Field(default=20, gt=0)
    login_max_failures_per_account: int = Field(
        default=10, gt=0, description="failed logins for one username within login_failure_window_s before more get 429"
    )
    login_max_failures_per_address: int = Field(
        default=50,
        gt=0,
        description="failed logins from one client address within login_failure_window_s before more get 429",
    )
    login_failure_window_s: float = Field(default=900.0, gt=0, description="the sliding window of the login throttle")
    run_migrations: bool = Field(
        default=True, description="run `alembic upgrade head` when the app or CLI opens the database"
    )
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / DATABASE_FILE_NAME}"
        return self

    def with_secrets(self) -> Settings:
        """A copy whose unset secrets are read from (or first written to) `data_dir/secrets.json`.

        The file is created with mode 0600 so that the CLI and the server on one machine share the
        keys. Deployments set both keys by environment instead.
        """
        if self.jwt_secret is not None and self.cpr_hmac_key is not None:
            return self
        path = self.data_dir / SECRETS_FILE_NAME
        try:
            stored = json.loads(path.read_text()) if path.exists() else {}
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"cannot read the secrets file {path}: {exc}; fix or delete it") from exc
        changed = False
        for key in ("jwt_secret", "cpr_hmac_key"):
            if not isinstance(stored.get(key), str) or len(stored[key]) < 32:
                stored[key] = secrets.token_urlsafe(48)
                changed = True
        if changed:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as fh:
                    json.dump(stored, fh)
            except OSError as exc:
                raise ConfigurationError(f"cannot write the secrets file {path}: {exc}") from exc
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
