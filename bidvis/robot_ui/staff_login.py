"""Staff accounts of one robot, and what logging in needs: password checks, throttling, sessions.

- `StaffAccounts(path)`: accounts in a JSON file in the robot's data dir (`STAFF_ACCOUNTS_FILE`,
  mode 0600), each an argon2id hash (argon2-cffi), never the password, and a session epoch that
  changes with the password: sessions begun before a password change, or of a disabled or
  removed account, are over. `bidvis ui add-staff NAME` adds one. `add_temporary` keeps an account
  in memory only (the one-time demo account that `bidvis ui --sim` prints at start-up).
- `check_password`: a new password must not be easy to guess: zxcvbn (its lists of common
  passwords, words and names, and its guess estimate) must score it at least `MIN_PASSWORD_SCORE`.
- `LoginThrottle`: wrong passwords are counted per account from one client address, per address,
  and per account from addresses it has never logged in from (the care plan's rule); nobody can
  lock staff out from another machine.
- `StaffSessions`: server-side sessions. The cookie holds a random session id, nothing else; the
  robot keeps the account, the client, the start and the last activity. Logging out, a password
  change and a disabled account end sessions on the robot at once; a session ends after
  `idle_timeout_s` without use and `max_age_s` after login.
- `StaffLogin`: the four together, as `bidvis.robot_ui.app.create_app` takes them, with the staff's
  OpenID login (`staff_openid.StaffOpenId`) and which local accounts may still use a password
  (`password_accounts`: the break-glass accounts; None: every one).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from bidvis.robot_ui.private_file import PrivateRecords, RecordsFileError
from bidvis.robot_ui.staff_openid import StaffIdentitySettings, StaffOpenId

STAFF_ACCOUNTS_FILE = "staff_accounts.json"
NAME_PATTERN = re.compile(r"^[\w.@-]{1,64}$")  # letters (æ, ø, å too), digits, . _ @ -
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1000
MIN_PASSWORD_SCORE = 3  # zxcvbn: 3 is "safely unguessable" (about 10^8 guesses and more)
# zxcvbn judges only the first characters (its matching is quadratic); the rest only adds to them.
_SCORED_CHARS = 100
_COMMON_PASSWORDS = frozenset(FREQUENCY_LISTS["passwords"])


class StaffAccountsError(Exception):
    """The staff accounts file cannot be read or written, or an account is refused."""


class InvalidStaffName(StaffAccountsError, ValueError):
    """An account name that is empty, too long or has characters other than letters, digits, . _ @ -."""


class WeakPassword(StaffAccountsError, ValueError):
    """A password that is too short or too long, common, or otherwise easy to guess."""


class UnknownAccount(StaffAccountsError, LookupError):
    """No account of that name."""


def check_name(name: str) -> str:
    """The name, if it may name an account; raises `InvalidStaffName`."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidStaffName(f"a staff name is 1-64 letters, digits or . _ @ - (no spaces), got {name!r}")
    return name


def check_password(password: str, name: str = "") -> str:
    """The password, if it may be a staff password; raises `WeakPassword` saying why not.

    8-1000 characters, not one of zxcvbn's common passwords, and scored at least
    `MIN_PASSWORD_SCORE` by zxcvbn (which also knows words, names, dates, keyboard patterns and
    the account's own name)."""
    if not (MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS):
        raise WeakPassword(f"a password has {MIN_PASSWORD_CHARS}-{MAX_PASSWORD_CHARS} characters")
    if password.lower() in _COMMON_PASSWORDS:
        raise WeakPassword("this password is on the list of the most common passwords; choose another")
    verdict = zxcvbn(password[:_SCORED_CHARS], user_inputs=[name, "bidvis", "robot"])
    if verdict["score"] < MIN_PASSWORD_SCORE and len(password) <= _SCORED_CHARS:
        advice = verdict["feedback"]["warning"] or "it is too easy to guess"
        raise WeakPassword(f"choose a stronger password: {advice.rstrip('.')}; a few unrelated words are good")
    return password


