"""Batch and transaction Bundles, conditional operations and their concurrency."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from typing import Any

import httpx
from fastapi.testclient import TestClient
from tests.conftest import LiveServer


def _patient(ident: str, family: str = "李") -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": family, "given": ["娜"]}],
            "identifier": [{"system": "urn:oid:1.2.156.620102.1.1", "value": ident}]}


def _count(client: TestClient, query: str) -> int:
    return int(client.get(f"/fhir/{query}&_summary=count").json()["total"])


def test_transaction_rewrites_urn_uuid_and_conditional_refs(client: TestClient) -> None:
    org_ident = uuid.uuid4().hex
    client.post("/fhir/Organization", json={
        "resourceType": "Organization", "name": "天水市第一人民医院",
        "identifier": [{"system": "urn:test:org", "value": org_ident}]})
    pat, enc = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": enc, "resource": {
            "resourceType": "Encounter", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": "AMB"},
            "subject": {"reference": pat},
            "serviceProvider": {"reference": f"Organization?identifier=urn:test:org|{org_ident}"}},
         "request": {"method": "POST", "url": "Encounter"}},
        {"fullUrl": pat, "resource": _patient(uuid.uuid4().hex),
         "request": {"method": "POST", "url": "Patient"}},
    ]}
    resp = client.post("/fhir", json=bundle)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["type"] == "transaction-response"
    assert [e["response"]["status"] for e in out["entry"]] == ["201 Created", "201 Created"]
    enc_loc = out["entry"][0]["response"]["location"]
    pat_loc = out["entry"][1]["response"]["location"]
    encounter = client.get(f"/fhir/{enc_loc.split('/_history')[0]}").json()
    assert encounter["subject"]["reference"] == pat_loc.split("/_history")[0]
    assert encounter["serviceProvider"]["reference"].startswith("Organization/")


def test_transaction_is_all_or_nothing(client: TestClient) -> None:
    family = f"T{uuid.uuid4().hex[:8]}"
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": _patient("1", family), "request": {"method": "POST", "url": "Patient"}},
        {"resource": {**_patient("2", family), "gender": "bogus"},
         "request": {"method": "POST", "url": "Patient"}},
    ]}
    resp = client.post("/fhir", json=bundle)
    assert resp.status_code == 400
    issue = resp.json()["issue"][0]
    assert issue["expression"] == ["Bundle.entry[1].resource.Patient.gender"]
    assert _count(client, f"Patient?family={family}") == 0


def test_transaction_failure_midway_rolls_back(client: TestClient) -> None:
    family = f"R{uuid.uuid4().hex[:8]}"
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": _patient("1", family), "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "DELETE", "url": "Patient?family=x"}},
        {"resource": {**_patient("3", family), "id": "tx-x"},
         "request": {"method": "PUT", "url": "Patient/tx-x", "ifMatch": 'W/"7"'}},
    ]}
    resp = client.post("/fhir", json=bundle)
    assert resp.status_code == 412
    assert resp.json()["issue"][0]["expression"][0].startswith("Bundle.entry[2]")
    assert _count(client, f"Patient?family={family}") == 0


def test_batch_entries_are_independent(client: TestClient) -> None:
    family = f"B{uuid.uuid4().hex[:8]}"
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": _patient("1", family), "request": {"method": "POST", "url": "Patient"}},
        {"resource": {**_patient("2", family), "birthDate": "2020-02-30"},
         "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": f"Patient?family={family}"}},
        {"request": {"method": "GET", "url": "Patient/nope"}},
    ]}
    out = client.post("/fhir", json=bundle).json()
    statuses = [e["response"]["status"] for e in out["entry"]]
    assert statuses[0] == "201 Created"
    assert statuses[1] == "400"
    assert out["entry"][1]["response"]["outcome"]["issue"][0]["expression"] == [
        "Bundle.entry[1].resource.Patient.birthDate"]
    assert statuses[2] == "200" and out["entry"][2]["resource"]["type"] == "searchset"
    assert statuses[3] == "404"
    assert _count(client, f"Patient?family={family}") == 1


def test_bundle_patch_and_conditional_create_in_transaction(client: TestClient) -> None:
    ident = uuid.uuid4().hex
    pid = client.post("/fhir/Patient", json=_patient(ident)).json()["id"]
    patch = base64.b64encode(json.dumps(
        [{"op": "add", "path": "/active", "value": True}]).encode()).decode()
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Binary", "contentType": "application/json-patch+json",
                      "data": patch}, "request": {"method": "PATCH", "url": f"Patient/{pid}"}},
        {"fullUrl": "urn:uuid:c0ffee00-0000-4000-8000-000000000001",
         "resource": _patient(ident),
         "request": {"method": "POST", "url": "Patient",
                     "ifNoneExist": f"identifier=urn:oid:1.2.156.620102.1.1|{ident}"}},
    ]}
    out = client.post("/fhir", json=bundle).json()
    assert out["entry"][0]["response"]["status"] == "200 OK"
    assert out["entry"][1]["response"]["status"] == "200 OK"
    assert out["entry"][1]["response"]["location"].startswith(f"Patient/{pid}/")
    assert client.get(f"/fhir/Patient/{pid}").json()["active"] is True


def test_bundle_envelope_errors(client: TestClient, settings: Any) -> None:
    assert client.post("/fhir", json={"resourceType": "Patient"}).status_code == 400
    assert client.post("/fhir", json={"resourceType": "Bundle", "type": "collection"}
                       ).status_code == 400
    missing = client.post("/fhir", json={"resourceType": "Bundle", "type": "batch",
                                         "entry": [{"resource": _patient("1")}]})
    assert missing.json()["issue"][0]["expression"] == ["Bundle.entry[0].request"]
    big = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Patient/x"}}] * (settings.max_bundle_entries + 1)}
    assert client.post("/fhir", json=big).status_code == 413


def test_conditional_create_update_delete(client: TestClient) -> None:
    ident = uuid.uuid4().hex
    crit = f"identifier=urn:oid:1.2.156.620102.1.1|{ident}"
    first = client.post("/fhir/Patient", json=_patient(ident), headers={"If-None-Exist": crit})
    assert first.status_code == 201
    second = client.post("/fhir/Patient", json=_patient(ident), headers={"If-None-Exist": crit})
    assert second.status_code == 200 and second.json()["id"] == first.json()["id"]
    upd = client.put(f"/fhir/Patient?{crit}", json={**_patient(ident), "gender": "female"})
    assert upd.status_code == 200 and upd.json()["id"] == first.json()["id"]
    new_ident = uuid.uuid4().hex
    created = client.put(f"/fhir/Patient?identifier=urn:x|{new_ident}", json=_patient(new_ident))
    assert created.status_code == 201
    client.post("/fhir/Patient", json=_patient(ident))
    ambiguous = client.put(f"/fhir/Patient?{crit}", json=_patient(ident))
    assert ambiguous.status_code == 412
    assert client.delete(f"/fhir/Patient?{crit}").status_code == 204
    assert _count(client, f"Patient?{crit}") == 0


def test_concurrent_conditional_creates_leave_one(live_server: LiveServer) -> None:
    ident = uuid.uuid4().hex
    crit = f"identifier=urn:oid:1.2.156.620102.1.1|{ident}"
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def create() -> None:
        with httpx.Client(timeout=60, headers=live_server.headers) as http:
            barrier.wait()
            resp = http.post(f"{live_server.base}/Patient", json=_patient(ident),
                             headers={"If-None-Exist": crit})
            statuses.append(resp.status_code)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 7 + [201]
    found = httpx.get(f"{live_server.base}/Patient?{crit}&_summary=count",
                      headers=live_server.headers).json()
    assert found["total"] == 1
