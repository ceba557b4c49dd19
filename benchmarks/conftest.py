"""Fixtures shared by the benchmarks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from careplan_api.local_postgres import LocalPostgres, PostgresUnavailable
from careplan_api.settings import Settings


@dataclass(frozen=True)
class CareplanBackend:
    """Care-plan settings on a fresh database, and the PostgreSQL server's pid (None for SQLite)."""

    settings: Settings
    postmaster_pid: int | None


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def careplan_backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CareplanBackend]:
    """A SQLite file, or a PostgreSQL server started from Debian's binaries (skipped when absent)."""
    data_dir = tmp_path_factory.mktemp(request.param)
    common = {
        "data_dir": data_dir,
        "jwt_secret": "bench-jwt-Hq3Lx8Vt1Nc6Rw9Kp2Md5Zs7Fb4Gy0Ja",
        "cpr_hmac_key": "bench-cpr-Tn6Wq1Xe9Lr3Bv8Dk5Hs2Pc7My4Zf0Ug",
        "argon2_profile": "CHEAPEST",
    }
    if request.param == "sqlite":
        yield CareplanBackend(Settings(database_url=f"sqlite:///{data_dir / 'bench.sqlite3'}", **common), None)
        return
    try:
        server = LocalPostgres()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    server.start()
    try:
        postmaster_pid = int((server.data_dir / "postmaster.pid").read_text().split()[0])
        yield CareplanBackend(Settings(database_url=server.create_database("bench"), **common), postmaster_pid)
    finally:
        server.destroy()
