"""Throttling password guessing: failed logins counted per account and per client address.

A key (an account name, or a client address) that has `max_failures` failed logins within the
last `window_s` seconds is refused until the oldest of them leaves the window: an attacker gets at
most `max_failures` guesses per window and key, and a refused attempt does not reach the password
check (argon2 is expensive on purpose). Every attempt holds its place as a failure while its
password is checked, so parallel guesses cannot slip past the count; a successful login gives its
place back and clears the account's failures.

    throttle = LoginThrottle(LoginLimits(max_failures_per_account=10, max_failures_per_address=50, window_s=900))
    attempt = throttle.begin(username, client_address)
    if isinstance(attempt, Throttled): ...  # 429, Retry-After: attempt.retry_after_s
    elif password_ok: throttle.succeeded(attempt)
    else: newly_locked = throttle.failed(attempt)  # scopes that reached their limit now (to audit)
    # throttle.abandon(attempt) when the password could not be checked at all

The counts live in this process (one uvicorn worker): a restart forgets them, and several
processes would each count on their own.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

MAX_KEYS = 100_000  # per scope; beyond it the least recently failed keys are forgotten


class ThrottleScope(StrEnum):
    ACCOUNT = "account"
    ADDRESS = "address"


@dataclass(frozen=True)
class LoginLimits:
    max_failures_per_account: int = 10
    max_failures_per_address: int = 50
    window_s: float = 900.0

    def __post_init__(self) -> None:
        if self.max_failures_per_account < 1 or self.max_failures_per_address < 1 or not self.window_s > 0:
            raise ValueError(f"login limits need at least one failure per key and a window > 0 s, got {self}")


@dataclass(frozen=True)
class Throttled:
    """A login refused before its password was checked; try again in `retry_after_s` seconds."""

    scope: ThrottleScope
    retry_after_s: int


@dataclass(frozen=True)
class Attempt:
    """A login let through to the password check, holding its place in both counts."""

    account: str
    address: str
    place: tuple[float, int]  # (time, sequence number): unique, so it can be given back


class _FailureWindow:
    """The places (time, sequence number) of recent failures per key (not thread-safe: `LoginThrottle` holds the lock)."""

    def __init__(self, max_failures: int, window_s: float, max_keys: int) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_keys = max_keys
        self._times: dict[str, deque[tuple[float, int]]] = {}

    def _recent(self, key: str, now: float) -> deque[tuple[float, int]] | None:
        times = self._times.get(key)
        if times is None:
            return None
        while times and times[0][0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._times[key]
            return None
        return times

    def wait_s(self, key: str, now: float) -> float:
        """0 when `key` may try now, else the seconds until it may."""
        times = self._recent(key, now)
        if times is None or len(times) < self.max_failures:
            return 0.0
        return times[-self.max_failures][0] + self.window_s - now

    def add(self, key: str, place: tuple[float, int]) -> None:
        times = self._times.pop(key, None) or deque()
        times.append(place)
        self._times[key] = times  # re-inserted: the dict's order is least recently failed first
        if len(self._times) > self.max_keys:
            self._times.pop(next(iter(self._times)))

    def remove(self, key: str, place: tuple[float, int]) -> None:
        times = self._times.get(key)
        if times is not None and place in times:
            times.remove(place)

    def clear(self, key: str) -> None:
        self._times.pop(key, None)

    def locked_by(self, key: str, place: tuple[float, int], now: float) -> bool:
        """Whether the failure at `place` was the one that filled `key`'s window."""
        times = self._recent(key, now)
        return times is not None and len(times) >= self.max_failures and times[-1] == place


class LoginThrottle:
    """Counts of failed logins per account and per client address, in this process; thread-safe."""

    def __init__(
        self, limits: LoginLimits, clock: Callable[[], float] = time.monotonic, max_keys: int = MAX_KEYS
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._sequence = itertools.count()
        self._windows = {
            ThrottleScope.ACCOUNT: _FailureWindow(limits.max_failures_per_account, limits.window_s, max_keys),
            ThrottleScope.ADDRESS: _FailureWindow(limits.max_failures_per_address, limits.window_s, max_keys),
        }

    def begin(self, account: str, address: str) -> Attempt | Throttled:
        """Let a login through to the password check (its place held as a failure), or refuse it."""
        keys = {ThrottleScope.ACCOUNT: account, ThrottleScope.ADDRESS: address}
        with self._lock:
            now = self._clock()
            waits = {scope: window.wait_s(keys[scope], now) for scope, window in self._windows.items()}
            scope, wait = max(waits.items(), key=lambda item: item[1])
            if wait > 0:
                return Throttled(scope, max(1, math.ceil(wait)))
            place = (now, next(self._sequence))
            for scope, window in self._windows.items():
                window.add(keys[scope], place)
            return Attempt(account, address, place)

    def failed(self, attempt: Attempt) -> list[ThrottleScope]:
        """The attempt's password was wrong (its place stays a failure); the scopes whose key has
        now reached its limit, i.e. that this failure locked."""
        keys = {ThrottleScope.ACCOUNT: attempt.account, ThrottleScope.ADDRESS: attempt.address}
        with self._lock:
            now = self._clock()
            return [
                scope for scope, window in self._windows.items() if window.locked_by(keys[scope], attempt.place, now)
            ]

    def abandon(self, attempt: Attempt) -> None:
        """The password could not be checked (e.g. the database is down): the attempt counts for nothing."""
        with self._lock:
            for scope, key in ((ThrottleScope.ACCOUNT, attempt.account), (ThrottleScope.ADDRESS, attempt.address)):
                self._windows[scope].remove(key, attempt.place)

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: the address gets the attempt's place back, the account starts afresh."""
        with self._lock:
            self._windows[ThrottleScope.ADDRESS].remove(attempt.address, attempt.place)
            self._windows[ThrottleScope.ACCOUNT].clear(attempt.account)
