"""Our bus and the official dynamixel-sdk see the same virtual servos through a pseudo-terminal.

The virtual servos (sim) are served on a pty as `bidvis sim-bus` does; both clients open it as a
serial device. What one client writes, the other reads back identically.
"""

from __future__ import annotations

import pytest

from firmware_bridge import DynamixelBus
from firmware_bridge.control_table import XM430_W350, Register

sdk = pytest.importorskip("dynamixel_sdk", reason="the official dynamixel-sdk is not installed")
virtual_bus = pytest.importorskip("sim.virtual_bus", reason="the virtual servos of sim are not available")
virtual_bus_pty = pytest.importorskip("sim.virtual_bus_pty", reason="the pty server of sim is not available")

IDS = (11, 12, 13)
pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("ideal_arm")]  # exact emulator behaviour


@pytest.fixture
def pty_path():
    bus = virtual_bus.VirtualServoBus(IDS, eeprom={"return_delay_time": 0})
    with virtual_bus_pty.PtyBusThread(bus) as path:
        yield path


@pytest.fixture
def sdk_port(pty_path, monkeypatch):
    # These tests check bytes, not speed: give the SDK 200 ms per reply instead of ~34 ms, so a
    # loaded machine stalling the server thread cannot fail them.
    monkeypatch.setattr(sdk.port_handler, "LATENCY_TIMER", 100)
    port = sdk.PortHandler(pty_path)
    assert port.openPort() and port.setBaudRate(1_000_000)
    yield port, sdk.PacketHandler(2.0)
    port.closePort()


def test_both_clients_read_what_the_other_wrote(pty_path, sdk_port):
    port, handler = sdk_port
    goal = XM430_W350[Register.PROFILE_VELOCITY]
    # Generous allowance: the server is a Python thread in this process, on a shared machine.
    with DynamixelBus(pty_path, timeout=0.2) as ours:
        model, result, error = handler.ping(port, 11)
        assert (result, error) == (sdk.COMM_SUCCESS, 0)
        assert ours.ping(11) == model == XM430_W350.model_number

        result, error = handler.write4ByteTxRx(port, 12, goal.address, 77)
        assert (result, error) == (sdk.COMM_SUCCESS, 0)
        assert ours.read(12, goal.address, 4) == (77).to_bytes(4, "little")

        ours.write(13, goal.address, goal.encode_raw(123))
        value, result, error = handler.read4ByteTxRx(port, 13, goal.address)
        assert (value, result, error) == (123, sdk.COMM_SUCCESS, 0)


def test_sync_read_agrees_with_the_sdk_group_sync_read(pty_path, sdk_port):
    port, handler = sdk_port
    block = XM430_W350.block(Register.PRESENT_CURRENT, Register.PRESENT_VELOCITY, Register.PRESENT_POSITION)
    with DynamixelBus(pty_path, timeout=0.2) as ours:
        ours.sync_write(XM430_W350[Register.GOAL_PWM].address, {i: (10 * i).to_bytes(2, "little") for i in IDS})
        theirs = sdk.GroupSyncRead(port, handler, block.address, block.length)
        for servo_id in IDS:
            assert theirs.addParam(servo_id)
        assert theirs.txRxPacket() == sdk.COMM_SUCCESS
        # The servos stand still (torque off), so both reads see the same table.
        ours_raw = ours.sync_read(block.address, block.length, IDS)
        for servo_id in IDS:
            assert int.from_bytes(ours_raw[servo_id][6:10], "little", signed=True) == theirs.getData(servo_id, 132, 4)
        pwm, result, error = handler.read2ByteTxRx(port, 12, XM430_W350[Register.GOAL_PWM].address)
        assert (pwm, result, error) == (120, sdk.COMM_SUCCESS, 0)
