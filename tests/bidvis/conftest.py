"""Staff logins for the robot's web app in tests: accounts with a cheap argon2 profile, and logging in."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, profiles

from bidvis.robot_ui.staff_login import STAFF_ACCOUNTS_FILE, LoginThrottle, StaffAccounts, StaffLogin, StaffSessions

PASSWORD = "correct horse battery"
CHEAP_HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)
ROBOT_URL = "http://localhost"  # TestClient's address for the robot's app (which answers to loopback names only)


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
