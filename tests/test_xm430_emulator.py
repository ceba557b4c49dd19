"""The independent XM430-W350 emulator (tests/xm430_emulator): it imports nothing of bidvis, its
packets are the e-Manual's, and bad input gets the manual's error status or no reply, never a
crash."""

from __future__ import annotations

import ast
import math
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import serial

from tests.xm430_emulator import __main__ as cli
from tests.xm430_emulator.physics import Arm, Joint, Link
from tests.xm430_emulator.pty_server import PtyServer
from tests.xm430_emulator.servo import Bus, Servo
from tests.xm430_emulator.table import ITEMS, RW, Memory
from tests.xm430_emulator.wire import BROADCAST_ID, PacketReader, crc16, packet

PACKAGE = Path(__file__).parent / "xm430_emulator"
ALLOWED_OUTSIDE_STDLIB = {"numpy", "serial"}

# The e-Manual's Protocol 2.0 examples (ID 1; its status example is an XM430-W210 at firmware 38).
MANUAL_PING = bytes.fromhex("FFFFFD0001030001194E")
MANUAL_PING_STATUS = bytes.fromhex("FFFFFD0001070055000604265D65")
MANUAL_READ_PRESENT_POSITION = bytes.fromhex("FFFFFD0001070002840004001D15")


def imported_modules(path: Path) -> list[str]:
    """Top-level modules a file imports absolutely (relative imports stay inside the package)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            names.append("__import__")  # a dynamic import is not checkable: refused
    return names


def test_the_emulator_imports_only_the_standard_library():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) >= 6
    foreign = {
        f"{path.name}: {name}"
        for path in files
        for name in imported_modules(path)
        if name not in sys.stdlib_module_names and name not in ALLOWED_OUTSIDE_STDLIB
    }
    assert not foreign, f"the emulator must stay independent of the project's code: {sorted(foreign)}"


def test_the_import_check_catches_a_project_import(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import os\nfrom firmware_bridge.protocol import crc\nfrom . import wire\n")
    assert imported_modules(source) == ["os", "firmware_bridge"]


def make_bus(ids=(1, 2), arm: Arm = Arm()) -> Bus:
    servos = [Servo(i, Joint(), return_delay_units=0) for i in ids]
    for servo in servos:
        servo.memory.set("baud_rate", 3)  # 1 Mbps
    return Bus(servos, arm=arm)


def exchange(bus: Bus, data: bytes) -> list[bytes]:
    """What the servos answer to `data` (any bytes) on the wire at 1 Mbps."""
    return [reply.data for p in PacketReader().feed(data) for reply in bus.handle(p, 1_000_000)]


def error_of(status: bytes) -> int:
    return status[8]


def settings(memory: Memory) -> list[int]:
    """Every writable item's value."""
    return [memory.get(item.name) for item in ITEMS if item.access == RW]


def read(bus: Bus, servo_id: int, address: int, size: int) -> int:
    """A signed value read over the wire."""
    (answer,) = exchange(bus, packet(servo_id, 0x02, bytes((address, 0, size, 0))))
    return int.from_bytes(answer[9 : 9 + size], "little", signed=True)


def test_the_manuals_packets_and_crc():
    assert crc16(MANUAL_PING[:-2]) == 0x4E19 and packet(1, 0x01) == MANUAL_PING
    assert crc16(MANUAL_PING_STATUS[:-2]) == 0x5D65
    bus = make_bus()
    (answer,) = exchange(bus, MANUAL_PING)
    assert answer == packet(1, 0x55, bytes((0, 1020 & 0xFF, 1020 >> 8, 48)))  # model 1020, firmware 48
    (answer,) = exchange(bus, MANUAL_READ_PRESENT_POSITION)
    assert error_of(answer) == 0 and answer[9:13] == (2048).to_bytes(4, "little")


