"""The HTTP front of the FHIR interface: limits, methods, HEAD and unexpected failures."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import NoReturn

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from starlette.types import Message

from gansu_health.fhir.rest.asgi import FhirFront
from gansu_health.fhir.rest.dispatch import FhirApi, FhirRequest, FhirResponse


def _issue(resp: object) -> dict[str, str]:
    body = resp.json()  # type: ignore[attr-defined]
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]  # type: ignore[no-any-return]


def _handle_raising(client: TestClient, monkeypatch: pytest.MonkeyPatch,
                    error: Exception) -> FhirApi:
    """Make every FHIR request that reaches ``FhirApi.handle`` raise ``error``."""
    api: FhirApi = client.app.state.fhir  # type: ignore[attr-defined]

    def handle(_req: FhirRequest) -> NoReturn:
        raise error

    monkeypatch.setattr(api, "handle", handle)
    return api


def test_a_streamed_body_over_the_limit_is_refused(client: TestClient) -> None:
    limit = client.app.state.settings.max_body_bytes  # type: ignore[attr-defined]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the size shows only while reading
        for _ in range(limit // 65_536 + 2):
            yield b" " * 65_536

    resp = client.post("/fhir/Patient", content=chunks(),
                       headers={"Content-Type": "application/fhir+json"})
    assert resp.status_code == 413 and "at most" in _issue(resp)["diagnostics"]


def test_other_methods_get_an_operation_outcome(client: TestClient) -> None:
    resp = client.request("OPTIONS", "/fhir/Patient")
    assert resp.status_code == 405 and "OPTIONS" in _issue(resp)["diagnostics"]


def test_head_has_the_headers_of_get_without_the_body(client: TestClient) -> None:
    got = client.get("/fhir/metadata")
    head = client.head("/fhir/metadata")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert got.headers["x-content-type-options"] == "nosniff"  # the security layers still wrap it


def test_an_unexpected_failure_is_a_500_outcome_and_the_server_goes_on(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    _handle_raising(client, monkeypatch, RuntimeError("disk on fire"))
    resp = client.get("/fhir/Patient")
    assert resp.status_code == 500 and "disk on fire" not in resp.text
    assert _issue(resp)["severity"] in ("error", "fatal")
    monkeypatch.undo()
    assert client.get("/fhir/metadata").status_code == 200
    assert client.app.state.load.in_flight == 0  # type: ignore[attr-defined]  # failures too


def test_the_smart_discovery_document_is_still_served_under_the_base(client: TestClient) -> None:
    resp = client.get("/fhir/.well-known/smart-configuration")
    assert resp.status_code == 200 and "authorization_endpoint" in resp.json()


def test_a_client_gone_before_its_body_arrived_gets_nothing_and_nothing_runs(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    api = _handle_raising(client, monkeypatch,
                          AssertionError("a request without its body must not be served"))
    front = FhirFront(client.app, api=api, max_body=1024)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/fhir/Patient", "root_path": "",
             "headers": [(b"content-type", b"application/fhir+json")], "query_string": b""}
    asyncio.run(front(scope, receive, send))
    assert sent == [] and front.load.in_flight == 0


class _Deadlock(Exception):
    sqlstate = "40P01"


def _undone() -> OperationalError:
    return OperationalError("INSERT …", {}, _Deadlock("deadlock detected"))


def test_a_transaction_undone_by_a_deadlock_runs_again_then_is_a_503_to_retry(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    api: FhirApi = client.app.state.fhir  # type: ignore[attr-defined]
    real_route = api._route
    outcomes: list[Exception | None] = [
        _undone(), None,  # undone once: run again, answered as usual
        _undone(), _undone(), _undone(),  # undone every time: a 503 to send again
        _undone(),  # an operation is not run again (some call out inside the transaction)
        OperationalError("INSERT …", {}, RuntimeError("disk full"))]
    calls: list[str] = []

    def route(req: FhirRequest) -> FhirResponse:
        calls.append(req.path)
        failure = outcomes.pop(0)
        if failure is not None:
            raise failure
        return real_route(req)

    monkeypatch.setattr(api, "_route", route)
    assert client.get("/fhir/Patient").status_code == 200 and len(calls) == 2
    resp = client.get("/fhir/Patient")
    assert resp.status_code == 503 and resp.headers["retry-after"] == "1" and len(calls) == 5
    assert _issue(resp)["code"] == "transient" and "Send it again" in _issue(resp)["diagnostics"]
    resp = client.post("/fhir/Patient/$match", json={"resourceType": "Parameters"})
    assert resp.status_code == 503 and len(calls) == 6
    resp = client.get("/fhir/Patient")  # any other database failure stays a 500
    assert resp.status_code == 500 and "disk full" not in resp.text and len(calls) == 7
