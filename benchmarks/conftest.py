"""Fixtures shared by the benchmarks."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from careplan_api.local_postgres import LocalPostgres, PostgresUnavailable
from careplan_api.settings import Settings

FACES = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "faces"
CLIP = ("grid_bbaf2n_f002", "grid_bbaf2n_f049", "grid_bbaf2n_f036", "grid_bbaf2n_f073")
FRAMES, BLOCK = 240, 17  # 17: state changes fall on flow frames too, whatever the interval


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


@pytest.fixture(scope="module")
def moving_face() -> tuple[list[np.ndarray], list[tuple[float, float, float, bool]]]:
    """(frames, truth) of one shared face moving over 640x480 (bench_vision_tracker.py), where
    truth[i] = (centre x, centre y, mouth width, is_open); skipped without ../shared/data/faces."""
    if not (FACES / "labels.csv").is_file():
        pytest.skip(f"shared face images not found at {FACES.resolve()}")
    cv2.setNumThreads(1)
    with (FACES / "labels.csv").open(newline="") as handle:
        rows = {Path(r["file"]).stem: r for r in csv.DictReader(handle)}
    frames, truth, noise = [], [], np.random.default_rng(5)
    for i in range(FRAMES):
        row = rows[CLIP[(i // BLOCK) % len(CLIP)]]
        image = cv2.imread(str(FACES / row["file"]))
        x, y = int(140 + 80 * math.sin(i / 25)), int(96 + 40 * math.sin(i / 17))
        frame = np.full((480, 640, 3), 90, np.int16)
        frame[y : y + image.shape[0], x : x + image.shape[1]] = image
        frame += noise.integers(-2, 3, frame.shape, dtype=np.int16)  # sensor noise, as in every real frame
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
        truth.append(
            (
                float(row["mouth_cx"]) + x,
                float(row["mouth_cy"]) + y,
                float(row["mouth_w"]),
                row["mouth_state"] == "open",
            )
        )
    return frames, truth