def test_a_packet_in_pieces_is_put_together_and_a_dropped_piece_forgotten():
    reader = PacketReader()
    assert reader.feed(MANUAL_PING[:3]) == [] and reader.feed(MANUAL_PING[3:8]) == [] and reader.pending
    (ping,) = reader.feed(MANUAL_PING[8:])
    assert (ping.servo_id, ping.instruction, ping.params, ping.crc_ok) == (1, 0x01, b"", True)
    reader.feed(MANUAL_READ_PRESENT_POSITION[:9])  # its sender went silent
    reader.drop_partial()
    (read,) = reader.feed(MANUAL_READ_PRESENT_POSITION)
    assert (read.instruction, read.params, read.crc_ok) == (0x02, bytes((0x84, 0, 4, 0)), True)


def test_byte_stuffing_on_both_sides():
    bus = make_bus()
    # Write FF FF FD into Indirect Address 1..2 (bytes 168..170): stuffed in the instruction packet.
    request = packet(1, 0x03, bytes((168, 0, 0xFF, 0xFF, 0xFD, 0x00)))
    assert b"\xff\xff\xfd\xfd" in request
    (answer,) = exchange(bus, request)
    assert error_of(answer) == 0x04  # 0xFFFF is outside Indirect Address's range: nothing written
    assert bus.servos[0].memory.get("indirect_address_1") == 224
    bus.servos[0].memory.set("goal_position", 0x00FDFFFF)  # FF FF FD 00 in the status: stuffed
    (answer,) = exchange(bus, packet(1, 0x02, bytes((116, 0, 4, 0))))
    (decoded,) = PacketReader().feed(answer)
    assert b"\xff\xff\xfd\xfd" in answer and decoded.crc_ok and decoded.params == b"\x00\xff\xff\xfd\x00"


def test_a_corrupt_packet_gets_crc_error_or_nothing_when_broadcast():
    bus = make_bus()
    corrupt = bytearray(packet(1, 0x03, bytes((64, 0, 1))))
    corrupt[-1] ^= 0x55
    (answer,) = exchange(bus, bytes(corrupt))
    assert answer[4] == 1 and error_of(answer) == 0x03
    assert bus.servos[0].memory.get("torque_enable") == 0  # not executed
    broadcast = bytearray(packet(BROADCAST_ID, 0x01))
    broadcast[-2] ^= 1
    assert exchange(bus, bytes(broadcast)) == []


def test_an_unknown_instruction_gets_instruction_error_or_nothing_when_broadcast():
    bus = make_bus()
    (answer,) = exchange(bus, packet(2, 0x77, b"\x01\x02"))
    assert answer[4] == 2 and error_of(answer) == 0x02
    assert exchange(bus, packet(BROADCAST_ID, 0x77)) == []


@pytest.mark.parametrize(
    ("request_params", "instruction", "error"),
    [
        (bytes((0xBC, 0x02, 4, 0)), 0x02, 0x07),  # read at 700, past the table
        (bytes((0x94, 0x02, 4, 0)), 0x02, 0x07),  # read of 4 bytes at 660: runs past the end
        (bytes((132, 0, 0, 0)), 0x02, 0x07),  # a read of no bytes
        (bytes((132, 0)), 0x02, 0x05),  # a read without its length
        (bytes((0xBC, 0x02, 1)), 0x03, 0x07),  # write at 700
        (bytes((132, 0, 0, 0, 0, 0)), 0x03, 0x07),  # write to Present Position (read only)
        (bytes((96, 0, 0)), 0x03, 0x07),  # write into the gap before Bus Watchdog
        (bytes((116, 0, 0, 8)), 0x03, 0x05),  # half of Goal Position
        (bytes((64, 0, 2)), 0x03, 0x04),  # Torque Enable 2
        (bytes((116, 0, 0, 0x20, 0, 0)), 0x03, 0x06),  # Goal Position 8192, beyond Max Position Limit
        (bytes((98, 0, 0xFF)), 0x03, 0x04),  # Bus Watchdog -1 is the servo's to set
    ],
)
def test_bad_addresses_lengths_and_values_get_the_manuals_error_and_change_nothing(request_params, instruction, error):
    bus = make_bus()
    before = settings(bus.servos[0].memory)
    (answer,) = exchange(bus, packet(1, instruction, request_params))
    assert error_of(answer) == error and len(answer) == 11  # no data with an error
    assert settings(bus.servos[0].memory) == before


