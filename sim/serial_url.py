"""pyserial URL handler `bidvis-sim://<name>`: a serial port onto a running `VirtualServoBus`.

After `register_url_handler()` (which `VirtualServoBus.start` calls), anything that opens ports
with `serial.serial_for_url` reaches the in-process virtual servos, `firmware_bridge.DynamixelBus`
included:

    bus = VirtualServoBus.start(ids=(11, 12, 13, 14), name="arm")
    port = serial.serial_for_url("bidvis-sim://arm", baudrate=1_000_000, timeout=0.05)

Reads wait for reply bytes as `sim.virtual_bus` describes: on a real clock they sleep until the
bytes are due; on a simulated clock they advance it instead (a read that would wait forever, with
`timeout=None` and no reply on the way, returns what it has).

pyserial finds handlers by importing `<package>.protocol_<scheme>`; a module name with a hyphen
cannot be a file Python imports, so `register_url_handler` enters this module in `sys.modules`
under that name, and adds `sim` to `serial.protocol_handler_packages`.
"""

from __future__ import annotations

import sys
import urllib.parse

import serial
from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from sim.virtual_bus import URL_SCHEME, SimulatedClock, UnknownBusError, VirtualServoBus, lookup_bus

_SLICE_S = 0.01  # longest real-time sleep inside read


def register_url_handler() -> None:
    """Let `serial.serial_for_url` open `bidvis-sim://<name>` URLs (idempotent)."""
    sys.modules.setdefault(f"sim.protocol_{URL_SCHEME}", sys.modules[__name__])
    if "sim" not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append("sim")


class Serial(SerialBase):
    """A serial port whose other end is a `VirtualServoBus` (see the module docstring)."""

    is_open: bool

    def __init__(self, *args, **kwargs) -> None:
        self._bus: VirtualServoBus | None = None
        self._received = bytearray()
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        if self.is_open:
            raise SerialException("port already open")
        parts = urllib.parse.urlsplit(self.portstr or "")
        if parts.scheme != URL_SCHEME or not parts.netloc:
            raise SerialException(f"expected a URL like {URL_SCHEME}://<bus name>, got {self.portstr!r}")
        try:
            self._bus = lookup_bus(parts.netloc)
        except UnknownBusError as exc:
            raise SerialException(str(exc)) from exc
        self.is_open = True

    def close(self) -> None:
        self.is_open = False
        self._bus = None
        self._received.clear()

    def _reconfigure_port(self) -> None:
        """Nothing to configure: the baud rate is read at every write."""

    def _live_bus(self) -> VirtualServoBus:
        if not self.is_open or self._bus is None:
            raise PortNotOpenError()
        bus = self._bus
        if not bus.running:
            raise SerialException(f"virtual bus {bus.name!r} was closed")
        if bus.usb_unplugged:  # the servos go on without the host (their watchdogs trip)
            bus.advance_to(bus.clock.now())
            raise SerialException(
                f"device reports readiness to read but returned no data (virtual bus {bus.name!r} unplugged)"
            )
        return bus

    def _collect(self) -> None:
        self._received += self._live_bus().pop_ready()

    @property
    def in_waiting(self) -> int:
        self._collect()
        return len(self._received)

    def read(self, size: int = 1) -> bytes:
        bus = self._live_bus()
        clock = bus.clock
        deadline = None if self.timeout is None else clock.now() + self.timeout
        self._collect()
        while len(self._received) < size:
            now = clock.now()
            if deadline is not None and now >= deadline:
                break
            if isinstance(clock, SimulatedClock):
                # Straight to the moment the bytes asked for have arrived (or the deadline).
                due = bus.ready_s_for(size - len(self._received), deadline)
                if due is None:
                    if deadline is None:
                        break  # nothing will ever arrive: do not hang a simulation
                    due = deadline
                clock.advance_to(due)
            else:
                due = bus.next_ready_s()
                if due is not None and deadline is not None and due > deadline:
                    due = None  # arrives after the timeout: wait for the timeout only
                # Sleep in slices, so that a bus closed meanwhile is noticed.
                wake = min(t for t in (due, deadline, now + _SLICE_S) if t is not None)
                clock.sleep(wake - now)
            self._collect()
        data = bytes(self._received[:size])
        del self._received[:size]
        return data

    @staticmethod
    def _wait_until(clock, t: float) -> None:
        if isinstance(clock, SimulatedClock):
            clock.advance_to(t)
        else:
            clock.sleep(t - clock.now())

    def write(self, data: bytes) -> int:
        if type(data) is not bytes:
            data = bytes(data)
        self._live_bus().transmit(data, self._baudrate)
        return len(data)

    def flush(self) -> None:
        """Wait until what was written has left (simulated: advance to that moment)."""
        bus = self._live_bus()
        self._wait_until(bus.clock, bus.transmit_done_s)

    def reset_input_buffer(self) -> None:
        self._collect()
        self._received.clear()

    def reset_output_buffer(self) -> None:
        """Writes go out at once; nothing is buffered."""
        self._live_bus()
