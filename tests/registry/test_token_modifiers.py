"""Token search with :below, :above, :in and :not-in answered from the stored terminology."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

DEPT = "https://gansu-health.cn/fhir/CodeSystem/department"
INTERNAL = "https://gansu-health.cn/fhir/ValueSet/department-internal-medicine"


def _ids(client: TestClient, query: str) -> set[str]:
    resp = client.get(f"/fhir/{query}")
    assert resp.status_code == 200, resp.text
    return {e["resource"]["id"] for e in resp.json().get("entry", [])}


@pytest.fixture(scope="module", autouse=True)
def departments(tx: TestClient) -> None:
    for fid, code in (("tm-resp", "03.01"), ("tm-med", "03"), ("tm-surg", "04"),
                      ("tm-card", "03.03")):
        body = {"resourceType": "HealthcareService", "id": fid, "name": fid,
                "type": [{"coding": [{"system": DEPT, "code": code}]}]}
        assert tx.put(f"/fhir/HealthcareService/{fid}", json=body).status_code == 201


def test_below_and_above_follow_the_hierarchy(tx: TestClient) -> None:
    assert _ids(tx, f"HealthcareService?service-type:below={DEPT}|03") == {
        "tm-resp", "tm-med", "tm-card"}
    assert _ids(tx, f"HealthcareService?service-type:below={DEPT}|03.01") == {"tm-resp"}
    assert _ids(tx, f"HealthcareService?service-type:above={DEPT}|03.01") == {
        "tm-resp", "tm-med"}


def test_in_and_not_in_use_the_value_set(tx: TestClient) -> None:
    assert _ids(tx, f"HealthcareService?service-type:in={INTERNAL}") == {
        "tm-resp", "tm-med", "tm-card"}
    assert _ids(tx, f"HealthcareService?service-type:not-in={INTERNAL}&_id=tm-surg,tm-med"
                ) == {"tm-surg"}


def test_unknown_code_system_or_value_set_is_a_clear_error(tx: TestClient) -> None:
    bad = tx.get("/fhir/HealthcareService?service-type:below=urn:nowhere|x")
    assert bad.status_code == 400
    assert "urn:nowhere" in bad.json()["issue"][0]["diagnostics"]
    missing = tx.get("/fhir/HealthcareService?service-type:in=urn:no-such-valueset")
    assert missing.status_code == 404
