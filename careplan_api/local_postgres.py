"""A throwaway PostgreSQL server from Debian's binaries, for tests, benchmarks and trials.

`LocalPostgres().start()` runs `initdb` and `pg_ctl` from `/usr/lib/postgresql/*/bin`
on a free localhost port (as the `postgres` user when run as root, since PostgreSQL refuses to
run as root), `stop()` shuts it down, `start()` again restarts it on the same data. Not used by
the service itself. Without a `base_dir` it works in a new folder under the system's temporary
folder (which the `postgres` user can reach) and `destroy()` removes it.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from careplan_api.errors import CareplanError


class PostgresUnavailable(CareplanError):
    """No PostgreSQL server binaries on this machine (Debian package `postgresql`)."""


def find_pg_bin() -> Path:
    """The newest `/usr/lib/postgresql/<version>/bin` holding initdb and pg_ctl."""
    candidates = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for directory in reversed(candidates):
        if (directory / "pg_ctl").exists():
            return directory
    raise PostgresUnavailable(
        "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin; "
        "install the Debian package `postgresql` (scripts/setup --test-deps does)"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalPostgres:
    """One PostgreSQL cluster in `base_dir`, listening on 127.0.0.1:`port`, trust auth, no fsync."""

    def __init__(self, base_dir: Path | None = None, port: int | None = None) -> None:
        self.bin_dir = find_pg_bin()
        self._owns_dir = base_dir is None
        self.base_dir = Path(base_dir) if base_dir is not None else Path(tempfile.mkdtemp(prefix="bidvis-pg-"))
        self.data_dir = self.base_dir / "data"
        self.port = port or free_port()
        self._run_as = "postgres" if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the `postgres` database as superuser `postgres`."""
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _cmd(self, *args: str) -> list[str]:
        prefix = ["runuser", "-u", self._run_as, "--"] if self._run_as else []
        return [*prefix, *args]

    def _run(self, *args: str) -> None:
        result = subprocess.run(self._cmd(*args), capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise CareplanError(f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")

    def start(self) -> LocalPostgres:
        """Initialise the cluster on first use, then start the server and wait until it accepts connections."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if self._run_as:
            shutil.chown(self.base_dir, self._run_as)
            os.chmod(self.base_dir, 0o700)
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
                "-N",
            )
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base_dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.base_dir / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast` disconnects clients; `immediate` is a crash-like stop)."""
        if (self.data_dir / "postmaster.pid").exists():
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        """Stop the server and, if this object made its folder, remove it."""
        try:
            self.stop("immediate")
        finally:
            if self._owns_dir:
                shutil.rmtree(self.base_dir, ignore_errors=True)

    def drop_database(self, name: str) -> None:
        """Drop database `name`, closing its connections first (no error if it is gone)."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def create_database(self, name: str, template: str = "template1") -> str:
        """Create database `name` (optionally as a copy of `template`) and return its URL."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url_for(name)
