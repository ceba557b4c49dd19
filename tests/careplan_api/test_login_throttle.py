"""Password guessing is throttled per username and address, per address and per username from
unknown addresses (429 + Retry-After), the lock is audit-logged, and nobody at another address can
lock the owner out of an address they have logged in from. The counts live in the database, so
every worker sees the same. Time is a fake clock here, so nothing depends on how fast the machine is."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from careplan_api.i18n import Lang, texts
from careplan_api.models import AuditAction, AuditEntry
from careplan_api.services.login_throttle import LoginLimits, LoginThrottle, Throttled, ThrottleScope
from careplan_api.settings import Settings

TOKEN_URL = "/api/v1/auth/token"
LIMITS = LoginLimits(max_failures_per_pair=3, max_failures_per_address=5, max_failures_per_account=8, window_s=600)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(app) -> FakeClock:
    fake = FakeClock()
    app.state.login_throttle = LoginThrottle(LIMITS, app.state.session_factory, clock=fake)
    return fake


@pytest.fixture
def throttle(app, clock) -> LoginThrottle:
    return app.state.login_throttle


def _token(client, username, password):
    return client.post(TOKEN_URL, data={"username": username, "password": password})


def _throttle_entries(app) -> list[AuditEntry]:
    with app.state.session_factory() as session:
        return list(
            session.scalars(select(AuditEntry).where(AuditEntry.outcome == "throttled").order_by(AuditEntry.id))
        )


# The limiter on its own (on the test's database) -------------------------------------------------


def test_one_address_is_locked_out_of_an_account_after_its_failures_until_the_oldest_leaves_the_window(throttle, clock):
    locked = []
    for _ in range(3):
        clock.now += 10
        locked.append(throttle.failed(throttle.begin("staff_a", "10.0.0.1")))
    assert locked == [[], [], [ThrottleScope.PAIR]]
    assert throttle.begin("staff_a", "10.0.0.1") == Throttled(ThrottleScope.PAIR, 600 - 20)
    assert not isinstance(throttle.begin("staff_a", "10.0.0.2"), Throttled)  # another address may still try
    clock.now += 600 - 20 - 0.5
    assert throttle.begin("staff_a", "10.0.0.1") == Throttled(ThrottleScope.PAIR, 1)
    clock.now += 0.5
    assert not isinstance(throttle.begin("staff_a", "10.0.0.1"), Throttled)


def test_many_addresses_slow_the_account_down_but_never_lock_out_an_address_it_logged_in_from(throttle, world):
    throttle.succeeded(
        throttle.begin("staff_a", "192.0.2.1"), world.user_ids["staff_a"]
    )  # the owner's usual place: known
    for i in range(LIMITS.max_failures_per_account):  # a guesser spread over many addresses
        throttle.failed(throttle.begin("staff_a", f"10.0.1.{i}"))
    refused = throttle.begin("staff_a", "10.0.1.200")
    assert isinstance(refused, Throttled) and refused.scope is ThrottleScope.ACCOUNT
    assert not isinstance(throttle.begin("staff_a", "192.0.2.1"), Throttled)  # the owner is never locked out


def test_parallel_guesses_cannot_slip_past_the_count(throttle):
    in_flight = [throttle.begin("staff_a", "10.0.0.1") for _ in range(3)]  # none finished yet
    assert not any(isinstance(a, Throttled) for a in in_flight)
    assert throttle.begin("staff_a", "10.0.0.1") == Throttled(ThrottleScope.PAIR, 600)
    assert [throttle.failed(a) for a in in_flight] == [[], [], [ThrottleScope.PAIR]]  # the lock reported once


def test_a_success_clears_the_pair_and_gives_the_address_its_place_back(throttle, world):
    for _ in range(2):
        throttle.failed(throttle.begin("staff_a", "10.0.0.1"))
    throttle.succeeded(throttle.begin("staff_a", "10.0.0.1"), world.user_ids["staff_a"])
    for _ in range(2):
        assert throttle.failed(throttle.begin("staff_a", "10.0.0.1")) == []
    # the success took the pair's two failures and its own place away: the address holds 2 failures
    assert [throttle.failed(throttle.begin(name, "10.0.0.1")) for name in ("b", "c", "d")] == [
        [],
        [],
        [ThrottleScope.ADDRESS],
    ]
    assert throttle.begin("third", "10.0.0.1") == Throttled(ThrottleScope.ADDRESS, 600)


def test_an_abandoned_attempt_counts_for_nothing(throttle):
    for _ in range(10):
        throttle.abandon(throttle.begin("staff_a", "10.0.0.1"))
    assert not isinstance(throttle.begin("staff_a", "10.0.0.1"), Throttled)


def test_two_workers_on_one_database_count_together(app, clock):
    first = LoginThrottle(LIMITS, app.state.session_factory, clock=clock)
    second = LoginThrottle(LIMITS, app.state.session_factory, clock=clock)
    for worker in (first, second, first):
        worker.failed(worker.begin("staff_a", "10.0.0.1"))
    assert isinstance(second.begin("staff_a", "10.0.0.1"), Throttled)


def test_old_failures_are_deleted_so_a_spray_of_names_does_not_grow_the_table(app, throttle, clock):
    from sqlalchemy import func

    from careplan_api.models import LoginFailure

    for i in range(300):
        throttle.failed(throttle.begin(f"user{i}", f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"))
    clock.now += 601
    throttle.begin("late", "10.9.9.9")
    with app.state.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(LoginFailure)) == 1


@pytest.mark.parametrize(
    "limits",
    [{"max_failures_per_pair": 0}, {"max_failures_per_address": -1}, {"window_s": 0}, {"window_s": float("nan")}],
)
def test_meaningless_limits_are_refused(limits):
    with pytest.raises(ValueError, match="login limits"):
        LoginLimits(**limits)


@pytest.mark.parametrize(
    "field",
    [
        "login_max_failures_per_account",
        "login_max_failures_per_account_and_address",
        "login_max_failures_per_address",
        "login_failure_window_s",
    ],
)
def test_settings_refuse_a_zero_limit(field, tmp_path):
    with pytest.raises(ValidationError):
        Settings(data_dir=tmp_path, **{field: 0})


# Over HTTP -------------------------------------------------------------------------------------------


def test_wrong_passwords_lock_the_token_endpoint_then_a_correct_password_works_after_the_window(
    client, world, app, clock
):
    for _ in range(3):
        assert _token(client, "staff_a", "guess").status_code == 401
    refused = _token(client, "staff_a", world.password)  # right password, but locked: not even checked
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "600"
    assert "too many failed logins" in refused.json()["detail"]
    clock.now += 300
    assert _token(client, "staff_a", world.password).headers["Retry-After"] == "300"
    clock.now += 300
    assert _token(client, "staff_a", world.password).status_code == 200
    assert _token(client, "staff_a", "guess").status_code == 401  # the success started the account afresh
    entries = _throttle_entries(app)
    assert len(entries) == 1
    assert entries[0].action is AuditAction.DENIED and "username 'staff_a' from client address" in entries[0].resource
    metrics = client.get("/metrics").text
    assert 'careplan_login_throttled_total{scope="account_and_address"} 2.0' in metrics


def test_a_citizens_locked_account_shows_in_their_own_audit_log(client, world, app, clock):
    for _ in range(3):
        _token(client, "citizen", "guess")
    [entry] = _throttle_entries(app)
    assert entry.citizen_id == world.alice


@pytest.mark.parametrize("username", ["", "x" * 5000, "admin' OR '1'='1", "staff_a\x00", "../../etc/passwd", "ø" * 200])
def test_hostile_usernames_from_one_address_lock_that_address_only(client, world, app, clock, username):
    for i in range(5):
        response = _token(client, f"{i}{username}", "guess")  # distinct even when cut to 150
        assert response.status_code in (401, 422)
    locked = _token(client, "staff_a", world.password)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) == 600
    with TestClient(app, client=("192.0.2.7", 40000)) as elsewhere:
        assert _token(elsewhere, "staff_a", world.password).status_code == 200
    [entry] = [e for e in _throttle_entries(app) if "client address" in e.resource]
    assert "testclient" in entry.resource


def test_the_browser_login_is_throttled_with_a_page_that_says_when(client, world, app, clock):
    form = {"username": "staff_b", "password": "guess", "lang": "da"}
    for _ in range(3):
        page = client.post("/login", data=form)
        assert page.status_code == 200 and texts(Lang.DA)["login_failed"] in page.text
    page = client.post("/login", data={**form, "password": world.password})
    assert page.status_code == 429
    assert page.headers["Retry-After"] == "600"
    assert "Prøv igen om 10 min" in page.text and 'role="alert"' in page.text
    assert "bidvis_session" not in page.headers.get("set-cookie", "")
    english = client.post("/login", data={**form, "lang": "en"})
    assert english.status_code == 429 and "try again in 10 min" in english.text
    clock.now += 600
    page = client.post("/login", data={**form, "password": world.password}, follow_redirects=False)
    assert page.status_code == 303 and "bidvis_session=" in page.headers["set-cookie"]
    assert len(_throttle_entries(app)) == 1


def test_a_username_with_a_nul_byte_is_refused_and_locked_like_any_other(client, world, app, clock):
    for _ in range(3):
        assert _token(client, "staff_a\x00", world.password).status_code == 401
    assert _token(client, "staff_a\x00", world.password).status_code == 429
    assert _token(client, "staff_a", world.password).status_code == 200  # a different account
    [entry] = _throttle_entries(app)
    assert "username 'staff_a\\\\x00' from" in entry.resource


def test_parallel_wrong_logins_over_http_get_no_more_guesses_than_the_limit(client, world, app, clock):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(lambda _: _token(client, "staff_a", "guess").status_code, range(24)))
    assert codes.count(401) == LIMITS.max_failures_per_pair  # the password was checked only this often
    assert codes.count(429) == 24 - LIMITS.max_failures_per_pair
    assert len(_throttle_entries(app)) == 1


def test_rotating_ipv6_addresses_within_one_network_counts_as_one_client(app, world, clock):
    for i in range(5):
        with TestClient(app, client=(f"2001:db8:1:2::{i + 1:x}", 40000)) as rotating:
            assert _token(rotating, f"nobody{i}", "guess").status_code == 401
    with TestClient(app, client=("2001:db8:1:2:ffff::9", 40000)) as same_network:
        assert _token(same_network, "staff_a", world.password).status_code == 429
    with TestClient(app, client=("2001:db8:1:3::1", 40000)) as next_network:
        assert _token(next_network, "staff_a", world.password).status_code == 200
    [entry] = _throttle_entries(app)
    assert "client address 2001:db8:1:2::/64" in entry.resource


def test_an_ipv4_mapped_address_counts_as_its_ipv4_address(app, world, clock):
    for i in range(5):
        client_address = ("::ffff:192.0.2.1", 40000) if i % 2 else ("192.0.2.1", 40000)
        with TestClient(app, client=client_address) as client:
            _token(client, f"nobody{i}", "guess")
    with TestClient(app, client=("192.0.2.1", 40000)) as client:
        assert _token(client, "staff_a", world.password).status_code == 429


def test_a_guesser_at_another_address_cannot_lock_staff_out_before_a_meal(app, world, clock):
    with TestClient(app, client=("192.0.2.10", 40000)) as nursing_home:
        assert _token(nursing_home, "staff_a", world.password).status_code == 200  # known from now on
    for i in range(LIMITS.max_failures_per_account + 5):  # from many addresses, more than any limit
        with TestClient(app, client=(f"198.51.100.{i}", 40000)) as attacker:
            assert _token(attacker, "staff_a", "guess").status_code in (401, 429)
    with TestClient(app, client=("198.51.100.250", 40000)) as attacker:
        assert _token(attacker, "staff_a", world.password).status_code == 429  # slowed: refused unchecked
    with TestClient(app, client=("192.0.2.10", 40000)) as nursing_home:
        assert _token(nursing_home, "staff_a", world.password).status_code == 200
