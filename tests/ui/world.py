"""The world the browser tests run in: the demo province plus a few people and staff accounts.

Demo children carry only birth certificates, so the world registers one child with a resident
ID (as a hospital would), a possible duplicate of a demo adult for the data steward, and staff
accounts with authenticator secrets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import orjson
from sqlalchemy import Engine

from gansu_health.core.database import write_transaction
from gansu_health.core.settings import Settings
from gansu_health.identity.accounts import staff
from gansu_health.identity.keys import FieldCipher
from gansu_health.mpi.resident_id import RESIDENT_ID_SYSTEM, make_resident_id

Json = dict[str, Any]
PASSWORD = "Correct-Horse-Battery-9"


@dataclass(frozen=True)
class Person:
    """A resident the tests sign in as or add."""

    patient_id: str
    resident_id: str
    name: str


@dataclass(frozen=True)
class StaffLogin:
    """A staff account's credentials."""

    username: str
    password: str
    totp_secret: str


class FhirClient:
    """A small operator client of the live server."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.http = httpx.Client(base_url=base, headers=headers, timeout=30)

    def get(self, path: str, **params: str) -> Json:
        """GET a FHIR path."""
        response = self.http.get(path, params=params)
        response.raise_for_status()
        return dict(response.json())

    def create(self, body: Json) -> Json:
        """POST a resource."""
        response = self.http.post(f"/{body['resourceType']}", content=orjson.dumps(body),
                                   headers={"Content-Type": "application/fhir+json"})
        assert response.status_code == 201, response.text
        return dict(response.json())


def identity_of(patient: Json) -> Person:
    """The resident ID and name of a Patient."""
    number = next(i["value"] for i in patient["identifier"] if i["system"] == RESIDENT_ID_SYSTEM)
    return Person(patient["id"], number, patient["name"][0]["text"])


def adult_with_lab_results(fhir: FhirClient) -> Person:
    """A demo adult with HbA1c results (diabetic: several lab and vital-sign series)."""
    bundle = fhir.get("/Observation", code="http://loinc.org|4548-4", _count="50")
    for entry in bundle["entry"]:
        patient = fhir.get(f"/{entry['resource']['subject']['reference']}")
        if any(i["system"] == RESIDENT_ID_SYSTEM for i in patient.get("identifier", [])):
            return identity_of(patient)
    raise AssertionError("no demo adult with lab results")


def register_child(fhir: FhirClient, parent: Person) -> Person:
    """Register the parent's 7-year-old child with a resident ID and one vaccination."""
    parent_body = fhir.get(f"/Patient/{parent.patient_id}")
    born = date(date.today().year - 7, 3, 15)
    number = make_resident_id(parent.resident_id[:6], born, 318, "female")
    family = parent_body["name"][0].get("family") or parent.name[0]
    child = fhir.create({
        "resourceType": "Patient", "identifier": [{"system": RESIDENT_ID_SYSTEM,
                                                    "value": number}],
        "name": [{"use": "official", "text": f"{family}小雨", "family": family,
                  "given": ["小雨"]}],
        "gender": "female", "birthDate": born.isoformat(),
        "address": parent_body.get("address", []),
        "managingOrganization": parent_body.get("managingOrganization")})
    fhir.create({
        "resourceType": "Immunization", "status": "completed",
        "vaccineCode": {"coding": [{"system": "https://gansu-health.cn/fhir/CodeSystem/nip-vaccine",
                                    "code": "MMR"}], "text": "麻腮风疫苗"},
        "patient": {"reference": f"Patient/{child['id']}"},
        "occurrenceDateTime": f"{born.year + 1}-09-20T10:00:00+08:00",
        "protocolApplied": [{"series": "国家免疫规划", "doseNumberPositiveInt": 1}]})
    return Person(child["id"], number, f"{family}小雨")


def register_possible_duplicate(fhir: FhirClient, original: Person) -> str:
    """Register the same person again elsewhere with another valid ID: a POSSIBLE_MATCH."""
    body = fhir.get(f"/Patient/{original.patient_id}")
    born = date.fromisoformat(body["birthDate"])
    male = body["gender"] == "male"
    other_id = make_resident_id(original.resident_id[:6], born, 777 if male else 778,
                                "male" if male else "female")
    copy = {k: v for k, v in body.items() if k not in ("id", "meta", "identifier", "text")}
    copy["identifier"] = [{"system": RESIDENT_ID_SYSTEM, "value": other_id}]
    return str(fhir.create(copy)["id"])


def create_staff(engine: Engine, cipher: FieldCipher, settings: Settings, username: str,
                 role: str, organization: str, region: str | None = None) -> StaffLogin:
    """A staff account with ``role`` at ``organization`` (supervisors: of ``region``) and an
    enrolled authenticator."""
    with write_transaction(engine) as conn:
        made = staff.create_staff(conn, cipher, node=settings.node_id, username=username,
                                  display_name=f"{username} (test)", password=PASSWORD,
                                  grants=[staff.make_grant(organization, role,
                                                           region=region)],
                                  operator="pytest", with_totp=True)
    assert made.totp_secret
    return StaffLogin(username, PASSWORD, made.totp_secret)
