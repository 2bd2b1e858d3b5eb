"""Search: every parameter type, prefix and modifier, chains, _has, includes, sort, paging."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

TAG = "search-suite"


def _ids(client: TestClient, query: str) -> set[str]:
    resp = client.get(f"/fhir/{query}")
    assert resp.status_code == 200, resp.text
    return {e["resource"]["id"] for e in resp.json().get("entry", [])
            if e["search"]["mode"] == "match"}


def _put(client: TestClient, body: dict[str, Any]) -> None:
    body.setdefault("meta", {"tag": [{"system": "urn:test", "code": TAG}]})
    resp = client.put(f"/fhir/{body['resourceType']}/{body['id']}", json=body)
    assert resp.status_code in (200, 201), resp.text


@pytest.fixture(scope="module", autouse=True)
def data(client: TestClient) -> None:
    _put(client, {"resourceType": "Organization", "id": "s-org1", "name": "兰州大学第一医院",
                  "address": [{"city": "兰州市", "district": "城关区"}]})
    _put(client, {"resourceType": "Practitioner", "id": "s-dr1",
                  "name": [{"family": "张", "given": ["伟"], "text": "张伟"}]})
    patients = [
        ("s-p1", "Müller", "Hans", "male", "1970-05-01", "http://a|1"),
        ("s-p2", "Muller", "Anna", "female", "1985-11-20", "http://a|2"),
        ("s-p3", "王", "芳", "female", "2010-01-15", "http://b|3"),
        ("s-p4", "O'Brien", "Seán", "male", "2001", "http://b|4,5"),
    ]
    for pid, family, given, gender, birth, ident in patients:
        system, value = ident.split("|")
        _put(client, {"resourceType": "Patient", "id": pid, "gender": gender,
                      "birthDate": birth, "active": pid != "s-p3",
                      "name": [{"family": family, "given": [given]}],
                      "identifier": [{"system": system, "value": value}],
                      "telecom": [{"system": "phone", "value": f"+86 138{pid[-1]}"}],
                      "managingOrganization": {"reference": "Organization/s-org1"},
                      "generalPractitioner": [{"reference": "Practitioner/s-dr1"}]})
    observations = [
        ("s-o1", "s-p1", "8480-6", 120.0, "mm[Hg]", "2020-01-01T08:00:00+08:00"),
        ("s-o2", "s-p1", "8480-6", 150.0, "mm[Hg]", "2021-06-01T08:00:00+08:00"),
        ("s-o3", "s-p2", "8480-6", 100.0, "mm[Hg]", "2021-06-15T08:00:00+08:00"),
        ("s-o4", "s-p3", "29463-7", 35.5, "kg", "2022-03-01T10:00:00+08:00"),
    ]
    for oid, pid, code, value, unit, when in observations:
        _put(client, {"resourceType": "Observation", "id": oid, "status": "final",
                      "code": {"coding": [{"system": "http://loinc.org", "code": code,
                                           "display": "Systolic" if code == "8480-6"
                                           else "Body weight"}]},
                      "subject": {"reference": f"Patient/{pid}"},
                      "effectiveDateTime": when,
                      "valueQuantity": {"value": value, "unit": unit,
                                        "system": "http://unitsofmeasure.org", "code": unit}})
    _put(client, {"resourceType": "Observation", "id": "s-bp", "status": "final",
                  "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
                  "subject": {"reference": "Patient/s-p2"},
                  "effectivePeriod": {"start": "2023-01-01", "end": "2023-01-31"},
                  "component": [
                      {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                       "valueQuantity": {"value": 140, "system": "http://unitsofmeasure.org",
                                         "code": "mm[Hg]"}},
                      {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                       "valueQuantity": {"value": 90, "system": "http://unitsofmeasure.org",
                                         "code": "mm[Hg]"}}]})
    _put(client, {"resourceType": "Condition", "id": "s-c1",
                  "subject": {"reference": "Patient/s-p1"},
                  "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10",
                                       "code": "I10"}], "text": "高血压"}})
    _put(client, {"resourceType": "Provenance", "id": "s-prov1",
                  "target": [{"reference": "Patient/s-p1"}], "recorded": "2020-01-01T00:00:00Z",
                  "agent": [{"who": {"reference": "Practitioner/s-dr1"}}]})
    _put(client, {"resourceType": "ValueSet", "id": "s-vs1", "status": "active",
                  "url": "http://example.org/fhir/ValueSet/blood"})


def test_string_default_exact_contains(client: TestClient) -> None:
    assert _ids(client, "Patient?family=muller") == {"s-p1", "s-p2"}
    assert _ids(client, "Patient?family:exact=Müller") == {"s-p1"}
    assert _ids(client, "Patient?family:exact=muller") == set()
    assert _ids(client, "Patient?name:contains=ull") == {"s-p1", "s-p2"}
    assert _ids(client, "Patient?name=sean") == {"s-p4"}
    assert _ids(client, "Patient?name=王") == {"s-p3"}
    assert _ids(client, "Organization?address-city=兰州") == {"s-org1"}


def test_token_forms(client: TestClient) -> None:
    assert _ids(client, "Patient?identifier=http://a|1") == {"s-p1"}
    assert _ids(client, "Patient?identifier=3") == {"s-p3"}
    assert _ids(client, "Patient?identifier=http://b|") == {"s-p3", "s-p4"}
    assert _ids(client, "Patient?identifier=|1") == set()
    assert _ids(client, r"Patient?identifier=4\,5") == {"s-p4"}
    assert _ids(client, "Patient?gender=female") == {"s-p2", "s-p3"}
    assert _ids(client, "Patient?gender=http://hl7.org/fhir/administrative-gender|male"
                ) == {"s-p1", "s-p4"}
    assert _ids(client, f"Patient?gender:not=male&_tag={TAG}") == {"s-p2", "s-p3"}
    assert _ids(client, "Patient?active=false") == {"s-p3"}
    assert _ids(client, "Observation?code:text=body") == {"s-o4"}
    assert _ids(client, "Condition?code:text=高血") == {"s-c1"}
    assert _ids(client, "Patient?phone=%2B86%201381") == {"s-p1"}


def test_or_and_and(client: TestClient) -> None:
    assert _ids(client, "Patient?gender=male,female&family=muller") == {"s-p1", "s-p2"}
    assert _ids(client, "Patient?family=mu&family=müll") == {"s-p1", "s-p2"}
    assert _ids(client, "Patient?family=mull&family:exact=Müller") == {"s-p1"}


@pytest.mark.parametrize(("query", "expected"), [
    ("birthdate=1970", {"s-p1"}),
    ("birthdate=eq1970-05", {"s-p1"}),
    ("birthdate=ne1970-05-01", {"s-p2", "s-p3", "s-p4"}),
    ("birthdate=gt2001-06-01", {"s-p3", "s-p4"}),
    ("birthdate=lt1985-11-20", {"s-p1"}),
    ("birthdate=le1985-11-20", {"s-p1", "s-p2"}),
    ("birthdate=ge2001-06-01", {"s-p3", "s-p4"}),
    ("birthdate=sa2001-01-01", {"s-p3"}),
    ("birthdate=eb1985-11-20", {"s-p1"}),
    ("birthdate=ap2010-01-10", {"s-p3"}),
    ("birthdate=ge1980&birthdate=lt2002", {"s-p2", "s-p4"}),
])
def test_date_prefixes(client: TestClient, query: str, expected: set[str]) -> None:
    assert _ids(client, f"Patient?{query}&_tag={TAG}") == expected


def test_datetime_with_offsets_and_periods(client: TestClient) -> None:
    assert _ids(client, "Observation?date=2020-01-01") == {"s-o1"}
    assert _ids(client, "Observation?date=2020-01-01T00:00:00Z") == {"s-o1"}
    assert _ids(client, "Observation?date=2020-01-01T08:00:00Z") == set()
    assert _ids(client, "Observation?date=ge2021-06-01T00:00:00%2B08:00&date=lt2022"
                ) == {"s-o2", "s-o3"}
    assert _ids(client, "Observation?date=2023-01-15") == set()  # period is wider than the day
    assert _ids(client, "Observation?date=2023-01") == {"s-bp"}
    assert _ids(client, "Observation?date=gt2023-01-15") == {"s-bp"}


@pytest.mark.parametrize(("query", "expected"), [
    ("value-quantity=120", {"s-o1"}),
    ("value-quantity=gt120", {"s-o2"}),
    ("value-quantity=ge120", {"s-o1", "s-o2"}),
    ("value-quantity=lt101", {"s-o3", "s-o4"}),
    ("value-quantity=le100|http://unitsofmeasure.org|mm[Hg]", {"s-o3"}),
    ("value-quantity=35.5||kg", {"s-o4"}),
    ("value-quantity=ap148", {"s-o2"}),
    ("value-quantity=ne120&code=8480-6", {"s-o2", "s-o3"}),
])
def test_quantity_prefixes(client: TestClient, query: str, expected: set[str]) -> None:
    assert _ids(client, f"Observation?{query}") == expected


def test_number_precision() -> None:
    from gansu_health.fhir.search.values import decimal_range

    assert decimal_range("100") == (100.0, 99.5, 100.5)
    assert decimal_range("1e2")[1] == 50.0
    assert decimal_range("0.10") == (0.1, 0.095, 0.105)


def test_uri_above_below(client: TestClient) -> None:
    assert _ids(client, "ValueSet?url=http://example.org/fhir/ValueSet/blood") == {"s-vs1"}
    assert _ids(client, "ValueSet?url:below=http://example.org/fhir") == {"s-vs1"}
    assert _ids(client, "ValueSet?url:above=http://example.org/fhir/ValueSet/blood/x") == {
        "s-vs1"}
    assert _ids(client, "ValueSet?url=http://example.org/fhir") == set()


def test_reference_forms(client: TestClient) -> None:
    assert _ids(client, "Observation?subject=Patient/s-p1") == {"s-o1", "s-o2"}
    assert _ids(client, "Observation?subject:Patient=s-p1") == {"s-o1", "s-o2"}
    assert _ids(client, "Observation?patient=s-p1") == {"s-o1", "s-o2"}
    assert _ids(client, "Observation?subject=http://testserver/fhir/Patient/s-p2"
                ) == {"s-o3", "s-bp"}
    assert _ids(client, "Observation?subject:Group=s-p1") == set()


def test_missing(client: TestClient) -> None:
    assert _ids(client, f"Patient?birthdate:missing=false&_tag={TAG}") == {
        "s-p1", "s-p2", "s-p3", "s-p4"}
    assert _ids(client, "Observation?value-quantity:missing=true&code=85354-9") == {"s-bp"}
    assert _ids(client, "Observation?component-code:missing=false") == {"s-bp"}


def test_composite(client: TestClient) -> None:
    assert _ids(client, "Observation?component-code-value-quantity="
                        "http://loinc.org|8480-6$gt130") == {"s-bp"}
    assert _ids(client, "Observation?component-code-value-quantity=8462-4$gt130") == set()
    assert _ids(client, "Observation?code-value-quantity=8480-6$ge150") == {"s-o2"}


def test_chains_and_has(client: TestClient) -> None:
    assert _ids(client, "Observation?subject:Patient.family=muller") == {
        "s-o1", "s-o2", "s-o3", "s-bp"}
    assert _ids(client, "Observation?subject.gender=female") == {"s-o3", "s-o4", "s-bp"}
    assert _ids(client, "Observation?patient.organization.name=兰州") == {
        "s-o1", "s-o2", "s-o3", "s-o4", "s-bp"}
    assert _ids(client, "Patient?_has:Observation:patient:code=29463-7") == {"s-p3"}
    assert _ids(client, "Patient?_has:Condition:subject:code=I10&gender=male") == {"s-p1"}
    assert _ids(client, "Practitioner?_has:Patient:general-practitioner:"
                        "_has:Observation:patient:code=29463-7") == {"s-dr1"}


def test_id_and_last_updated(client: TestClient) -> None:
    assert _ids(client, "Patient?_id=s-p1,s-p2") == {"s-p1", "s-p2"}
    assert _ids(client, "Patient?_id=s-p1&_lastUpdated=gt2000-01-01") == {"s-p1"}
    assert _ids(client, "Patient?_id=s-p1&_lastUpdated=lt2000-01-01") == set()


def test_include_and_revinclude(client: TestClient) -> None:
    body = client.get("/fhir/Observation?_id=s-o1&_include=Observation:subject"
                      "&_include:iterate=Patient:organization").json()
    kinds = {(e["resource"]["resourceType"], e["search"]["mode"]) for e in body["entry"]}
    assert kinds == {("Observation", "match"), ("Patient", "include"),
                     ("Organization", "include")}
    body = client.get("/fhir/Patient?_id=s-p1&_revinclude=Observation:subject"
                      "&_revinclude=Provenance:target").json()
    included = {e["resource"]["id"] for e in body["entry"] if e["search"]["mode"] == "include"}
    assert included == {"s-o1", "s-o2", "s-prov1"}
    star = client.get("/fhir/Patient?_id=s-p2&_include=*").json()
    assert {e["resource"]["id"] for e in star["entry"]} == {"s-p2", "s-org1", "s-dr1"}


def test_sort_and_paging(client: TestClient) -> None:
    resp = client.get(f"/fhir/Patient?_tag={TAG}&_sort=-birthdate&_count=2").json()
    first = [e["resource"]["id"] for e in resp["entry"]]
    assert first == ["s-p3", "s-p4"]
    next_url = next(link["url"] for link in resp["link"] if link["relation"] == "next")
    _put(client, {"resourceType": "Patient", "id": "s-p0", "birthDate": "2020-01-01",
                  "meta": {"tag": [{"system": "urn:test", "code": "other"}]}})
    page2 = client.get(next_url.replace("http://testserver", "")).json()
    assert [e["resource"]["id"] for e in page2["entry"]] == ["s-p2", "s-p1"]
    assert not any(link["relation"] == "next" for link in page2["link"])
    by_name = client.get(f"/fhir/Patient?_tag={TAG}&_sort=family,-birthdate").json()
    assert [e["resource"]["id"] for e in by_name["entry"]] == ["s-p2", "s-p1", "s-p4", "s-p3"]


def test_total_summary_elements(client: TestClient) -> None:
    plain = client.get(f"/fhir/Patient?_tag={TAG}&_count=1").json()
    assert "total" not in plain
    counted = client.get(f"/fhir/Patient?_tag={TAG}&_count=1&_total=accurate").json()
    assert counted["total"] == 4
    assert client.get(f"/fhir/Patient?_tag={TAG}&_count=1&_total=estimate").json()["total"] == 4
    count_only = client.get(f"/fhir/Patient?_tag={TAG}&_summary=count&_count=1").json()
    assert count_only["total"] == 4 and "entry" not in count_only
    assert [link["relation"] for link in count_only["link"]] == ["self"]
    elements = client.get("/fhir/Patient?_id=s-p1&_elements=gender").json()["entry"][0]
    assert set(elements["resource"]) == {"resourceType", "id", "meta", "gender"}
    assert elements["resource"]["meta"]["tag"][-1]["code"] == "SUBSETTED"
    summary = client.get("/fhir/Patient?_id=s-p1&_summary=true").json()["entry"][0]["resource"]
    assert "name" in summary and "managingOrganization" in summary
    assert "generalPractitioner" not in summary


def test_post_search_and_strictness(client: TestClient) -> None:
    resp = client.post("/fhir/Patient/_search", data={"family": "muller", "gender": "female"})
    assert {e["resource"]["id"] for e in resp.json()["entry"]} == {"s-p2"}
    lenient = client.get("/fhir/Patient?family=muller&colour=blue").json()
    assert lenient["entry"][-1]["search"]["mode"] == "outcome"
    strict = client.get("/fhir/Patient?family=muller&colour=blue",
                        headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400
    assert strict.json()["issue"][0]["expression"] == ["colour"]
    bad_mod = client.get("/fhir/Patient?family:above=x")
    assert bad_mod.status_code == 400
    bad_date = client.get("/fhir/Patient?birthdate=ge19xx")
    assert bad_date.status_code == 400


def test_date_windows_on_single_and_multi_valued_parameters(client: TestClient) -> None:
    """A window ge…&lt… matches exactly, for periods, instants and several values per resource."""
    def enc(eid: str, start: str, end: str | None) -> dict[str, Any]:
        period = {"start": start, **({"end": end} if end else {})}
        return {"resourceType": "Encounter", "id": eid, "status": "finished",
                "class": {"code": "AMB"}, "period": period,
                "meta": {"tag": [{"system": "urn:test", "code": "window"}]}}

    _put(client, enc("w-day", "2019-05-20T08:00:00+08:00", "2019-05-20T09:00:00+08:00"))
    _put(client, enc("w-long", "2010-01-01", "2019-05-25"))  # years long, ends in the window
    _put(client, enc("w-open", "2019-06-01", None))  # open-ended
    _put(client, enc("w-before", "2019-04-01", "2019-04-02"))
    _put(client, {"resourceType": "MedicationAdministration", "id": "w-multi",
                  "status": "completed", "medicationCodeableConcept": {"text": "x"},
                  "subject": {"reference": "Patient/s-p1"},
                  "effectivePeriod": {"start": "2019-01-01", "end": "2019-01-02"}})
    window = "date=ge2019-05-17&date=lt2019-06-16&_tag=window"
    assert _ids(client, f"Encounter?{window}") == {"w-day", "w-long", "w-open"}
    assert _ids(client, "Encounter?date=gt2019-05-20&date=le2019-05-31&_tag=window") == {
        "w-long"}
    assert _ids(client, "Encounter?date=gt2019-05-20&date=le2019-06-01&_tag=window") == {
        "w-long", "w-open"}
    assert _ids(client, "Encounter?date=sa2019-05-19&date=eb2019-06-02&_tag=window") == {
        "w-day"}
    assert _ids(client, "Encounter?date=ge2019-04-02&date=lt2019-04-03&_tag=window") == {
        "w-before", "w-long"}
    # a Timing with two events satisfies ge and lt through different values
    _put(client, {"resourceType": "CarePlan", "id": "w-plan", "status": "active",
                  "intent": "plan", "subject": {"reference": "Patient/s-p1"},
                  "period": {"start": "2019-01-01", "end": "2019-01-31"},
                  "activity": [{"detail": {"status": "scheduled", "scheduledTiming": {
                      "event": ["2019-01-05", "2019-03-05"]}}}]})
    assert _ids(client, "CarePlan?activity-date=ge2019-03-01&activity-date=lt2019-01-10"
                ) == {"w-plan"}
    assert _ids(client, "CarePlan?activity-date=ge2019-04-01&activity-date=lt2019-03-01"
                ) == set()


def test_near_and_unsupported_parameters(client: TestClient) -> None:
    for lid, lat, lon in (("n-lz", 36.0611, 103.8343), ("n-tianshui", 34.5809, 105.7249),
                          ("n-lz2", 36.10, 103.80)):
        _put(client, {"resourceType": "Location", "id": lid, "name": lid,
                      "position": {"latitude": lat, "longitude": lon}})
    assert _ids(client, "Location?near=36.06|103.83|10|km") == {"n-lz", "n-lz2"}
    assert _ids(client, "Location?near=36.06|103.83|1000|m") == {"n-lz"}
    assert _ids(client, "Location?near=34.58|105.72|300|km") == {"n-lz", "n-lz2", "n-tianshui"}
    bad = client.get("/fhir/Location?near=north|103")
    assert bad.status_code == 400 and bad.json()["issue"][0]["expression"] == ["near"]
    lenient = client.get("/fhir/Patient?_query=x&_id=s-p1").json()
    assert lenient["entry"][-1]["search"]["mode"] == "outcome"
    assert {e["resource"]["id"] for e in lenient["entry"][:-1]} == {"s-p1"}
    strict = client.get("/fhir/Patient?_query=x", headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400
    assert "not supported" in strict.json()["issue"][0]["diagnostics"]


def test_text_and_content(client: TestClient) -> None:
    _put(client, {"resourceType": "Condition", "id": "t-c1",
                  "subject": {"reference": "Patient/s-p1"},
                  "text": {"status": "generated",
                           "div": '<div xmlns="http://www.w3.org/1999/xhtml">'
                                  '原发性高血压 Stage 2</div>'},
                  "code": {"text": "hypertension"}, "note": [{"text": "复查血压"}]})
    assert _ids(client, "Condition?_text=高血压") == {"t-c1"}
    assert _ids(client, "Condition?_text=stage") == {"t-c1"}
    assert _ids(client, "Condition?_text=复查") == set()  # only in a note, not the narrative
    assert _ids(client, "Condition?_content=复查") == {"t-c1"}
    assert _ids(client, "Condition?_content=nothing-like-this,复查") == {"t-c1"}
