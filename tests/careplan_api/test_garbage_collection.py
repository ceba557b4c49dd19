"""The serving process's garbage collector: start-up heap frozen, long pauses logged, bad thresholds refused."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from careplan_api.garbage_collection import GcPauseLog, prepare_worker_collector, settle_heap
from careplan_api.settings import Settings


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def gc_log() -> Iterator[_Records]:
    """The records of the `careplan_api.gc` logger; the collector's state is restored afterwards."""
    logger = logging.getLogger("careplan_api.gc")
    handler, level, callbacks = _Records(), logger.level, list(gc.callbacks)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        gc.callbacks[:] = callbacks
        gc.unfreeze()


def _pauses(handler: _Records) -> list[dict[str, object]]:
    return [r.fields for r in handler.records if r.getMessage() == "garbage collector pause"]  # type: ignore[attr-defined]


def test_a_collection_longer_than_the_threshold_is_logged_with_its_generation(gc_log):
    GcPauseLog(threshold_ms=1e-6).install()
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    gc.collect()
    pauses = _pauses(gc_log)
    assert any(p["generation"] == 2 and p["collected"] >= 1 for p in pauses)
    assert all(isinstance(p["pause_ms"], float) and p["pause_ms"] >= 0 for p in pauses)


def test_collections_shorter_than_the_threshold_are_not_logged(gc_log):
    GcPauseLog(threshold_ms=60_000).install()
    gc.collect()
    assert _pauses(gc_log) == []


def test_the_hook_is_installed_once_and_can_be_removed(gc_log):
    hook = GcPauseLog(threshold_ms=1e-6)
    hook.install()
    hook.install()
    assert gc.callbacks.count(hook) == 1
    hook.remove()
    gc.collect()
    assert hook not in gc.callbacks and _pauses(gc_log) == []


def test_settling_the_heap_takes_start_up_objects_out_of_the_collector_scans(gc_log):
    kept: list[object] = []
    kept.append(kept)  # a container the collector tracks
    assert settle_heap() > 0
    assert not any(o is kept for o in gc.get_objects())
    gc.unfreeze()
    assert any(o is kept for o in gc.get_objects())


def test_a_worker_freezes_its_heap_only_when_the_setting_says_so(gc_log):
    gc.unfreeze()
    prepare_worker_collector(freeze_after_startup=False, pause_log_ms=50)
    assert gc.get_freeze_count() == 0
    assert sum(isinstance(c, GcPauseLog) for c in gc.callbacks) == 1
    prepare_worker_collector(freeze_after_startup=True, pause_log_ms=50)
    assert gc.get_freeze_count() > 0
    assert any(r.getMessage() == "start-up objects frozen" for r in gc_log.records)


@pytest.mark.parametrize("threshold_ms", [0, -5, float("nan"), float("-inf")])
def test_a_threshold_that_is_not_a_positive_number_is_refused(threshold_ms):
    with pytest.raises(ValueError, match="positive number of milliseconds"):
        GcPauseLog(threshold_ms)


@pytest.mark.parametrize("value", ["0", "-1", "nan", "fast"])
def test_the_pause_log_setting_refuses_what_is_not_a_positive_number(monkeypatch, tmp_path, value):
    monkeypatch.setenv("BIDVIS_CAREPLAN_GC_PAUSE_LOG_MS", value)
    with pytest.raises(ValidationError, match="gc_pause_log_ms"):
        Settings(data_dir=tmp_path)


def test_the_freeze_is_on_by_default_and_can_be_switched_off_by_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("BIDVIS_CAREPLAN_GC_FREEZE_AFTER_STARTUP", raising=False)
    assert Settings(data_dir=tmp_path).gc_freeze_after_startup is True
    monkeypatch.setenv("BIDVIS_CAREPLAN_GC_FREEZE_AFTER_STARTUP", "false")
    assert Settings(data_dir=tmp_path).gc_freeze_after_startup is False
