"""A small JSON document of the robot's own (staff accounts, paired panels) in a private file.

`PrivateRecords(path, key, required)` keeps `{key: {name: record}}` in `path`, readable by its
owner only (mode 0600), replaced in one step when written. Reads are cached and done again only
when the file has changed (another process, such as a `bidvis ui` command, may change it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path


class RecordsFileError(Exception):
    """The file cannot be read or written; the message says which and why."""


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by its owner only, replacing it in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


class PrivateRecords:
    """Named records (`{name: {...}}`) under `key` in a private JSON file; each record must have
    the string field `required`. Not thread-safe: the owner holds its lock."""

    def __init__(self, path: Path, key: str, required: str) -> None:
        self.path = Path(path)
        self.key = key
        self.required = required
        self._cache: tuple[tuple[int, int, int], dict[str, dict]] | None = None  # (file stamp, records)

    def read(self) -> dict[str, dict]:
        """The records (a copy; {} when the file does not exist). Raises `RecordsFileError`."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise RecordsFileError(f"{self.path} is unreadable ({exc})") from exc
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)  # a rewrite is a new file (os.replace)
        if self._cache is not None and self._cache[0] == stamp:
            return dict(self._cache[1])
        try:
            records = json.loads(self.path.read_text(encoding="utf-8"))[self.key]
            if not isinstance(records, dict) or not all(
                isinstance(r, dict) and isinstance(r.get(self.required), str) for r in records.values()
            ):
                raise TypeError(f"{self.key} must map names to {{{self.required!r}: ...}}")
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise RecordsFileError(f"{self.path} is unreadable ({exc})") from exc
        self._cache = (stamp, records)
        return dict(records)

    def write(self, records: dict[str, dict]) -> None:
        """Replace the file's records. Raises `RecordsFileError`."""
        try:
            write_private(self.path, json.dumps({self.key: records}, indent=2, ensure_ascii=False) + "\n")
        except OSError as exc:
            raise RecordsFileError(f"cannot write {self.path}: {exc}") from exc
