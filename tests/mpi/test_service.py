"""Registration with matching over real HTTP: golden records, identity checks, the write paths."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from tests.mpi.test_service_support import (
    GOLDEN_TAG,
    HOSPITAL_A,
    HOSPITAL_B,
    create,
    empi_of,
    golden_of,
    identity_policy,
    links,
    new_mrn,
    new_person,
    targets,
    topics,
)

from gansu_health.mpi.identity import MPI_TAG_SYSTEM, UNVERIFIED
from gansu_health.mpi.resident_id import RESIDENT_ID_SYSTEM, check_character
from gansu_health.mpi.settings import EMPI_SYSTEM


def test_same_person_from_two_hospitals_with_a_homophone_links_to_one_golden_record(
        client: TestClient) -> None:
    person = new_person("张", "伟")
    first = create(client, person.patient(HOSPITAL_A))
    second = create(client, person.patient(HOSPITAL_B, family="章"))  # 张/章 typed by ear
    assert empi_of(first) == empi_of(second)  # the hospital gets the enterprise id back
    golden = golden_of(client, first)
    assert golden["resourceType"] == "Person" and golden["active"] is True
    assert sorted(golden["link"], key=lambda link: link["target"]["reference"]) == sorted((
        {"target": {"reference": f"Patient/{p['id']}"}, "assurance": "level3"}
        for p in (first, second)), key=lambda link: link["target"]["reference"])
    assert golden["name"][0]["family"] in ("张", "章")
    assert {"gender", "birthDate", "telecom", "address"} <= set(golden)
    assert golden["identifier"][0] == {
        "use": "official", "type": {"text": "Enterprise master patient index"},
        "system": EMPI_SYSTEM, "value": empi_of(first)}
    found = links(client, goldenResourceId=golden["id"], matchResult="MATCH")
    assert sorted(link["sourceResourceId"] for link in found) == sorted(
        f"Patient/{p['id']}" for p in (first, second))
    assert {link["linkSource"] for link in found} == {"AUTO"}


def test_different_valid_resident_ids_never_auto_link(client: TestClient) -> None:
    twin = new_person("李", "娜", "female")
    other = new_person("李", "娜", "female")
    first = create(client, twin.patient(HOSPITAL_A))
    # same name, birth date, phone and address, but another valid resident id (a twin)
    second = create(client, twin.patient(HOSPITAL_B, resident_id=other.resident_id))
    assert empi_of(first) != empi_of(second)
    assert not links(client, resourceId=second["id"], goldenResourceId=golden_of(
        client, first)["id"], matchResult="MATCH")


def test_bad_resident_ids_are_rejected_naming_the_field(client: TestClient) -> None:
    person = new_person()
    rid = person.resident_id or ""
    wrong_check = rid[:17] + ("0" if rid[17] != "0" else "1")
    impossible_day = "62010219800230" + "123"
    unknown_region = "62999919800101" + "123"
    for value in (wrong_check, impossible_day + check_character(impossible_day),
                  unknown_region + check_character(unknown_region), "not-a-number"):
        body = person.patient()
        body["identifier"] = [body["identifier"][1], body["identifier"][0]]
        body["identifier"][0]["value"] = value
        resp = client.post("/fhir/Patient", json=body)
        assert resp.status_code == 400, value
        issue = resp.json()["issue"][0]
        assert issue["expression"] == ["Patient.identifier[0].value"], issue


def test_bad_resident_id_in_a_transaction_rolls_back_the_bundle(client: TestClient) -> None:
    good, bad = new_person(), new_person()
    broken = bad.patient()
    broken["identifier"][1]["value"] = (bad.resident_id or "")[:17] + "Y"
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": good.patient(),
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": broken,
         "request": {"method": "POST", "url": "Patient"}}]}
    resp = client.post("/fhir", json=bundle)
    assert resp.status_code == 400
    assert "identifier[1].value" in resp.json()["issue"][0]["expression"][0]
    found = client.get("/fhir/Patient", params={
        "identifier": f"{RESIDENT_ID_SYSTEM}|{good.resident_id}"}).json()
    assert found["total"] == 0


def test_policy_accepting_unverified_identities_flags_them(client: TestClient) -> None:
    person = new_person()
    body = person.patient()
    body["identifier"][1]["value"] = (person.resident_id or "")[:17] + "Y"
    with identity_policy(client, "flag"):
        stored = create(client, body)
    assert {"system": MPI_TAG_SYSTEM, "code": UNVERIFIED} in [
        {k: t[k] for k in ("system", "code")} for t in stored["meta"]["tag"]]
    assert empi_of(stored)
    fixed = dict(stored, identifier=[i for i in stored["identifier"]
                                     if i["system"] != RESIDENT_ID_SYSTEM])
    with identity_policy(client, "flag"):
        resp = client.put(f"/fhir/Patient/{stored['id']}", json=fixed)
    assert resp.status_code == 200
    assert UNVERIFIED not in [t["code"] for t in resp.json()["meta"].get("tag", [])]


def test_fifteen_digit_ids_are_upgraded(client: TestClient) -> None:
    person = new_person()
    while person.born.year > 1999:
        person = new_person()
    rid = person.resident_id or ""
    old = rid[:6] + rid[8:17]
    stored = create(client, person.patient(resident_id=old))
    values = {(i.get("use"), i["value"]) for i in stored["identifier"]
              if i["system"] == RESIDENT_ID_SYSTEM}
    assert ("official", rid) in values and ("old", old) in values
    again = create(client, person.patient(HOSPITAL_B))  # registered with the 18-digit number
    assert empi_of(again) == empi_of(stored)


def test_pixm_feed_conditional_update_and_transactions_register(client: TestClient) -> None:
    person, mrn = new_person("王", "芳", "female"), new_mrn()
    url = f"/fhir/Patient?identifier={HOSPITAL_A}|{mrn}"
    created = client.put(url, json=person.patient(HOSPITAL_A, mrn))  # ITI-104
    assert created.status_code == 201
    updated = client.put(url, json=person.patient(HOSPITAL_A, mrn, phone="13900000000"))
    assert updated.status_code == 200
    assert empi_of(updated.json()) == empi_of(created.json())
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": body,
         "request": {"method": "POST", "url": "Patient"}}
        for body in (person.patient(HOSPITAL_B), person.patient("urn:oid:1.2.156.620902.3"))]}
    resp = client.post("/fhir", json=bundle)
    assert resp.status_code == 200, resp.text
    ids = [e["response"]["location"].split("/")[1] for e in resp.json()["entry"]]
    stored = [client.get(f"/fhir/Patient/{fid}").json() for fid in ids]
    assert {empi_of(s) for s in stored} == {empi_of(created.json())}
    golden = golden_of(client, created.json())
    assert sorted(targets(golden)) == sorted(
        f"Patient/{fid}" for fid in [created.json()["id"], *ids])


def test_new_person_in_one_transaction_twice_gets_one_golden_record(client: TestClient) -> None:
    person = new_person("赵", "敏", "female")
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": person.patient(hospital),
         "request": {"method": "POST", "url": "Patient"}} for hospital in (HOSPITAL_A,
                                                                           HOSPITAL_B)]}
    resp = client.post("/fhir", json=bundle)
    assert resp.status_code == 200, resp.text
    ids = [e["response"]["location"].split("/")[1] for e in resp.json()["entry"]]
    assert len({empi_of(client.get(f"/fhir/Patient/{fid}").json()) for fid in ids}) == 1


def test_golden_records_are_not_written_by_clients(client: TestClient) -> None:
    golden = golden_of(client, create(client, new_person().patient()))
    assert client.put(f"/fhir/Person/{golden['id']}", json=golden).status_code == 422
    tag = {"system": GOLDEN_TAG.split("|")[0], "code": "GOLDEN_RECORD"}
    forged = new_person().patient()
    forged["meta"] = {"tag": [tag]}
    assert client.post("/fhir/Patient", json=forged).status_code == 422
    forged_person = {"resourceType": "Person", "meta": {"tag": [tag]}, "name": forged["name"]}
    assert client.post("/fhir/Person", json=forged_person).status_code == 422
    assert client.delete(f"/fhir/Person/{golden['id']}").status_code == 422
    assert client.get(f"/fhir/Person/{golden['id']}").json()["meta"]["versionId"] == golden[
        "meta"]["versionId"]
    ordinary = {"resourceType": "Person", "name": forged["name"]}  # not the MPI's business
    assert client.post("/fhir/Person", json=ordinary).status_code == 201


def test_golden_records_are_not_matched(client: TestClient) -> None:
    person = new_person("孙", "丽", "female")
    first = create(client, person.patient())
    golden = golden_of(client, first)
    second = create(client, person.patient(HOSPITAL_B))
    assert not links(client, resourceId=golden["id"])
    assert [link["goldenResourceId"] for link in links(client, resourceId=second["id"])] == [
        f"Person/{golden['id']}"]


def test_deleting_a_source_removes_its_links(client: TestClient) -> None:
    person = new_person("周", "杰")
    first, second = (create(client, person.patient(h)) for h in (HOSPITAL_A, HOSPITAL_B))
    golden = golden_of(client, first)
    assert client.delete(f"/fhir/Patient/{second['id']}").status_code == 204
    assert not links(client, resourceId=second["id"])
    refreshed = client.get(f"/fhir/Person/{golden['id']}").json()
    assert targets(refreshed) == [f"Patient/{first['id']}"]
    assert "mpi.link.deleted" in topics(client)


def test_events_are_emitted_through_the_outbox(client: TestClient) -> None:
    person = new_person("吴", "静", "female")
    create(client, person.patient())
    create(client, person.patient(HOSPITAL_B))
    seen = topics(client)
    assert {"mpi.golden.created", "mpi.link.created"} <= set(seen)


def test_golden_persons_stay_out_of_patient_searches_and_counts(client: TestClient) -> None:
    person = new_person("蒋", "琳", "female")
    a, b = (create(client, person.patient(h)) for h in (HOSPITAL_A, HOSPITAL_B))
    golden = golden_of(client, a)
    by_empi = client.get("/fhir/Patient", params={
        "identifier": f"{EMPI_SYSTEM}|{empi_of(a)}", "_summary": "count"}).json()
    assert by_empi["total"] == 2
    by_phone = client.get("/fhir/Patient", params={"telecom": person.phone}).json()
    assert {e["resource"]["id"] for e in by_phone["entry"]} == {a["id"], b["id"]}
    assert client.get(f"/fhir/Patient/{golden['id']}").status_code == 404
    everything = client.get(f"/fhir/Patient/{a['id']}/$everything").json()
    assert [e["resource"]["resourceType"] for e in everything["entry"]] == ["Patient", "Person"]
    assert everything["entry"][1]["resource"]["id"] == golden["id"]
