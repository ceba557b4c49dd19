"""Staff accounts of one robot, and what logging in needs: password checks, throttling, the cookie key.

- `StaffAccounts(path)`: accounts in a JSON file in the robot's data dir (`STAFF_ACCOUNTS_FILE`,
  mode 0600), each an argon2id hash (argon2-cffi), never the password. `bidvis ui add-staff NAME`
  adds one. `add_temporary` keeps an account in memory only (the one-time demo account that
  `bidvis ui --sim` prints at start-up).
- `LoginThrottle`: after `max_failures` wrong passwords within `window_s` for one account name, or
  from one client address, that name or address is refused for `lockout_s`.
- `session_secret(directory)`: the robot's own random key that signs the session cookie, made on
  first use (`SESSION_SECRET_FILE`, mode 0600).
- `StaffLogin`: the three together, as `bidvis.robot_ui.app.create_app` takes them.
"""

from __future__ import annotations

import json
import os
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

STAFF_ACCOUNTS_FILE = "staff_accounts.json"
SESSION_SECRET_FILE = "session_secret.key"
NAME_PATTERN = re.compile(r"^[\w.@-]{1,64}$")  # letters (æ, ø, å too), digits, . _ @ -
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1000


class StaffAccountsError(Exception):
    """The staff accounts file cannot be read or written, or an account is refused."""


class InvalidStaffName(StaffAccountsError, ValueError):
    """An account name that is empty, too long or has characters other than letters, digits, . _ @ -."""


class WeakPassword(StaffAccountsError, ValueError):
    """A password shorter than `MIN_PASSWORD_CHARS` (or absurdly long)."""


def check_name(name: str) -> str:
    """The name, if it may name an account; raises `InvalidStaffName`."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidStaffName(f"a staff name is 1-64 letters, digits or . _ @ - (no spaces), got {name!r}")
    return name


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by its owner only, replacing it in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


class StaffAccounts:
    """The staff accounts of one robot (see the module docstring). Thread-safe."""

    def __init__(self, path: Path, hasher: PasswordHasher | None = None) -> None:
        self.path = path
        self.hasher = hasher or PasswordHasher()
        self._temporary: dict[str, str] = {}
        self._lock = threading.Lock()
        self._cache: tuple[tuple[int, int, int], dict[str, dict[str, str]]] | None = None  # (file stamp, accounts)
        self._dummy_hash = self.hasher.hash(secrets.token_hex(16))

    def _stored(self) -> dict[str, dict[str, str]]:
        """The file's accounts (read again only when the file has changed: every staff request asks)."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StaffAccountsError(f"staff accounts file {self.path} is unreadable ({exc})") from exc
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)  # a rewrite is a new file (os.replace)
        if self._cache is not None and self._cache[0] == stamp:
            return dict(self._cache[1])
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            accounts = data["accounts"]
            if not isinstance(accounts, dict) or not all(
                isinstance(v, dict) and isinstance(v.get("hash"), str) for v in accounts.values()
            ):
                raise TypeError("accounts must map names to {'hash': ...}")
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise StaffAccountsError(
                f"staff accounts file {self.path} is unreadable ({exc}); move it away and add the "
                "accounts again with `bidvis ui add-staff NAME`"
            ) from exc
        self._cache = (stamp, accounts)
        return dict(accounts)

    def names(self) -> list[str]:
        """Every account name, file and temporary."""
        with self._lock:
            return sorted({*self._stored(), *self._temporary})

    def exists(self, name: str) -> bool:
        with self._lock:
            return name in self._temporary or name in self._stored()

    def add(self, name: str, password: str) -> None:
        """Add an account to the file, or set a new password for an existing one."""
        check_name(name)
        if not (MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS):
            raise WeakPassword(f"a password has {MIN_PASSWORD_CHARS}-{MAX_PASSWORD_CHARS} characters")
        hashed = self.hasher.hash(password)
        with self._lock:
            accounts = self._stored()
            accounts[name] = {"hash": hashed, "changed_at": datetime.now(UTC).isoformat(timespec="seconds")}
            try:
                _write_private(self.path, json.dumps({"accounts": accounts}, indent=2, ensure_ascii=False) + "\n")
            except OSError as exc:
                raise StaffAccountsError(f"cannot write staff accounts file {self.path}: {exc}") from exc

    def remove(self, name: str) -> bool:
        """Remove an account from the file (its sessions end at their next request)."""
        with self._lock:
            accounts = self._stored()
            if accounts.pop(name, None) is None:
                return False
            _write_private(self.path, json.dumps({"accounts": accounts}, indent=2, ensure_ascii=False) + "\n")
            return True

    def add_temporary(self, name: str, password: str) -> None:
        """An account for this process only, never written to the file."""
        check_name(name)
        self._temporary[name] = self.hasher.hash(password)

    def verify(self, name: str, password: str) -> bool:
        """True when `name` is an account and `password` its password. An unknown name costs the
        same argon2 work as a wrong password, so timing does not tell which one was wrong."""
        with self._lock:
            hashed = self._temporary.get(name) or self._stored().get(name, {}).get("hash")
        try:
            return self.hasher.verify(hashed or self._dummy_hash, password) and hashed is not None
        except (VerificationError, InvalidHashError):
            return False