def test_eeprom_is_locked_while_torque_is_on():
    bus = make_bus()
    (on,) = exchange(bus, packet(1, 0x03, bytes((64, 0, 1))))
    (refused,) = exchange(bus, packet(1, 0x03, bytes((9, 0, 0))))  # Return Delay Time
    assert error_of(on) == 0 and error_of(refused) == 0x07
    exchange(bus, packet(1, 0x03, bytes((64, 0, 0))))
    (accepted,) = exchange(bus, packet(1, 0x03, bytes((9, 0, 0))))
    assert error_of(accepted) == 0 and bus.servos[0].memory.get("return_delay_time") == 0


def test_garbage_never_crashes_and_the_next_good_packet_is_answered():
    bus = make_bus()
    rng = random.Random(13)
    header = b"\xff\xff\xfd\x00"
    for _ in range(300):
        noise = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        if rng.random() < 0.5:  # a header with any length, id and instruction
            noise = header + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 12))) + noise
        exchange(bus, noise)
        bus.advance(bus.now_s + 0.002, bus.now_s + 0.002)
    reader = PacketReader()
    reader.feed(header + b"\x01\xff\xff")  # a header claiming 65535 bytes is not waited for
    (found,) = reader.feed(packet(2, 0x01))
    assert found.servo_id == 2 and found.crc_ok
    (answer,) = exchange(bus, b"\x00\xff\xfd" + packet(2, 0x01))
    assert answer[4] == 2 and error_of(answer) == 0


def test_sync_read_and_sync_write_answer_in_the_order_asked():
    bus = make_bus(ids=(1, 2, 3))
    goals = b"".join(bytes((i,)) + (2048 + 100 * i).to_bytes(4, "little") for i in (3, 1))
    assert exchange(bus, packet(BROADCAST_ID, 0x83, bytes((116, 0, 4, 0)) + goals)) == []  # no status
    answers = exchange(bus, packet(BROADCAST_ID, 0x82, bytes((116, 0, 4, 0, 3, 9, 1))))  # 9 is absent
    assert [a[4] for a in answers] == [3, 1]
    assert [int.from_bytes(a[9:13], "little") for a in answers] == [2348, 2148]
    assert bus.servos[1].memory.get("goal_position") == 2048  # servo 2 was not written


def test_status_return_level_and_return_delay_time():
    bus = make_bus()
    servo = bus.servos[0]
    servo.memory.set("return_delay_time", 250)
    (reply,) = servo.ping()
    assert reply.delay_s == pytest.approx(500e-6)
    exchange(bus, packet(1, 0x03, bytes((68, 0, 0))))  # Status Return Level 0: Ping only
    assert exchange(bus, packet(1, 0x03, bytes((65, 0, 1)))) == [] and servo.memory.get("led") == 1
    assert exchange(bus, packet(1, 0x02, bytes((65, 0, 1, 0)))) == []
    assert len(exchange(bus, packet(1, 0x01))) == 1


def test_indirect_data_reads_the_items_it_points_at():
    bus = make_bus()
    pointers = b"".join((132 + k).to_bytes(2, "little") for k in range(4))  # Present Position
    (ok,) = exchange(bus, packet(1, 0x03, bytes((168, 0)) + pointers))
    (answer,) = exchange(bus, packet(1, 0x02, bytes((224, 0, 4, 0))))
    assert error_of(ok) == 0 and answer[9:13] == bus.servos[0].memory.read(132, 4)
    (refused,) = exchange(bus, packet(1, 0x03, bytes((224, 0, 1, 2, 3, 4))))  # through it into Present Position
    assert error_of(refused) == 0x07


