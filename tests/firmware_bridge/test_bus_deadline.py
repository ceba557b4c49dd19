"""A host that is descheduled past a reply deadline still takes the bytes that had arrived.

On a busy machine the process may lose the CPU for longer than a reply's deadline between two
reads of one transaction. Bytes already received must not be mistaken for a timeout; that would
also make a simulated meal (simulated clock, in-process virtual servos) depend on the machine's
load. A status packet whose data contains FF FF FD is one byte longer after stuffing than the host
plans for, so its transaction needs a second read.
"""

from __future__ import annotations

import itertools

import pytest

from firmware_bridge import BusTimeout, DynamixelBus
from firmware_bridge import bus as bus_module
from firmware_bridge.control_table import XM430_W350, OperatingMode, Register

sim_bus = pytest.importorskip("sim.virtual_bus", reason="the virtual servos of sim are not available")

pytestmark = pytest.mark.usefixtures("ideal_arm")  # the emulator's exact behaviour, without the flaws

STUFFED_GOAL = (-131_073).to_bytes(4, "little", signed=True)  # FF FF FD FF: stuffed on the wire
GOAL = XM430_W350[Register.GOAL_POSITION]


@pytest.fixture
def virtual():
    bus = sim_bus.VirtualServoBus.start(ids=(11, 12), clock=sim_bus.SimulatedClock())
    yield bus
    bus.close()


@pytest.fixture
def host(virtual):
    with DynamixelBus(virtual.url) as b:
        b.write(11, XM430_W350[Register.OPERATING_MODE].address, bytes((OperatingMode.EXTENDED_POSITION,)))
        b.write(11, GOAL.address, STUFFED_GOAL)
        yield b


@pytest.fixture
def descheduled(monkeypatch):
    """Every look at the wall clock finds another second gone (a host that barely gets the CPU)."""
    seconds = itertools.count(start=1000.0, step=1.0)
    monkeypatch.setattr(bus_module.time, "perf_counter", lambda: float(next(seconds)))


def test_a_stuffed_reply_is_read_whole_however_late_the_host_looks(host, descheduled):
    assert host.read(11, GOAL.address, GOAL.size) == STUFFED_GOAL


def test_a_stuffed_reply_in_a_sync_read_is_read_whole_however_late_the_host_looks(host, descheduled):
    replies = host.sync_read(GOAL.address, GOAL.size, (11, 12))
    assert replies[11] == STUFFED_GOAL
    assert len(replies[12]) == GOAL.size


def test_a_servo_that_never_answers_is_still_a_timeout(host, virtual, descheduled):
    virtual.servo(12).reply_faults.silent = True
    with pytest.raises(BusTimeout) as caught:
        host.sync_read(GOAL.address, GOAL.size, (11, 12))
    assert caught.value.ids == (12,)
