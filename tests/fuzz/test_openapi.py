"""schemathesis against the API's own /openapi.json, with every check it has.

Nothing but 503 (back pressure, an answer) may be a 5xx. Every other check runs as
schemathesis defines it, with one allowance: a request the schema allows may still be
refused for a rule JSON Schema cannot state, and the API says which. A body over the
byte limit is 413; two events of one batch sharing an ``event_id`` are 422 with problems
of type ``duplicate``; an ``Idempotency-Key`` sent again with another request, or too long
for the ``key:index`` ids of a batch, is 422 with a problem naming that. Only such answers
skip the "valid data is accepted" check.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import CHECKS, load_all_checks, not_a_server_error
from schemathesis.specs.openapi.checks import positive_data_acceptance

from conveyor.api.idempotency import KEY_REUSED, KEY_TOO_LONG_FOR_BATCH
from conveyor.config import Settings
from conveyor.infra.processes import free_port_block
from conveyor.infra.services import conveyor_service, http_ok, service_env
from support.stack import fresh_stack

load_all_checks()
# Every check but schemathesis's own 5xx one, which the test states itself (503 allowed).
# (Its registry may hold check classes for whole runs too; every built-in one is a function.)
CHECKS_BUT_5XX = [
    c for c in CHECKS.get_all() if not isinstance(c, type) and c is not not_a_server_error
]
CHECKS_BUT_ACCEPTANCE = [c for c in CHECKS_BUT_5XX if c is not positive_data_acceptance]
RULES = {"duplicate", KEY_REUSED, KEY_TOO_LONG_FOR_BATCH}


@pytest.fixture(scope="module")
def api_schema(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[schemathesis.BaseSchema]:
    """A real `conveyor api` process on its own topics, and the schema it serves."""
    tmp = tmp_path_factory.mktemp("fuzz")
    stack = fresh_stack(settings, tmp)
    port = free_port_block(1)
    env = {
        **service_env(stack, tmp / "conveyor.yaml"),
        "CONVEYOR_API__PORT": str(port),
        # The longest ?wait= the schema allows: the cases' requests answer within their
        # client's timeout.
        "CONVEYOR_API__MAX_WAIT_SECONDS": "1",
    }
    url = f"http://127.0.0.1:{port}"
    with conveyor_service(["api"], env, tmp / "api.log", partial(http_ok, f"{url}/readyz")):
        yield schemathesis.openapi.from_url(f"{url}/openapi.json")


def test_every_schemathesis_check_holds_and_no_server_error_but_503(
    api_schema: schemathesis.BaseSchema,
) -> None:
    # Driven through Hypothesis directly: schemathesis's pytest plugin does not load
    # under pytest 9.
    operations = [result.ok() for result in api_schema.get_all_operations()]  # type: ignore[union-attr]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "POST /v1/streams/orders/events",
        "POST /v1/streams/notifications/events",
        "GET /v1/jobs/{event_id}",
        "GET /healthz",
        "GET /readyz",
    }
    seen: Counter[tuple[str, int]] = Counter()
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        def checked(case: schemathesis.Case[Any]) -> None:
            response = case.call()
            seen[(case.path, response.status_code)] += 1
            assert response.status_code < 500 or response.status_code == 503, (
                f"{case.method} {case.formatted_path} → {response.status_code}: "
                f"{response.text[:300]}"
            )
            refused_by_rule = response.status_code == 413 or (
                response.status_code == 422
                and all(p.get("type") in RULES for p in response.json()["detail"])
            )
            checks = CHECKS_BUT_ACCEPTANCE if refused_by_rule else CHECKS_BUT_5XX
            case.validate_response(response, checks=checks)

        checked()

    # The generated cases reached the handlers: valid events were accepted.
    assert seen[("/v1/streams/orders/events", 202)] > 0
    assert seen[("/v1/streams/notifications/events", 202)] > 0
