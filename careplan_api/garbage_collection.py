"""The worker's cyclic garbage collector: start-up objects kept out of its scans, long pauses logged.

A worker holds ~220,000 objects once the app is built (modules, routes, models, pydantic schemas).
CPython's full (generation 2) collection walks all of them, 60-140 ms on this project's machine
(docs/benchmarks.md, "Care plan at scale"), and every request of that process waits meanwhile.
`settle_heap` moves them to the permanent generation once (`gc.freeze()`), so that a full collection
walks only what requests made since. `GcPauseLog` logs each collection that takes longer than a
threshold, with its generation, so an operator can tell a collector pause from a slow query.

Both are set up at the edge, by the code that serves the app (never at import, never in tests' apps).
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

_log = logging.getLogger("careplan_api.gc")


def settle_heap() -> int:
    """Collect what start-up left over, then freeze the survivors; returns how many are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


class GcPauseLog:
    """A `gc.callbacks` hook that logs collections longer than `threshold_ms` (a warning each)."""

    def __init__(self, threshold_ms: float) -> None:
        if not threshold_ms > 0:
            raise ValueError(f"threshold_ms must be a positive number of milliseconds, not {threshold_ms!r}")
        self.threshold_s = threshold_ms / 1000
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause_s = time.perf_counter() - self._started
        if pause_s >= self.threshold_s:
            # logging's locks are re-entrant, so a collection started inside a log call can log too
            _log.warning(
                "garbage collector pause",
                extra={
                    "fields": {
                        "generation": info["generation"],
                        "pause_ms": round(pause_s * 1000, 1),
                        "collected": info["collected"],
                    }
                },
            )

    def install(self) -> None:
        if self not in gc.callbacks:
            gc.callbacks.append(self)

    def remove(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)


def prepare_worker_collector(freeze_after_startup: bool, pause_log_ms: float) -> None:
    """What a serving process does once its app is built: log long pauses and, unless switched
    off, freeze the start-up heap."""
    GcPauseLog(pause_log_ms).install()
    if freeze_after_startup:
        frozen = settle_heap()
        _log.info("start-up objects frozen", extra={"fields": {"frozen": frozen}})
