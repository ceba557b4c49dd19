"""Servo bus commands: `bidvis sim-bus` (virtual servos on a pty) and `bidvis bus scan`."""

from __future__ import annotations

import json
import signal
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import typer

from firmware_bridge.control_table import XL430_W250, XM430_W350, Register, model_name

# Baud rates of the X series (Baud Rate register values 0..7), most used first, as the Wizard scans.
X_SERIES_BAUD_RATES = (57_600, 1_000_000, 115_200, 2_000_000, 3_000_000, 4_000_000, 4_500_000, 9_600)
HARDWARE_ERROR_STATUS = XM430_W350[Register.HARDWARE_ERROR_STATUS].address  # the same on every X-series model

bus_app = typer.Typer(help="Find and inspect Dynamixel servos on a serial port.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `sim-bus` and the `bus` group to the `bidvis` app."""
    app.command("sim-bus")(sim_bus)
    app.add_typer(bus_app, name="bus")


def _parse_ids(text: str) -> tuple[int, ...]:
    try:
        ids = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated servo ids like 11,12,13,14, got {text!r}") from None
    if not ids or any(not 0 <= i <= 252 for i in ids):
        raise typer.BadParameter(f"servo ids must be 0..252, got {text!r}")
    return ids


def _parse_bauds(text: str) -> tuple[int, ...]:
    try:
        bauds = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated baud rates like 57600,1000000, got {text!r}") from None
    if not bauds or any(b <= 0 for b in bauds):
        raise typer.BadParameter(f"baud rates must be positive, got {text!r}")
    return bauds


def sim_bus(
    link: Annotated[Path, typer.Option("--link", help="Path to create as a symlink to the pseudo-terminal.")],
    ids: Annotated[str, typer.Option("--ids", help="Servo ids, comma-separated.")] = "11,12,13,14",
    baud: Annotated[int, typer.Option("--baud", help="Baud rate the servos are set to.")] = 1_000_000,
    return_delay_us: Annotated[
        int | None,
        typer.Option(
            "--return-delay-us",
            min=0,
            max=508,
            help="Return Delay Time in us, 0..508 in steps of 2 (factory value 500).",
        ),
    ] = None,
    xl430: Annotated[
        str | None,
        typer.Option("--xl430", help="Ids (of --ids) that are XL430-W250 servos instead of XM430-W350."),
    ] = None,
    flaws: Annotated[
        str | None,
        typer.Option(
            "--flaws",
            help="The arm's flaws: a preset (typical, harsh, factory_adapter, ideal; default: the "
            "simulator's default preset) or a .json/.toml file of sim.flaws.ArmFlaws fields (docs/simulator.md).",
        ),
    ] = None,
    torque_off: Annotated[
        bool,
        typer.Option(
            "--torque-off",
            help="Start as real servos power on: torque off, the arm free (it falls onto its stops). "
            "By default the servos start holding the arm where it stands, as staff leave it between meals.",
        ),
    ] = False,
) -> None:
    """Serve virtual XM430-W350 servos on a pseudo-terminal until interrupted (real time)."""
    from sim.flaws import DEFAULT_PRESET, FlawsError, load_flaws
    from sim.virtual_bus import VirtualServoBus
    from sim.virtual_bus_pty import PtyBusServer

    try:
        arm_flaws = load_flaws(flaws or DEFAULT_PRESET)
    except FlawsError as exc:
        raise typer.BadParameter(str(exc), param_hint="--flaws") from None
    servo_ids = _parse_ids(ids)
    xl430_ids = _parse_ids(xl430) if xl430 else ()
    if not set(xl430_ids) <= set(servo_ids):
        raise typer.BadParameter(f"every --xl430 id must be one of --ids {ids}", param_hint="--xl430")
    eeprom = {} if return_delay_us is None else {"return_delay_time": return_delay_us // 2}
    try:
        bus = VirtualServoBus(
            servo_ids, baudrate=baud, eeprom=eeprom, models=dict.fromkeys(xl430_ids, XL430_W250), flaws=arm_flaws
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--baud") from None
    if not torque_off:
        bus.hold()
    try:
        server = PtyBusServer(bus, link)
    except OSError as exc:
        typer.echo(f"bidvis sim-bus: cannot create {link}: {exc}", err=True)
        raise typer.Exit(2) from None
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        models = ", ".join(f"{servo.servo_id} {servo.model.model_name}" for servo in bus.servos)
        typer.echo(f"virtual servos {models} at {baud} baud on {server.path} -> {server.device}")
        typer.echo(f"flaws: {flaws or DEFAULT_PRESET} ({arm_flaws.summary()})")
        typer.echo("torque off: the arm is free" if torque_off else "torque on: the arm holds where it stands")
        server.serve(stop)
    finally:
        server.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    typer.echo("bidvis sim-bus: stopped")


@dataclass(frozen=True)
class FoundServo:
    """One servo that answered a scan."""

    baudrate: int
    id: int
    model_number: int
    model_name: str
    firmware_version: int
    hardware_error_status: int | None
    hardware_errors: list[str]


def scan_port(
    port: str, bauds: tuple[int, ...], ids: tuple[int, ...] | None, timeout_s: float = 0.1
) -> list[FoundServo]:
    """Ping every baud rate on `port`; returns what answered (raises firmware_bridge.PortError)."""
    from firmware_bridge import BridgeError, DynamixelBus, HardwareError, ServoError

    found: list[FoundServo] = []
    for baudrate in bauds:
        with DynamixelBus(port, baudrate=baudrate, timeout=timeout_s) as bus:
            try:
                answered = bus.broadcast_ping(max_id=max(ids) if ids else 252)
            except BridgeError:
                answered = {}  # collisions or garbage: ask one id at a time instead
            if ids:
                answered = {i: details for i, details in answered.items() if i in ids}
            if not answered:
                for servo_id in ids or ():
                    try:
                        answered[servo_id] = bus.ping_details(servo_id)
                    except BridgeError:
                        continue
            for servo_id, (model_number, firmware) in sorted(answered.items()):
                status: int | None
                try:
                    status = bus.read(servo_id, HARDWARE_ERROR_STATUS, 1)[0]
                except ServoError as exc:  # the Alert bit: the bus decoded the status for us
                    status = None if exc.hardware_error is None else int(exc.hardware_error)
                except BridgeError:
                    status = None
                if status is None:
                    errors = ["unreadable"]
                else:
                    errors = [str(flag.name).lower() for flag in HardwareError if flag and status & flag]
                found.append(
                    FoundServo(baudrate, servo_id, model_number, model_name(model_number), firmware, status, errors)
                )
    return found


@bus_app.command("scan")
def scan(
    port: Annotated[str, typer.Option("--port", help="Serial port: device path, pty, or URL (bidvis-sim://NAME).")],
    baud: Annotated[
        str | None, typer.Option("--baud", help="Baud rates to try, comma-separated (default: every X-series rate).")
    ] = None,
    ids: Annotated[
        str | None, typer.Option("--ids", help="Only these ids (pinged one by one if broadcast finds none).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Find servos on a port at every baud rate, like the vendor's Wizard: ID, model, firmware, hardware errors."""
    from firmware_bridge import PortError

    bauds = _parse_bauds(baud) if baud else X_SERIES_BAUD_RATES
    wanted = _parse_ids(ids) if ids else None
    try:
        found = scan_port(port, bauds, wanted)
    except PortError as exc:
        typer.echo(f"bidvis bus scan: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps([asdict(servo) for servo in found], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Dynamixel servos on {port}")
    for column in ("baud", "id", "model", "firmware", "hardware errors"):
        table.add_column(column)
    for servo in found:
        errors = ", ".join(servo.hardware_errors) or "none"
        model = f"{servo.model_name} ({servo.model_number})"
        table.add_row(str(servo.baudrate), str(servo.id), model, str(servo.firmware_version), errors)
    console = Console()
    console.print(table)
    if not found:
        console.print(f"no servo answered on {port} at {', '.join(map(str, bauds))} baud")
