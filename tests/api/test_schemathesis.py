"""schemathesis over the application's OpenAPI schema: no request makes the server fail (5xx)."""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

EXAMPLES = 15


def _fuzz(operation: Any, headers: list[dict[str, str]], failures: list[str],
          statuses: list[int]) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        for extra in headers:
            response = case.call(headers=extra)
            statuses.append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> "
                                f"{response.status_code}: {response.text[:300]}")

    run()


def test_no_server_errors(client: TestClient) -> None:
    """Anonymous and authorised calls to every documented operation answer without a 5xx."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    bearer = {"Authorization": client.headers["Authorization"]}
    failures: list[str] = []
    statuses: list[int] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10  # the FHIR interface and the identity endpoints are described
    for operation in operations:
        _fuzz(operation, [{}, bearer], failures, statuses)
    assert not failures, "\n".join(failures[:20])
    assert len(statuses) >= 2 * len(operations)
    assert 401 in statuses and any(s < 300 for s in statuses)
