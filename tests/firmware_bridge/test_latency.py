"""FTDI latency-timer check over a fake sysfs tree."""

from __future__ import annotations

import logging

from firmware_bridge.latency import UDEV_RULE, check_latency_timer, latency_timer_path, read_latency_timer_ms


def _sysfs(tmp_path, tty: str, value: str):
    folder = tmp_path / "sys" / "bus" / "usb-serial" / "devices" / tty
    folder.mkdir(parents=True)
    (folder / "latency_timer").write_text(value)
    return tmp_path / "sys"


def test_default_16_ms_warns_with_the_fix(tmp_path, caplog):
    root = _sysfs(tmp_path, "ttyUSB0", "16\n")
    with caplog.at_level(logging.WARNING, logger="firmware_bridge.latency"):
        assert check_latency_timer("/dev/ttyUSB0", root) == 16
    message = caplog.text
    assert "16 ms" in message and "sudo tee" in message and str(root) in message and UDEV_RULE in message


def test_one_ms_is_quiet(tmp_path, caplog):
    root = _sysfs(tmp_path, "ttyUSB1", "1")
    with caplog.at_level(logging.WARNING):
        assert check_latency_timer("/dev/ttyUSB1", root) == 1
    assert caplog.text == ""


def test_symlinked_port_resolves_to_its_tty(tmp_path):
    root = _sysfs(tmp_path, "ttyUSB3", "4")
    device = tmp_path / "dev" / "ttyUSB3"
    device.parent.mkdir()
    device.touch()
    link = tmp_path / "u2d2"
    link.symlink_to(device)
    assert read_latency_timer_ms(str(link), root) == 4


def test_ports_without_latency_timer_are_skipped(tmp_path):
    root = _sysfs(tmp_path, "ttyUSB0", "16")
    assert latency_timer_path("loop://", root) is None
    assert read_latency_timer_ms("/dev/pts/3", root) is None
    assert read_latency_timer_ms("/dev/ttyUSB7", root) is None  # no such sysfs entry


def test_unreadable_value_is_skipped(tmp_path):
    root = _sysfs(tmp_path, "ttyUSB0", "garbage")
    assert check_latency_timer("/dev/ttyUSB0", root) is None