@dataclass
class LoginThrottle:
    """Counts wrong passwords per key (an account name, a client address); see the module docstring."""

    max_failures: int = 5
    window_s: float = 300.0
    lockout_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    max_keys: int = 10_000  # a flood of made-up names cannot grow this without bound
    _failures: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict, repr=False)
    _locked_until: dict[str, float] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def retry_after_s(self, *keys: str) -> float:
        """Seconds until any of `keys` may try again (0: now)."""
        now = self.clock()
        with self._lock:
            return max([0.0, *(self._locked_until.get(k, 0.0) - now for k in keys)])

    def failed(self, *keys: str) -> None:
        """A wrong password was given for/from each of `keys`."""
        now = self.clock()
        with self._lock:
            for key in keys:
                times = self._failures.pop(key, None) or deque()
                times.append(now)
                while times and now - times[0] > self.window_s:
                    times.popleft()
                if len(times) >= self.max_failures:
                    self._locked_until[key] = now + self.lockout_s
                    times.clear()
                self._failures[key] = times
                while len(self._failures) > self.max_keys:
                    oldest, _ = self._failures.popitem(last=False)
                    self._locked_until.pop(oldest, None)

    def succeeded(self, key: str) -> None:
        """A right password: forget the earlier failures of `key`."""
        with self._lock:
            self._failures.pop(key, None)


def session_secret(directory: Path) -> str:
    """The robot's cookie-signing key from `directory`, made (random, 256 bits) on first use."""
    path = directory / SESSION_SECRET_FILE
    try:
        secret = path.read_text(encoding="ascii").strip() if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise StaffAccountsError(f"cannot read the session key {path}: {exc}") from exc
    if len(secret) < 32:
        secret = secrets.token_urlsafe(32)
        try:
            _write_private(path, secret + "\n")
        except OSError as exc:
            raise StaffAccountsError(f"cannot write the session key {path}: {exc}") from exc
    return secret


@dataclass
class StaffLogin:
    """What the web app needs for staff logins: the accounts, the cookie key and the throttle.
    `https_only` marks the cookie Secure (set it when the pages are served over HTTPS)."""

    accounts: StaffAccounts
    secret_key: str
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    https_only: bool = False
    max_age_s: int = 12 * 3600

    @classmethod
    def for_directory(cls, directory: Path, **options) -> StaffLogin:
        """The accounts and cookie key kept in a robot's data dir."""
        return cls(StaffAccounts(directory / STAFF_ACCOUNTS_FILE), session_secret(directory), **options)


def demo_password() -> str:
    """A one-time random password (for the demo account of `bidvis ui --sim`)."""
    return secrets.token_urlsafe(12)
