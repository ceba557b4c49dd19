"""The old and new values of a change to the calibration or the profile, for the journal and the audit.

`changed_values(before, after)` gives the values of the top-level fields that differ. The audit
trail keeps them whole. A journal event goes to the care plan, which takes at most a few kB of
data per event, so `journal_values` keeps a field whole only while the event stays small, and
gives a large one (a long taught scoop) as the SHA-256 of its old and new value instead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

JOURNAL_VALUES_BUDGET_BYTES = 2500  # of the care plan's 4096 bytes per event: the rest for who, when, fields


def changed_values(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(old, new): the values of the keys whose value differs, as JSON-able data."""
    keys = sorted(k for k in {*before, *after} if before.get(k) != after.get(k))
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def _encoded(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def journal_values(
    old: Mapping[str, Any], new: Mapping[str, Any], budget_bytes: int = JOURNAL_VALUES_BUDGET_BYTES
) -> dict[str, Any]:
    """`{"old": {...}, "new": {...}}` for a journal event, the largest fields replaced by
    `{"sha256": ...}` of their value until the whole fits `budget_bytes`."""
    out_old, out_new = dict(old), dict(new)
    by_size = sorted(out_old.keys() | out_new.keys(), key=lambda k: -len(_encoded([old.get(k), new.get(k)])))
    for key in by_size:
        if len(_encoded({"old": out_old, "new": out_new})) <= budget_bytes:
            break
        for values, source in ((out_old, old), (out_new, new)):
            if key in source:
                values[key] = {"sha256": hashlib.sha256(_encoded(source[key]).encode()).hexdigest()}
    return {"old": out_old, "new": out_new}
