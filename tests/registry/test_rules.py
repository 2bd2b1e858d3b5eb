"""Registry rules: the demo province passes them; bad codes are rejected with the element named."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gansu_health.core.errors import UnprocessableEntity
from gansu_health.demo import codes as demo_codes
from gansu_health.demo import generate_demo, iter_resources
from gansu_health.registry.rules import check_resource, licence_problem
from gansu_health.registry.terminology import shipped_code_systems
from gansu_health.registry.terminology import systems as S

Json = dict[str, Any]


@pytest.fixture(scope="module")
def demo() -> list[Json]:
    return generate_demo(patients=40)


def _org(**extra: Any) -> Json:
    body: Json = {
        "resourceType": "Organization", "id": "org-test", "active": True, "name": "测试医院",
        "type": [{"coding": [{"system": S.CS_INSTITUTION_LEVEL, "code": "2A"}]},
                 {"coding": [{"system": S.CS_INSTITUTION_TYPE, "code": "general"}]}],
        "address": [{"extension": [{"url": S.EXT_ADMIN_DIVISION, "valueCoding": {
            "system": S.CS_ADMIN_DIVISION, "code": "620102"}}], "city": "兰州市"}]}
    body.update(extra)
    return body


def _rejected(client: TestClient, body: Json) -> Json:
    r = client.put(f"/fhir/{body['resourceType']}/{body['id']}", json=body)
    assert r.status_code == 422, r.text
    outcome: Json = r.json()
    return outcome


def _expressions(outcome: Json) -> list[str]:
    return [e for issue in outcome["issue"] for e in issue.get("expression", [])]


def test_same_uris_and_codes_as_the_demo() -> None:
    for name in ("CS_INSTITUTION_LEVEL", "CS_INSTITUTION_TYPE", "CS_DEPARTMENT",
                 "CS_PRACTITIONER_TITLE", "CS_QUALIFICATION", "CS_NIP_VACCINE", "CS_ETHNICITY",
                 "CS_ADMIN_DIVISION", "EXT_ADMIN_DIVISION", "SID_PLATFORM_NODE",
                 "SID_PHYSICIAN_LICENCE", "ICD10"):
        assert getattr(S, name) == getattr(demo_codes, name)
    systems = shipped_code_systems()
    tables = [(S.CS_INSTITUTION_LEVEL, demo_codes.LEVELS),
              (S.CS_INSTITUTION_TYPE, demo_codes.INSTITUTION_TYPES),
              (S.CS_DEPARTMENT, demo_codes.DEPARTMENTS), (S.CS_PRACTITIONER_TITLE,
                                                          demo_codes.TITLES),
              (S.CS_ETHNICITY, demo_codes.ETHNICITIES),
              (S.CS_NIP_VACCINE, {v.code: v.display for v in demo_codes.NIP_VACCINES})]
    assert all(systems[S.ICD10].get(d.code) for d in demo_codes.DIAGNOSES)  # displays differ
    for url, table in tables:
        for code, display in table.items():
            concept = systems[url].get(code)
            assert concept is not None, (url, code)
            assert concept.display == display, (url, code, concept.display)


def test_every_demo_resource_passes(demo: list[Json]) -> None:
    checked = 0
    for resource in iter_resources(demo):
        check_resource(resource)
        checked += resource["resourceType"] in ("Organization", "PractitionerRole")
    assert checked > 100


def test_demo_registry_loads_through_the_hooks(tx: TestClient, demo: list[Json]) -> None:
    registry = [b for b in demo if b["id"].startswith("demo-registry-")]
    for bundle in registry:
        r = tx.post("/fhir", json=bundle)
        assert r.status_code == 200, r.text[:500]
    r = tx.get("/fhir/HealthcareService", params={"_summary": "count"})
    assert r.json()["total"] > 50


def test_unknown_type_code_is_rejected(tx: TestClient) -> None:
    body = _org()
    body["type"][1]["coding"][0]["code"] = "spaceport"
    outcome = _rejected(tx, body)
    assert _expressions(outcome) == ["Organization.type[1].coding[0].code"]
    assert "spaceport" in outcome["issue"][0]["diagnostics"]


def test_retired_region_and_abstract_type_are_rejected(tx: TestClient) -> None:
    body = _org()
    body["address"][0]["extension"][0]["valueCoding"]["code"] = "622100"
    body["type"][1]["coding"][0]["code"] = "hospital"
    outcome = _rejected(tx, body)
    assert set(_expressions(outcome)) == {
        "Organization.type[1].coding[0].code",
        "Organization.address[0].extension[0].valueCoding.code"}
    assert any("620900" in i["diagnostics"] for i in outcome["issue"])


def test_structural_organization_rules(tx: TestClient) -> None:
    ungraded = _org(type=[{"coding": [{"system": S.CS_INSTITUTION_TYPE, "code": "tcm"}]}])
    assert _expressions(_rejected(tx, ungraded)) == ["Organization.type"]
    selfish = _org(partOf={"reference": "Organization/org-test"})
    assert _expressions(_rejected(tx, selfish)) == ["Organization.partOf"]
    node = _org(identifier=[{"system": S.SID_PLATFORM_NODE, "value": "610100"}])
    assert _expressions(_rejected(tx, node)) == ["Organization.identifier[0].value"]


def test_valid_and_foreign_codes_are_accepted(tx: TestClient) -> None:
    body = _org()
    body["type"].append({"coding": [{"system": "urn:other", "code": "anything"}]})
    body["address"].append(copy.deepcopy(body["address"][0]))
    body["address"][1]["extension"][0]["valueCoding"]["code"] = "610116"  # 西安市长安区
    assert tx.put("/fhir/Organization/org-test", json=body).status_code in (200, 201)


def test_department_practitioner_and_role_rules(tx: TestClient) -> None:
    service: dict[str, Any] = {"resourceType": "HealthcareService", "id": "svc-test",
                               "name": "便民门诊"}
    assert _expressions(_rejected(tx, service)) == ["HealthcareService.type"]
    service["type"] = [{"coding": [{"system": "urn:other", "code": "x"}]}]
    assert tx.put("/fhir/HealthcareService/svc-test", json=service).status_code == 201
    service["id"] = "svc-test-2"
    service["specialty"] = [{"coding": [{"system": S.CS_DEPARTMENT, "code": "03.99"}]}]
    assert _expressions(_rejected(tx, service)) == ["HealthcareService.specialty[0].coding[0].code"]
    practitioner = {"resourceType": "Practitioner", "id": "doc-test", "identifier": [
        {"system": S.SID_PHYSICIAN_LICENCE, "value": "116201021800001"}]}
    assert _expressions(_rejected(tx, practitioner)) == ["Practitioner.identifier[0].value"]
    role = {"resourceType": "PractitionerRole", "id": "role-test", "code": [{"coding": [
        {"system": S.CS_PRACTITIONER_TITLE, "code": "professor"}]}]}
    assert set(_expressions(_rejected(tx, role))) == {
        "PractitionerRole.code[0].coding[0].code", "PractitionerRole.organization"}


def test_licence_numbers() -> None:
    assert licence_problem("116201022010001") is None
    assert licence_problem("116201022010001x") is not None
    assert licence_problem("316201022010001") is not None  # level is 1 or 2
    assert "region" in (licence_problem("119999922010001") or "")
    assert "year" in (licence_problem("116201021800001") or "")
    with pytest.raises(UnprocessableEntity):
        check_resource({"resourceType": "Practitioner", "qualification": [{"identifier": [
            {"system": S.SID_PHYSICIAN_LICENCE, "value": "3"}]}]})
