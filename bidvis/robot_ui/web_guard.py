"""What every request to the robot's web app passes first, and what every answer carries.

`WebGuard` (ASGI middleware) refuses

- a request whose `Host` is not one of the robot's own names (`SiteAddress.hosts`: the loopback
  names, and the names in its certificate when it serves the network): 400. A web page elsewhere
  cannot reach the robot by pointing a name of its own at the robot's address (DNS rebinding);
- a request that may change something (any method but GET, HEAD, OPTIONS) sent by a page of
  another site: an `Origin` other than the robot's own, or, without `Origin`, a `Sec-Fetch-Site`
  other than `same-origin` or `none`: 403. STOP included: another site can never stop, start or
  move anything, even with a staff member's browser.

Every answer, refusals included, carries a Content-Security-Policy (`frame-ancestors 'none'`,
scripts and styles from the robot only), `X-Content-Type-Options: nosniff`, `Referrer-Policy:
same-origin` (no address of the robot's pages ever goes to another site), and `Cache-Control: no-store` except for the static files. Who may do what is
decided after this, by the routes' dependencies (`deps`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    # same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on the robot's own
    # form posts, which could then not be told from a sandboxed page of another site.
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


@dataclass(frozen=True)
class SiteAddress:
    """The names the robot's pages answer to (host names or addresses, without a port), whether
    they are served over HTTPS, and then the certificate's SHA-256 fingerprint (shown to staff)."""

    hosts: frozenset[str]
    https: bool = False
    fingerprint: str | None = None

    @classmethod
    def local(cls, extra: Iterable[str] = (), *, https: bool = False, fingerprint: str | None = None) -> SiteAddress:
        """The loopback names, and `extra` ones (a certificate's names on the network)."""
        return cls(frozenset(h.lower() for h in (*LOOPBACK_HOSTS, *extra)), https, fingerprint)


def host_name(host: str | None) -> str | None:
    """The name of a `Host` header without its port ("[::1]:8080" -> "::1"); None when malformed."""
    if not host or len(host) > 255 or any(c.isspace() or c in "/@?#\\" for c in host):
        return None
    if host.startswith("["):
        end = host.find("]")
        rest = host[end + 1 :]
        if end < 0 or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return host[1:end].lower()
    name, _, port = host.partition(":")
    if port and not port.isdigit():
        return None
    return name.lower() or None


def cross_site(headers: Headers, scheme: str) -> bool:
    """True when a browser says this request comes from a page of another origin."""
    origin = headers.get("origin")
    if origin is not None:
        return origin != f"{scheme}://{headers.get('host', '')}"
    fetch_site = headers.get("sec-fetch-site")
    return fetch_site is not None and fetch_site not in ("same-origin", "none")


class WebGuard:
    """ASGI middleware: see the module docstring."""

    def __init__(self, app: ASGIApp, site: SiteAddress) -> None:
        self.app = app
        self.site = site

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                if "content-security-policy" not in out:
                    out["content-security-policy"] = CONTENT_SECURITY_POLICY
                for name, value in SECURITY_HEADERS.items():
                    out[name] = value
                if not static:
                    out["cache-control"] = "no-store"
            await send(message)

        if host_name(headers.get("host")) not in self.site.hosts:
            await _refuse(send_with_headers, 400, "this robot does not answer to that host name")
            return
        if scope["method"] not in SAFE_METHODS and cross_site(headers, scope["scheme"]):
            await _refuse(send_with_headers, 403, "refused: the request comes from a page of another site")
            return
        await self.app(scope, receive, send_with_headers)


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
