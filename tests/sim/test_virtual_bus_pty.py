"""Real clients on a pseudo-terminal: the official dynamixel_sdk and our DynamixelBus see the same servos."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dynamixel_sdk as sdk
import pytest
import serial

from firmware_bridge import DynamixelBus
from firmware_bridge import protocol as p
from firmware_bridge.protocol import StatusParser
from sim.virtual_bus import VirtualServoBus
from sim.virtual_bus_pty import PtyBusServer, PtyBusThread

pytestmark = pytest.mark.usefixtures("ideal_arm")  # the emulator's exact behaviour, without the flaws

IDS = (11, 12, 13, 14)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def patient_sdk(monkeypatch):
    """Give the SDK 200 ms instead of ~34 ms per reply: these tests check bytes, not speed, and a
    loaded CI machine can stall the server thread longer than the SDK's USB latency allowance."""
    monkeypatch.setattr(sdk.port_handler, "LATENCY_TIMER", 100)


@pytest.fixture
def served(tmp_path):
    bus = VirtualServoBus(IDS)
    with PtyBusThread(bus, tmp_path / "ttyDXL") as path:
        yield bus, path


@pytest.fixture
def sdk_port(served):
    _, path = served
    port = sdk.PortHandler(path)
    assert port.openPort() and port.setBaudRate(1_000_000)
    yield port, sdk.PacketHandler(2.0)
    port.closePort()


def test_sdk_pings(sdk_port):
    port, packets = sdk_port
    assert packets.ping(port, 11) == (1020, sdk.COMM_SUCCESS, 0)
    found, result = packets.broadcastPing(port)
    assert result == sdk.COMM_SUCCESS
    assert found == {i: [1020, 48] for i in IDS}


def test_sdk_reads_and_writes(sdk_port):
    port, packets = sdk_port
    assert packets.write1ByteTxRx(port, 12, 65, 1) == (sdk.COMM_SUCCESS, 0)
    assert packets.read1ByteTxRx(port, 12, 65) == (1, sdk.COMM_SUCCESS, 0)
    assert packets.write4ByteTxRx(port, 12, 112, 123) == (sdk.COMM_SUCCESS, 0)
    assert packets.read4ByteTxRx(port, 12, 112) == (123, sdk.COMM_SUCCESS, 0)
    assert packets.read2ByteTxRx(port, 13, 0) == (1020, sdk.COMM_SUCCESS, 0)
    assert packets.write4ByteTxRx(port, 12, 132, 5)[1] == p.StatusError.ACCESS_ERROR


def test_sdk_sync_write_then_sync_read(served, sdk_port):
    bus, _ = served
    port, packets = sdk_port
    for servo_id in IDS:
        assert packets.write1ByteTxRx(port, servo_id, 64, 1) == (sdk.COMM_SUCCESS, 0)
    writer = sdk.GroupSyncWrite(port, packets, 116, 4)
    goals = {11: 1800, 12: 2300, 13: 2048, 14: 2100}
    for servo_id, goal in goals.items():
        writer.addParam(servo_id, goal.to_bytes(4, "little"))
    assert writer.txPacket() == sdk.COMM_SUCCESS
    time.sleep(1.0)  # Profile Velocity 0: the servos are there within ~0.2 s
    reader = sdk.GroupSyncRead(port, packets, 132, 4)
    for servo_id in IDS:
        reader.addParam(servo_id)
    assert reader.txRxPacket() == sdk.COMM_SUCCESS
    assert {i: reader.getData(i, 132, 4) for i in IDS} == goals
    assert {i: bus.servo(i).get("present_position") for i in IDS} == goals


def test_sdk_fast_sync_read_bulk_reads_and_other_instructions(served, sdk_port):
    bus, _ = served
    port, packets = sdk_port
    fast = sdk.GroupSyncRead(port, packets, 0, 2)
    for servo_id in IDS:
        fast.addParam(servo_id)
    assert fast.fastSyncRead() == sdk.COMM_SUCCESS
    assert {i: fast.getData(i, 0, 2) for i in IDS} == {i: 1020 for i in IDS}
    bulk = sdk.GroupBulkRead(port, packets)
    assert bulk.addParam(11, 132, 4) and bulk.addParam(12, 7, 1)
    assert bulk.txRxPacket() == sdk.COMM_SUCCESS
    assert (bulk.getData(11, 132, 4), bulk.getData(12, 7, 1)) == (2048, 12)
    assert bulk.fastBulkRead() == sdk.COMM_SUCCESS
    assert (bulk.getData(11, 132, 4), bulk.getData(12, 7, 1)) == (2048, 12)
    assert packets.regWriteTxRx(port, 13, 65, 1, [1]) == (sdk.COMM_SUCCESS, 0)
    assert bus.servo(13).get("led") == 0
    assert packets.action(port, 13) == sdk.COMM_SUCCESS
    time.sleep(0.05)
    assert bus.servo(13).get("led") == 1
    assert packets.clearMultiTurn(port, 13) == (sdk.COMM_SUCCESS, 0)
    assert packets.reboot(port, 13) == (sdk.COMM_SUCCESS, 0)
    assert packets.read1ByteTxRx(port, 13, 65) == (0, sdk.COMM_SUCCESS, 0)  # RAM back to power-on values
    assert packets.write1ByteTxRx(port, 14, 31, 70) == (sdk.COMM_SUCCESS, 0)
    assert packets.factoryReset(port, 14, 0x02) == (sdk.COMM_SUCCESS, 0)
    assert packets.read1ByteTxRx(port, 14, 31) == (80, sdk.COMM_SUCCESS, 0)


