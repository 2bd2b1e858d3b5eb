"""Fixtures of the e-health-card tests: two hospitals, a family, a stranger, terminal staff."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.conftest import mint_token
from tests.scheduling.conftest import clock, doctors, operator_headers  # noqa: F401

from gansu_health.core.database import build_engine, write_transaction
from gansu_health.core.settings import Settings
from gansu_health.demo.registry import Clinician
from gansu_health.identity.accounts import members, repository
from gansu_health.identity.accounts.staff import create_staff, make_grant
from gansu_health.identity.keys import FieldCipher, MemoryKeyProvider
from gansu_health.mpi.resident_id import RESIDENT_ID_SYSTEM, make_resident_id

HOSPITAL_A = "gs-620100-h01"  # the demo tertiary hospital with bookable doctors
TTL = 3 * 365 * 86_400  # tokens outlive the frozen clock (2027)
_seq = itertools.count(2)


def person(org: str, family: str, given: str, born: date, resident_id: str | None,
           gender: str = "female") -> dict[str, Any]:
    """A Patient kept by ``org``."""
    body: dict[str, Any] = {
        "resourceType": "Patient", "gender": gender, "birthDate": born.isoformat(),
        "name": [{"family": family, "given": [given], "text": family + given}],
        "managingOrganization": {"reference": f"Organization/{org}"}}
    if resident_id:
        body["identifier"] = [{"system": RESIDENT_ID_SYSTEM, "value": resident_id}]
    return body


def resident(born: date, gender: str = "female") -> str:
    """A fresh valid resident id."""
    seq = next(_seq) * 2 + (1 if gender == "male" else 0)
    return make_resident_id("620102", born, seq % 1000, gender)  # type: ignore[arg-type]


class World:
    """The people, accounts and tokens of a card test module."""

    def __init__(self, client: TestClient, settings: Settings) -> None:
        def post(body: dict[str, Any]) -> str:
            resp = client.post(f"/fhir/{body['resourceType']}", json=body)
            assert resp.status_code == 201, resp.text
            return str(resp.json()["id"])

        self.client = client
        self.org_a = HOSPITAL_A
        self.org_b = post({"resourceType": "Organization", "name": "乙县人民医院"})
        mother_born = date(1985, 3, 2)
        self.mother_id_number = resident(mother_born)
        self.mother_b = post(person(self.org_b, "李", "秀英", mother_born, self.mother_id_number))
        self.mother_a = post(person(self.org_a, "李", "秀英", mother_born, self.mother_id_number))
        child_born = date(2019, 6, 1)
        self.child = post(person(self.org_b, "王", "小明", child_born, resident(
            child_born, "male"), "male"))
        stranger_born = date(1970, 1, 1)
        self.stranger = post(person(self.org_b, "赵", "强", stranger_born, resident(
            stranger_born, "male"), "male"))
        self.tokens: dict[str, str] = {"operator": mint_token(settings, ttl_s=TTL)}
        self._accounts(settings)

    def _accounts(self, settings: Settings) -> None:
        engine = build_engine(settings.database_url, settings)
        cipher = FieldCipher(MemoryKeyProvider())
        node = settings.node_id
        staff: dict[str, str] = {}
        with write_transaction(engine) as conn:
            mother = repository.insert_account(conn, node=node, kind="citizen",
                                               display_name="李秀英")
            members.bind_self(conn, mother.id, self.mother_b, node)
            members.add_member(conn, mother.id, self.child, "child", guardian=True, node=node)
            stranger = repository.insert_account(conn, node=node, kind="citizen",
                                                 display_name="赵强")
            members.bind_self(conn, stranger.id, self.stranger, node)
            for name, org, role in (("registrar", self.org_a, "registrar"),
                                    ("nurse", self.org_a, "nurse"),
                                    ("doctor", self.org_a, "doctor"),
                                    ("pharmacist", self.org_a, "pharmacist"),
                                    ("registrar-b", self.org_b, "registrar")):
                made = create_staff(conn, cipher, node=node, username=f"card-{name}-{node}",
                                    display_name=name, password="Gansu-Health-2026!",
                                    grants=[make_grant(org, role)], operator="pytest",
                                    with_totp=False)
                staff[name] = made.account.id
        engine.dispose()
        for name, account in staff.items():
            self.tokens[name] = mint_token(settings, "user/*.cruds", kind="staff",
                                           subject=account, ttl_s=TTL)
        self.tokens["mother"] = mint_token(settings, "patient/*.cruds", kind="citizen",
                                           subject=mother.id, ttl_s=TTL)
        self.tokens["stranger"] = mint_token(settings, "patient/*.cruds", kind="citizen",
                                             subject=stranger.id, ttl_s=TTL)

    def headers(self, who: str) -> dict[str, str]:
        """The Authorization header of ``who``."""
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def call(self, who: str, path: str, status: int = 200, **params: Any) -> dict[str, Any]:
        """POST an operation as ``who`` with a Parameters body; check the status."""
        parameter = []
        for name, value in params.items():
            if isinstance(value, bool):
                parameter.append({"name": name, "valueBoolean": value})
            elif "/" in str(value) and name in ("organization", "appointment", "patient"):
                parameter.append({"name": name, "valueReference": {"reference": value}})
            else:
                parameter.append({"name": name, "valueString": str(value)})
        resp = self.client.post(f"/fhir/{path}", headers=self.headers(who), json={
            "resourceType": "Parameters", "parameter": parameter})
        assert resp.status_code == status, resp.text
        body: dict[str, Any] = resp.json()
        return body

    def code(self, patient: str, who: str = "mother", kind: str = "dynamic") -> str:
        """A fresh code of the card of ``patient``."""
        return value(self.call(who, f"Patient/{patient}/$card-code", kind=kind), "code")


def value(params: dict[str, Any], name: str) -> Any:
    """The value of the first parameter ``name`` (identifiers and references reduced)."""
    for part in params.get("parameter") or []:
        if part["name"] == name:
            for key, found in part.items():
                if key.startswith("value"):
                    if isinstance(found, dict):
                        return found.get("value") or found.get("reference") or found.get("code")
                    return found
            return part.get("part")
    raise AssertionError(f"no parameter {name} in {params}")


def reason(outcome: dict[str, Any]) -> tuple[str, str]:
    """(refusal reason code, diagnostics) of a card refusal."""
    issue = outcome["issue"][0]
    return issue["details"]["coding"][0]["code"], issue["diagnostics"]


@pytest.fixture(scope="module")
def world(client: TestClient, settings: Settings, doctors: list[Clinician]  # noqa: F811
          ) -> World:
    """The module's people; the demo hospital A is loaded first (by ``doctors``)."""
    return World(client, settings)
