"""Scope enforcement over HTTP: every role × resource type × interaction, allowed and denied;
compartments, care relationships, consent (given, withdrawn), guardianship, break-glass, regions."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from tests.conftest import mint_token

from gansu_health.app import create_app
from gansu_health.core.database import build_engine, write_transaction
from gansu_health.core.settings import Settings
from gansu_health.identity.accounts import members, repository
from gansu_health.identity.accounts.staff import create_staff, make_grant
from gansu_health.identity.keys import FieldCipher, MemoryKeyProvider
from gansu_health.mpi.resident_id import RESIDENT_ID_SYSTEM, make_resident_id

HOSPITAL_IDS = "urn:oid:1.2.156.620102.1.1"
DIVISION = "https://gansu-health.cn/fhir/StructureDefinition/administrative-division"
TYPES = ("Patient", "Observation", "MedicationRequest", "Organization", "Consent")
INTERACTIONS = ("read", "search", "create", "update", "delete")
# hand-written expectations (type initial + interaction letter) on a record the role may reach
EXPECTED = {
    "citizen": "Pr Ps | Or Os Oc Ou Od | Mr Ms | Gr Gs | Cr Cs Cc Cu Cd",
    "doctor": "Pr Ps Pc Pu | Or Os Oc Ou Od | Mr Ms Mc Mu Md | Gr Gs | Cr Cs",
    "nurse": "Pr Ps Pc Pu | Or Os Oc Ou | Mr Ms Mc Mu | Gr Gs | Cr Cs",
    "pharmacist": "Pr Ps | Or Os | Mr Ms Mc Mu Md | Gr Gs | Cr Cs",
    "registrar": "Pr Ps Pc Pu | Gr Gs",
    "data-steward": "Pr Ps Pc Pu | Gr Gs",
    "cdc-officer": "Pr Ps | Or Os | Gr Gs",
    "supervisor": "Gr Gs",
    "admin": "Gr Gs Gc Gu Gd",
}
INITIAL = {"Patient": "P", "Observation": "O", "MedicationRequest": "M", "Organization": "G",
           "Consent": "C"}


def _patient(org: str, birth: str, county: str = "620102", name: str = "",
             resident_id: str | None = None) -> dict[str, Any]:
    name = name or "测" + uuid.uuid4().hex[:6]
    ids = [{"system": HOSPITAL_IDS, "value": uuid.uuid4().hex}]
    if resident_id:
        ids.append({"system": RESIDENT_ID_SYSTEM, "value": resident_id})
    return {"resourceType": "Patient", "gender": "female", "birthDate": birth,
            "name": [{"text": name, "family": name[0], "given": [name[1:]]}],
            "identifier": ids,
            "managingOrganization": {"reference": f"Organization/{org}"},
            "address": [{"extension": [{"url": DIVISION, "valueCoding": {
                "system": "https://gansu-health.cn/fhir/CodeSystem/administrative-division",
                "code": county}}], "city": "兰州市"}]}


def _resource(rtype: str, pid: str, actor: str) -> dict[str, Any]:
    ref = {"reference": f"Patient/{pid}"}
    if rtype == "Observation":
        return {"resourceType": rtype, "status": "final", "code": {"text": "体温"},
                "subject": ref}
    if rtype == "MedicationRequest":
        return {"resourceType": rtype, "status": "active", "intent": "order",
                "medicationCodeableConcept": {"text": "阿莫西林"}, "subject": ref}
    if rtype == "Consent":
        return _consent(pid, actor)
    if rtype == "Organization":
        return {"resourceType": rtype, "name": f"测试机构{uuid.uuid4().hex[:4]}"}
    raise AssertionError(rtype)


def _consent(pid: str, actor: str, performer: str | None = None,
             status: str = "active") -> dict[str, Any]:
    return {"resourceType": "Consent", "status": status,
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                  "consentscope", "code": "patient-privacy"}]},
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
            "patient": {"reference": f"Patient/{pid}"},
            "performer": [{"reference": performer or f"Patient/{pid}"}],
            "provision": {"type": "permit", "actor": [{
                "role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                     "v3-ParticipationType", "code": "IRCP"}]},
                "reference": {"reference": actor}}]}}


class World:
    """Two hospitals, a family with a citizen account, a stranger and staff of every role."""

    def __init__(self, client: TestClient, settings: Settings) -> None:
        self.settings = settings
        post = self.post = lambda body: client.post(
            f"/fhir/{body['resourceType']}", json=body).json()["id"]
        self.org_a = post({"resourceType": "Organization", "name": "甲医院"})
        self.org_b = post({"resourceType": "Organization", "name": "乙医院"})
        self.doc = post({"resourceType": "Practitioner", "name": [{"text": "王医生"}]})
        # the mother's records at hospitals A and B share her resident ID: the MPI links them
        rid = make_resident_id("620102", date(1985, 3, 2), 2 * (uuid.uuid4().int % 400),
                               "female")
        self.mother = post(_patient(self.org_a, "1985-03-02", name="李秀英", resident_id=rid))
        self.mother_at_b = post(_patient(self.org_b, "1985-03-02", name="李秀英",
                                         resident_id=rid))
        self.child = post(_patient(self.org_a, "2019-06-01", name="王子涵"))
        self.spouse = post(_patient(self.org_a, "1983-11-19", name="王建国"))
        self.stranger = post(_patient(self.org_b, "1952-07-30", county="620502",
                                      name="赵海燕"))
        self.obs = {p: post(_resource("Observation", p, "")) for p in (
            self.mother, self.mother_at_b, self.child, self.spouse, self.stranger)}
        engine = build_engine(settings.database_url, settings)
        cipher = FieldCipher(MemoryKeyProvider())
        node = settings.node_id
        self.tokens: dict[str, str] = {}
        accounts: dict[str, str] = {}
        with write_transaction(engine) as conn:
            acct = repository.insert_account(conn, node=node, kind="citizen",
                                             display_name="李母")
            members.bind_self(conn, acct.id, self.mother, node)
            members.add_member(conn, acct.id, self.child, "child", guardian=True, node=node)
            members.add_member(conn, acct.id, self.spouse, "spouse", guardian=False, node=node)
            self.citizen_account = acct.id
            for role in EXPECTED:
                if role == "citizen":
                    continue
                grant = make_grant(self.org_a, role, self.doc if role in (
                    "doctor", "nurse", "pharmacist") else None,
                    "620100" if role in ("cdc-officer", "supervisor") else None)
                staff = create_staff(conn, cipher, node=node, username=f"{role}-{node}",
                                     display_name=role, password="Gansu-Health-2026!",
                                     grants=[grant], operator="pytest",
                                     with_totp=role == "admin")
                accounts[role] = staff.account.id
        engine.dispose()
        for role, account_id in accounts.items():
            self.tokens[role] = mint_token(settings, "user/*.cruds", kind="staff",
                                           subject=account_id)
        self.tokens["citizen"] = mint_token(settings, "patient/*.cruds", kind="citizen",
                                            subject=self.citizen_account)

    def headers(self, role: str, **extra: str) -> dict[str, str]:
        """Authorization headers of a role."""
        return {"Authorization": f"Bearer {self.tokens[role]}", **extra}


@pytest.fixture(scope="module")
def world(client: TestClient, settings: Settings) -> World:
    """The module's people and accounts."""
    return World(client, settings)


