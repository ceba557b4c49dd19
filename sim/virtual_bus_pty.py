"""Serve a `VirtualServoBus` on a pseudo-terminal, so that any Dynamixel client can open it.

`PtyBusServer(bus, link)` opens a pty, makes `link` a symlink to its slave side (the path a client
opens, like /dev/ttyUSB0) and, in `serve(stop)`, passes the client's bytes to the bus and the
bus's replies back, each reply written when its last byte would have arrived on a real wire
(real time only). The baud rate is the one the client set on the terminal (termios), so a client
at the wrong rate hears nothing, as on a real bus. If the client does not read, replies that no
longer fit into the terminal's buffer are lost, like an overflowing adapter's.
"""

from __future__ import annotations

import array
import contextlib
import errno
import fcntl
import os
import select
import termios
import threading
import tty
from pathlib import Path

from sim.virtual_bus import RealClock, VirtualServoBus

_IDLE_S = 0.02  # longest wait between checks of `stop` and physics updates
_TCGETS2 = 0x802C542A  # Linux: struct termios2, whose c_ospeed holds any baud rate
_C_OSPEED = 10
_SPEEDS = {getattr(termios, name): int(name[1:]) for name in dir(termios) if name[:1] == "B" and name[1:].isdigit()}


class PtyBusServer:
    """A virtual bus on a pseudo-terminal; use as a context manager or call `close()`."""

    def __init__(self, bus: VirtualServoBus, link: Path | str | None = None) -> None:
        if not isinstance(bus.clock, RealClock):
            raise ValueError("a pty is served in real time: give the bus a RealClock")
        self.bus = bus
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self._set_speed(bus.baudrate)
        os.set_blocking(self._master, False)
        self.device = os.ttyname(self._slave)
        self.link = None
        if link is not None:
            try:
                self._make_link(Path(link))
            except OSError:
                self.close()
                raise
            self.link = Path(link)

    def _make_link(self, link: Path) -> None:
        if link.is_symlink():
            link.unlink()  # left over from a server that was killed
        elif link.exists():
            raise FileExistsError(f"{link} exists and is not a symlink; pick another --link path")
        link.symlink_to(self.device)

    @property
    def path(self) -> str:
        """What a client opens: the link if there is one, else the pty device."""
        return str(self.link) if self.link is not None else self.device

    def _set_speed(self, baudrate: int) -> None:
        speed = next((code for code, rate in _SPEEDS.items() if rate == baudrate), None)
        if speed is not None:
            attrs = termios.tcgetattr(self._slave)
            attrs[4] = attrs[5] = speed
            termios.tcsetattr(self._slave, termios.TCSANOW, attrs)

    def client_baudrate(self) -> int:
        """The baud rate the client set on the terminal (any rate, via TCGETS2 on Linux)."""
        try:
            attrs = array.array("i", [0] * 64)
            fcntl.ioctl(self._slave, _TCGETS2, attrs)
            return attrs[_C_OSPEED]
        except OSError:  # no termios2: standard rates only
            return _SPEEDS.get(termios.tcgetattr(self._slave)[5], self.bus.baudrate)

    def serve(self, stop: threading.Event) -> None:
        """Answer the client until `stop` is set."""
        bus, clock = self.bus, self.bus.clock
        while not stop.is_set():
            now = clock.now()
            due = bus.next_ready_s()
            wait = _IDLE_S if due is None else min(_IDLE_S, max(0.0, due - now))
            readable, _, _ = select.select([self._master], [], [], wait)
            if readable:
                try:
                    data = os.read(self._master, 4096)
                except OSError as exc:  # EIO: no client has the terminal open
                    if exc.errno not in (errno.EIO, errno.EAGAIN):
                        raise
                    data = b""
                if data:
                    bus.transmit(data, self.client_baudrate())
            reply = bus.pop_ready()
            if reply:
                self._write(reply)
            bus.advance_to(clock.now())

    def _write(self, data: bytes) -> None:
        try:
            os.write(self._master, data)
        except BlockingIOError:
            pass  # the client is not reading: the bytes are lost, as with a full adapter buffer
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise

    def close(self) -> None:
        """Close the terminal and remove the link."""
        if self.link is not None and self.link.is_symlink():
            self.link.unlink()
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> PtyBusServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PtyBusThread:
    """`PtyBusServer` on a background thread (for tests and embedding): `with PtyBusThread(bus) as path:`."""

    def __init__(self, bus: VirtualServoBus, link: Path | str | None = None) -> None:
        self.server = PtyBusServer(bus, link)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.server.serve, args=(self._stop,), name="pty-bus", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving and close the terminal."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.server.close()

    def __enter__(self) -> str:
        return self.server.path

    def __exit__(self, *exc: object) -> None:
        self.close()
