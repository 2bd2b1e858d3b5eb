"""CRUD, versioning, conditional headers and error answers of the FHIR REST API."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:oid:2.16.156.10011.1.3", "value": "62010219800203001X"}],
    "name": [{"text": "王小明", "family": "王", "given": ["小明"]}],
    "gender": "male",
    "birthDate": "1980-02-03",
}


def _create(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    resp = client.post(f"/fhir/{body['resourceType']}", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def test_create_read_vread(client: TestClient) -> None:
    resp = client.post("/fhir/Patient", json=PATIENT)
    assert resp.status_code == 201
    body = resp.json()
    pid = body["id"]
    assert resp.headers["location"].endswith(f"/Patient/{pid}/_history/1")
    assert resp.headers["etag"] == 'W/"1"'
    assert body["meta"]["versionId"] == "1"
    read = client.get(f"/fhir/Patient/{pid}")
    assert read.status_code == 200
    assert read.json()["name"][0]["text"] == "王小明"
    assert read.headers["etag"] == 'W/"1"'
    assert "last-modified" in read.headers
    assert read.headers["content-type"].startswith("application/fhir+json")
    assert client.get(f"/fhir/Patient/{pid}/_history/1").json()["id"] == pid
    assert client.get(f"/fhir/Patient/{pid}/_history/9").status_code == 404


def test_update_versions_and_if_match(client: TestClient) -> None:
    pid = _create(client, PATIENT)["id"]
    changed = {**PATIENT, "id": pid, "gender": "other"}
    resp = client.put(f"/fhir/Patient/{pid}", json=changed, headers={"If-Match": 'W/"1"'})
    assert resp.status_code == 200
    assert resp.json()["meta"]["versionId"] == "2"
    stale = client.put(f"/fhir/Patient/{pid}", json=changed, headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    outcome = stale.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == ["If-Match"]
    assert client.get(f"/fhir/Patient/{pid}/_history/1").json()["gender"] == "male"
    assert client.get(f"/fhir/Patient/{pid}").json()["gender"] == "other"


def test_create_on_update_with_client_id(client: TestClient) -> None:
    resp = client.put("/fhir/Patient/gs-client-1", json={**PATIENT, "id": "gs-client-1"})
    assert resp.status_code == 201
    again = client.put("/fhir/Patient/gs-client-1", json={**PATIENT, "id": "gs-client-1"})
    assert again.status_code == 200
    assert again.json()["meta"]["versionId"] == "2"


def test_update_id_mismatch_is_rejected(client: TestClient) -> None:
    resp = client.put("/fhir/Patient/abc", json={**PATIENT, "id": "xyz"})
    assert resp.status_code == 400
    assert resp.json()["issue"][0]["expression"] == ["Patient.id"]


def test_json_patch(client: TestClient) -> None:
    pid = _create(client, PATIENT)["id"]
    ops = [{"op": "replace", "path": "/gender", "value": "female"},
           {"op": "add", "path": "/active", "value": True}]
    resp = client.patch(f"/fhir/Patient/{pid}", content=__import__("json").dumps(ops),
                        headers={"content-type": "application/json-patch+json"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["gender"] == "female"
    assert resp.json()["active"] is True
    bad = client.patch(f"/fhir/Patient/{pid}", json=[{"op": "replace", "path": "/gender",
                                                       "value": "bogus"}])
    assert bad.status_code == 400
    assert bad.json()["issue"][0]["expression"] == ["Patient.gender"]


def test_delete_is_versioned(client: TestClient) -> None:
    pid = _create(client, PATIENT)["id"]
    assert client.delete(f"/fhir/Patient/{pid}").status_code == 204
    gone = client.get(f"/fhir/Patient/{pid}")
    assert gone.status_code == 410
    assert gone.json()["resourceType"] == "OperationOutcome"
    assert client.get(f"/fhir/Patient/{pid}/_history/1").status_code == 200
    assert client.get(f"/fhir/Patient/{pid}/_history/2").status_code == 410
    history = client.get(f"/fhir/Patient/{pid}/_history").json()
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "POST"]
    recreated = client.put(f"/fhir/Patient/{pid}", json={**PATIENT, "id": pid})
    assert recreated.status_code == 201
    assert recreated.json()["meta"]["versionId"] == "3"


def test_if_none_match_and_if_modified_since(client: TestClient) -> None:
    created = client.post("/fhir/Patient", json=PATIENT)
    pid = created.json()["id"]
    assert client.get(f"/fhir/Patient/{pid}", headers={"If-None-Match": 'W/"1"'}
                      ).status_code == 304
    assert client.get(f"/fhir/Patient/{pid}", headers={"If-None-Match": 'W/"2"'}
                      ).status_code == 200
    last = created.headers["last-modified"]
    assert client.get(f"/fhir/Patient/{pid}", headers={"If-Modified-Since": last}
                      ).status_code == 304
    assert client.get(f"/fhir/Patient/{pid}",
                      headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}
                      ).status_code == 200


def test_prefer_return(client: TestClient) -> None:
    minimal = client.post("/fhir/Patient", json=PATIENT, headers={"Prefer": "return=minimal"})
    assert minimal.status_code == 201 and minimal.content == b""
    assert "location" in minimal.headers
    oo = client.post("/fhir/Patient", json=PATIENT,
                     headers={"Prefer": "return=OperationOutcome"})
    assert oo.json()["resourceType"] == "OperationOutcome"


def test_bad_input_names_the_fault(client: TestClient) -> None:
    malformed = client.post("/fhir/Patient", content=b'{"resourceType": "Patient",',
                            headers={"content-type": "application/fhir+json"})
    assert malformed.status_code == 400
    assert "Malformed JSON" in malformed.json()["issue"][0]["diagnostics"]
    wrong_type = client.post("/fhir/Patient", json={"resourceType": "Observation"})
    assert wrong_type.status_code == 400
    assert wrong_type.json()["issue"][0]["expression"] == ["resourceType"]
    bad_date = client.post("/fhir/Patient", json={**PATIENT, "birthDate": "1980-13-01"})
    assert bad_date.status_code == 400
    assert bad_date.json()["issue"][0]["expression"] == ["Patient.birthDate"]
    unknown = client.post("/fhir/Patient", json={**PATIENT, "colour": "blue"})
    assert unknown.json()["issue"][0]["expression"] == ["Patient.colour"]
    assert client.get("/fhir/Patient/bad$id").status_code == 400
    assert client.get("/fhir/Unicorn/1").status_code == 404
    assert client.get("/fhir/Patient/does-not-exist").status_code == 404
    assert client.get("/fhir/metadata?_format=xml").status_code == 406


def test_bad_write_leaves_nothing(client: TestClient) -> None:
    before = client.get("/fhir/Patient?_summary=count").json()["total"]
    client.post("/fhir/Patient", json={**PATIENT, "gender": "bogus"})
    assert client.get("/fhir/Patient?_summary=count").json()["total"] == before


def test_capability_statement_is_truthful(client: TestClient) -> None:
    cap = client.get("/fhir/metadata").json()
    assert cap["resourceType"] == "CapabilityStatement"
    assert cap["fhirVersion"] == "4.0.1"
    assert cap["format"] == ["application/fhir+json", "json"]
    rest = cap["rest"][0]
    types = {r["type"]: r for r in rest["resource"]}
    assert len(types) >= 145
    patient = types["Patient"]
    codes = {p["name"] for p in patient["searchParam"]}
    assert {"name", "identifier", "birthdate", "_id", "_lastUpdated"} <= codes
    location = {p["name"] for p in types["Location"]["searchParam"]}
    assert {"near", "_text", "_content"} <= location and "_query" not in location
    assert {o["name"] for o in patient["operation"]} >= {"everything", "validate"}
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch",
                                                        "history-system"}


def test_validate_operation(client: TestClient) -> None:
    ok = client.post("/fhir/Patient/$validate", json=PATIENT)
    assert ok.status_code == 200
    assert ok.json()["issue"][0]["severity"] == "information"
    bad = client.post("/fhir/Patient/$validate", json={**PATIENT, "gender": "x"})
    assert bad.json()["issue"][0]["severity"] == "error"
    assert bad.json()["issue"][0]["expression"] == ["Patient.gender"]


def test_landing_page_points_at_the_api(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert 'href="/fhir/metadata"' in page.text and "甘肃省" in page.text
