"""`bidvis bus scan` finds servos like the vendor's Wizard; `bidvis sim-bus` refuses bad arguments."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from bidvis.bus_commands import scan_port
from bidvis.cli import app
from firmware_bridge.control_table import XL430_W250
from firmware_bridge.protocol import HardwareError
from sim.servo import VirtualServo
from sim.virtual_bus import VirtualServoBus


@pytest.fixture
def arm():
    bus = VirtualServoBus.start((11, 12, 13, 14), name="scan-arm")
    yield bus
    bus.close()


def test_scan_lists_every_servo_with_model_and_firmware(arm):
    args = ["bus", "scan", "--port", arm.url, "--baud", "57600,1000000", "--ids", "11,12,13,14,15"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for servo_id in ("11", "12", "13", "14"):
        assert servo_id in result.output
    assert "XM430-W350 (1020)" in result.output
    assert "1000000" in result.output


def test_scan_json_decodes_hardware_errors(arm):
    arm.servo(13).inject_hardware_error(HardwareError.OVERLOAD)
    result = CliRunner().invoke(
        app, ["bus", "scan", "--port", arm.url, "--baud", "1000000", "--ids", "11,13", "--json"]
    )
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert [(s["id"], s["baudrate"], s["model_number"], s["firmware_version"]) for s in found] == [
        (11, 1_000_000, 1020, 48),
        (13, 1_000_000, 1020, 48),
    ]
    assert found[0]["hardware_errors"] == []
    assert found[1]["hardware_error_status"] == int(HardwareError.OVERLOAD)
    assert found[1]["hardware_errors"] == ["overload"]


def test_scan_finds_servos_at_their_own_baud_rate():
    bus = VirtualServoBus.start((1,), baudrate=57_600, name="factory-new")
    try:
        found = scan_port(bus.url, (1_000_000, 57_600), (1, 2))
    finally:
        bus.close()
    assert [(s.baudrate, s.id, s.model_name) for s in found] == [(57_600, 1, "XM430-W350")]


def test_scan_names_unknown_models_by_number(arm):
    arm.add_servo(VirtualServo(20, eeprom={"model_number": 1234, "baud_rate": 3}))  # a model we have no name for
    (servo,) = scan_port(arm.url, (1_000_000,), (20,))
    assert servo.model_name == "model 1234"


def test_scan_of_a_missing_port_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["bus", "scan", "--port", str(tmp_path / "ttyUSB9"), "--baud", "1000000"])
    assert result.exit_code == 2
    assert "cannot open serial port" in result.output


def test_scan_with_nobody_there_says_so(arm):
    result = CliRunner().invoke(app, ["bus", "scan", "--port", arm.url, "--baud", "9600", "--ids", "11"])
    assert result.exit_code == 0
    assert "no servo answered" in result.output


@pytest.mark.parametrize("args", [["--ids", "11,x"], ["--ids", "300"], ["--baud", "fast"], ["--baud", "-5"]])
def test_scan_rejects_bad_arguments(args):
    result = CliRunner().invoke(app, ["bus", "scan", "--port", "bidvis-sim://none", *args])
    assert result.exit_code == 2


def test_sim_bus_rejects_a_non_dynamixel_baud_rate(tmp_path):
    result = CliRunner().invoke(app, ["sim-bus", "--link", str(tmp_path / "tty"), "--baud", "12345"])
    assert result.exit_code == 2
    assert "not a Dynamixel X rate" in result.output
    assert not (tmp_path / "tty").exists()


def test_sim_bus_with_a_link_in_a_missing_directory_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["sim-bus", "--link", str(tmp_path / "no" / "such" / "tty")])
    assert result.exit_code == 2
    assert "cannot create" in result.output


def test_sim_bus_rejects_a_return_delay_the_servo_cannot_hold(tmp_path):
    result = CliRunner().invoke(app, ["sim-bus", "--link", str(tmp_path / "tty"), "--return-delay-us", "600"])
    assert result.exit_code == 2
    assert not (tmp_path / "tty").exists()


def test_scan_names_an_xl430_on_the_bus():
    bus = VirtualServoBus.start((11, 12), name="mixed-arm", models={12: XL430_W250})
    try:
        found = scan_port(bus.url, (1_000_000,), (11, 12))
    finally:
        bus.close()
    assert [(s.id, s.model_number, s.model_name) for s in found] == [(11, 1020, "XM430-W350"), (12, 1060, "XL430-W250")]


def test_sim_bus_refuses_an_xl430_id_that_is_not_on_the_bus(tmp_path):
    result = CliRunner().invoke(app, ["sim-bus", "--link", str(tmp_path / "tty"), "--xl430", "15"])
    assert result.exit_code == 2
    assert "--xl430" in result.output
    assert not (tmp_path / "tty").exists()


@pytest.mark.parametrize(
    ("flaws", "phrase"), [("perfect", "no flaw preset 'perfect'"), ("missing.toml", "cannot read")]
)
def test_sim_bus_refuses_unknown_flaws_in_one_line(tmp_path, flaws, phrase):
    result = CliRunner().invoke(app, ["sim-bus", "--link", str(tmp_path / "tty"), "--flaws", flaws])
    assert result.exit_code == 2
    assert phrase in result.output and "Traceback" not in result.output
    assert not (tmp_path / "tty").exists()
