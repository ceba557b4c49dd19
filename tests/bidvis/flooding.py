"""A robot whose meal runs in the controller process, and a flood of requests against its web app:
shared by tests/bidvis/test_flood.py (what must hold) and benchmarks/bench_controller_process_flood.py
(the figures).

The virtual servos run in `bidvis sim-bus` (a third process, at real-time priority when the system
allows it, as servos are never slowed by the computer's load), the web app on a real server on
127.0.0.1, a still face is fed to the meal at 30 Hz. `measure` lets the meal tick for `quiet_s`,
then floods the web app for `flood_s` from `attackers` threads (huge declared bodies, huge
streamed bodies, many small requests, all without login; bounded in time), and returns the
loop's tick intervals of both windows as the controller process measured them.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bidvis.robot_ui.app import create_app
from bidvis.robot_ui.body_limit import MAX_BODY_BYTES
from bidvis.robot_ui.session import RobotSession
from controller.config import SafetyLimits, demo_calibration, demo_profile, demo_safety_limits, save_config
from controller.journal import UsageJournal
from controller.loop import LatestValue
from tests.bidvis.conftest import PASSWORD, sim_bus_process, start_server, wait_for
from vision.observation import MouthObservation

PERIOD_S = 1.0 / demo_calibration().rate_hz
MOUTH_M = np.array([0.36, 0.0, 0.25])  # the citizen's mouth in the base frame (m): sits still, mouth closed
START_UP_TICKS = 200  # left out of the quiet window


@dataclass
class FloodedRobot:
    url: str
    session: RobotSession
    journal: UsageJournal


@dataclass
class Measurement:
    quiet_s: list[float]  # tick intervals without the flood (s)
    flooded_s: list[float]  # and during it
    answers: dict[str, int] = field(default_factory=dict)  # the flood's answers by status ("closed": none)
    stopped_before_flood: str | None = None  # why the meal stopped in the quiet window (no flood then)

    @staticmethod
    def jitter_ms(intervals: list[float], percentile: float) -> float:
        """A percentile of |interval - period| (ms)."""
        return float(np.percentile(np.abs(np.array(intervals) - PERIOD_S), percentile)) * 1e3


def still_face(mouth: LatestValue, stop: threading.Event) -> None:
    """The mouth as vision would report it at 30 Hz, on the clock both processes share."""
    base_to_camera = np.linalg.inv(demo_calibration().camera.matrix())
    position = tuple(float(v) for v in base_to_camera[:3, :3] @ MOUTH_M + base_to_camera[:3, 3])
    while not stop.wait(1 / 30):
        mouth.put(MouthObservation((320.0, 240.0), 60.0, 0.05, False, 0.9, time.monotonic(), position))


@contextlib.contextmanager
def flooded_robot(directory: Path, staff_login: Any, limits: SafetyLimits | None = None) -> Iterator[FloodedRobot]:
    """The robot (see the module docstring), with `limits` (default: the demo's)."""
    calibration = demo_calibration().model_copy(update={"tool_servo_id": None})
    save_config(calibration, directory / "robot_calibration.toml")
    save_config(demo_profile(), directory / "citizen_profile.toml")
    mouth: LatestValue = LatestValue()
    stop_face = threading.Event()
    threading.Thread(target=still_face, args=(mouth, stop_face), daemon=True).start()
    with (
        sim_bus_process(directory / "ttyARM", real_time=True) as link,
        UsageJournal(directory / "journal.sqlite3") as journal,
    ):
        session = RobotSession(
            mouth=mouth,
            port=str(link),
            calibration=calibration,
            calibration_path=directory / "robot_calibration.toml",
            profile=demo_profile(),
            profile_path=directory / "citizen_profile.toml",
            limits=limits or demo_safety_limits(),
            journal=journal,
            controller_process=True,
        )
        url, stop = start_server(create_app(session, staff_login))
        try:
            yield FloodedRobot(url, session, journal)
        finally:
            stop()
            session.close()
            stop_face.set()


def flood(url: str, until_s: float, answers: dict[str, int]) -> None:
    """One attacker until `until_s` (see the module docstring)."""
    big = b"x" * (4 * MAX_BODY_BYTES)

    def streamed() -> Iterator[bytes]:
        for _ in range(64):
            yield big

    requests = (
        lambda client: client.post("/api/panel", content=big * 32, headers={"Content-Type": "application/json"}),
        lambda client: client.post("/api/panel", content=streamed(), headers={"Content-Type": "application/json"}),
        lambda client: client.get("/api/panel/status"),
        lambda client: client.post("/api/panel", json={"command": "select_bowl", "bowl": 0}),
        lambda client: client.get("/login"),
    )
    with httpx.Client(base_url=url, timeout=10.0) as client:
        while time.monotonic() < until_s:
            for send in requests:
                try:
                    status = str(send(client).status_code)
                except httpx.HTTPError:
                    status = "closed"
                answers[status] = answers.get(status, 0) + 1


def measure(robot: FloodedRobot, quiet_s: float, flood_s: float, attackers: int) -> Measurement:
    """Start a meal as staff, let it tick `quiet_s`, then flood for `flood_s` (see the module docstring)."""
    with httpx.Client(base_url=robot.url, timeout=10.0) as staff:
        assert staff.post("/login", data={"username": "Anna", "password": PASSWORD}).status_code == 303
        assert staff.post("/api/panel", json={"command": "select_bowl", "bowl": 0}).status_code == 200
    process = robot.session.meal.process
    assert process is not None
    wanted = START_UP_TICKS + round(quiet_s / PERIOD_S)
    wait_for(
        lambda: len(process.intervals_s) >= wanted or not robot.session.meal.running,
        timeout_s=60 + 2 * quiet_s,
        what="the quiet ticks",
    )
    quiet = process.intervals_s[START_UP_TICKS:]
    if not robot.session.meal.running:
        longest_ms = round(max(process.intervals_s, default=0.0) * 1e3, 1)
        why = f"{robot.session.meal.status()['result']} (longest tick interval {longest_ms} ms)"
        return Measurement(quiet, [], stopped_before_flood=why)
    answers: dict[str, int] = {}
    start = len(process.intervals_s)
    until_s = time.monotonic() + flood_s
    threads = [threading.Thread(target=flood, args=(robot.url, until_s, answers)) for _ in range(attackers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=flood_s + 60)
    return Measurement(quiet, process.intervals_s[start:], answers)
