"""Throttling password guessing, shared by every worker through the database.

Failed logins are counted over a sliding window in three scopes:

- `PAIR`: one username from one client address (`max_failures_per_pair`, 10 by default): a
  guesser at one address gets that many tries at an account, and locks out only that address;
- `ADDRESS`: any username from one client address (`max_failures_per_address`, 50);
- `ACCOUNT`: one username from the addresses that have not logged in to it successfully within
  `known_address_s` (`max_failures_per_account`, 100): slows a guesser spread over many addresses.
  An address from which the account's owner has logged in before is never refused in this scope,
  so nobody elsewhere can lock the real user out of their usual place.

A refused attempt gets `Throttled` (429, Retry-After) before its password is checked (argon2 is
expensive on purpose). Every attempt that is let through holds its place as a failure while its
password is checked, so parallel guesses cannot slip past the count (PostgreSQL: a transaction
advisory lock; SQLite: its single writer); a success gives the place back, clears the pair's
failures and remembers the address as known for the account.

    throttle = LoginThrottle(LoginLimits(), session_factory)
    attempt = throttle.begin(username, client_address)
    if isinstance(attempt, Throttled): ...  # 429, Retry-After: attempt.retry_after_s
    elif password_ok: throttle.succeeded(attempt, user_id)
    else: newly_locked = throttle.failed(attempt)  # scopes that reached their limit now (to audit)
    # throttle.abandon(attempt) when the password could not be checked at all
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from careplan_api.models import KnownLoginAddress, LoginFailure, User

_ADVISORY_LOCK_KEY = 0x6269_6476_6973_4C47  # "bidvisLG": serialises login throttling on PostgreSQL
MAX_KEY_CHARS = 150


class ThrottleScope(StrEnum):
    PAIR = "account_and_address"
    ADDRESS = "address"
    ACCOUNT = "account"


@dataclass(frozen=True)
class LoginLimits:
    max_failures_per_pair: int = 10
    max_failures_per_address: int = 50
    max_failures_per_account: int = 100
    window_s: float = 900.0
    known_address_s: float = 90 * 24 * 3600.0

    def __post_init__(self) -> None:
        counts = (self.max_failures_per_pair, self.max_failures_per_address, self.max_failures_per_account)
        if min(counts) < 1 or not self.window_s > 0 or not self.known_address_s >= 0:
            raise ValueError(f"login limits need at least one failure per key and a window > 0 s, got {self}")

    def limit(self, scope: ThrottleScope) -> int:
        return {
            ThrottleScope.PAIR: self.max_failures_per_pair,
            ThrottleScope.ADDRESS: self.max_failures_per_address,
            ThrottleScope.ACCOUNT: self.max_failures_per_account,
        }[scope]


@dataclass(frozen=True)
class Throttled:
    """A login refused before its password was checked; try again in `retry_after_s` seconds."""

    scope: ThrottleScope
    retry_after_s: int


@dataclass(frozen=True)
class Attempt:
    """A login let through to the password check, holding its place (row `place`) in the counts."""

    account: str
    address: str
    place: int
    at_s: float
    known_address: bool


class LoginThrottle:
    """Counts of failed logins in the database (table `login_failures`); safe across threads and processes."""

    def __init__(
        self,
        limits: LoginLimits,
        session_factory: sessionmaker[Session],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limits = limits
        self._sessions = session_factory
        self._clock = clock

    def _lock(self, session: Session) -> None:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})

    def _is_known(self, session: Session, account: str, address: str, now: float) -> bool:
        return (
            session.scalar(
                select(KnownLoginAddress.address)
                .join(User, User.id == KnownLoginAddress.user_id)
                .where(
                    User.username == account,
                    KnownLoginAddress.address == address,
                    KnownLoginAddress.last_success_s > now - self.limits.known_address_s,
                )
            )
            is not None
        )

    def _scopes(self, account: str, address: str, known: bool) -> dict[ThrottleScope, list]:
        """The conditions on `LoginFailure` that make up each scope's count for this attempt."""
        scopes: dict[ThrottleScope, list] = {
            ThrottleScope.PAIR: [LoginFailure.account == account, LoginFailure.address == address],
            ThrottleScope.ADDRESS: [LoginFailure.address == address],
        }
        if not known:
            scopes[ThrottleScope.ACCOUNT] = [LoginFailure.account == account, LoginFailure.from_known.is_(False)]
        return scopes

    def begin(self, account: str, address: str) -> Attempt | Throttled:
        """Let a login through to the password check (its place held as a failure), or refuse it."""
        account, address = _key(account), _key(address)
        with self._sessions() as session, session.begin():
            self._lock(session)
            now = self._clock()
            since = now - self.limits.window_s
            session.execute(delete(LoginFailure).where(LoginFailure.at_s <= since))
            known = self._is_known(session, account, address, now)
            refusals = []
            for scope, conditions in self._scopes(account, address, known).items():
                limit = self.limits.limit(scope)
                times = session.scalars(
                    select(LoginFailure.at_s)
                    .where(*conditions, LoginFailure.at_s > since)
                    .order_by(LoginFailure.at_s.desc(), LoginFailure.id.desc())
                    .limit(limit)
                ).all()
                if len(times) >= limit:
                    refusals.append(Throttled(scope, max(1, math.ceil(times[-1] + self.limits.window_s - now))))
            if refusals:
                return max(refusals, key=lambda refusal: refusal.retry_after_s)
            place = LoginFailure(account=account, address=address, at_s=now, from_known=known)
            session.add(place)
            session.flush()
            return Attempt(account, address, place.id, now, known)

    def failed(self, attempt: Attempt) -> list[ThrottleScope]:
        """The attempt's password was wrong (its place stays a failure); the scopes whose count it
        filled, i.e. that this failure locked (each lock is reported once)."""
        with self._sessions() as session:
            since = self._clock() - self.limits.window_s
            locked = []
            for scope, conditions in self._scopes(attempt.account, attempt.address, attempt.known_address).items():
                up_to_here = session.scalar(
                    select(func.count()).where(*conditions, LoginFailure.at_s > since, LoginFailure.id <= attempt.place)
                )
                if up_to_here == self.limits.limit(scope):
                    locked.append(scope)
            return locked

    def abandon(self, attempt: Attempt) -> None:
        """The password could not be checked (e.g. the database is down): the attempt counts for nothing."""
        with self._sessions() as session, session.begin():
            session.execute(delete(LoginFailure).where(LoginFailure.id == attempt.place))

    def succeeded(self, attempt: Attempt, user_id: uuid.UUID) -> None:
        """The password was right: the attempt's place is given back, the pair starts afresh, and the
        address becomes known for the account (exempt from the account-wide count)."""
        with self._sessions() as session, session.begin():
            session.execute(
                delete(LoginFailure).where(
                    (LoginFailure.id == attempt.place)
                    | ((LoginFailure.account == attempt.account) & (LoginFailure.address == attempt.address))
                )
            )
            known = session.get(KnownLoginAddress, (user_id, attempt.address))
            if known is None:
                session.add(KnownLoginAddress(user_id=user_id, address=attempt.address, last_success_s=attempt.at_s))
            else:
                known.last_success_s = attempt.at_s


def _key(value: str) -> str:
    """A username or address as stored: cut to `MAX_KEY_CHARS`, NUL written out (PostgreSQL refuses it)."""
    return value[:MAX_KEY_CHARS].replace("\x00", "\\x00")
