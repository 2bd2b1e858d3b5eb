"""Fixtures of the payment and notification tests: the booking world of tests/scheduling, residents
with citizen accounts, the sandbox, and helpers that deliver outbox events."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.conftest import mint_token
from tests.scheduling.conftest import (  # noqa: F401  (fixtures)
    NOW,
    ZONE,
    Clock,
    appointment,
    clinic,
    clock,
    diagnostics,
    doctors,
    events,
    new_patient,
    op,
    operator_headers,
)

from gansu_health.core.database import build_engine, write_transaction
from gansu_health.core.events import outbox, outbox_offset
from gansu_health.core.settings import Settings
from gansu_health.identity.accounts import members, repository
from gansu_health.notifications.setup import notifications_of
from gansu_health.payment.operations import payments_of
from gansu_health.payment.sandbox import SandboxGateway
from gansu_health.payment.service import Payments

LONG = 3 * 365 * 86_400


class Resident:
    """A resident with a citizen account bound to their own Patient record."""

    def __init__(self, client: TestClient, settings: Settings) -> None:
        self.patient = new_patient(client)
        self.ref = f"Patient/{self.patient}"
        engine = build_engine(settings.database_url, settings)
        try:
            with write_transaction(engine) as conn:
                acct = repository.insert_account(conn, node=settings.node_id, kind="citizen",
                                                 display_name="居民")
                members.bind_self(conn, acct.id, self.patient, settings.node_id)
        finally:
            engine.dispose()
        token = mint_token(settings, "patient/*.cruds", kind="citizen", subject=acct.id,
                           ttl_s=LONG)
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, client: TestClient, path: str, status: int = 200,
             headers: dict[str, str] | None = None, **params: Any) -> dict[str, Any]:
        """POST an operation as this resident (Parameters body)."""
        parameter = []
        for name, value in params.items():
            if isinstance(value, list):
                parameter += [{"name": name, "valueReference": {"reference": v}} for v in value]
            elif "/" in str(value) and name in ("patient", "slot", "appointment", "schedule"):
                parameter.append({"name": name, "valueReference": {"reference": value}})
            else:
                parameter.append({"name": name, "valueString": str(value)})
        resp = client.post(f"/fhir/{path}", json={"resourceType": "Parameters",
                                                   "parameter": parameter},
                           headers={**self.headers, **(headers or {})})
        assert resp.status_code == status, resp.text
        body: dict[str, Any] = resp.json()
        return body

    def pay(self, client: TestClient, appointment_id: str, key: str, status: int = 200,
            **extra: Any) -> dict[str, Any]:
        """Pay the registration fee of a hold with an Idempotency-Key."""
        headers = {"Idempotency-Key": key, **extra.pop("headers", {})}
        return self.call(client, "Invoice/$pay", status, headers, patient=self.ref,
                         appointment=f"Appointment/{appointment_id}", **extra)


def value(parameters: dict[str, Any], name: str) -> Any:
    """The value (or resource) of a Parameters part."""
    for part in parameters["parameter"]:
        if part["name"] == name:
            return next(v for k, v in part.items() if k != "name")
    raise KeyError(name)


def api_of(client: TestClient) -> Any:
    """The FhirApi behind a test client."""
    return client.app.state.fhir  # type: ignore[attr-defined]


def payments(client: TestClient) -> Payments:
    """The payments service of the app."""
    return payments_of(api_of(client))


def sandbox(client: TestClient) -> SandboxGateway:
    """The sandbox gateway of the app."""
    gateway = payments(client).gateway
    assert isinstance(gateway, SandboxGateway)
    return gateway


def _pending(client: TestClient) -> int:
    with api_of(client).engine.connect() as conn:
        newest = conn.execute(select(func.max(outbox.c.id))).scalar() or 0
        behind = conn.execute(select(func.count()).select_from(outbox_offset).where(
            outbox_offset.c.last_id < newest)).scalar_one()
        return int(behind)


def deliver(client: TestClient) -> None:
    """Hand every pending outbox event to the subscribers (payments and notifications emit
    events of their own; on PostgreSQL an event waits while an older transaction is open, e.g.
    the app's delivery thread)."""
    api = api_of(client)
    for _ in range(200):
        if not api.events.deliver(api.engine, api.settings.node_id) and not _pending(client):
            return
        time.sleep(0.02)
    raise AssertionError("outbox events were not delivered")


def dispatch(client: TestClient) -> None:
    """Deliver events, then send due notifications."""
    deliver(client)
    api = api_of(client)
    notifications_of(api).dispatch(api.engine)


@pytest.fixture(scope="module")
def settings(db_url: str) -> Settings:
    """Settings without the app's own outbox thread: these tests deliver events themselves."""
    return Settings(database_url=db_url, base_url="http://testserver/fhir", event_delivery_s=0)
