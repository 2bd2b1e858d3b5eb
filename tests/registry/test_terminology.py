"""The terminology operations over HTTP, on each backend."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from gansu_health.demo.regions import gansu_region_codes
from gansu_health.registry import load_terminology
from gansu_health.registry.setup import terminology_cache
from gansu_health.registry.terminology import systems as S

Json = dict[str, Any]
GANSU = f"{S.VS_PREFIX}administrative-division-gansu"


def out(params: Json, name: str) -> Any:
    """Return the value of the first output parameter called ``name``."""
    for p in params["parameter"]:
        if p["name"] == name:
            return next(v for k, v in p.items() if k.startswith("value"))
    return None


def props(params: Json) -> list[tuple[str, Any]]:
    """Return (code, value) of every property output."""
    return [(p["part"][0]["valueCode"], next(v for k, v in p["part"][1].items()
                                             if k.startswith("value")))
            for p in params["parameter"] if p["name"] == "property"]


def expand(client: TestClient, **params: Any) -> Json:
    """GET ValueSet/$expand and return the expansion."""
    r = client.get("/fhir/ValueSet/$expand", params=params)
    assert r.status_code == 200, r.text
    expansion: Json = r.json()["expansion"]
    return expansion


def codes(expansion: Json) -> list[str]:
    """Return the codes of an expansion page."""
    return [c["code"] for c in expansion.get("contains", [])]


def test_load_is_idempotent(tx: TestClient) -> None:
    assert load_terminology(tx.app.state.fhir) == 0
    r = tx.get("/fhir/CodeSystem/department")
    assert r.status_code == 200 and r.json()["meta"]["versionId"] == "1"


def test_lookup_get_with_parent_and_children(tx: TestClient) -> None:
    r = tx.get("/fhir/CodeSystem/$lookup", params={"system": S.CS_DEPARTMENT, "code": "03"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert out(body, "display") == "内科"
    found = props(body)
    assert ("child", "03.01") in found and ("child", "03.04") in found
    designation = next(p for p in body["parameter"] if p["name"] == "designation")
    assert {"name": "value", "valueString": "Internal medicine"} in designation["part"]


def test_lookup_post_with_coding_and_property_filter(tx: TestClient) -> None:
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "coding", "valueCoding": {"system": S.CS_ADMIN_DIVISION, "code": "622100"}},
        {"name": "property", "valueCode": "replacedBy"},
        {"name": "property", "valueCode": "parent"}]}
    r = tx.post("/fhir/CodeSystem/$lookup", json=body)
    assert r.status_code == 200, r.text
    assert out(r.json(), "display") == "酒泉地区"
    assert sorted(props(r.json())) == [("parent", "620000"), ("replacedBy", "620900")]


def test_lookup_unknown_code_and_system(tx: TestClient) -> None:
    r = tx.get("/fhir/CodeSystem/$lookup", params={"system": S.CS_DEPARTMENT, "code": "99.99"})
    assert r.status_code == 404 and r.json()["issue"][0]["expression"] == ["code"]
    r = tx.get("/fhir/CodeSystem/$lookup", params={"system": "urn:nowhere", "code": "1"})
    assert r.status_code == 404


def test_lookup_at_instance_level(tx: TestClient) -> None:
    r = tx.get("/fhir/CodeSystem/sex/$lookup", params={"code": "2"})
    assert out(r.json(), "display") == "女性"
    assert ("fhirGender", "female") in props(r.json())


def test_code_system_validate_code(tx: TestClient) -> None:
    url = "/fhir/CodeSystem/$validate-code"
    ok = tx.get(url, params={"url": S.CS_ETHNICITY, "code": "26", "display": "东乡族"}).json()
    assert out(ok, "result") is True and out(ok, "display") == "东乡族"
    english = tx.get(url, params={"url": S.CS_ETHNICITY, "code": "26",
                                  "display": "Dongxiang"}).json()
    assert out(english, "result") is True
    wrong = tx.get(url, params={"url": S.CS_ETHNICITY, "code": "26", "display": "回族"}).json()
    assert out(wrong, "result") is False
    assert "Wrong display" in out(wrong, "message") and out(wrong, "display") == "东乡族"
    unknown = tx.get(url, params={"url": S.CS_ETHNICITY, "code": "57"}).json()
    assert out(unknown, "result") is False and "Unknown code" in out(unknown, "message")
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "url", "valueUri": S.ICD10},
        {"name": "codeableConcept", "valueCodeableConcept": {"coding": [
            {"system": S.ICD10, "code": "X99.99"}, {"system": S.ICD10, "code": "I10"}]}}]}
    posted = tx.post(url, json=body).json()
    assert out(posted, "result") is True and out(posted, "display") == "特发性（原发性）高血压"


def test_value_set_validate_code(tx: TestClient) -> None:
    url = "/fhir/ValueSet/$validate-code"
    vs = f"{S.VS_PREFIX}department-internal-medicine"
    inside = tx.get(url, params={"url": vs, "system": S.CS_DEPARTMENT, "code": "03.07"}).json()
    assert out(inside, "result") is True and out(inside, "display") == "内分泌专业"
    outside = tx.get(url, params={"url": vs, "system": S.CS_DEPARTMENT, "code": "04"}).json()
    assert out(outside, "result") is False
    wrong = tx.get(url, params={"url": vs, "code": "03.07", "display": "内分泌科"}).json()
    assert out(wrong, "result") is False and "Wrong display" in out(wrong, "message")
    retired = {"url": GANSU, "system": S.CS_ADMIN_DIVISION, "code": "622100"}
    assert out(tx.get(url, params={**retired, "date": "2000-05-01"}).json(), "result") is True
    assert out(tx.get(url, params={**retired, "date": "2020"}).json(), "result") is False
    by_id = tx.get("/fhir/ValueSet/sex/$validate-code", params={"code": "9"}).json()
    assert out(by_id, "result") is True


def test_expand_history_by_date_and_active_only(tx: TestClient) -> None:
    in_2000 = codes(expand(tx, url=GANSU, date="2000", count=10000))
    in_2020 = codes(expand(tx, url=GANSU, date="2020-06-30", count=10000))
    assert "622100" in in_2000 and "620900" not in in_2000
    assert "622100" not in in_2020 and "620900" in in_2020 and "620881" in in_2020
    everything = expand(tx, url=GANSU)
    flagged = {c["code"]: c.get("inactive", False) for c in everything["contains"]}
    assert flagged["622100"] is True and flagged["620900"] is False
    active = codes(expand(tx, url=GANSU, activeOnly="true"))
    assert "622100" not in active and "620824" not in active and "620881" in active
    assert set(active) == set(gansu_region_codes())  # the demo's current list, 620201 included


def test_expand_filter_in_chinese_and_paging(tx: TestClient) -> None:
    found = expand(tx, url=f"{S.VS_PREFIX}department", filter="内科")
    assert {"03", "50.01"} <= set(codes(found))
    assert all("内科" in c["display"] for c in found["contains"])
    both = expand(tx, url=f"{S.VS_PREFIX}icd-10-cn-subset", filter="糖尿病 2型")
    assert "E11.9" in codes(both) and "E10.9" not in codes(both)
    full = codes(expand(tx, url=f"{S.VS_PREFIX}ethnicity"))
    assert len(full) == 58
    first = expand(tx, url=f"{S.VS_PREFIX}ethnicity", count=20)
    second = expand(tx, url=f"{S.VS_PREFIX}ethnicity", count=20, offset=20)
    last = expand(tx, url=f"{S.VS_PREFIX}ethnicity", count=20, offset=40)
    assert first["total"] == 58 and second["offset"] == 20
    assert codes(first) + codes(second) + codes(last) == full


def test_expand_is_a_and_exclude_and_nested(tx: TestClient) -> None:
    internal = codes(expand(tx, url=f"{S.VS_PREFIX}department-internal-medicine"))
    assert internal[0] == "03" and len(internal) == 12
    assert all(c == "03" or c.startswith("03.") for c in internal)
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "url", "valueUri": f"{S.VS_PREFIX}nip-vaccine-routine-2021"}]}
    r = tx.post("/fhir/ValueSet/$expand", json=body)
    assert "HPV2" not in codes(r.json()["expansion"]) and "bOPV" in codes(r.json()["expansion"])
    care = codes(expand(tx, url=f"{S.VS_PREFIX}institution-type-care-provider"))
    assert "general" in care and "thc" in care and "cdc" not in care and "hospital" not in care
    chronic = codes(expand(tx, url=f"{S.VS_PREFIX}icd-10-chronic-disease"))
    assert "I10" in chronic and "E11.9" in chronic and "I20" not in chronic


def test_expand_errors(tx: TestClient) -> None:
    r = tx.get("/fhir/ValueSet/$expand", params={"url": "urn:missing"})
    assert r.status_code == 404
    r = tx.get("/fhir/ValueSet/$expand", params={"url": GANSU, "count": "x"})
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["count"]


def _client_code_system(codes_: list[tuple[str, str]]) -> Json:
    return {"resourceType": "CodeSystem", "id": "clinic-colours", "url": "urn:example:colours",
            "version": "1", "status": "active", "content": "complete",
            "concept": [{"code": "warm", "display": "暖色", "concept": [
                {"code": c, "display": d} for c, d in codes_]}]}


def test_client_written_terminology_and_cache_invalidation(tx: TestClient) -> None:
    cs = _client_code_system([("red", "红"), ("orange", "橙")])
    assert tx.put("/fhir/CodeSystem/clinic-colours", json=cs).status_code in (200, 201)
    vs = {"resourceType": "ValueSet", "id": "warm-colours", "url": "urn:example:warm",
          "status": "active", "compose": {"include": [{"system": "urn:example:colours",
                                                       "filter": [{"property": "concept",
                                                                   "op": "descendent-of",
                                                                   "value": "warm"}]}]}}
    assert tx.put("/fhir/ValueSet/warm-colours", json=vs).status_code in (200, 201)
    assert codes(expand(tx, url="urn:example:warm")) == ["red", "orange"]
    cache = terminology_cache(tx.app.state.fhir)
    compiled = cache.compilations
    assert codes(expand(tx, url="urn:example:warm")) == ["red", "orange"]
    assert cache.compilations == compiled  # served from the cache
    cs = _client_code_system([("red", "红"), ("yellow", "黄")])
    assert tx.put("/fhir/CodeSystem/clinic-colours", json=cs).status_code == 200
    assert codes(expand(tx, url="urn:example:warm")) == ["red", "yellow"]
    by_id = tx.get("/fhir/ValueSet/warm-colours/$expand").json()["expansion"]
    assert codes(by_id) == ["red", "yellow"]
    vs["compose"]["exclude"] = [{"system": "urn:example:colours", "concept": [{"code": "red"}]}]
    assert tx.put("/fhir/ValueSet/warm-colours", json=vs).status_code == 200
    assert codes(expand(tx, url="urn:example:warm")) == ["yellow"]
    lookup = tx.get("/fhir/CodeSystem/$lookup", params={"system": "urn:example:colours",
                                                        "code": "yellow"}).json()
    assert ("parent", "warm") in props(lookup)


def test_inline_value_set_with_regex(tx: TestClient) -> None:
    inline = {"resourceType": "ValueSet", "status": "active", "compose": {"include": [
        {"system": S.CS_DEPARTMENT, "filter": [{"property": "code", "op": "regex",
                                                "value": "32\\.0[1-3]"}]}]}}
    body = {"resourceType": "Parameters", "parameter": [{"name": "valueSet", "resource": inline}]}
    r = tx.post("/fhir/ValueSet/$expand", json=body)
    assert r.status_code == 200, r.text
    assert codes(r.json()["expansion"]) == ["32.01", "32.02", "32.03"]
