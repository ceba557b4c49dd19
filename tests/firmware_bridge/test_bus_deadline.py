"""A host that is descheduled past a reply deadline still takes the bytes that had arrived, and a
host on the port's own clock waits the same time however busy the machine is.

On a busy machine the process may lose the CPU for longer than a reply's deadline between two
reads of one transaction. Bytes already received must not be mistaken for a timeout; that would
also make a simulated meal (simulated clock, in-process virtual servos) depend on the machine's
load. A status packet whose data contains FF FF FD is one byte longer after stuffing than the host
plans for, so its transaction needs a second read; so does a reply that came whole with a bad CRC,
after which the host waits out the deadline for a good one. A simulated meal keeps its deadlines on
the simulated clock (`clock=`), so that wait is the same simulated time in every run.
"""

from __future__ import annotations

import itertools

import pytest

from firmware_bridge import BusTimeout, CRCError, DynamixelBus, protocol
from firmware_bridge import bus as bus_module
from firmware_bridge.control_table import XM430_W350, OperatingMode, Register
from firmware_bridge.protocol import STATUS_OVERHEAD

sim_bus = pytest.importorskip("sim.virtual_bus", reason="the virtual servos of sim are not available")

pytestmark = pytest.mark.usefixtures("ideal_arm")  # the emulator's exact behaviour, without the flaws

STUFFED_GOAL = (-131_073).to_bytes(4, "little", signed=True)  # FF FF FD FF: stuffed on the wire
GOAL = XM430_W350[Register.GOAL_POSITION]


@pytest.fixture
def virtual():
    bus = sim_bus.VirtualServoBus.start(ids=(11, 12), clock=sim_bus.SimulatedClock())
    yield bus
    bus.close()


class Descheduled:
    """A wall clock on which every look finds another second gone (a host that barely gets the CPU)."""

    def __init__(self) -> None:
        self._seconds = itertools.count(start=1000.0, step=1.0)

    def __call__(self) -> float:
        return float(next(self._seconds))


@pytest.fixture
def host(virtual):
    with DynamixelBus(virtual.url, clock=Descheduled()) as b:
        b.write(11, XM430_W350[Register.OPERATING_MODE].address, bytes((OperatingMode.EXTENDED_POSITION,)))
        b.write(11, GOAL.address, STUFFED_GOAL)
        yield b


def test_a_stuffed_reply_is_read_whole_however_late_the_host_looks(host):
    assert host.read(11, GOAL.address, GOAL.size) == STUFFED_GOAL


def test_a_stuffed_reply_in_a_sync_read_is_read_whole_however_late_the_host_looks(host):
    replies = host.sync_read(GOAL.address, GOAL.size, (11, 12))
    assert replies[11] == STUFFED_GOAL
    assert len(replies[12]) == GOAL.size


def test_a_servo_that_never_answers_is_still_a_timeout(host, virtual):
    virtual.servo(12).reply_faults.silent = True
    with pytest.raises(BusTimeout) as caught:
        host.sync_read(GOAL.address, GOAL.size, (11, 12))
    assert caught.value.ids == (12,)


def test_a_host_on_the_ports_clock_waits_out_a_bad_reply_for_the_planned_time_however_late_it_looks(
    virtual, monkeypatch
):
    """A corrupted reply arrives whole; the host then waits to the deadline for a good one. On the
    simulated port's clock that wait ends at the planned deadline, however the wall clock runs
    (here: a second gone at every look), so a simulated meal does not depend on the machine's load."""
    monkeypatch.setattr(bus_module.time, "perf_counter", Descheduled())
    clock = virtual.clock
    with DynamixelBus(virtual.url, clock=clock.now) as host:
        planned = host.reply_timeout_s(len(protocol.read(11, GOAL.address, GOAL.size)), STATUS_OVERHEAD + GOAL.size)
        waits = []
        for _ in range(2):
            virtual.servo(11).reply_faults.corrupt = 1
            started = clock.now()
            with pytest.raises(CRCError):
                host.read(11, GOAL.address, GOAL.size)
            waits.append(clock.now() - started)
    assert waits == [pytest.approx(planned, abs=1e-12)] * 2
