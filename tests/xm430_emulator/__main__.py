"""`python -m tests.xm430_emulator --link PATH --ids 11,12,13,14`: serve emulated XM430-W350
servos on a pseudo-terminal at PATH until interrupted (SIGINT or SIGTERM)."""

from __future__ import annotations

import argparse
import math
import random
import signal
import sys
import threading
import time
from pathlib import Path

from .physics import Arm, Joint, Link
from .pty_server import PtyServer
from .servo import BAUD_RATES, Bus, Servo


def _numbers(kind, text: str) -> list:
    try:
        return [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.xm430_emulator", description=__doc__)
    parser.add_argument("--link", type=Path, required=True, help="path to create as a symlink to the pty")
    parser.add_argument("--ids", type=lambda t: _numbers(int, t), default=[11, 12, 13, 14], help="servo ids")
    parser.add_argument("--baud", type=int, default=1_000_000, choices=BAUD_RATES, help="the servos' baud rate")
    parser.add_argument("--return-delay-us", type=int, default=500, help="Return Delay Time, 0..508 us (factory: 500)")
    parser.add_argument("--noise-ma", type=float, default=40.0, help="Present Current noise, standard deviation")
    parser.add_argument(
        "--arm",
        type=parse_arm,
        default=(),
        help="the pitch joints' links, base to tip, as ID:MASS_KG:COM_U,COM_V[:END_U,END_V] separated by spaces "
        "(physics.Link; default: no gravity load)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the current noise")
    parser.add_argument(
        "--torque-off", action="store_true", help="power on as a real servo: torque off (default: holding)"
    )
    args = parser.parse_args(argv)
    if not args.ids or len(set(args.ids)) != len(args.ids) or not all(0 <= i <= 252 for i in args.ids):
        parser.error(f"--ids must be distinct ids 0..252, got {args.ids}")
    if not 0 <= args.return_delay_us <= 508:
        parser.error(f"--return-delay-us must be 0..508, got {args.return_delay_us}")
    if not (math.isfinite(args.noise_ma) and args.noise_ma >= 0):
        parser.error(f"--noise-ma must be finite and not negative, got {args.noise_ma}")
    if not {servo_id for servo_id, _ in args.arm} <= set(args.ids):
        parser.error(f"every --arm link must be moved by one of --ids {args.ids}")
    return args


def parse_arm(text: str) -> tuple[tuple[int, Link], ...]:
    """`--arm`'s links: (servo id, Link) base to tip."""
    links = []
    for spec in text.split():
        try:
            servo_id, mass, *vectors = spec.split(":")
            com, end = ([float(v) for v in vector.split(",")] for vector in (*vectors, "0,0")[:2])
            link = Link(float(mass), (com[0], com[1]), (end[0], end[1]))
            if len(vectors) > 2 or not all(map(math.isfinite, (link.mass_kg, *link.com_m, *link.end_m))):
                raise ValueError
        except (ValueError, IndexError):
            raise argparse.ArgumentTypeError(f"expected ID:MASS_KG:COM_U,COM_V[:END_U,END_V], got {spec!r}") from None
        links.append((int(servo_id), link))
    return tuple(links)


def build_bus(args: argparse.Namespace) -> Bus:
    rng = random.Random(args.seed)
    servos = []
    for servo_id in args.ids:
        joint = Joint(noise_a=args.noise_ma / 1000.0, rng=random.Random(rng.random()))
        servo = Servo(servo_id, joint, return_delay_units=args.return_delay_us // 2)
        servo.memory.set("baud_rate", BAUD_RATES.index(args.baud))
        if not args.torque_off:
            servo.write(64, b"\x01")
        servos.append(servo)
    arm = Arm(tuple(args.ids.index(servo_id) for servo_id, _ in args.arm), tuple(link for _, link in args.arm))
    return Bus(servos, time.monotonic(), arm)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bus = build_bus(args)
    try:
        server = PtyServer(bus, args.link)
    except OSError as exc:
        print(f"xm430 emulator: cannot create {args.link}: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with server:
        ids = ", ".join(map(str, args.ids))
        print(f"emulated XM430-W350 servos {ids} at {args.baud} baud on {args.link} -> {server.device}", flush=True)
        server.serve(stop)
    print("xm430 emulator: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
