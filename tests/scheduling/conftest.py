"""Fixtures of the booking tests: a demo hospital, patients, a settable clock."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from tests.conftest import mint_token

from gansu_health.core.clock import set_clock
from gansu_health.core.settings import Settings
from gansu_health.demo.registry import Clinician
from gansu_health.devtools.bench_booking_data import facility_bundle

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2027, 3, 1, 10, 0, tzinfo=ZONE)  # a Monday morning
_names = itertools.count(1)


class Clock:
    """A settable time source for the whole process."""

    def __init__(self, start: datetime) -> None:
        self.moment = start

    def set(self, moment: datetime) -> None:
        """Jump to ``moment``."""
        self.moment = moment

    def advance(self, **delta: float) -> None:
        """Move forward."""
        self.moment += timedelta(**delta)


@pytest.fixture(scope="module")
def operator_headers(settings: Settings) -> dict[str, str]:
    """An operator token that outlives the frozen clock of these tests (NOW is in 2027)."""
    return {"Authorization": f"Bearer {mint_token(settings, ttl_s=3 * 365 * 86_400)}"}


@pytest.fixture
def clock() -> Iterator[Clock]:
    """Freeze time at NOW (settable) for one test."""
    fixed = Clock(NOW)
    set_clock(lambda: fixed.moment)
    yield fixed
    set_clock(None)


@pytest.fixture(scope="module")
def doctors(client: TestClient) -> list[Clinician]:
    """Load one demo tertiary hospital; return its doctors."""
    bundle, clinicians = facility_bundle()
    resp = client.post("/fhir", json=bundle)
    assert resp.status_code == 200, resp.text
    return clinicians


def new_patient(client: TestClient) -> str:
    """Register a resident; return the Patient id."""
    n = next(_names)
    resp = client.post("/fhir/Patient", json={
        "resourceType": "Patient", "name": [{"text": f"测试{n}", "family": "测",
                                              "given": [f"试{n}"]}],
        "gender": "female", "birthDate": f"19{50 + n % 40}-0{1 + n % 9}-1{n % 9}"})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def op(client: TestClient, path: str, status: int = 200, **params: Any) -> dict[str, Any]:
    """POST an operation with a Parameters body; check the status; return the JSON."""
    parameter = []
    for name, value in params.items():
        name = name.replace("_", "-") if name.startswith("quota") else name
        if isinstance(value, bool):
            parameter.append({"name": name, "valueBoolean": value})
        elif isinstance(value, int):
            parameter.append({"name": name, "valueInteger": value})
        elif isinstance(value, dict):
            parameter.append({"name": name, "resource": value})
        elif "/" in str(value) and name in ("patient", "slot", "schedule", "department",
                                            "organization"):
            parameter.append({"name": name, "valueReference": {"reference": value}})
        else:
            parameter.append({"name": name, "valueString": str(value)})
    resp = client.post(f"/fhir/{path}", json={"resourceType": "Parameters",
                                               "parameter": parameter})
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    return body


def appointment(bundle: dict[str, Any]) -> dict[str, Any]:
    """Return the Appointment of a $hold/$book answer."""
    assert bundle["resourceType"] == "Bundle" and bundle["total"] == 1
    resource: dict[str, Any] = bundle["entry"][0]["resource"]
    return resource


def diagnostics(outcome: dict[str, Any]) -> str:
    """Return the first diagnostics of an OperationOutcome."""
    assert outcome["resourceType"] == "OperationOutcome"
    return str(outcome["issue"][0]["diagnostics"])


_used: dict[int, itertools.count[int]] = {}


def session(client: TestClient, doctor: Clinician, day: str = "2027-03-03", **spec: Any
            ) -> tuple[str, list[str]]:
    """Make a doctor bookable with one session on ``day``; return the Schedule id and its Slot
    ids in time order."""
    schedule = client.post(f"/fhir/PractitionerRole/{doctor.role_id}/$bookable").json()["id"]
    answer = op(client, f"Schedule/{schedule}/$session", date=day, **spec)
    return schedule, [p["valueReference"]["reference"] for p in answer["parameter"]]


def clinic(client: TestClient, doctors: list[Clinician], day: str = "2027-03-03",
           **spec: Any) -> tuple[str, list[str]]:
    """Like ``session``, for the next doctor this module has not used yet (from the 4th on)."""
    index = next(_used.setdefault(id(client), itertools.count(3)))
    return session(client, doctors[index], day, **spec)


def events(client: TestClient, topic: str) -> list[dict[str, Any]]:
    """Return the payloads of outbox events of ``topic``, oldest first."""
    import orjson
    from sqlalchemy import select

    from gansu_health.core.events import outbox

    with client.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(select(outbox.c.payload).where(outbox.c.topic == topic)
                            .order_by(outbox.c.id))
        return [orjson.loads(r.payload) for r in rows]
