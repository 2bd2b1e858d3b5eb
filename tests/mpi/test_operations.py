"""Patient/$match (R4 and PDQm ITI-119), PIXm ITI-83, PDQm ITI-78 and enterprise-id lookups."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from tests.mpi.test_service_support import (
    GOLDEN_TAG,
    HOSPITAL_A,
    HOSPITAL_B,
    create,
    empi_of,
    golden_of,
    links,
    new_person,
)

from gansu_health.mpi.operations import MATCH_GRADE
from gansu_health.mpi.resident_id import RESIDENT_ID_SYSTEM
from gansu_health.mpi.settings import EMPI_SYSTEM

PDQM_INPUT = "https://profiles.ihe.net/ITI/PDQm/StructureDefinition/IHE.PDQm.MatchInputPatient"


def _match(client: TestClient, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    resp = client.post("/fhir/Patient/$match", json=body)
    assert resp.status_code == status, resp.text
    result: dict[str, Any] = resp.json()
    return result


def _grades(bundle: dict[str, Any]) -> list[tuple[str, str, float]]:
    return [(e["resource"]["id"], e["search"]["extension"][0]["valueCode"],
             e["search"]["score"]) for e in bundle["entry"]]


def test_match_r4_parameters_returns_the_best_source_of_each_golden_person(
        client: TestClient) -> None:
    person = new_person("陈", "静", "female")
    source = create(client, person.patient())
    near = create(client, person.patient(HOSPITAL_B, family="陈", given="晶"))  # same person
    twin = create(client, person.patient(HOSPITAL_B, resident_id=new_person(
        "陈", "静", "female").resident_id, given="晶"))
    assert empi_of(near) == empi_of(source) != empi_of(twin)
    query = person.patient(HOSPITAL_B)
    bundle = _match(client, {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": query}, {"name": "count", "valueInteger": 5}]})
    assert bundle["type"] == "searchset"
    grades = _grades(bundle)
    assert grades[0][0] in (source["id"], near["id"]) and grades[0][1] == "certain"
    assert grades[0][2] >= 0.99
    assert [g[2] for g in grades] == sorted((g[2] for g in grades), reverse=True)
    assert len({source["id"], near["id"]} & {g[0] for g in grades}) == 1  # one per golden Person
    assert twin["id"] in [g[0] for g in grades[1:]]
    assert bundle["total"] == len(bundle["entry"])
    entry = bundle["entry"][0]
    assert entry["search"]["mode"] == "match"
    assert entry["search"]["extension"][0]["url"] == MATCH_GRADE
    assert entry["fullUrl"].endswith(f"/Patient/{grades[0][0]}")
    assert {e["resource"]["resourceType"] for e in bundle["entry"]} == {"Patient"}
    assert empi_of(entry["resource"]) == empi_of(golden_of(client, source))
    only = _match(client, {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": query},
        {"name": "onlyCertainMatches", "valueBoolean": True}]})
    assert [g[:2] for g in _grades(only)] == [(grades[0][0], "certain")]
    one = _match(client, {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": query}, {"name": "count", "valueInteger": 1}]})
    assert len(one["entry"]) == 1


def test_match_bare_patient_and_pdqm_iti119(client: TestClient) -> None:
    person = new_person("黄", "磊")
    source = create(client, person.patient())
    without_id = person.patient(HOSPITAL_B, resident_id=None, family="皇")  # homophone
    bare = _grades(_match(client, without_id))
    assert bare and bare[0][0] == source["id"]
    assert bare[0][1] in ("certain", "probable", "possible")
    iti119 = dict(person.patient(HOSPITAL_B), meta={"profile": [PDQM_INPUT]})
    body = {"resourceType": "Parameters", "meta": {"profile": [
        "https://profiles.ihe.net/ITI/PDQm/StructureDefinition/IHE.PDQm.MatchParametersIn"]},
        "parameter": [{"name": "resource", "resource": iti119},
                      {"name": "onlyCertainMatches", "valueBoolean": False},
                      {"name": "count", "valueInteger": 3}]}
    assert _grades(_match(client, body))[0][:2] == (source["id"], "certain")
    nobody = _match(client, new_person("钱", "多多").patient())
    assert nobody["total"] == 0 and nobody["entry"] == []


def test_match_rejects_bad_input(client: TestClient) -> None:
    missing = _match(client, {"resourceType": "Parameters", "parameter": []}, 400)
    assert missing["issue"][0]["expression"] == ["resource"]
    wrong = _match(client, {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": {"resourceType": "Observation"}}]}, 400)
    assert wrong["issue"][0]["expression"] == ["resource"]
    invalid = _match(client, {"resourceType": "Patient", "gender": 7}, 400)
    assert invalid["resourceType"] == "OperationOutcome"
    assert client.get("/fhir/Patient/$match").status_code == 405


def _pix(client: TestClient, status: int = 200, **params: Any) -> dict[str, Any]:
    resp = client.get("/fhir/Patient/$ihe-pix", params=params)
    assert resp.status_code == status, resp.text
    result: dict[str, Any] = resp.json()
    return result


def test_pixm_cross_references_identifiers(client: TestClient) -> None:
    person = new_person("罗", "斌")
    a = create(client, person.patient(HOSPITAL_A))
    b = create(client, person.patient(HOSPITAL_B))
    golden = golden_of(client, a)
    mrn_a, mrn_b = a["identifier"][0]["value"], b["identifier"][0]["value"]
    answer = _pix(client, sourceIdentifier=f"{HOSPITAL_A}|{mrn_a}")
    idents = [p["valueIdentifier"] for p in answer["parameter"] if p["name"] == "targetIdentifier"]
    assert {"system": HOSPITAL_B, "value": mrn_b} in idents
    assert {"system": EMPI_SYSTEM, "value": empi_of(a)} in idents
    assert {"system": RESIDENT_ID_SYSTEM, "value": person.resident_id} in idents
    assert {"system": HOSPITAL_A, "value": mrn_a} not in idents
    refs = {p["valueReference"]["reference"] for p in answer["parameter"]
            if p["name"] == "targetId"}
    assert refs == {f"Patient/{a['id']}", f"Patient/{b['id']}"}  # PIXm targetId: Patients
    empi_only = _pix(client, sourceIdentifier=f"{HOSPITAL_A}|{mrn_a}", targetSystem=EMPI_SYSTEM)
    assert empi_only["parameter"] == [
        {"name": "targetIdentifier", "valueIdentifier": {"system": EMPI_SYSTEM,
                                                         "value": empi_of(a)}},
        {"name": "targetId", "valueReference": {"reference": f"Person/{golden['id']}"}}]
    only_b = _pix(client, sourceIdentifier=f"{HOSPITAL_A}|{mrn_a}", targetSystem=HOSPITAL_B)
    assert only_b["parameter"] == [
        {"name": "targetIdentifier", "valueIdentifier": {"system": HOSPITAL_B, "value": mrn_b}},
        {"name": "targetId", "valueReference": {"reference": f"Patient/{b['id']}"}}]
    by_empi = _pix(client, sourceIdentifier=f"{EMPI_SYSTEM}|{empi_of(a)}",
                   targetSystem=HOSPITAL_A)
    assert by_empi["parameter"][0]["valueIdentifier"]["value"] == mrn_a
    post = client.post("/fhir/Patient/$ihe-pix", json={"resourceType": "Parameters", "parameter": [
        {"name": "sourceIdentifier", "valueIdentifier": {}},
    ]})
    assert post.status_code == 400


def test_pixm_errors(client: TestClient) -> None:
    create(client, new_person().patient(HOSPITAL_A))
    missing = _pix(client, 404, sourceIdentifier=f"{HOSPITAL_A}|NO-SUCH-MRN")
    assert missing["issue"][0]["code"] == "not-found"
    assert "Patient Identifier not found" in missing["issue"][0]["diagnostics"]
    unknown = _pix(client, 400, sourceIdentifier="urn:oid:9.9.9|123")
    assert "Assigning Authority not found" in unknown["issue"][0]["diagnostics"]
    _pix(client, 400, sourceIdentifier="no-bar")
    _pix(client, 400, sourceIdentifier=f"{HOSPITAL_A}|x", colour="red")
    target = _pix(client, 403, sourceIdentifier=f"{HOSPITAL_A}|x", targetSystem="urn:oid:9.9")
    assert target["issue"][0]["expression"] == ["targetSystem"]


def test_pdqm_iti78_search_with_chinese_names_and_identifiers(client: TestClient) -> None:
    person = new_person("欧阳", "娜娜", "female")
    source = create(client, person.patient())
    search = {"family": "欧阳", "given": "娜娜", "birthdate": person.born.isoformat(),
              "gender": "female"}
    found = client.get("/fhir/Patient", params=search).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [source["id"]]
    by_id = client.get("/fhir/Patient", params={
        "identifier": f"{RESIDENT_ID_SYSTEM}|{person.resident_id}"}).json()
    assert [e["resource"]["id"] for e in by_id["entry"]] == [source["id"]]
    by_mrn = client.get("/fhir/Patient", params={
        "identifier": f"{HOSPITAL_A}|{source['identifier'][0]['value']}"}).json()
    assert by_mrn["total"] == 1
    by_name = client.get("/fhir/Patient", params={"name": "欧阳娜",
                                                  "birthdate": person.born.isoformat()}).json()
    assert {e["resource"]["id"] for e in by_name["entry"]} >= {source["id"]}
    phone = client.get("/fhir/Patient", params={"telecom": person.phone}).json()
    assert [e["resource"]["id"] for e in phone["entry"]] == [source["id"]]
    golden = client.get("/fhir/Person", params={"telecom": person.phone,
                                                "_tag": GOLDEN_TAG}).json()
    assert [e["resource"]["id"] for e in golden["entry"]] == [golden_of(client, source)["id"]]


def test_enterprise_id_finds_the_golden_person_and_its_sources(client: TestClient) -> None:
    person = new_person("徐", "明")
    a, b = (create(client, person.patient(h)) for h in (HOSPITAL_A, HOSPITAL_B))
    empi = empi_of(a)
    sources = client.get("/fhir/Patient", params={"identifier": f"{EMPI_SYSTEM}|{empi}"}).json()
    assert {e["resource"]["id"] for e in sources["entry"]} == {a["id"], b["id"]}
    golden = golden_of(client, a)
    by_empi = client.get("/fhir/Person", params={"identifier": f"{EMPI_SYSTEM}|{empi}"}).json()
    assert [e["resource"]["id"] for e in by_empi["entry"]] == [golden["id"]]
    for param in ("patient", "link"):
        found = client.get("/fhir/Person", params={param: f"Patient/{b['id']}"}).json()
        assert [e["resource"]["id"] for e in found["entry"]] == [golden["id"]], param
    with_sources = client.get("/fhir/Person", params={
        "_id": golden["id"], "_include": "Person:patient"}).json()
    assert {(e["resource"]["resourceType"], e["resource"]["id"])
            for e in with_sources["entry"]} == {
        ("Person", golden["id"]), ("Patient", a["id"]), ("Patient", b["id"])}


def test_query_links_filters_and_pages(client: TestClient) -> None:
    for family in ("宋", "唐", "元"):
        create(client, new_person(family, "华").patient())
    page = client.get("/fhir/$mdm-query-links", params={"_count": "2",
                                                        "matchResult": "MATCH"}).json()
    names = [p["name"] for p in page["parameter"]]
    assert names.count("link") == 2 and "next" in names and "prev" not in names
    following = next(p["valueUri"] for p in page["parameter"] if p["name"] == "next")
    assert "_offset=2" in following and "matchResult=MATCH" in following
    second = client.get(following.replace("http://testserver", "")).json()
    assert "prev" in [p["name"] for p in second["parameter"]]
    assert all(link["linkSource"] in ("AUTO", "MANUAL")
               for link in links(client, matchResult="MATCH", linkSource="AUTO"))
    bad = client.get("/fhir/Patient/$mdm-query-links", params={"matchResult": "SURE"})
    assert bad.status_code == 400
