"""`bidvis commission`: measure the arm, write its commissioning record, print the verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

CALIBRATION_FILE = "robot_calibration.toml"
# Commissioning waits this long (beyond the wire time) for each reply, so that a slow reply is
# measured as slow rather than lost (the control loop allows less; the round trip shows the truth).
REPLY_ALLOWANCE_S = 0.02


def register(app: typer.Typer) -> None:
    """Add `commission` to the `bidvis` app."""
    app.command("commission")(commission)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"bidvis commission: {message}", err=True)
    return typer.Exit(2)


def commission(
    port: Annotated[str, typer.Option("--port", help="Serial port of the arm (device path, pty, or URL).")],
    baud: Annotated[int | None, typer.Option("--baud", help="Baud rate [default: the calibration's].", min=1)] = None,
    directory: Annotated[
        Path, typer.Option("--dir", help="The robot's data dir: its calibration, and where the record is written.")
    ] = Path("."),
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the record here.")] = None,
    safety: Annotated[
        Path | None, typer.Option("--safety", help="Safety limits file (gains, Bus Watchdog) [default: embedded].")
    ] = None,
    limits: Annotated[
        Path | None, typer.Option("--limits", help="Commissioning limits file [default: embedded].")
    ] = None,
) -> None:
    """Measure the arm against the safety limits (about a minute; the arm moves slowly near its
    ready pose and along the taught paths), write DIR/commissioning.json and print the verdict.
    Exit status: 0 passed, 1 failed, 2 could not commission."""
    from bidvis.commissioning import Commissioner, CommissionError
    from bidvis.motion_runtime.wall_clock import WallClock
    from controller.commissioning import (
        CommissioningLimits,
        demo_commissioning_limits,
        record_path,
        save_record,
    )
    from controller.config import ConfigError, demo_safety_limits, load_calibration, load_config, load_safety_limits
    from firmware_bridge import BridgeError, DynamixelBus, PortError

    calibration_path = directory / CALIBRATION_FILE
    try:
        calibration = load_calibration(calibration_path)
        safety_limits = demo_safety_limits() if safety is None else load_safety_limits(safety)
        verdict_limits = demo_commissioning_limits() if limits is None else load_config(limits, CommissioningLimits)
    except ConfigError as exc:
        hint = "; teach the robot with `bidvis ui` first" if not calibration_path.exists() else ""
        raise _fail(" ".join(line.strip() for line in str(exc).splitlines()) + hint) from None
    try:
        bus = DynamixelBus(port, baudrate=baud or calibration.baudrate, timeout=REPLY_ALLOWANCE_S)
    except (PortError, ValueError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"commissioning the arm on {port}: keep clear, it moves near its ready pose and along the taught paths")
    try:
        with bus:
            record = Commissioner(bus, calibration, safety_limits, verdict_limits, WallClock(), report=typer.echo).run()
    except CommissionError as exc:
        raise _fail(str(exc)) from None
    except BridgeError as exc:
        raise _fail(f"lost the servos mid-way: {exc}; check power and cables and commission again") from None
    path = record_path(calibration_path)
    try:
        save_record(record, path)
        if json_path is not None:
            save_record(record, json_path)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"record written to {path}")
    if record.passed:
        typer.echo("verdict: PASSED: the arm is within the safety limits; `bidvis run` may start on it")
        return
    typer.echo("verdict: FAILED:")
    for failure in record.failures:
        typer.echo(f"  - {failure}")
    typer.echo(
        "`bidvis run` will refuse this arm until it passes; docs/commissioning.md says what to do for each failure"
    )
    raise typer.Exit(1)
