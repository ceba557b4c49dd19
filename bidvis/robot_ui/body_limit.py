"""Request bodies are capped before they are read: `BodyLimit` (ASGI middleware).

No route of the robot takes more than a few kilobytes (JSON settings, a login form), so a body
larger than `MAX_BODY_BYTES` is refused with 413 for every route, logged in or not:

- at once, from its `Content-Length`, before a byte of it is received (a malformed length: 400);
- or, for a body that does not say its length (chunked), as soon as the bytes that arrived pass
  the cap: the route that was reading it gets the 413 instead of the rest.

Nothing of a refused body is kept, so a huge upload costs the robot neither memory nor parsing.
The answer says `Connection: close`: the server does not read the rest, it closes the connection.
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024


class BodyTooLarge(HTTPException):
    """The request body passed the cap (answered 413)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body too large: at most {max_bytes} bytes", {"connection": "close"})


class BodyLimit:
    """ASGI middleware: see the module docstring."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.isdigit() or len(declared) > 19:
                await _refuse(send, 400, "Content-Length must be a number of bytes")
                return
            if int(declared) > self.max_bytes:
                await _refuse(send, 413, BodyTooLarge(self.max_bytes).detail)
                return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as refused:  # a route read the body outside FastAPI's own handling
            if started:
                raise
            await _refuse(send, 413, refused.detail)


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
