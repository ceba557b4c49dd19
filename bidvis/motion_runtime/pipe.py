"""One end of a pipe between the web server and a motion-runtime process, for both processes of the
meal (`runner`, `worker`) and of set-up (`setup_runner`, `setup_worker`).

`Pipe.send` sends a message from any thread (one at a time); `Pipe.receive` hands every valid message
to a handler until the pipe closes: a message that is not valid (`messages.ProtocolError`, or an error
the handler names) is dropped, logged and counted, never a crash; one over the size cap breaks the pipe
(the peer is not one of ours) and ends it as a closed pipe does. With `silence_s` it also tells when
nothing came for that long: the web server sends a heartbeat every `HEARTBEAT_S` so that a process
can tell a web server that hangs (`WEB_SERVER_SILENCE_S`) from one that has nothing to say.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from bidvis.motion_runtime import messages

log = logging.getLogger(__name__)

HEARTBEAT_S = 0.05
# A web server silent this long is taken to hang, and whatever it moves is stopped: 20 heartbeats
# missed. Shorter bounds would stop the arm whenever the web server's process is merely busy (its
# heartbeat thread shares that process's interpreter lock with request parsing); the motion goes on
# this long at most without a web server that could pass on a STOP.
WEB_SERVER_SILENCE_S = 1.0


class Pipe:
    """See the module docstring. `decode` turns the bytes that arrive into a message, or raises
    `messages.ProtocolError`; `peer` names the other end in the log."""

    def __init__(self, connection: Connection, decode: Callable[[bytes], Any], peer: str) -> None:
        self.connection = connection
        self.decode = decode
        self.peer = peer
        self.refused = 0  # messages that arrived and were not valid
        self._send_lock = threading.Lock()

    def send(self, message: Any) -> bool:
        """Send one message (`messages.encode`); False when the other end is gone."""
        data = messages.encode(message)
        with self._send_lock:
            try:
                self.connection.send_bytes(data)
            except (OSError, ValueError):
                return False
        return True

    def receive(
        self,
        handle: Callable[[Any], bool | None],
        *,
        refuse: tuple[type[Exception], ...] = (),
        silence_s: float | None = None,
        on_silence: Callable[[], None] | None = None,
    ) -> None:
        """Hand every valid message to `handle` until the pipe closes or `handle` returns True.
        A `ProtocolError`, or one of `refuse` raised by `handle`, drops the message (logged,
        counted). With `silence_s`: `on_silence()` each time nothing came for that long."""
        while True:
            try:
                if silence_s is not None and not self.connection.poll(silence_s):
                    if on_silence is not None:
                        on_silence()
                    continue
                data = self.connection.recv_bytes(messages.MAX_MESSAGE_BYTES)
            except (EOFError, OSError) as exc:
                log.info("the pipe from %s closed (%s)", self.peer, str(exc) or type(exc).__name__)
                return
            dropped: tuple[type[Exception], ...] = (messages.ProtocolError, *refuse)
            try:
                if handle(self.decode(data)):
                    return
            except dropped as exc:
                self.refused += 1
                log.warning("refused a message from %s: %s", self.peer, exc)

    def close(self) -> None:
        self.connection.close()


def keep_beating(period_s: float, done: threading.Event, beat: Callable[[], bool]) -> None:
    """Call `beat()` every `period_s` until `done` is set or it returns False (the other end is gone)."""
    while not done.wait(period_s):
        if not beat():
            return
