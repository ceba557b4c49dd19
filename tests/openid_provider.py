"""A real, certified OpenID Provider for the tests: node's `oidc-provider` (tests/oidc_provider/), started
on a loopback address by the tests themselves.

- `provider_modules()`: `npm ci` of tests/oidc_provider/package-lock.json into a cache folder (once per
  lock file, shared by test processes under a file lock); skips the test only when npm is not installed.
- `OpenIdProviderProcess(...)`: one provider process (issuer `http://127.0.0.1:PORT`), with clients,
  accounts (login name -> claims) and scopes -> claims; `stop()` ends it.
- `log_in_at_provider(http, url, account)`: follows a login through the provider's pages with httpx
  (its login form asks for the account name only), for tests that need no browser.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from careplan_api.local_postgres import free_port

HERE = Path(__file__).resolve().parent / "oidc_provider"
NPM_TIMEOUT_S = 600
START_TIMEOUT_S = 30
CLIENT_SECRET = "test-client-secret-7Hq2Lr9Xw4Mv8Tn3Bk6Pc1Df5Gs0Ja"
ROLE_CLAIMS = {"profile": ["name", "preferred_username"], "bidvis": ["roles", "units", "cpr"]}


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bidvis" / "oidc-provider"


def provider_modules() -> Path:
    """A folder with provider.mjs and the locked node_modules beside it (installed on first use)."""
    npm = shutil.which("npm")
    node = shutil.which("node")
    if npm is None or node is None:
        pytest.skip("npm/node are not installed: cannot start the test OpenID Provider (scripts/setup --test-deps)")
    lock = (HERE / "package-lock.json").read_bytes()
    folder = _cache_root() / hashlib.sha256(lock).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not (folder / "node_modules" / "oidc-provider" / "package.json").exists():
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(HERE / name, folder / name)
            result = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT_S,
                check=False,
            )
            if result.returncode != 0:
                pytest.fail(f"npm ci of tests/oidc_provider failed (is the npm registry reachable?):\n{result.stderr}")
        script = folder / "provider.mjs"
        if not script.exists() or script.read_bytes() != (HERE / "provider.mjs").read_bytes():
            shutil.copyfile(HERE / "provider.mjs", script)
    return folder


def client(client_id: str, redirect_uris: list[str], post_logout_redirect_uris: tuple[str, ...] = ()) -> dict[str, Any]:
    """A confidential client's registration (client_secret_basic, authorization code only)."""
    return {
        "client_id": client_id,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": redirect_uris,
        "post_logout_redirect_uris": list(post_logout_redirect_uris),
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
    }


class OpenIdProviderProcess:
    """One oidc-provider process on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        clients: list[dict[str, Any]],
        accounts: dict[str, dict[str, Any]],
        *,
        claims: dict[str, list[str]] | None = None,
        jwks: dict[str, Any] | None = None,
        port: int | None = None,
    ) -> None:
        folder = provider_modules()
        self.port = port or free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        config = {
            "issuer": self.issuer,
            "port": self.port,
            "clients": clients,
            "accounts": accounts,
            "claims": ROLE_CLAIMS if claims is None else claims,
            **({"jwks": jwks} if jwks else {}),
        }
        self._folder = tempfile.TemporaryDirectory(prefix="oidc-provider-")
        config_file = Path(self._folder.name) / "config.json"
        config_file.write_text(json.dumps(config))
        self._log = Path(self._folder.name) / "provider.log"
        with open(self._log, "w") as log:
            self.process = subprocess.Popen(
                ["node", str(folder / "provider.mjs"), str(config_file)],
                cwd=folder,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], START_TIMEOUT_S)
        line = self.process.stdout.readline() if ready else ""  # "ready ISSUER", or nothing when node died
        if not line.startswith("ready"):
            output = self._log.read_text(errors="replace")
            self.stop()
            raise RuntimeError(f"the test OpenID Provider did not start: {output}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._folder.cleanup()


_FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)"')


def log_in_at_provider(http: httpx.Client, url: str, account: str, *, stop_at: str | None = None) -> httpx.Response:
    """Follow `url` (a login start at the relying party, or the provider's authorization URL) through
    the provider's login form as `account`, to the end; with `stop_at`, stop at the first redirect to
    a URL that starts with it (the callback, to read its code) and return that redirect."""
    response = http.get(url)
    for _ in range(20):
        if response.is_redirect:
            location = urljoin(str(response.url), response.headers["location"])
            if stop_at is not None and location.startswith(stop_at):
                return response
            response = http.get(location)
            continue
        form = _FORM_ACTION.search(response.text) if response.status_code == 200 else None
        if form is None or "/interaction/" not in form.group(1):
            return response
        response = http.post(urljoin(str(response.url), form.group(1)), data={"login": account})
    raise AssertionError("the login went round in circles")
