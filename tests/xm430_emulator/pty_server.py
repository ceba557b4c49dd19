"""The servos on a pseudo-terminal: `PtyServer(bus, link)` makes `link` a symlink to the pty's
slave side (what a client opens, like /dev/ttyUSB0); `serve(stop)` reads the client's packets,
steps the joints on the wall clock and writes each status packet when its last byte would have
arrived on a real wire: after the servo's Return Delay Time, once the line is free, at the baud
rate. Servos listen at their Baud Rate (8); a client whose terminal is set to another rate is
not heard.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import termios
import threading
import time
import tty
from collections import deque
from pathlib import Path

from .servo import Bus
from .wire import PacketReader

_SPEEDS = {getattr(termios, n): int(n[1:]) for n in dir(termios) if n[:1] == "B" and n[1:].isdigit()}
_BITS_PER_BYTE = 10  # start, 8 data, stop
_POLL_S = 0.001  # the loop looks at the line at least this often
_PARTIAL_S = 0.05  # an unfinished packet is dropped after this long without bytes


class PtyServer:
    """The bus on a pty (see the module docstring); a context manager."""

    def __init__(self, bus: Bus, link: Path) -> None:
        self.bus = bus
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        attrs = termios.tcgetattr(self._slave)
        speed = next(code for code, rate in _SPEEDS.items() if rate == bus.baudrate(bus.servos[0]))
        attrs[4] = attrs[5] = speed
        termios.tcsetattr(self._slave, termios.TCSANOW, attrs)
        os.set_blocking(self._master, False)
        self.device = os.ttyname(self._slave)
        self.link = link
        if link.is_symlink():
            link.unlink()  # left by an emulator that was killed
        try:
            link.symlink_to(self.device)
        except OSError:
            self.close()
            raise
        self._reader = PacketReader()
        self._due: deque[tuple[float, bytes]] = deque()
        self._line_free_s = 0.0

    def client_baudrate(self) -> int:
        return _SPEEDS.get(termios.tcgetattr(self._slave)[5], 0)

    def serve(self, stop: threading.Event) -> None:
        """Answer the client until `stop` is set."""
        seen_empty = last_byte = time.monotonic()
        while not stop.is_set():
            wait = _POLL_S if not self._due else max(0.0, min(_POLL_S, self._due[0][0] - time.monotonic()))
            readable, _, _ = select.select([self._master], [], [], wait)
            now = time.monotonic()
            data = self._read() if readable else b""
            self.bus.advance(now, seen_empty if data else now)
            if data:
                last_byte = now
                baudrate = self.client_baudrate()
                for packet in self._reader.feed(data):
                    self._schedule(self.bus.handle(packet, baudrate), now, baudrate)
            elif self._reader.pending and now - last_byte > _PARTIAL_S:
                self._reader.drop_partial()
            seen_empty = now
            while self._due and self._due[0][0] <= time.monotonic():
                self._write(self._due.popleft()[1])

    def _schedule(self, replies, arrived_s: float, baudrate: int) -> None:
        start = arrived_s
        for reply in replies:
            start = max(start + reply.delay_s, self._line_free_s)
            self._line_free_s = start + len(reply.data) * _BITS_PER_BYTE / baudrate
            self._due.append((self._line_free_s, reply.data))
            start = self._line_free_s

    def _read(self) -> bytes:
        try:
            return os.read(self._master, 4096)
        except OSError as exc:  # EIO: no client has the terminal open
            if exc.errno not in (errno.EIO, errno.EAGAIN):
                raise
            return b""

    def _write(self, data: bytes) -> None:
        try:
            os.write(self._master, data)
        except BlockingIOError:
            pass  # the client does not read: the bytes are lost, as from a full adapter buffer
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise

    def close(self) -> None:
        if self.link.is_symlink():
            self.link.unlink()
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> PtyServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