class StaffAccounts:
    """The staff accounts of one robot (see the module docstring). Thread-safe."""

    def __init__(self, path: Path, hasher: PasswordHasher | None = None) -> None:
        self.path = path
        self.hasher = hasher or PasswordHasher()
        self._temporary: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()
        self._file = PrivateRecords(path, "accounts", "hash")
        self._dummy_hash = self.hasher.hash(secrets.token_hex(16))

    def _stored(self) -> dict[str, dict]:
        """The file's accounts (read again only when the file has changed: every staff request asks)."""
        try:
            return self._file.read()
        except RecordsFileError as exc:
            raise StaffAccountsError(
                f"staff accounts file: {exc}; move it away and add the accounts again with `bidvis ui add-staff NAME`"
            ) from exc

    def _save(self, accounts: dict[str, dict]) -> None:
        try:
            self._file.write(accounts)
        except RecordsFileError as exc:
            raise StaffAccountsError(f"staff accounts file: {exc}") from exc

    def _account(self, name: str) -> dict | None:
        return self._temporary.get(name) or self._stored().get(name)

    def names(self) -> list[str]:
        """Every account name, file and temporary."""
        with self._lock:
            return sorted({*self._stored(), *self._temporary})

    def exists(self, name: str) -> bool:
        with self._lock:
            return self._account(name) is not None

    def is_temporary(self, name: str) -> bool:
        """True for an account of this process only (`add_temporary`)."""
        return name in self._temporary

    def epoch(self, name: str) -> str | None:
        """What a session of `name` must have begun under: None when the account is gone or
        disabled. A new password gives a new epoch (sessions from before it are over)."""
        with self._lock:
            account = self._account(name)
        if account is None or account.get("disabled"):
            return None
        return str(account.get("epoch") or account.get("changed_at") or "")

    def add(self, name: str, password: str) -> None:
        """Add an account to the file, or set a new password for an existing one (which ends
        the account's sessions: a new epoch). Raises `WeakPassword`, `InvalidStaffName`."""
        check_name(name)
        check_password(password, name)
        hashed = self.hasher.hash(password)
        with self._lock:
            accounts = self._stored()
            accounts[name] = {
                **accounts.get(name, {}),
                "hash": hashed,
                "changed_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "epoch": secrets.token_hex(8),
            }
            self._save(accounts)

    def set_disabled(self, name: str, disabled: bool) -> None:
        """Disable an account (it cannot log in and its sessions end) or enable it again."""
        with self._lock:
            accounts = self._stored()
            if name not in accounts:
                raise UnknownAccount(f"no staff account {name!r} in {self.path}")
            accounts[name] = {**accounts[name], "disabled": disabled}
            self._save(accounts)

    def remove(self, name: str) -> bool:
        """Remove an account from the file (its sessions end)."""
        with self._lock:
            accounts = self._stored()
            if accounts.pop(name, None) is None:
                return False
            self._save(accounts)
            return True

    def add_temporary(self, name: str, password: str) -> None:
        """An account for this process only, never written to the file."""
        check_name(name)
        self._temporary[name] = {"hash": self.hasher.hash(password), "epoch": secrets.token_hex(8)}

    def verify(self, name: str, password: str) -> bool:
        """True when `name` is an enabled account and `password` its password. An unknown name
        costs the same argon2 work as a wrong password, so timing does not tell which one was wrong."""
        with self._lock:
            account = self._account(name) or {}
        hashed = account.get("hash")
        try:
            right = self.hasher.verify(hashed or self._dummy_hash, password) and hashed is not None
        except (VerificationError, InvalidHashError):
            return False
        return right and not account.get("disabled")


@dataclass
class LoginThrottle:
    """Counts wrong passwords in three scopes, the care plan's rule (careplan_api/services/login_throttle.py):

    - `pair`: one account from one address (`max_failures`);
    - `address`: any account from one address (`max_failures_per_address`);
    - `account`: one account from the addresses it has not logged in from (`max_failures_per_account`):
      slows a guesser spread over many addresses, while an address the account's owner has logged in
      from before is never held back in this scope.

    A scope that reaches its limit within `window_s` is held back for `lockout_s`. So nobody can lock
    staff out from another machine: their own tablet is known, and the other machine's failures
    count only against itself.
    """

    max_failures: int = 5
    max_failures_per_address: int = 20
    max_failures_per_account: int = 50
    window_s: float = 900.0
    lockout_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    max_keys: int = 10_000  # a flood of made-up names or addresses cannot grow this without bound
    _failures: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict, repr=False)
    _locked_until: dict[str, float] = field(default_factory=dict, repr=False)
    _known: OrderedDict[str, None] = field(default_factory=OrderedDict, repr=False)  # "name@address" logged in
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _scopes(self, name: str, address: str) -> list[tuple[str, int]]:
        """(key, limit) of the scopes a login of `name` from `address` counts in (caller holds the lock)."""
        scopes = [(f"pair:{name}@{address}", self.max_failures), (f"address:{address}", self.max_failures_per_address)]
        if f"{name}@{address}" not in self._known:
            scopes.append((f"account:{name}", self.max_failures_per_account))
        return scopes

    def retry_after_s(self, name: str, address: str) -> float:
        """Seconds until `name` may try again from `address` (0: now)."""
        now = self.clock()
        with self._lock:
            return max([0.0, *(self._locked_until.get(k, 0.0) - now for k, _ in self._scopes(name, address))])

    def failed(self, name: str, address: str) -> list[str]:
        """A wrong password for `name` from `address`; returns the scopes locked now because of it
        (`pair`, `address`, `account`)."""
        now = self.clock()
        locked = []
        with self._lock:
            for key, limit in self._scopes(name, address):
                times = self._failures.pop(key, None) or deque()
                times.append(now)
                while times and now - times[0] > self.window_s:
                    times.popleft()
                if len(times) >= limit:
                    self._locked_until[key] = now + self.lockout_s
                    times.clear()
                    locked.append(key.split(":", 1)[0])
                self._failures[key] = times
                while len(self._failures) > self.max_keys:
                    oldest, _ = self._failures.popitem(last=False)
                    self._locked_until.pop(oldest, None)
        return locked

    def succeeded(self, name: str, address: str) -> None:
        """A right password: forget the pair's failures and remember the address for the account."""
        with self._lock:
            self._failures.pop(f"pair:{name}@{address}", None)
            self._known.pop(f"{name}@{address}", None)
            self._known[f"{name}@{address}"] = None
            while len(self._known) > self.max_keys:
                self._known.popitem(last=False)


