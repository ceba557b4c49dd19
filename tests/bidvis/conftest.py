"""Staff logins for the robot's web app in tests: accounts with a cheap argon2 profile, and logging in."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient

from bidvis.robot_ui.app import create_app
from bidvis.robot_ui.staff_login import STAFF_ACCOUNTS_FILE, LoginThrottle, StaffAccounts, StaffLogin, StaffSessions
from bidvis.run import SimRobot, sim_robot, uvicorn_tls

PASSWORD = "correct horse battery"
CHEAP_HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)
ROBOT_URL = "http://localhost"  # TestClient's address for the robot's app (which answers to loopback names only)


@contextlib.contextmanager
def frozen_sim_robot(directory: Path) -> Iterator[SimRobot]:
    """`sim_robot(directory)`, with the heap built so far frozen while it runs, as `bidvis.run.serve`
    freezes the robot web server's start-up heap: the simulated servos answer from a thread of this
    process, and a full garbage collection of the test process's heap (pytest, Playwright and every
    module the tests imported; up to 176 ms seen under load) held the interpreter lock longer than
    the set-up loop's 200 ms watchdog, so the set-up process heard no answer and stopped the arm."""
    gc.freeze()
    robot = sim_robot(directory)
    try:
        yield robot
    finally:
        robot.close()
        gc.unfreeze()


@pytest.fixture
def robot(tmp_path):
    """A robot session on virtual servos and a simulated camera, its files in `tmp_path`."""
    with frozen_sim_robot(tmp_path) as robot:
        yield robot


@pytest.fixture
def app(robot, tmp_path, make_staff_login):
    """The robot's web app on `robot`, with the test staff accounts (a module may define its own)."""
    return create_app(robot.session, make_staff_login(tmp_path))


@pytest.fixture
def client(app):
    """A TestClient of `app` at the robot's own address, not logged in."""
    with TestClient(app, base_url=ROBOT_URL) as client:
        yield client


@pytest.fixture
def staff(client, log_in):
    """`client`, logged in as staff."""
    assert log_in(client).status_code == 303
    return client


@pytest.fixture(scope="session")
def make_staff_login():
    """`make(directory, names=("Anna", "Bo"), throttle=None, sessions=None)`: accounts with
    password `password` (the fixture) in `directory`."""

    def make(
        directory, names=("Anna", "Bo"), throttle: LoginThrottle | None = None, sessions: StaffSessions | None = None
    ) -> StaffLogin:
        accounts = StaffAccounts(directory / STAFF_ACCOUNTS_FILE, hasher=CHEAP_HASHER)
        for name in names:
            accounts.add(name, PASSWORD)
        return StaffLogin(accounts, sessions or StaffSessions(), throttle or LoginThrottle())

    return make


@pytest.fixture(scope="session")
def password() -> str:
    return PASSWORD


@pytest.fixture
def log_in():
    """`log_in(client, name="Anna", password=PASSWORD)`: post the login form; returns the answer."""

    def post(client, name: str = "Anna", password: str = PASSWORD):
        return client.post("/login", data={"username": name, "password": password}, follow_redirects=False)

    return post


def start_server(app, host: str = "127.0.0.1", certificate=None) -> tuple[str, Callable[[], None]]:
    """The app on a real uvicorn server (HTTPS with `certificate`) in a thread, listening on
    `host`: its base URL, and the function that stops it."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", **uvicorn_tls(certificate)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    end = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < end, "the robot's web app did not start"
        time.sleep(0.02)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=5)

    return f"{'https' if certificate else 'http'}://{host}:{port}", stop


def wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0, what: str = "condition") -> None:
    """Poll `predicate` (real time) until it holds; fail after `timeout_s`."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _ask_real_time() -> None:
    with contextlib.suppress(OSError):
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))


def sim_bus_command(link: Path, ids: str = "11,12,13,14", *options: str) -> list[str]:
    """`bidvis sim-bus` serving servos `ids` at `link`."""
    return [sys.executable, "-m", "bidvis.cli", "sim-bus", "--link", str(link), "--ids", ids, *options]


def xm430_emulator_command(link: Path, ids: str = "11,12,13,14", *options: str) -> list[str]:
    """The independent XM430-W350 emulator (tests/xm430_emulator) serving servos `ids` at `link`."""
    return [sys.executable, "-m", "tests.xm430_emulator", "--link", str(link), "--ids", ids, *options]


# Servo emulators a bidvis process can be run against, by name: each a command(link, ids, *options).
SERVO_EMULATORS = {"sim-bus": sim_bus_command, "xm430-emulator": xm430_emulator_command}


@contextlib.contextmanager
def servo_emulator_process(command: list[str], link: Path, real_time: bool = False) -> Iterator[Path]:
    """A servo emulator's `command` in its own process (apart from the code under test), serving at
    `link`; with `real_time`, at real-time priority when the system allows it (it stands in for
    servos, which no load on the computer can slow down)."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_ask_real_time if real_time else None,
    )
    try:
        deadline = time.monotonic() + 30.0
        while not link.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{command[2:4]} did not start: {process.stdout.read() if process.stdout else ''}")
            time.sleep(0.05)
        yield link
    finally:
        os.kill(process.pid, signal.SIGINT)
        process.wait(timeout=10)


def sim_bus_process(
    link: Path, flaws: str | None = None, real_time: bool = False
) -> contextlib.AbstractContextManager[Path]:
    """`bidvis sim-bus` (`servo_emulator_process`), with the flaws preset `flaws`."""
    options = () if flaws is None else ("--flaws", flaws)
    return servo_emulator_process(sim_bus_command(link, "11,12,13,14", *options), link, real_time)
