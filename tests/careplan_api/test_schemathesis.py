"""Property-based fuzzing of every operation in the OpenAPI schema: no input may cause a 5xx.

Schemathesis generates valid and invalid requests (positive and negative modes) from
`/openapi.json`. Each case is sent with a fresh token of a role that can reach the operation (a
device for ingest, else staff of unit A or an admin, alternating), and half of the cases that
name a citizen are pointed at a real one, so that the fuzzing reaches past the access checks.
(Hand-rolled loop over operations: schemathesis' pytest fixture loader does not run on pytest 9.)
"""

from __future__ import annotations

import itertools

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from careplan_api.models import User
from careplan_api.services.security import create_access_token

MIN_TOTAL_CASES = 1000
TARGET_TOTAL_CASES = 1300  # spread over the operations; operations with few inputs use fewer


@pytest.fixture
def database_url(sqlite_url):
    return sqlite_url


@pytest.mark.slow
def test_no_generated_request_causes_a_server_error(app, world, client):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    counter = itertools.count()
    ran: dict[str, int] = {}
    failures: list[str] = []

    operations = [result.ok() for result in schema.get_all_operations()]
    examples_per_operation = max(25, -(-TARGET_TOTAL_CASES // len(operations)))
    for operation in operations:
        try:
            ran[operation.label] = _fuzz(operation, examples_per_operation, client, world, app, counter)
        except Exception as exc:  # collect every operation's failure, report together
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:600]}")

    assert not failures, "\n\n".join(failures)
    total = sum(ran.values())
    assert total >= MIN_TOTAL_CASES, f"only {total} generated cases ran: {ran}"


def _fuzz(operation, examples: int, client, world, app, counter) -> int:
    """Run up to `examples` generated cases of one operation; returns how many ran."""
    strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))
    ran = 0

    @given(case=strategy)
    @settings(
        max_examples=examples, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
    )
    def fuzz(case) -> None:
        nonlocal ran
        n = next(counter)
        ran += 1
        if "citizen_id" in (case.path_parameters or {}) and n % 2:
            case.path_parameters["citizen_id"] = str(world.alice)
        kwargs = case.as_transport_kwargs(base_url=str(client.base_url), headers=_headers_for(case, world, app, n))
        response = client.request(**kwargs)  # one TestClient for all cases: much faster than case.call()
        case.validate_response(response, checks=[not_a_server_error])

    fuzz()
    return ran


def _headers_for(case, world, app, n: int) -> dict[str, str]:
    if case.operation.path == "/api/v1/usage-events":
        return {"Authorization": f"Bearer {world.device_tokens['device_alice']}"}
    who = "staff_a" if n % 2 else "admin"
    with app.state.session_factory() as session:
        token, _ = create_access_token(session.get(User, world.user_ids[who]), app.state.jwt_key, 600)
    return {"Authorization": f"Bearer {token}"}