@dataclass
class StaffSession:
    """One login, as the robot keeps it (the browser has only the random id)."""

    account: str
    epoch: str
    client: str
    language: str
    started_s: float
    active_s: float
    provider: str | None = None  # the OpenID Provider logged in with; None: a local account's password
    display_name: str = ""  # the name pages and journals show (the account's name when empty)

    @property
    def name(self) -> str:
        return self.display_name or self.account


class StaffSessions:
    """Server-side staff sessions (module docstring). Thread-safe; the ids are kept hashed."""

    def __init__(
        self,
        *,
        idle_timeout_s: float = 15 * 60,
        max_age_s: float = 12 * 3600,
        max_sessions: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_timeout_s = idle_timeout_s
        self.max_age_s = max_age_s
        self.max_sessions = max_sessions
        self.clock = clock
        self._sessions: OrderedDict[str, StaffSession] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()

    def begin(
        self,
        account: str,
        epoch: str,
        client: str,
        language: str,
        *,
        provider: str | None = None,
        display_name: str = "",
    ) -> str:
        """A new session; returns its id (for the cookie). The oldest go beyond `max_sessions`."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with self._lock:
            self._sessions[self._key(token)] = StaffSession(
                account, epoch, client, language, now, now, provider, display_name
            )
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        return token

    def get(self, token: str | None, *, idle_ok: bool = False) -> StaffSession | None:
        """The live session of `token`, or None. A session past `max_age_s` is ended; one idle
        for `idle_timeout_s` is None unless `idle_ok` (STOP is never refused to staff for idling)."""
        if not token:
            return None
        now = self.clock()
        key = self._key(token)
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                return None
            if now - session.started_s > self.max_age_s:
                del self._sessions[key]
                return None
            if not idle_ok and now - session.active_s > self.idle_timeout_s:
                return None
            return session

    def touch(self, token: str) -> None:
        """The staff member did something: the idle time starts again."""
        with self._lock:
            session = self._sessions.get(self._key(token))
            if session is not None:
                session.active_s = self.clock()

    def end(self, token: str | None) -> StaffSession | None:
        """End one session (logging out); returns it, or None when there was none."""
        if not token:
            return None
        with self._lock:
            return self._sessions.pop(self._key(token), None)

    def end_account(self, account: str) -> int:
        """End every session of `account`; returns how many there were."""
        with self._lock:
            keys = [k for k, s in self._sessions.items() if s.account == account]
            for key in keys:
                del self._sessions[key]
        return len(keys)


@dataclass
class StaffLogin:
    """What the web app needs for staff logins: the accounts, the sessions and the throttle.
    `https_only` marks the cookie Secure (set it when the pages are served over HTTPS)."""

    accounts: StaffAccounts
    sessions: StaffSessions = field(default_factory=StaffSessions)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    https_only: bool = False
    openid: StaffOpenId = field(default_factory=StaffOpenId)
    password_accounts: frozenset[str] | None = None

    @classmethod
    def for_directory(cls, directory: Path, **options) -> StaffLogin:
        """The accounts kept in a robot's data dir."""
        return cls(StaffAccounts(directory / STAFF_ACCOUNTS_FILE), **options)

    @classmethod
    def from_settings(cls, directory: Path, settings: StaffIdentitySettings, **options) -> StaffLogin:
        """The accounts of a robot's data dir, with the OpenID Providers and break-glass accounts of `settings`."""
        return cls.for_directory(
            directory,
            openid=StaffOpenId.from_settings(settings),
            password_accounts=settings.password_accounts,
            **options,
        )

    def password_allowed(self, name: str) -> bool:
        """Whether `name` may log in with a local password: a break-glass account, the demo's
        temporary one, or any when `password_accounts` is None."""
        return self.password_accounts is None or name in self.password_accounts or self.accounts.is_temporary(name)


def demo_password() -> str:
    """A one-time random password (for the demo account of `bidvis ui --sim`)."""
    return secrets.token_urlsafe(12)
