"""Load generator for the care-plan service: N simulated robots posting usage batches, in its own
process (so that the service's latency is not measured on the generator's CPU).

Each device keeps one HTTP/1.1 keep-alive connection (plain asyncio streams: a few microseconds of
CPU per request, far less than an HTTP library) and, about once a second (jittered +-20 %, random
phase), posts a batch of 20 events of its current meal; a meal is 3 batches (60 events: started,
bites, ended), then the next meal begins. It records each request's latency from the first byte
sent to the last byte of the answer after the warm-up, and counts anything but a 200 with every
event accepted; `requests_with_warmup` counts every answer, for CPU per request. To tell the
service's stalls from its own, it also reports how late its devices woke up to send (`send_late_*`:
its event loop kept from running, by itself or by the other processes on the cores) and the slowest
requests with the wall-clock time they were sent (`slowest`, to set against the service's logs).

    python benchmarks/careplan_load.py --url http://127.0.0.1:8000 --tokens tokens.txt \\
        --devices 100 --seconds 30 --warmup-s 5 --json result.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

BATCH_EVENTS = 20
BATCHES_PER_MEAL = 3
SLOWEST_REPORTED = 20
KINDS = ("trigger", "bite_offered", "bite_taken")


def meal_batch(meal_id: uuid.UUID, index: int, at: datetime) -> bytes:
    """Batch `index` (0-2) of a 60-event meal: started first, ended last, bites between."""
    events = []
    for i in range(BATCH_EVENTS):
        position = index * BATCH_EVENTS + i
        if position == 0:
            kind, data = "meal_started", "{}"
        elif position == BATCH_EVENTS * BATCHES_PER_MEAL - 1:
            kind, data = "meal_ended", "{}"
        else:
            kind, data = KINDS[position % 3], f'{{"bowl":{position % 2}}}'
        when = (at + timedelta(milliseconds=50 * i)).isoformat()
        events.append(f'{{"id":"{uuid.uuid4()}","meal_id":"{meal_id}","type":"{kind}","at":"{when}","data":{data}}}')
    return ('{"events":[' + ",".join(events) + "]}").encode()


async def post(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes
) -> tuple[int, bytes]:
    writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
    await writer.drain()
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("the server closed the connection")
    status = int(status_line.split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def device(
    url: str,
    token: str,
    seconds: float,
    warmup_s: float,
    rng: random.Random,
    latencies: list[tuple[float, float]],
    lateness: list[float],
    errors: list[str],
    answered: list[int],
) -> None:
    parts = urlsplit(url)
    head = (
        f"POST /api/v1/usage-events HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nContent-Length: "
    ).encode()
    await asyncio.sleep(rng.uniform(0, 1.0))
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    started = time.perf_counter()
    meal_id, index = uuid.uuid4(), 0
    planned = started
    try:
        while (now := time.perf_counter()) - started < seconds:
            if now - started >= warmup_s:
                lateness.append(now - planned)
            body = meal_batch(meal_id, index, datetime.now(UTC) - timedelta(seconds=2))
            sent, sent_wall = time.perf_counter(), time.time()
            try:
                status, answer = await post(reader, writer, head, body)
            except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
                errors.append(type(exc).__name__)
                writer.close()
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            else:
                answered.append(1)
                if sent - started >= warmup_s:
                    latencies.append((time.perf_counter() - sent, sent_wall))
                    if status != 200 or json.loads(answer)["accepted"] != BATCH_EVENTS:
                        errors.append(f"HTTP {status}")
            index += 1
            if index == BATCHES_PER_MEAL:
                meal_id, index = uuid.uuid4(), 0
            planned = now + rng.uniform(0.8, 1.2)
            await asyncio.sleep(max(0.0, planned - time.perf_counter()))
    finally:
        writer.close()


def percentile(ordered: list[float], p: float) -> float:
    return round(1000 * ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 1) if ordered else float("nan")


async def run(url: str, tokens: list[str], seconds: float, warmup_s: float, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    latencies: list[tuple[float, float]] = []
    lateness: list[float] = []
    errors: list[str] = []
    answered: list[int] = []
    await asyncio.gather(
        *(
            device(url, t, seconds, warmup_s, random.Random(rng.random()), latencies, lateness, errors, answered)
            for t in tokens
        )
    )
    ordered = sorted(latency for latency, _sent in latencies)
    late = sorted(lateness)
    slowest = sorted(latencies, reverse=True)[:SLOWEST_REPORTED]
    measured_s = seconds - warmup_s
    return {
        "devices": len(tokens),
        "requests": len(ordered),
        "requests_with_warmup": len(answered),
        "requests_per_s": round(len(ordered) / measured_s, 1),
        "events_per_s": round(BATCH_EVENTS * len(ordered) / measured_s),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "p50_ms": percentile(ordered, 50),
        "p95_ms": percentile(ordered, 95),
        "p99_ms": percentile(ordered, 99),
        "max_ms": round(1000 * ordered[-1], 1) if ordered else float("nan"),
        "send_late_p99_ms": percentile(late, 99),
        "send_late_max_ms": round(1000 * late[-1], 1) if late else float("nan"),
        "slowest": [
            {"sent_at": datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds"), "ms": round(1000 * s, 1)}
            for s, wall in slowest
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--tokens", required=True, help="a file with one device token per line")
    parser.add_argument("--devices", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup-s", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    with open(args.tokens) as fh:
        tokens = [line.strip() for line in fh if line.strip()][: args.devices]
    if len(tokens) < args.devices:
        sys.exit(f"only {len(tokens)} tokens in {args.tokens}, {args.devices} devices asked for")
    result = asyncio.run(run(args.url, tokens, args.seconds, args.warmup_s, args.seed))
    with open(args.json, "w") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main()
