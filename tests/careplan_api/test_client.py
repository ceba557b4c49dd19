"""The device client: real round trips, retries with backoff and Retry-After, typed errors."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from careplan_api.client import (
    BatchRefused,
    CareplanClient,
    CareplanHTTPError,
    DeviceUnauthorized,
    ServiceUnavailable,
    UnexpectedResponse,
    parse_retry_after,
)
from careplan_api.schemas import IngestResult, UsageBatch

OK_BODY = {"accepted": 1, "duplicates": 0, "rejected": []}


def _batch(world, bites=1) -> UsageBatch:
    return UsageBatch.model_validate({"events": world.meal_events(bites=bites)})


def _scripted(responses):
    """A transport that answers with the given responses in turn and records the requests."""
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = responses[min(len(seen) - 1, len(responses) - 1)]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handler), seen


def _client(transport, sleeps, **kwargs) -> CareplanClient:
    return CareplanClient(
        "http://care.invalid", "bvd_token", transport=transport, sleep=sleeps.append, rng=random.Random(7), **kwargs
    )


def test_posting_to_a_live_service_stores_the_batch_once(live_server, world):
    batch = _batch(world, bites=2)
    with CareplanClient(live_server, world.device_tokens["device_alice"]) as client:
        first = client.post_events(batch)
        second = client.post_events(batch)
    assert first == IngestResult(accepted=len(batch.events), duplicates=0, rejected=[])
    assert second.duplicates == len(batch.events) and second.accepted == 0


def test_a_revoked_or_wrong_token_raises_device_unauthorized_at_once(live_server, world):
    with CareplanClient(live_server, "bvd_not-enrolled", sleep=lambda s: pytest.fail("must not retry")) as client:
        with pytest.raises(DeviceUnauthorized) as info:
            client.post_events(_batch(world))
    assert info.value.status_code == 401


def test_503_with_retry_after_is_retried_after_the_given_seconds(world):
    transport, seen = _scripted(
        [
            httpx.Response(503, headers={"Retry-After": "2"}, json={"detail": "db down"}),
            httpx.Response(503, headers={"Retry-After": "1"}),
            httpx.Response(200, json=OK_BODY),
        ]
    )
    sleeps: list[float] = []
    result = _client(transport, sleeps).post_events(_batch(world))
    assert result.accepted == 1
    assert sleeps == [2.0, 1.0]
    assert len(seen) == 3 and seen[0].content == seen[2].content, "the same batch is resent"
    assert seen[0].headers["Authorization"] == "Bearer bvd_token"


def test_429_with_an_http_date_retry_after_is_honoured(world):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)
    transport, _ = _scripted([httpx.Response(429, headers={"Retry-After": when}), httpx.Response(200, json=OK_BODY)])
    sleeps: list[float] = []
    _client(transport, sleeps).post_events(_batch(world))
    assert len(sleeps) == 1 and 1.0 <= sleeps[0] <= 3.0


def test_retry_after_is_capped_by_the_maximum_backoff(world):
    transport, _ = _scripted([httpx.Response(503, headers={"Retry-After": "86400"}), httpx.Response(200, json=OK_BODY)])
    sleeps: list[float] = []
    _client(transport, sleeps, backoff_max_s=5).post_events(_batch(world))
    assert sleeps == [5.0]


def test_connection_errors_back_off_exponentially_with_jitter_then_give_up(world):
    transport, seen = _scripted([httpx.ConnectError("refused")])
    sleeps: list[float] = []
    client = _client(transport, sleeps, max_attempts=5, backoff_base_s=0.5, backoff_max_s=3)
    with pytest.raises(ServiceUnavailable) as info:
        client.post_events(_batch(world))
    assert info.value.attempts == 5 and len(seen) == 5
    assert len(sleeps) == 4
    caps = [0.5, 1.0, 2.0, 3.0]
    assert all(0 <= s <= cap for s, cap in zip(sleeps, caps, strict=True))
    assert len(set(sleeps)) == 4, "jitter spreads the waits"
    assert "safe to resend" in str(info.value)


def test_timeouts_are_retried(world):
    transport, seen = _scripted([httpx.ReadTimeout("slow"), httpx.Response(200, json=OK_BODY)])
    sleeps: list[float] = []
    assert _client(transport, sleeps).post_events(_batch(world)).accepted == 1
    assert len(seen) == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, DeviceUnauthorized),
        (403, DeviceUnauthorized),
        (413, BatchRefused),
        (422, BatchRefused),
        (400, BatchRefused),
        (500, CareplanHTTPError),
        (404, CareplanHTTPError),
    ],
)
def test_other_error_statuses_raise_typed_errors_without_retrying(world, status, error):
    transport, seen = _scripted([httpx.Response(status, json={"detail": "because"})])
    with pytest.raises(error) as info:
        _client(transport, []).post_events(_batch(world))
    assert info.value.status_code == status and info.value.detail == "because"
    assert len(seen) == 1


@pytest.mark.parametrize("body", [b"not json", b'{"accepted": "many"}', b"[]"])
def test_a_garbled_success_answer_raises_unexpected_response(world, body):
    transport, _ = _scripted([httpx.Response(200, content=body)])
    with pytest.raises(UnexpectedResponse):
        _client(transport, []).post_events(_batch(world))


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("5", 5.0),
        (" 7 ", 7.0),
        ("soon", None),
        ("-3", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_retry_after_parsing(header, seconds):
    assert parse_retry_after(header) == seconds


def test_the_client_refuses_nonsense_settings():
    with pytest.raises(ValueError):
        CareplanClient("http://x", "t", max_attempts=0)


def test_event_ids_survive_the_wire(world):
    batch = _batch(world)
    transport, seen = _scripted([httpx.Response(200, json=OK_BODY)])
    _client(transport, []).post_events(batch)
    sent = UsageBatch.model_validate_json(seen[0].content)
    assert [e.id for e in sent.events] == [e.id for e in batch.events]
    assert all(isinstance(e.id, uuid.UUID) for e in sent.events)