@pytest.fixture(scope="module")
def anon(settings: Settings) -> Iterator[TestClient]:
    """A client that sends only the headers each call gives."""
    engine = build_engine(settings.database_url, settings)
    with TestClient(create_app(settings, engine)) as test_client:
        yield test_client
    engine.dispose()


def _call(anon: TestClient, client: TestClient, world: World, role: str, rtype: str,
          interaction: str) -> int:
    patient = world.mother
    actor = "Organization/" + world.org_b
    headers = world.headers(role)
    if rtype == "Patient" and interaction in ("create",):
        body: dict[str, Any] = _patient(world.org_a, "1990-01-01")
    else:
        body = _resource(rtype, patient, actor) if rtype != "Patient" else {}
    fresh = (client.post(f"/fhir/{rtype}", json=body).json()["id"] if rtype != "Patient"
             else patient)
    if interaction == "read":
        return anon.get(f"/fhir/{rtype}/{fresh}", headers=headers).status_code
    if interaction == "search":
        query = "" if rtype == "Organization" else (
            f"?_id={patient}" if rtype == "Patient" else f"?patient=Patient/{patient}")
        return anon.get(f"/fhir/{rtype}{query}", headers=headers).status_code
    if interaction == "create":
        return anon.post(f"/fhir/{rtype}", json=body, headers=headers).status_code
    if interaction == "update":
        current = client.get(f"/fhir/{rtype}/{fresh}").json()
        return anon.put(f"/fhir/{rtype}/{fresh}", json=current, headers=headers).status_code
    if rtype == "Patient":
        fresh = client.post("/fhir/Patient", json=_patient(world.org_a, "1991-01-01")).json()[
            "id"]
    return anon.delete(f"/fhir/{rtype}/{fresh}", headers=headers).status_code


