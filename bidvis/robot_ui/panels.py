"""The citizen's panels paired with this robot, and the one-time codes that pair a tablet.

- `PanelRegistry(path)`: the paired panels in a JSON file in the robot's data dir
  (`PANELS_FILE`, mode 0600). Pairing gives a panel an id and a random bearer token (256 bits);
  the file keeps only the token's SHA-256, its name, who paired it and when, and when it was
  revoked and by whom. A revoked panel's token is refused from then on. `bidvis ui pair-panel`
  pairs one from the command line; staff pair and revoke them on the staff page.
- `PairingCodes`: staff ask for a one-time code (shown as text and as a QR code); the tablet
  that enters it within `CODE_TTL_S` is paired, once. Codes are 8 characters of a 32-letter
  alphabet (40 bits), and wrong codes are throttled per address, so guessing one is hopeless.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from bidvis.robot_ui.private_file import PrivateRecords, RecordsFileError
from bidvis.robot_ui.staff_login import LoginThrottle

PANELS_FILE = "paired_panels.json"
TOKEN_PREFIX = "bvp_"
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
CODE_CHARS = 8
CODE_TTL_S = 300.0
MAX_OPEN_CODES = 20
MAX_NAME_CHARS = 40
NAME_PATTERN = re.compile(rf"^[\w .'-]{{1,{MAX_NAME_CHARS}}}$")


class PanelError(Exception):
    """The panels file cannot be read or written, or a request about a panel is refused."""


class UnknownPanel(PanelError, LookupError):
    """No panel of that id."""


class InvalidPanelName(PanelError, ValueError):
    """A panel name that is empty, too long, or has characters other than letters, digits, space . ' -."""


@dataclass(frozen=True)
class Panel:
    """A paired panel, as the staff page lists it."""

    panel_id: str
    name: str
    paired_at: str
    paired_by: str
    revoked_at: str | None = None
    revoked_by: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def check_panel_name(name: str) -> str:
    """The trimmed name, if it may name a panel; raises `InvalidPanelName`."""
    trimmed = name.strip() if isinstance(name, str) else ""
    if not NAME_PATTERN.fullmatch(trimmed):
        raise InvalidPanelName(f"a panel name is 1-{MAX_NAME_CHARS} letters, digits, spaces or . ' - , got {name!r}")
    return trimmed


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class PanelRegistry:
    """The paired panels of one robot (see the module docstring). Thread-safe; the file is read
    again when another process (`bidvis ui pair-panel`) has changed it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._file = PrivateRecords(self.path, "panels", "token_sha256")

    def _stored(self) -> dict[str, dict]:
        try:
            return self._file.read()
        except RecordsFileError as exc:
            raise PanelError(f"panels file: {exc}; move it away and pair the panels again") from exc

    def _save(self, panels: dict[str, dict]) -> None:
        try:
            self._file.write(panels)
        except RecordsFileError as exc:
            raise PanelError(f"panels file: {exc}") from exc

    @staticmethod
    def _panel(panel_id: str, record: dict) -> Panel:
        return Panel(
            panel_id,
            record["name"],
            record["paired_at"],
            record["paired_by"],
            record.get("revoked_at"),
            record.get("revoked_by"),
        )

    def pair(self, name: str, paired_by: str) -> tuple[Panel, str]:
        """Pair a new panel; returns it and its bearer token (shown once, never stored)."""
        name = check_panel_name(name)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        panel_id = "p-" + secrets.token_hex(4)
        record = {"name": name, "paired_at": _now(), "paired_by": paired_by, "token_sha256": _digest(token)}
        with self._lock:
            panels = self._stored()
            panels[panel_id] = record
            self._save(panels)
        return self._panel(panel_id, record), token

    def verify(self, token: str | None) -> Panel | None:
        """The active panel whose token this is, or None."""
        if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            return None
        digest = _digest(token)
        with self._lock:
            panels = self._stored()
        for panel_id, record in panels.items():
            if secrets.compare_digest(record["token_sha256"], digest) and record.get("revoked_at") is None:
                return self._panel(panel_id, record)
        return None

    def revoke(self, panel_id: str, revoked_by: str) -> Panel:
        """Revoke a panel: its token is refused from now on. Raises `UnknownPanel`."""
        with self._lock:
            panels = self._stored()
            record = panels.get(panel_id)
            if record is None:
                raise UnknownPanel(f"no panel {panel_id!r} is paired with this robot")
            if record.get("revoked_at") is None:
                panels[panel_id] = record = {**record, "revoked_at": _now(), "revoked_by": revoked_by}
                self._save(panels)
        return self._panel(panel_id, record)

    def panels(self) -> list[Panel]:
        """Every panel ever paired, revoked ones included, in the order they were paired."""
        with self._lock:
            panels = self._stored()
        return sorted((self._panel(i, r) for i, r in panels.items()), key=lambda p: (p.paired_at, p.panel_id))


@dataclass(frozen=True)
class PairingCode:
    """A one-time code: the panel name it pairs, who asked for it, and until when it is valid."""

    code: str
    name: str
    issued_by: str
    expires_s: float


def normalise_code(text: str) -> str:
    """A code as typed ("abcd-efgh", "ABCD EFGH") in its stored form ("ABCDEFGH")."""
    return re.sub(r"[\s-]", "", text).upper()


class PairingCodes:
    """One-time pairing codes, kept in memory (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, throttle: LoginThrottle | None = None) -> None:
        self.clock = clock
        self.throttle = throttle or LoginThrottle(clock=clock)
        self._codes: dict[str, PairingCode] = {}
        self._lock = threading.Lock()

    def _forget_expired(self, now: float) -> None:
        for code in [c for c, p in self._codes.items() if p.expires_s <= now]:
            del self._codes[code]

    def issue(self, name: str, issued_by: str) -> PairingCode:
        """A new code pairing a panel called `name`. At most `MAX_OPEN_CODES` are open at once
        (the oldest goes first)."""
        name = check_panel_name(name)
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_CHARS))
        now = self.clock()
        with self._lock:
            self._forget_expired(now)
            while len(self._codes) >= MAX_OPEN_CODES:
                del self._codes[min(self._codes, key=lambda c: self._codes[c].expires_s)]
            issued = self._codes[code] = PairingCode(code, name, issued_by, now + CODE_TTL_S)
        return issued

    def redeem(self, typed: str) -> PairingCode | None:
        """The code's pairing, once; None for a wrong, used or expired code."""
        code = normalise_code(typed)
        with self._lock:
            self._forget_expired(self.clock())
            return self._codes.pop(code, None)


def panel_as_dict(panel: Panel) -> dict[str, object]:
    return {**asdict(panel), "active": panel.active}
