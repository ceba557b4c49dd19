"""Check the FTDI latency timer of a USB serial adapter (the U2D2 is an FTDI FT232H).

Linux's ftdi_sio driver holds received bytes for up to `latency_timer` ms (16 by default) before
handing them to the host, which adds that much to every servo reply. Set it to 1 ms.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

RECOMMENDED_MS = 1
UDEV_RULE = 'ACTION=="add", SUBSYSTEM=="usb-serial", DRIVER=="ftdi_sio", ATTR{latency_timer}="1"'


def latency_timer_path(port: str, sysfs_root: Path = Path("/sys")) -> Path | None:
    """The sysfs file of `port`'s latency timer, or None when the port is not a USB serial tty."""
    if "://" in port:
        return None
    tty = os.path.basename(os.path.realpath(port))
    if not tty.startswith("ttyUSB"):
        return None
    return sysfs_root / "bus" / "usb-serial" / "devices" / tty / "latency_timer"


def read_latency_timer_ms(port: str, sysfs_root: Path = Path("/sys")) -> int | None:
    """The latency timer of `port` in ms, or None when there is none to read."""
    path = latency_timer_path(port, sysfs_root)
    if path is None:
        return None
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def check_latency_timer(port: str, sysfs_root: Path = Path("/sys")) -> int | None:
    """Read `port`'s latency timer and log a warning with the fix when it is above 1 ms.

    Returns the value in ms (None when the port has no latency timer).
    """
    value = read_latency_timer_ms(port, sysfs_root)
    if value is not None and value > RECOMMENDED_MS:
        path = latency_timer_path(port, sysfs_root)
        log.warning(
            "%s: FTDI latency timer is %d ms (expected %d ms); every servo reply waits up to that long. "
            "Fix now: `echo %d | sudo tee %s`; fix for good: put the line\n  %s\n"
            "into /etc/udev/rules.d/99-dynamixel-latency.rules and run `sudo udevadm control --reload` "
            "and replug the adapter",
            port,
            value,
            RECOMMENDED_MS,
            RECOMMENDED_MS,
            path,
            UDEV_RULE,
        )
    return value


__all__ = ["RECOMMENDED_MS", "UDEV_RULE", "check_latency_timer", "latency_timer_path", "read_latency_timer_ms"]