@pytest.mark.parametrize("role", list(EXPECTED))
def test_role_matrix(anon: TestClient, client: TestClient, world: World, role: str) -> None:
    allowed = {cell.strip() for cell in EXPECTED[role].replace("|", " ").split()}
    wrong = []
    for rtype in TYPES:
        for interaction in INTERACTIONS:
            status = _call(anon, client, world, role, rtype, interaction)
            expect = f"{INITIAL[rtype]}{interaction[0] if interaction != 'search' else 's'}"
            if (status < 300) != (expect in allowed) or status >= 500:
                wrong.append(f"{role} {interaction} {rtype}: {status}")
    assert not wrong, wrong


def test_idor_another_persons_id_is_refused(anon: TestClient, world: World) -> None:
    headers = world.headers("citizen")
    assert anon.get(f"/fhir/Patient/{world.stranger}", headers=headers).status_code == 403
    assert anon.get(f"/fhir/Observation/{world.obs[world.stranger]}",
                    headers=headers).status_code == 403
    assert anon.get(f"/fhir/Observation?subject=Patient/{world.stranger}",
                    headers=headers).status_code == 403
    mine = anon.get("/fhir/Observation", headers=headers).json()
    subjects = {e["resource"]["subject"]["reference"] for e in mine.get("entry", [])}
    assert f"Patient/{world.stranger}" not in subjects
    assert f"Patient/{world.mother}" in subjects


def test_guardian_sees_child_but_not_adult_family_without_consent(
        anon: TestClient, client: TestClient, world: World) -> None:
    headers = world.headers("citizen")
    assert anon.get(f"/fhir/Observation/{world.obs[world.child]}",
                    headers=headers).status_code == 200
    assert anon.get(f"/fhir/Observation/{world.obs[world.spouse]}",
                    headers=headers).status_code == 403
    consent = client.post("/fhir/Consent", json=_consent(
        world.spouse, f"Patient/{world.mother}")).json()
    assert anon.get(f"/fhir/Observation/{world.obs[world.spouse]}",
                    headers=headers).status_code == 200
    consent["status"] = "inactive"  # withdrawn: honoured at once
    client.put(f"/fhir/Consent/{consent['id']}", json=consent)
    assert anon.get(f"/fhir/Observation/{world.obs[world.spouse]}",
                    headers=headers).status_code == 403


