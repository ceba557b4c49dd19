"""HTTP client for devices: post usage batches to the care-plan service, retrying what can be retried.

    with CareplanClient("http://127.0.0.1:8000", token) as client:
        result = client.post_events(UsageBatch(events=[...]))   # -> IngestResult

Retries (exponential backoff with jitter, `backoff_delay_s`, honouring `Retry-After`) on connection errors,
timeouts, 429, 502, 503 and 504. Resending is safe: the service stores each event id once. Other
answers raise a typed error at once. Imports only httpx and `careplan_api.schemas`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import ValidationError

from careplan_api.schemas import IngestResult, UsageBatch

RETRY_STATUSES = frozenset({429, 502, 503, 504})


def backoff_delay_s(
    failures: int,
    *,
    base_s: float,
    cap_s: float,
    rng: random.Random,
    retry_after_s: float | None = None,
    max_retry_after_s: float | None = None,
) -> float:
    """Delay before the next attempt after `failures` consecutive failures (>= 1).

    Exponential with "equal jitter": a random value in [c/2, c] with c = min(cap_s, base_s * 2^(n-1)),
    so devices that lost the service together do not come back in step. A server's Retry-After is
    honoured when it asks for longer, up to `max_retry_after_s` (default `cap_s`).
    """
    ceiling = min(cap_s, base_s * 2.0 ** min(max(failures, 1) - 1, 60))
    delay = ceiling / 2.0 + rng.uniform(0.0, ceiling / 2.0)
    if retry_after_s is not None and retry_after_s > 0:
        limit = cap_s if max_retry_after_s is None else max_retry_after_s
        delay = max(delay, min(float(retry_after_s), limit))
    return delay


class CareplanClientError(Exception):
    """Base of the client's errors."""


class CareplanHTTPError(CareplanClientError):
    """The service answered with an error status; `status_code` and `detail` say which and why."""

    def __init__(self, status_code: int, detail: Any) -> None:
        super().__init__(f"care-plan service answered {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


class DeviceUnauthorized(CareplanHTTPError):
    """401/403: the device token is unknown, revoked, or not allowed here; re-enrol the device."""


class BatchRefused(CareplanHTTPError):
    """400/413/422: the batch as a whole is malformed or too large; split or fix it, do not resend as is."""


class ServiceUnavailable(CareplanClientError):
    """The service could not be reached or stayed unavailable through every retry; try later."""

    def __init__(self, message: str, attempts: int, last_status: int | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.last_status = last_status


class RateLimited(ServiceUnavailable):
    """429: the device is over its ingest quota; nothing was stored. Wait `retry_after_s`, and send
    batches of at most `max_batch_events` (when the service said so)."""

    def __init__(self, message: str, attempts: int, retry_after_s: float, max_batch_events: int | None) -> None:
        super().__init__(message, attempts, 429)
        self.retry_after_s = retry_after_s
        self.max_batch_events = max_batch_events


class UnexpectedResponse(CareplanClientError):
    """A success status with a body that is not an IngestResult."""


class CareplanClient:
    """Posts `UsageBatch`es for one device (its bearer token)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float = 10.0,
        max_attempts: int = 6,
        backoff_base_s: float = 0.2,
        backoff_max_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "User-Agent": "bidvis-device"},
            timeout=timeout_s,
            transport=transport,
        )

    def __enter__(self) -> CareplanClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def post_events(self, batch: UsageBatch) -> IngestResult:
        """Send one batch; returns the service's `IngestResult` (see its `rejected` list)."""
        body = batch.model_dump_json().encode()
        last_status: int | None = None
        last_error = ""
        for attempt in range(1, self.max_attempts + 1):
            retry_after: float | None = None
            try:
                response = self._http.post(
                    "/api/v1/usage-events", content=body, headers={"Content-Type": "application/json"}
                )
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                last_error, last_status = f"{type(exc).__name__}: {exc}", None
            else:
                if response.status_code not in RETRY_STATUSES:
                    return self._result(response)
                last_status = response.status_code
                last_error = f"HTTP {response.status_code}"
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if response.status_code == 429:
                    limited = _rate_limited(response, attempt, retry_after)
                    too_big = limited.max_batch_events is not None and len(batch.events) > limited.max_batch_events
                    if too_big or attempt == self.max_attempts:
                        raise limited  # a batch over the size limit is refused however often it is sent
            if attempt < self.max_attempts:
                self._sleep(
                    backoff_delay_s(
                        attempt,
                        base_s=self.backoff_base_s,
                        cap_s=self.backoff_max_s,
                        rng=self._rng,
                        retry_after_s=retry_after,
                    )
                )
        raise ServiceUnavailable(
            f"care-plan service unavailable after {self.max_attempts} attempts ({last_error}); the batch is safe to resend",
            self.max_attempts,
            last_status,
        )

    @staticmethod
    def _result(response: httpx.Response) -> IngestResult:
        if response.is_success:
            try:
                return IngestResult.model_validate_json(response.content)
            except ValidationError as exc:
                raise UnexpectedResponse(f"the service's answer is not an IngestResult: {exc}") from exc
        try:
            detail = response.json().get("detail", response.text)
        except (ValueError, AttributeError):
            detail = response.text[:500]
        if response.status_code in (401, 403):
            raise DeviceUnauthorized(response.status_code, detail)
        if response.status_code in (400, 413, 422):
            raise BatchRefused(response.status_code, detail)
        raise CareplanHTTPError(response.status_code, detail)


def _rate_limited(response: httpx.Response, attempts: int, retry_after_s: float | None) -> RateLimited:
    try:
        body = response.json()
        detail, size = str(body.get("detail", "")), body.get("max_batch_events")
    except (ValueError, AttributeError):
        detail, size = response.text[:500], None
    return RateLimited(
        f"care-plan service: over this device's ingest quota ({detail}); the batch is safe to resend",
        attempts,
        retry_after_s if retry_after_s is not None else 1.0,
        size if isinstance(size, int) and size >= 1 else None,
    )


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


__all__ = [
    "BatchRefused",
    "CareplanClient",
    "CareplanClientError",
    "CareplanHTTPError",
    "DeviceUnauthorized",
    "RateLimited",
    "ServiceUnavailable",
    "UnexpectedResponse",
    "backoff_delay_s",
    "parse_retry_after",
]
