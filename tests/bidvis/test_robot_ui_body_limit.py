"""Request bodies are capped before they are read (issue 17 item 4), for every route."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from bidvis.robot_ui.app import create_app
from bidvis.robot_ui.body_limit import MAX_BODY_BYTES, BodyLimit
from tests.bidvis.conftest import ROBOT_URL, start_server

CAP = 1024


@pytest.fixture
def staff_login(tmp_path, make_staff_login):
    return make_staff_login(tmp_path)


def echo_app() -> tuple[FastAPI, list[int]]:
    """An app whose one route reads the whole body; `reads` lists the sizes it got."""
    app = FastAPI()
    reads: list[int] = []

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        body = await request.body()
        reads.append(len(body))
        return {"bytes": len(body)}

    app.add_middleware(BodyLimit, max_bytes=CAP)
    return app, reads


def call(app: Any, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, int]:
    """Send one request straight to the ASGI app: its status and how many chunks it pulled."""
    pulled = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal pulled
        if pulled < len(chunks):
            pulled += 1
            return {"type": "http.request", "body": chunks[pulled - 1], "more_body": pulled < len(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/echo",
        "raw_path": b"/echo",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.3", 5000),
        "server": ("127.0.0.1", 8000),
    }
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], pulled


def test_a_declared_length_over_the_cap_is_refused_before_a_byte_is_read():
    app, reads = echo_app()
    status, pulled = call(app, [(b"content-length", str(CAP + 1).encode())], [b"x" * (CAP + 1)])
    assert (status, pulled, reads) == (413, 0, [])


@pytest.mark.parametrize("length", [b"12x", b"-1", b"9" * 30])
def test_a_malformed_length_is_refused(length):
    app, reads = echo_app()
    assert call(app, [(b"content-length", length)], [b"{}"]) == (400, 0) and reads == []


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_cap_and_the_rest_is_never_read():
    app, reads = echo_app()
    status, pulled = call(app, [(b"transfer-encoding", b"chunked")], [b"x" * 512] * 1000)
    assert status == 413 and pulled == 3 and reads == []


def test_a_body_within_the_cap_reaches_the_route():
    app, reads = echo_app()
    assert call(app, [(b"content-length", str(CAP).encode())], [b"x" * 512, b"x" * 512]) == (200, 2)
    assert reads == [CAP]


def test_every_route_of_the_robot_refuses_a_large_body_with_its_security_headers(robot, staff_login):
    with TestClient(create_app(robot.session, staff_login), base_url=ROBOT_URL) as client:
        for path in ("/api/panel", "/login", "/api/stop", "/api/pair", "/api/profile/nonexistent"):
            answer = client.post(path, content=b"x" * (MAX_BODY_BYTES + 1), headers={"Origin": ROBOT_URL})
            assert answer.status_code == 413, path
            assert "at most 65536 bytes" in answer.json()["detail"]
            assert answer.headers["x-content-type-options"] == "nosniff"


def test_a_streamed_body_without_length_is_cut_off_over_a_real_connection(robot, staff_login):
    url, stop = start_server(create_app(robot.session, staff_login))
    sent = 0

    def stream():
        nonlocal sent
        for _ in range(2000):  # 128 MB if it were all read
            sent += 64 * 1024
            yield b"x" * (64 * 1024)

    try:
        answer = httpx.post(f"{url}/api/panel", content=stream(), headers={"Content-Type": "application/json"})
    finally:
        stop()
    assert answer.status_code == 413
    assert sent < 2000 * 64 * 1024  # the server closed the connection long before the end
