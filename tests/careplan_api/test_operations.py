"""Operations: health, OpenAPI, Prometheus metrics, JSON logs without personal data, settings by env."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import ValidationError

from careplan_api.errors import ConfigurationError, DatabaseError
from careplan_api.observability import ACCESS_LOGGER, JsonFormatter
from careplan_api.settings import Settings


def test_health_reports_ok_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_health_reports_503_when_the_database_is_gone(sqlite_url, tmp_path):
    from pathlib import Path

    from fastapi.testclient import TestClient

    from careplan_api.app import create_app

    app = create_app(Settings(data_dir=tmp_path, database_url=sqlite_url))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        app.state.engine.dispose()
        database = Path(app.state.engine.url.database)
        database.unlink()
        database.mkdir()  # a folder where the file was: every connect fails
        response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["database"] == "unreachable"


def test_the_openapi_schema_lists_the_contract_routes(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/auth/token", "/api/v1/usage-events", "/healthz", "/api/v1/citizens/{citizen_id}/audit"):
        assert path in paths
    ingest = paths["/api/v1/usage-events"]["post"]
    assert "DeviceToken" in json.dumps(ingest.get("security", []))


def test_metrics_count_requests_by_route_template_and_ingest_outcome(client, world):
    client.post(
        "/api/v1/usage-events",
        json={"events": [*world.meal_events(bites=1), {"id": "bad"}]},
        headers=world.headers("device_alice", None),
    )
    client.get(f"/api/v1/citizens/{world.alice}", headers=world.headers("staff_a"))
    text = client.get("/metrics").text
    assert 'careplan_ingest_events_total{outcome="accepted"} 7.0' in text
    assert 'careplan_ingest_events_total{outcome="rejected"} 1.0' in text
    assert 'route="/api/v1/citizens/{citizen_id}"' in text
    assert str(world.alice) not in text


def test_access_logs_are_json_without_personal_data(client, world, caplog):
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        client.get(
            f"/api/v1/citizens/{world.alice}",
            params={"purpose": "Alice Testesen lunch"},
            headers=world.headers("staff_a", None),
        )
    records = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    assert records
    line = JsonFormatter().format(records[-1])
    entry = json.loads(line)
    assert entry["route"] == "/api/v1/citizens/{citizen_id}" and entry["status"] == 200
    for secret in (str(world.alice), "Alice", "Testesen", world.tokens["staff_a"], "staff_a"):
        assert secret not in line


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BIDVIS_CAREPLAN_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("BIDVIS_CAREPLAN_ACCESS_TOKEN_TTL_S", "120")
    monkeypatch.setenv("BIDVIS_CAREPLAN_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert settings.access_token_ttl_s == 120 and settings.data_dir == tmp_path


def test_bad_settings_are_refused_with_the_field_named(monkeypatch):
    monkeypatch.setenv("BIDVIS_CAREPLAN_ACCESS_TOKEN_TTL_S", "-5")
    with pytest.raises(ValidationError, match="access_token_ttl_s"):
        Settings()


def test_unset_secrets_are_generated_once_and_kept_private(tmp_path):
    first = Settings(data_dir=tmp_path).with_secrets()
    second = Settings(data_dir=tmp_path).with_secrets()
    assert first.require_secrets() == second.require_secrets()
    assert (tmp_path / "secrets.json").stat().st_mode & 0o077 == 0


def test_a_corrupt_secrets_file_is_a_clear_configuration_error(tmp_path):
    (tmp_path / "secrets.json").write_text("{not json")
    with pytest.raises(ConfigurationError, match="secrets file"):
        Settings(data_dir=tmp_path).with_secrets()
    with pytest.raises(ConfigurationError, match="must be set"):
        Settings(data_dir=tmp_path).require_secrets()


def test_an_unusable_database_url_is_a_database_error(tmp_path):
    from careplan_api.app import create_app

    with pytest.raises(DatabaseError):
        create_app(
            Settings(
                data_dir=tmp_path,
                database_url="nonsense://x",
                jwt_secret="j" * 30 + "0123456789ab",
                cpr_hmac_key="c" * 30 + "0123456789ab",
            )
        )
