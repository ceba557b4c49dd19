"""Prometheus metrics (one registry per app, no globals) and JSON logs without personal data.

Log lines carry the route template (`/api/v1/citizens/{citizen_id}`), never the concrete path,
query, body, names or tokens.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram

from careplan_api.schemas import IngestResult

ACCESS_LOGGER = "careplan_api.access"
LATENCY_BUCKETS_S = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The service's Prometheus collectors, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "careplan_http_requests",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "careplan_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.login_throttled = Counter(
            "careplan_login_throttled",
            "Logins refused (429) by the login throttle, by scope (account, address)",
            ["scope"],
            registry=self.registry,
        )
        self.ingest_throttled = Counter(
            "careplan_ingest_throttled",
            "Device batches refused (429) by the ingest quota",
            registry=self.registry,
        )
        self.ingest_events = Counter(
            "careplan_ingest_events",
            "Usage events by outcome (accepted, duplicate, rejected)",
            ["outcome"],
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, duration_s: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(duration_s)

    def count_ingest(self, result: IngestResult) -> None:
        self.ingest_events.labels("accepted").inc(result.accepted)
        self.ingest_events.labels("duplicate").inc(result.duplicates)
        self.ingest_events.labels("rejected").inc(len(result.rejected))


_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)[^@\s]*@")


def mask_url_passwords(text: str) -> str:
    """`text` with the password of every URL in it replaced by `***` (`postgresql://u:***@host/db`)."""
    return _URL_PASSWORD.sub(r"\g<head>***@", text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
        return mask_url_passwords(json.dumps(entry, default=str))  # a URL in a message keeps no password


def configure_json_logging(level: str = "INFO") -> None:
    """Send the service's and uvicorn's logs as JSON lines to stderr (call once, at the edge)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("careplan_api", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # its lines hold full paths; ours hold templates
