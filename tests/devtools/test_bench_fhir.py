"""Smoke tests of the FHIR benchmark's pure helpers (no server, nothing timed)."""

from __future__ import annotations

import math
from typing import Any

import orjson

from gansu_health.devtools.bench_fhir_data import (
    QUERY_KINDS,
    bundle_facts,
    percentile,
    ratio,
    replica_uuid,
    replicate_bundle,
    sample_params,
)
from gansu_health.devtools.bench_fhir_http import Answer
from gansu_health.devtools.bench_fhir_report import compare_answers, evaluate_targets

PAT = "0c6b1f3d-edb2-422b-a0af-a262fb90ed07"
OBS = "4861d01f-019c-3dac-a153-8334e50919f9"


def _bundle() -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"urn:uuid:{PAT}", "request": {"method": "POST", "url": "Patient"},
         "resource": {"resourceType": "Patient", "id": PAT, "name": [{"family": "Smith"}],
                      "identifier": [{"system": "https://github.com/synthetichealth/synthea",
                                      "value": PAT},
                                     {"system": "http://hl7.org/fhir/sid/us-ssn",
                                      "value": "999-12-3456"}]}},
        {"fullUrl": f"urn:uuid:{OBS}", "request": {"method": "POST", "url": "Observation"},
         "resource": {"resourceType": "Observation", "id": OBS,
                      "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]},
                      "subject": {"reference": f"urn:uuid:{PAT}"}}},
        {"fullUrl": "urn:uuid:9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d",
         "request": {"method": "POST", "url": "Encounter"},
         "resource": {"resourceType": "Encounter", "period": {"start": "2015-04-27T10:00:00Z"},
                      "subject": {"reference": f"urn:uuid:{PAT}"}}},
    ]}


def test_replica_zero_is_the_original() -> None:
    raw = orjson.dumps(_bundle())
    assert replicate_bundle(raw, 0) is raw
    assert replica_uuid(PAT, 0) == PAT


def test_replication_renews_ids_consistently() -> None:
    raw = orjson.dumps(_bundle())
    one = orjson.loads(replicate_bundle(raw, 1))
    patient, obs, enc = (e for e in one["entry"])
    new_pat = replica_uuid(PAT, 1)
    assert new_pat != PAT
    assert patient["fullUrl"] == f"urn:uuid:{new_pat}"
    assert patient["resource"]["id"] == new_pat
    assert obs["resource"]["subject"]["reference"] == f"urn:uuid:{new_pat}"
    assert enc["resource"]["subject"]["reference"] == f"urn:uuid:{new_pat}"
    assert obs["fullUrl"] == f"urn:uuid:{replica_uuid(OBS, 1)}"
    idents = [i["value"] for i in patient["resource"]["identifier"]]
    assert idents == [new_pat, "999-12-3456-r1"]
    # untouched content, deterministic, distinct between copies
    assert obs["resource"]["code"] == _bundle()["entry"][1]["resource"]["code"]
    assert replicate_bundle(raw, 1) == replicate_bundle(raw, 1)
    two = orjson.loads(replicate_bundle(raw, 2))
    urls = {e["fullUrl"] for e in one["entry"]} | {e["fullUrl"] for e in two["entry"]}
    assert len(urls) == 6
    assert raw.count(PAT.encode()) == replicate_bundle(raw, 2).count(
        replica_uuid(PAT, 2).encode())


def test_bundle_facts_and_sampling() -> None:
    facts = bundle_facts(_bundle())
    assert (facts.entries, facts.patient_index, facts.family) == (3, 0, "Smith")
    assert facts.observation_codes == ["8302-2"]
    assert facts.encounter_dates == ["2015-04-27"]
    a = sample_params([facts, facts], copies=10, n=20, seed=7)
    assert a == sample_params([facts, facts], copies=10, n=20, seed=7)
    assert all(0 <= s.patient[0] < 10 and s.patient[1] in (0, 1) for s in a)
    assert a[0].values["d1"] == "2015-05-27"
    urls = [k.build({**a[0].values, "pid": "p1"}) for k in QUERY_KINDS]
    assert "Observation?code=http://loinc.org|8302-2" in urls
    assert "Patient?_id=p1&_revinclude=Encounter:patient" in urls


def test_percentile_and_ratio() -> None:
    values = [float(v) for v in range(10, 0, -1)]
    assert percentile(values, 50) == 5.5
    assert math.isclose(percentile(values, 95), 9.55)
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 10.0
    assert percentile([4.0], 95) == 4.0
    assert math.isnan(percentile([], 50))
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(1.0, 0.0) is None and ratio(None, 1.0) is None


def test_disagreements_and_targets() -> None:
    facts = bundle_facts(_bundle())
    samples = {"x1": sample_params([facts], 1, 2, 1), "xN": sample_params([facts], 10, 2, 2)}
    same, other = Answer(200, 3, 0, 0), Answer(200, 4, 0, 0)
    answers: dict[str, dict[str, dict[str, list[Answer | None]]]] = {
        "ours-sqlite": {"x1": {"token": [same, same]}},
        "peer": {"x1": {"token": [same, other]}}}
    dis = compare_answers(answers, samples, 10)
    assert len(dis) == 1 and dis[0]["kind"] == "token" and dis[0]["phase"] == "x1"

    def q(p95: float) -> dict[str, Any]:
        return {k.name: {"status": "ok", "p95_ms": p95} for k in QUERY_KINDS}

    results = {"config": {"scale": 10}, "servers": {
        "ours-sqlite": {"ingest": {"sequential": {"resources_per_s": 1800.0}},
                        "queries": {"x1": q(20.0), "x10": q(40.0)}},
        "peer": {"ingest": {"sequential": {"resources_per_s": 900.0}}}}}
    verdicts = [t["result"] for t in evaluate_targets(results)]
    assert verdicts == ["PASS", "FAIL", "PASS", "PASS", "FAIL"]