def test_our_bus_reads_what_the_sdk_wrote(served):
    _, path = served
    port = sdk.PortHandler(path)
    assert port.openPort() and port.setBaudRate(1_000_000)
    packets = sdk.PacketHandler(2.0)
    writer = sdk.GroupSyncWrite(port, packets, 112, 4)
    for servo_id in IDS:
        writer.addParam(servo_id, (servo_id * 10).to_bytes(4, "little"))
    assert writer.txPacket() == sdk.COMM_SUCCESS
    reader = sdk.GroupSyncRead(port, packets, 112, 4)
    for servo_id in IDS:
        reader.addParam(servo_id)
    assert reader.txRxPacket() == sdk.COMM_SUCCESS
    sdk_values = {i: reader.getData(i, 112, 4) for i in IDS}
    port.closePort()
    with DynamixelBus(path, timeout=0.2) as ours:
        values = ours.sync_read(112, 4, IDS)
        fast = ours.fast_sync_read(112, 4, IDS)
    assert {i: int.from_bytes(v, "little") for i, v in values.items()} == sdk_values == {i: i * 10 for i in IDS}
    assert fast == values


def test_wrong_baud_rate_hears_nothing(served):
    _, path = served
    with serial.Serial(path, 57_600, timeout=0.1) as port:
        port.write(p.ping(11))
        assert port.read(14) == b""


def test_servos_at_a_non_standard_termios_rate_are_heard_only_at_that_rate():
    bus = VirtualServoBus((11,), baudrate=4_500_000)
    with PtyBusThread(bus) as path:
        with serial.Serial(path, 1_000_000, timeout=0.1) as port:
            port.write(p.ping(11))
            assert port.read(14) == b""
        with serial.Serial(path, 4_500_000, timeout=0.1) as port:
            port.write(p.ping(11))
            assert [s.servo_id for s in StatusParser().feed(port.read(14))] == [11]


def test_garbage_from_a_client_then_the_sdk_still_works(served, sdk_port):
    _, path = served
    port, packets = sdk_port
    with serial.Serial(path, 1_000_000, timeout=0.05) as raw:
        raw.write(bytes(range(256)) * 4 + b"\xff\xff\xfd\x00\x0b\xff\xff")  # ends in a header with an absurd length
        raw.read(1000)
    assert packets.ping(port, 11) == (1020, sdk.COMM_SUCCESS, 0)


def test_client_that_disconnects_mid_packet_does_not_break_the_bus(served):
    _, path = served
    with serial.Serial(path, 1_000_000, timeout=0.1) as port:
        port.write(p.read(11, 132, 4)[:7])  # header and id, then gone
    with serial.Serial(path, 1_000_000, timeout=0.1) as port:
        port.write(p.ping(11))
        statuses = StatusParser().feed(port.read(14))
    assert [s.servo_id for s in statuses] == [11]


def test_a_client_that_never_reads_does_not_block_the_server(served):
    _, path = served
    with serial.Serial(path, 1_000_000, timeout=0.1) as port:
        for _ in range(60):  # ~9.5 kB of answers nobody reads (more than the terminal holds), ~0.1 s on the wire
            port.write(p.read(11, 0, 147))
        time.sleep(0.3)
        port.reset_input_buffer()
        port.write(p.ping(12))
        statuses = StatusParser().feed(port.read(400))
    assert 12 in [s.servo_id for s in statuses]


def test_link_that_is_a_real_file_is_refused(tmp_path):
    blocker = tmp_path / "ttyDXL"
    blocker.write_text("not a tty")
    with pytest.raises(FileExistsError, match="not a symlink"):
        PtyBusServer(VirtualServoBus((11,)), blocker)
    assert blocker.read_text() == "not a tty"


@pytest.mark.parametrize(
    ("start", "torque_enable", "said"),
    [((), b"\x01", "the arm holds where it stands"), (("--torque-off",), b"\x00", "the arm is free")],
)
def test_sim_bus_command_serves_until_sigterm_and_removes_its_link(tmp_path, start, torque_enable, said):
    link = tmp_path / "ttyDXL"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bidvis.cli",
            "sim-bus",
            "--link",
            str(link),
            "--ids",
            "11,12",
            "--return-delay-us",
            "0",
            *start,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not link.is_symlink():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "sim-bus did not create its link"
            time.sleep(0.05)
        with DynamixelBus(str(link), timeout=0.2) as host:
            assert host.broadcast_ping(max_id=20) == {11: (1020, 48), 12: (1020, 48)}
            assert host.read(12, 9, 1) == b"\x00"
            assert [host.read(servo_id, 64, 1) for servo_id in (11, 12)] == [torque_enable] * 2  # Torque Enable
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped" in out and said in out
    assert not link.exists() and not link.is_symlink()
