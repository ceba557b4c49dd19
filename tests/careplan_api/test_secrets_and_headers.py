"""Secrets of at least 32 random bytes (refused otherwise without repeating them, generated 0600 at
first run), no password in any log line or printed URL, and the security headers on every answer."""

from __future__ import annotations

import json
import logging
import os
import stat

import pytest
from pydantic import ValidationError

from careplan_api.errors import ConfigurationError
from careplan_api.observability import JsonFormatter, mask_url_passwords
from careplan_api.settings import SECRETS_FILE_NAME, Settings


@pytest.mark.parametrize("weak", ["abc", "x" * 31, "a" * 64, "0123456789" * 3])
def test_a_short_or_patterned_secret_is_refused_with_a_clear_message_that_does_not_repeat_it(tmp_path, weak):
    with pytest.raises(ValidationError) as refused:
        Settings(data_dir=tmp_path, jwt_secret=weak, cpr_hmac_key="Zr5Lq8Wx2Mv7Tn4Bk9Hc3Pf6Dj1Sg0Ay-cpr-key")
    message = str(refused.value)
    assert "BIDVIS_CAREPLAN_JWT_SECRET" in message and "secrets.token_urlsafe" in message
    assert weak not in message


def test_first_run_generates_both_keys_into_a_file_only_its_owner_can_read(tmp_path):
    settings = Settings(data_dir=tmp_path).with_secrets()
    path = tmp_path / SECRETS_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    jwt_key, cpr_key = settings.require_secrets()
    assert len(jwt_key) >= 32 and len(cpr_key) >= 32 and jwt_key != cpr_key
    assert Settings(data_dir=tmp_path).with_secrets().require_secrets() == (jwt_key, cpr_key)  # kept, not remade


def test_a_secrets_file_others_can_read_or_with_a_weak_key_is_refused(tmp_path):
    Settings(data_dir=tmp_path).with_secrets()
    path = tmp_path / SECRETS_FILE_NAME
    os.chmod(path, 0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        Settings(data_dir=tmp_path).with_secrets()
    path.write_text(json.dumps({"jwt_secret": "short", "cpr_hmac_key": "short"}))
    os.chmod(path, 0o600)
    with pytest.raises(ConfigurationError, match="jwt_secret is 5 bytes") as refused:
        Settings(data_dir=tmp_path).with_secrets()
    assert "short" not in str(refused.value).replace("jwt_secret is 5 bytes", "")


def test_a_database_password_is_never_shown(tmp_path):
    settings = Settings(data_dir=tmp_path, database_url="postgresql+psycopg://bidvis:s3cret-pw@db.example/bidvis")
    assert settings.database_url_masked == "postgresql+psycopg://bidvis:***@db.example/bidvis"
    assert "s3cret-pw" not in repr(settings)
    record = logging.LogRecord(
        "careplan_api", logging.WARNING, __file__, 1, "cannot reach %s", (settings.database_url,), None
    )
    line = JsonFormatter().format(record)
    assert "s3cret-pw" not in line and "bidvis:***@db.example" in line
    assert mask_url_passwords("see https://u:p@h/x and sqlite:///a.db") == "see https://u:***@h/x and sqlite:///a.db"


def test_every_answer_carries_the_security_headers(client, world):
    for response in (
        client.get(f"/api/v1/citizens/{world.alice}", headers=world.headers("staff_a")),
        client.get("/api/v1/citizens/not-a-uuid", headers=world.headers("staff_a")),
        client.get("/healthz"),
        client.post("/api/v1/usage-events", content=b"x" * 2_000_000, headers=world.headers("device_alice")),
    ):
        assert response.headers["cache-control"] == "no-store", response.status_code
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_a_refused_password_is_not_echoed_in_the_422(client, world):
    page = client.post("/login", data={"username": "u", "password": "p" * 5000})
    assert page.status_code == 422 and "ppppp" not in page.text
    change = client.post(
        "/api/v1/auth/password",
        json={"current_password": "q" * 2000, "new_password": "n" * 2000},
        headers=world.headers("staff_a"),
    )
    assert change.status_code == 422 and "qqqqq" not in change.text and "nnnnn" not in change.text
