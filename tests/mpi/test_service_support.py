"""Helpers shared by the MPI service and operation tests: people, Patients and MPI lookups."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from gansu_health.core.events import outbox
from gansu_health.mpi.golden import RECORD_STATUS_SYSTEM
from gansu_health.mpi.resident_id import RESIDENT_ID_SYSTEM, make_resident_id
from gansu_health.mpi.service import MpiService, mpi_of
from gansu_health.mpi.settings import EMPI_SYSTEM

HOSPITAL_A = "urn:oid:1.2.156.620102.1"  # 兰州某医院 patient numbers
HOSPITAL_B = "urn:oid:1.2.156.620502.7"  # 天水某医院 patient numbers
GOLDEN_TAG = f"{RECORD_STATUS_SYSTEM}|GOLDEN_RECORD"
_days = itertools.count(random.Random().randrange(0, 5000))
_numbers = itertools.count(random.Random().randrange(10_000, 90_000))


@dataclass(frozen=True)
class Person:
    """One real person, as a hospital registers them."""

    family: str
    given: str
    born: date
    sex: str
    resident_id: str | None
    phone: str

    def patient(self, hospital: str = HOSPITAL_A, mrn: str | None = None, **changes: Any
                ) -> dict[str, Any]:
        """Return a FHIR Patient for this person as registered at ``hospital``."""
        person = replace(self, **changes)
        identifiers = [{"system": hospital, "value": mrn or new_mrn()}]
        if person.resident_id:
            identifiers.append({"use": "official", "system": RESIDENT_ID_SYSTEM,
                                "value": person.resident_id})
        return {"resourceType": "Patient", "identifier": identifiers,
                "name": [{"use": "official", "text": person.family + person.given,
                          "family": person.family, "given": [person.given]}],
                "gender": person.sex, "birthDate": person.born.isoformat(),
                "telecom": [{"system": "phone", "value": person.phone, "use": "mobile"}],
                "address": [{"use": "home", "city": "兰州市", "district": "城关区",
                             "line": ["庆阳路 1 号"]}]}


def new_mrn() -> str:
    """Return a fresh hospital patient number."""
    return f"MRN{next(_numbers)}"


def new_person(family: str = "张", given: str = "伟", sex: str = "male", *,
               with_id: bool = True) -> Person:
    """Return a person with a unique birth date, phone and (valid) resident id."""
    born = date(1940, 1, 1) + timedelta(days=next(_days) * 3)
    n = next(_numbers)
    sequence = (n % 499) * 2 + (1 if sex == "male" else 2)
    rid = make_resident_id("620102", born, sequence, sex) if with_id else None  # type: ignore[arg-type]
    return Person(family, given, born, sex, rid, f"139{n:08d}")


def empi_of(patient: dict[str, Any]) -> str:
    """Return the enterprise id carried by a Patient."""
    return str(next(i["value"] for i in patient["identifier"] if i["system"] == EMPI_SYSTEM))


def create(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    """POST a Patient and return the stored resource."""
    resp = client.post("/fhir/Patient", json=body)
    assert resp.status_code == 201, resp.text
    result: dict[str, Any] = resp.json()
    return result


def golden_of(client: TestClient, patient: dict[str, Any]) -> dict[str, Any]:
    """Return the golden Person of a source Patient (found by its enterprise id)."""
    bundle = client.get("/fhir/Person", params={
        "identifier": f"{EMPI_SYSTEM}|{empi_of(patient)}", "_tag": GOLDEN_TAG}).json()
    assert bundle.get("total", len(bundle.get("entry", []))) == 1, bundle
    result: dict[str, Any] = bundle["entry"][0]["resource"]
    return result


def targets(person: dict[str, Any]) -> list[str]:
    """Return the references of a Person's links, in order."""
    return [link["target"]["reference"] for link in person.get("link", [])]


def links(client: TestClient, **params: str) -> list[dict[str, Any]]:
    """Return the links of $mdm-query-links as plain dicts."""
    resp = client.get("/fhir/$mdm-query-links", params={"_count": "100", **params})
    assert resp.status_code == 200, resp.text
    return [_flatten(p["part"]) for p in resp.json()["parameter"] if p["name"] == "link"]


def _flatten(parts: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for part in parts:
        out[part["name"]] = next(v for k, v in part.items() if k.startswith("value"))
    return out


def operation(client: TestClient, name: str, status: int = 200, **params: Any
              ) -> dict[str, Any]:
    """POST a Parameters body to ``/fhir/$name`` and return the answer."""
    body = {"resourceType": "Parameters", "parameter": [
        {"name": k, "valueString": v} for k, v in params.items()]}
    resp = client.post(f"/fhir/${name}", json=body)
    assert resp.status_code == status, resp.text
    result: dict[str, Any] = resp.json()
    return result


def topics(client: TestClient) -> list[str]:
    """Return the topics in the outbox, oldest first."""
    with client.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        return [r.topic for r in conn.execute(select(outbox.c.topic).order_by(outbox.c.id))]


def mpi(client: TestClient) -> MpiService:
    """Return the MPI service behind the test client."""
    return mpi_of(client.app.state.fhir)  # type: ignore[attr-defined]


@contextmanager
def identity_policy(client: TestClient, policy: str) -> Iterator[None]:
    """Temporarily switch the deployment's identity policy."""
    settings = mpi(client).settings
    before = settings.identity_policy
    settings.identity_policy = policy  # type: ignore[assignment]
    try:
        yield
    finally:
        settings.identity_policy = before