def test_the_joint_follows_its_goal_with_the_sensors_noise():
    bus = make_bus(ids=(1,), arm=Arm((0,), (Link(0.3, (0.1, 0.0)),)))  # 0.29 N m at 0 rad
    exchange(bus, packet(1, 0x03, bytes((64, 0, 1))))
    exchange(bus, packet(1, 0x03, bytes((116, 0)) + (2048 + 200).to_bytes(4, "little")))
    currents = []
    for k in range(2000):  # 2 s
        bus.advance(bus.now_s + 0.001, bus.now_s + 0.001)
        if k >= 1000:
            currents.append(read(bus, 1, 126, 2) * 2.69)
    position = read(bus, 1, 132, 4)
    assert abs(position - 2248) < 15  # within ~1 degree, the gravity load's sag
    mean = sum(currents) / len(currents)
    spread = (sum((c - mean) ** 2 for c in currents) / len(currents)) ** 0.5
    assert 30.0 < spread < 50.0  # an XM430's ~40 mA
    assert mean < -100.0  # it holds the load up: 0.29 N m cos(0.3 rad) / 1.78 N m/A = -155 mA


def test_gravity_loads_the_chain_of_pitch_joints():
    upper, fore = Link(0.2, (0.05, 0.0), (0.1, 0.0)), Link(0.1, (0.05, 0.0))
    arm = Arm((1, 2), (upper, fore))  # joint 0 (a yaw) carries nothing
    assert arm.gravity_nm([0.7, 0.0, 0.0]) == pytest.approx([0.0, 9.81 * (0.2 * 0.05 + 0.1 * 0.15), 9.81 * 0.1 * 0.05])
    bent = arm.gravity_nm([0.0, math.pi / 2, -math.pi / 2])  # upper arm up, forearm level
    assert bent == pytest.approx([0.0, 9.81 * 0.1 * 0.05, 9.81 * 0.1 * 0.05], abs=1e-12)


def test_a_joint_that_cannot_hold_its_load_faults_with_overload_and_the_alert_bit():
    bus = make_bus(ids=(1,), arm=Arm((0,), (Link(6.0, (0.1, 0.0)),)))  # 5.9 N m: beyond the 4.1 N m stall
    exchange(bus, packet(1, 0x03, bytes((64, 0, 1))))
    bus.advance(bus.now_s + 0.5, bus.now_s + 0.5)
    assert read(bus, 1, 70, 1) == 0
    for _ in range(20):
        bus.advance(bus.now_s + 0.1, bus.now_s + 0.1)
        exchange(bus, packet(1, 0x03, bytes((116, 0)) + (2048).to_bytes(4, "little")))  # hold it up
    (answer,) = exchange(bus, packet(1, 0x02, bytes((64, 0, 1, 0))))
    assert error_of(answer) == 0x80 and answer[9] == 0  # Alert; torque off (Shutdown's factory 0x34)
    assert read(bus, 1, 70, 1) == 0x20
    exchange(bus, packet(1, 0x08))  # a reboot clears it
    assert error_of(exchange(bus, packet(1, 0x01))[0]) == 0


def test_the_bus_watchdog_stops_the_servo_and_refuses_goals_until_cleared():
    bus = make_bus(ids=(1,))
    exchange(bus, packet(1, 0x03, bytes((64, 0, 1))))
    exchange(bus, packet(1, 0x03, bytes((112, 0, 50, 0, 0, 0))))  # Profile Velocity, slow
    exchange(bus, packet(1, 0x03, bytes((98, 0, 2))))  # 40 ms
    exchange(bus, packet(1, 0x03, bytes((116, 0)) + (3000).to_bytes(4, "little")))
    bus.advance(bus.now_s + 0.039, bus.now_s + 0.039)
    assert read(bus, 1, 98, 1) == 2
    bus.advance(bus.now_s + 0.3, bus.now_s + 0.3)
    goal, present = read(bus, 1, 116, 4), read(bus, 1, 132, 4)
    assert read(bus, 1, 98, 1) == -1 and goal < 2200 and abs(present - goal) < 30  # stopped where it was
    assert read(bus, 1, 128, 4) == 0
    (refused,) = exchange(bus, packet(1, 0x03, bytes((116, 0)) + (3000).to_bytes(4, "little")))
    assert error_of(refused) == 0x04
    exchange(bus, packet(1, 0x03, bytes((98, 0, 0))))
    (accepted,) = exchange(bus, packet(1, 0x03, bytes((116, 0)) + (3000).to_bytes(4, "little")))
    assert error_of(accepted) == 0 and read(bus, 1, 98, 1) == 0