def test_who_consents_adult_for_themself_guardian_for_child(anon: TestClient,
                                                          world: World) -> None:
    headers = world.headers("citizen")
    doctor = f"Organization/{world.org_b}"
    assert anon.post("/fhir/Consent", json=_consent(world.spouse, doctor),
                     headers=headers).status_code == 403
    child = _consent(world.child, doctor, performer=f"Patient/{world.child}")
    assert anon.post("/fhir/Consent", json=child, headers=headers).status_code == 403
    child["performer"] = [{"reference": f"Patient/{world.mother}"}]
    assert anon.post("/fhir/Consent", json=child, headers=headers).status_code == 201
    assert anon.post("/fhir/Consent", json=_consent(world.mother, doctor),
                     headers=headers).status_code == 201


def test_doctor_needs_care_or_consent_across_institutions(anon: TestClient,
                                                         world: World) -> None:
    doctor, citizen = world.headers("doctor"), world.headers("citizen")
    assert anon.get(f"/fhir/Observation/{world.obs[world.mother]}",
                    headers=doctor).status_code == 200
    # the same person's record kept by hospital B: hers to read, not hospital A's doctor's
    other_hospital = f"/fhir/Observation/{world.obs[world.mother_at_b]}"
    assert anon.get(other_hospital, headers=citizen).status_code == 200
    assert anon.get(other_hospital, headers=doctor).status_code == 403
    grant = anon.post("/fhir/Consent", json=_consent(
        world.mother_at_b, f"Organization/{world.org_a}"), headers=citizen)
    assert grant.status_code == 201
    assert anon.get(other_hospital, headers=doctor).status_code == 200
    withdrawn = {**grant.json(), "status": "inactive"}
    assert anon.put(f"/fhir/Consent/{withdrawn['id']}", json=withdrawn,
                    headers=citizen).status_code == 200
    assert anon.get(other_hospital, headers=doctor).status_code == 403
    assert anon.get(f"/fhir/Patient/{world.stranger}", headers=doctor).status_code == 403


def test_break_glass_takes_a_reason_and_is_flagged(anon: TestClient, world: World,
                                                  settings: Settings) -> None:
    url = f"/fhir/Observation/{world.obs[world.stranger]}"
    assert anon.get(url, headers=world.headers("doctor")).status_code == 403
    assert anon.get(url, headers=world.headers("doctor", **{
        "X-Break-Glass-Reason": "x"})).status_code == 403
    assert anon.get(url, headers=world.headers("registrar", **{
        "X-Break-Glass-Reason": quote("抢救昏迷患者")})).status_code == 403
    assert anon.get(url, headers=world.headers("doctor", **{
        "X-Break-Glass-Reason": quote("抢救昏迷患者")})).status_code == 200
    trail = anon.get(f"/fhir/Patient/{world.stranger}/$access-log",
                     headers={"Authorization": f"Bearer {mint_token(settings)}"}).json()
    newest = trail["entry"][0]["resource"]
    assert any(c.get("code") == "ETREAT" for p in newest.get("purposeOfEvent", [])
               for c in p.get("coding", []))


def test_cdc_officer_sees_only_their_region(anon: TestClient, world: World) -> None:
    officer = world.headers("cdc-officer")
    assert anon.get(f"/fhir/Observation/{world.obs[world.mother]}",
                    headers=officer).status_code == 200
    assert anon.get(f"/fhir/Observation/{world.obs[world.stranger]}",
                    headers=officer).status_code == 403


def test_citizen_lists_who_accessed_their_record(anon: TestClient, world: World) -> None:
    anon.get(f"/fhir/Patient/{world.mother}", headers=world.headers("doctor"))
    trail = anon.get(f"/fhir/Patient/{world.mother}/$access-log",
                     headers=world.headers("citizen"))
    assert trail.status_code == 200
    actors = [a.get("who", {}).get("reference") for e in trail.json()["entry"]
              for a in e["resource"]["agent"]]
    assert f"Practitioner/{world.doc}" in actors
    assert anon.get(f"/fhir/Patient/{world.stranger}/$access-log",
                    headers=world.headers("citizen")).status_code == 403
