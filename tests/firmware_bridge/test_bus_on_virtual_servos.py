"""DynamixelBus against the project's virtual XM430-W350 servos (sim), in process.

The virtual bus runs on a simulated clock: reads advance it by the wire time, so these tests are
deterministic and do not sleep.
"""

from __future__ import annotations

import math

import pytest

from firmware_bridge import BusTimeout, CRCError, DynamixelBus, HardwareError, ServoError, StatusError
from firmware_bridge.control_table import XL430_W250, XM430_W350, Register, decode, encode

sim_bus = pytest.importorskip("sim.virtual_bus", reason="the virtual servos of sim are not available")

IDS = (11, 12, 13, 14, 15)
pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("ideal_arm")]  # exact emulator behaviour


@pytest.fixture
def virtual():
    bus = sim_bus.VirtualServoBus.start(ids=IDS, clock=sim_bus.SimulatedClock())
    yield bus
    bus.close()


@pytest.fixture
def host(virtual):
    with DynamixelBus(virtual.url, timeout=0.002) as b:
        yield b


def _write(host, servo_id, name, value):
    host.write(servo_id, XM430_W350[name].address, encode(XM430_W350[name], value))


def _read(host, servo_id, name):
    field = XM430_W350[name]
    return decode(field, host.read(servo_id, field.address, field.size))


def test_ping_and_broadcast_ping_find_every_servo(host):
    assert host.ping(11) == XM430_W350.model_number
    assert set(host.broadcast_ping(max_id=20)) == set(IDS)


def test_servos_move_to_sync_written_goals_and_sync_read_reports_them(host, virtual):
    for servo_id in IDS:
        _write(host, servo_id, Register.RETURN_DELAY_TIME, 0.0)
        _write(host, servo_id, Register.PROFILE_VELOCITY, 2.0)
        _write(host, servo_id, Register.TORQUE_ENABLE, 1)
    goal = XM430_W350[Register.GOAL_POSITION]
    host.sync_write(goal.address, {i: encode(goal, 0.1 * n) for n, i in enumerate(IDS)})
    virtual.advance_to(virtual.clock.now() + 2.0)
    block = XM430_W350.block(Register.PRESENT_CURRENT, Register.PRESENT_VELOCITY, Register.PRESENT_POSITION)
    raw = host.sync_read(block.address, block.length, IDS)
    for n, servo_id in enumerate(IDS):
        assert block.decode(raw[servo_id])[Register.PRESENT_POSITION] == pytest.approx(0.1 * n, abs=2 * math.pi / 4096)
    assert host.fast_sync_read(block.address, block.length, IDS) == raw
    assert host.bulk_read({11: (block.address, block.length), 12: (146, 1)})[11] == raw[11]
    assert host.fast_bulk_read({11: (block.address, block.length), 12: (146, 1)})[11] == raw[11]


def test_out_of_range_write_is_a_servo_error(host):
    with pytest.raises(ServoError) as caught:
        host.write(11, XM430_W350[Register.OPERATING_MODE].address, bytes((2,)))
    assert caught.value.error_number is StatusError.DATA_RANGE_ERROR


def test_eeprom_locked_while_torque_on(host):
    _write(host, 12, Register.TORQUE_ENABLE, 1)
    with pytest.raises(ServoError) as caught:
        _write(host, 12, Register.RETURN_DELAY_TIME, 0.0)
    assert caught.value.error_number is StatusError.ACCESS_ERROR


def test_overload_alert_is_decoded(host, virtual):
    _write(host, 13, Register.TORQUE_ENABLE, 1)
    virtual.servo(13).inject_hardware_error(HardwareError.OVERLOAD)
    with pytest.raises(ServoError, match="OVERLOAD") as caught:
        host.sync_read(132, 4, IDS)
    assert caught.value.servo_id == 13 and caught.value.alert
    assert caught.value.hardware_error == HardwareError.OVERLOAD
    assert host.ping(13) == XM430_W350.model_number  # diagnosis still works on a faulted servo
    assert host.hardware_error(13) == HardwareError.OVERLOAD
    host.reboot(13)  # answers with the Alert bit still set, then restarts without the fault
    virtual.advance_to(virtual.clock.now() + 1.0)
    assert host.hardware_error(13) == HardwareError.NONE
    assert _read(host, 13, Register.TORQUE_ENABLE) == 0


def test_dropped_and_corrupted_replies(host, virtual):
    virtual.servo(14).reply_faults.drop = 1
    with pytest.raises(BusTimeout, match="id 14"):
        host.read(14, 132, 4)
    virtual.servo(14).reply_faults.corrupt = 1
    with pytest.raises(CRCError, match="id 14"):
        host.sync_read(132, 4, IDS)
    assert host.read(14, 132, 4) == (2048).to_bytes(4, "little")


def test_virtual_servos_use_the_one_table_of_servo_facts():
    """sim has no copy of the control table: the virtual servo's view is built from the host's."""
    servo_table = pytest.importorskip("sim.servo_table")
    for model in (XM430_W350, XL430_W250):
        view = servo_table.servo_table(model)
        assert len(view.fields) == len(model.fields)
        for name, ours in model.fields.items():
            theirs = view.by_name[str(name).lower()]
            assert (theirs.address, theirs.size, theirs.signed) == (ours.address, ours.size, ours.signed), name
            assert theirs.default == (ours.default or 0), name