def test_corrupt_packets_do_not_feed_the_bus_watchdog():
    bus = make_bus(ids=(1,))
    exchange(bus, packet(1, 0x03, bytes((64, 0, 1))))
    exchange(bus, packet(1, 0x03, bytes((98, 0, 2))))  # 40 ms
    corrupt = bytearray(packet(1, 0x01))
    corrupt[-1] ^= 0xFF
    for _ in range(10):
        bus.advance(bus.now_s + 0.01, bus.now_s + 0.01)
        exchange(bus, bytes(corrupt))
    assert read(bus, 1, 98, 1) == -1


def test_current_based_position_control_takes_multi_turn_goals():
    bus = make_bus(ids=(1,))
    beyond = packet(1, 0x03, bytes((116, 0)) + (8192).to_bytes(4, "little"))
    (refused,) = exchange(bus, beyond)
    (mode,) = exchange(bus, packet(1, 0x03, bytes((11, 0, 5))))
    (accepted,) = exchange(bus, beyond)
    assert (error_of(refused), error_of(mode), error_of(accepted)) == (0x06, 0, 0)


def test_silence_the_emulator_did_not_see_does_not_trip_the_watchdog():
    bus = make_bus(ids=(1,))
    exchange(bus, packet(1, 0x03, bytes((64, 0, 1))))
    exchange(bus, packet(1, 0x03, bytes((98, 0, 2))))
    start = bus.now_s
    bus.advance(start + 0.2, start + 0.001)  # this process was away; bytes may have waited meanwhile
    assert read(bus, 1, 98, 1) == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["--ids", "11,x"],
        ["--ids", "11,11"],
        ["--ids", "300"],
        ["--return-delay-us", "600"],
        ["--noise-ma", "nan"],
        ["--arm", "12:0.2"],
        ["--arm", "12:heavy:0,0"],
        ["--arm", "12:0.2:0,0:1,1:2,2"],
        ["--arm", "99:0.2:0,0"],
    ],
)
def test_bad_options_are_refused_in_one_line(argv, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tests.xm430_emulator", "--link", str(tmp_path / "tty"), *argv],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr and "error:" in result.stderr
    assert not (tmp_path / "tty").exists()


def test_a_link_that_cannot_be_made_is_one_line(tmp_path):
    assert cli.main(["--link", str(tmp_path / "missing" / "tty")]) == 2


def test_on_its_pty_a_client_at_the_servos_baud_rate_is_answered_and_one_at_another_is_not(tmp_path):
    bus = make_bus(ids=(1,))
    bus.now_s = bus.last_packet_s = time.monotonic()
    stop = threading.Event()
    with PtyServer(bus, tmp_path / "ttyDXL") as server:
        thread = threading.Thread(target=server.serve, args=(stop,), daemon=True)
        thread.start()
        try:
            with serial.Serial(str(server.link), 57_600, timeout=0.3) as port:
                port.write(MANUAL_PING)
                assert port.read(14) == b""  # the servo listens at 1 Mbps
                port.baudrate = 1_000_000
                port.write(MANUAL_PING[:6])  # in two pieces
                port.write(MANUAL_PING[6:])
                assert port.read(14) == packet(1, 0x55, bytes((0, 0xFC, 0x03, 48)))  # model 1020, firmware 48
        finally:
            stop.set()
            thread.join(timeout=5)
    assert not (tmp_path / "ttyDXL").exists()
