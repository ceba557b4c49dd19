"""One control cycle on the servo bus: ours against the official dynamixel-sdk, same run, same bus.

A cycle is a sync write of 5 goal positions and a sync read of present current, velocity and
position (addresses 126..135) from the same 5 servos, at 1 Mbps, through `bidvis sim-bus` (a
separate process serving virtual XM430-W350 servos on a pseudo-terminal with wire time emulated,
Return Delay Time 0). The wire time of the bytes a cycle exchanges is the physical floor; each
result records it in `extra_info`. The codec benchmark measures encode + parse of one cycle
without any I/O.

    .venv/bin/python -m pytest benchmarks/bench_bridge_cycle.py --benchmark-columns=min,median,mean,stddev,rounds
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from firmware_bridge import BridgeError, DynamixelBus, protocol, wire_time_s
from firmware_bridge.control_table import XM430_W350, Register

IDS = (11, 12, 13, 14, 15)
BAUD = 1_000_000
BLOCK = XM430_W350.block(Register.PRESENT_CURRENT, Register.PRESENT_VELOCITY, Register.PRESENT_POSITION)
GOAL = XM430_W350[Register.GOAL_POSITION]
GOALS = {servo_id: (2048 + servo_id).to_bytes(4, "little") for servo_id in IDS}
# The machine is shared and loaded; a late reply must not abort the run. The allowance only matters
# when a reply is late, so it does not change the figures of cycles that succeed; failed cycles
# are counted in `extra_info` for both clients.
ALLOWANCE_S = 0.05


def _cycle_bytes(fast: bool) -> int:
    write = len(protocol.sync_write(GOAL.address, GOALS))
    if fast:
        request = len(protocol.fast_sync_read(BLOCK.address, BLOCK.length, IDS))
        reply = 8 + len(IDS) * (4 + BLOCK.length)
    else:
        request = len(protocol.sync_read(BLOCK.address, BLOCK.length, IDS))
        reply = len(IDS) * (protocol.STATUS_OVERHEAD + BLOCK.length)
    return write + request + reply


@pytest.fixture(scope="module")
def sim_bus_port(tmp_path_factory):
    """`bidvis sim-bus` in its own process, as a real bus would be another device."""
    link = tmp_path_factory.mktemp("bus") / "ttyDXL"
    bidvis = shutil.which("bidvis", path=str(Path(sys.executable).parent)) or "bidvis"
    ids = ",".join(map(str, IDS))
    server = subprocess.Popen(
        [bidvis, "sim-bus", "--link", str(link), "--ids", ids, "--baud", str(BAUD), "--return-delay-us", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not link.exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"bidvis sim-bus did not come up: {server.stdout.read().decode()}")
            time.sleep(0.05)
        yield str(link)
    finally:
        server.terminate()
        server.wait(timeout=10)


def _extra(benchmark, fast: bool, failures: int) -> None:
    n = _cycle_bytes(fast)
    benchmark.extra_info["failed_cycles"] = failures
    benchmark.extra_info["cycle_bytes"] = n
    benchmark.extra_info["wire_time_ms"] = round(wire_time_s(n, BAUD) * 1e3, 3)
    benchmark.extra_info["cpus"] = os.cpu_count()


def test_cycle_ours_sync_read(benchmark, sim_bus_port):
    failures = []
    with DynamixelBus(sim_bus_port, baudrate=BAUD, timeout=ALLOWANCE_S) as bus:
        bus.broadcast_ping(max_id=max(IDS))  # wake the link up

        def cycle():
            bus.sync_write(GOAL.address, GOALS)
            try:
                return bus.sync_read(BLOCK.address, BLOCK.length, IDS)
            except BridgeError as exc:
                failures.append(exc)
                return {}

        benchmark.pedantic(cycle, rounds=300, warmup_rounds=20)
        assert set(bus.sync_read(BLOCK.address, BLOCK.length, IDS)) == set(IDS)
    _extra(benchmark, False, len(failures))


def test_cycle_ours_fast_sync_read(benchmark, sim_bus_port):
    failures = []
    with DynamixelBus(sim_bus_port, baudrate=BAUD, timeout=ALLOWANCE_S) as bus:

        def cycle():
            bus.sync_write(GOAL.address, GOALS)
            try:
                return bus.fast_sync_read(BLOCK.address, BLOCK.length, IDS)
            except BridgeError as exc:
                failures.append(exc)
                return {}

        benchmark.pedantic(cycle, rounds=300, warmup_rounds=20)
        assert set(bus.fast_sync_read(BLOCK.address, BLOCK.length, IDS)) == set(IDS)
    _extra(benchmark, True, len(failures))


def test_cycle_dynamixel_sdk(benchmark, sim_bus_port):
    sdk = pytest.importorskip("dynamixel_sdk")
    port = sdk.PortHandler(sim_bus_port)
    assert port.openPort() and port.setBaudRate(BAUD)
    handler = sdk.PacketHandler(2.0)
    reader = sdk.GroupSyncRead(port, handler, BLOCK.address, BLOCK.length)
    writer = sdk.GroupSyncWrite(port, handler, GOAL.address, GOAL.size)
    for servo_id in IDS:
        assert reader.addParam(servo_id)
        assert writer.addParam(servo_id, list(GOALS[servo_id]))

    failures = []

    def cycle():
        for servo_id in IDS:
            writer.changeParam(servo_id, list(GOALS[servo_id]))
        writer.txPacket()
        result = reader.txRxPacket()
        if result != sdk.COMM_SUCCESS:
            failures.append(handler.getTxRxResult(result))
            return {}
        return {
            servo_id: (
                reader.getData(servo_id, 126, 2),
                reader.getData(servo_id, 128, 4),
                reader.getData(servo_id, 132, 4),
            )
            for servo_id in IDS
        }

    try:
        benchmark.pedantic(cycle, rounds=300, warmup_rounds=20)
        assert reader.txRxPacket() == sdk.COMM_SUCCESS, "the SDK never read the virtual servos"
    finally:
        port.closePort()
    _extra(benchmark, False, len(failures))
    benchmark.extra_info["failure_kinds"] = sorted(set(failures))


def test_codec_of_one_cycle(benchmark):
    """Encode the sync write and sync read, parse the five replies: no I/O."""
    replies = b"".join(protocol.encode_status(i, 0, bytes(BLOCK.length)) for i in IDS)
    parser = protocol.StatusParser()

    def codec():
        protocol.sync_write(GOAL.address, GOALS)
        protocol.sync_read(BLOCK.address, BLOCK.length, IDS)
        return parser.feed(replies)

    assert len(benchmark(codec)) == len(IDS)


def test_codec_of_one_fast_cycle(benchmark):
    """As above with the one-packet FAST SYNC READ answer, split per servo."""
    reply = protocol.encode_fast_read_status([(i, 0, bytes(BLOCK.length)) for i in IDS])
    parser = protocol.StatusParser()
    lengths = (BLOCK.length,) * len(IDS)

    def codec():
        protocol.sync_write(GOAL.address, GOALS)
        protocol.fast_sync_read(BLOCK.address, BLOCK.length, IDS)
        (status,) = parser.feed(reply)
        return protocol.split_fast_read(status, lengths, IDS)

    assert len(benchmark(codec)) == len(IDS)
