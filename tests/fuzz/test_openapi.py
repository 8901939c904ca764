"""schemathesis against the API's own /openapi.json: nothing but 503 may be a 5xx."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from conveyor.config import Settings
from conveyor.infra.processes import free_port_block
from conveyor.infra.services import conveyor_service, http_ok
from support.stack import fresh_stack


@pytest.fixture(scope="module")
def api_schema(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[schemathesis.BaseSchema]:
    """A real `conveyor api` process on its own topics, and the schema it serves."""
    tmp = tmp_path_factory.mktemp("fuzz")
    stack = fresh_stack(settings, tmp)
    port = free_port_block(1)
    config = tmp / "conveyor.yaml"
    config.write_text(
        json.dumps(
            {
                "streams": {
                    n: s.model_dump(by_alias=True, exclude={"name"})
                    for n, s in stack.streams.items()
                },
                "workers": {"group_id": stack.workers.group_id},
            }
        )
    )
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka.bootstrap_servers,
        "SCHEMA_REGISTRY_URL": stack.schema_registry.url,
        "CONVEYOR_CONFIG": str(config),
        "CONVEYOR_DATABASE_URL": stack.database_url,
        "CONVEYOR_API__PORT": str(port),
    }
    url = f"http://127.0.0.1:{port}"
    with conveyor_service(["api"], env, Path(tmp) / "api.log", partial(http_ok, f"{url}/readyz")):
        yield schemathesis.openapi.from_url(f"{url}/openapi.json")


def test_no_operation_answers_a_server_error_other_than_503(
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
        def no_server_error(case: schemathesis.Case[Any]) -> None:
            response = case.call()
            seen[(case.path, response.status_code)] += 1
            assert response.status_code < 500 or response.status_code == 503, (
                f"{case.method} {case.formatted_path} → {response.status_code}: "
                f"{response.text[:300]}"
            )

        no_server_error()

    # The generated cases reached the handlers: valid events were accepted.
    assert seen[("/v1/streams/orders/events", 202)] > 0
    assert seen[("/v1/streams/notifications/events", 202)] > 0
