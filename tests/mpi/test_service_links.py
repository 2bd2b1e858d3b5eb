"""Link management by data stewards, merges and their undo, and concurrent registrations."""

from __future__ import annotations

import threading
from typing import Any

import httpx
from fastapi.testclient import TestClient
from tests.conftest import LiveServer
from tests.mpi.test_service_support import (
    HOSPITAL_A,
    HOSPITAL_B,
    create,
    empi_of,
    golden_of,
    links,
    new_person,
    operation,
    targets,
    topics,
)

from gansu_health.mpi.resident_id import RESIDENT_ID_SYSTEM


def _content(body: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in body["meta"].items() if k not in ("versionId", "lastUpdated")}
    return {**body, "meta": meta}


def _pair(client: TestClient, family: str, given: str) -> tuple[dict[str, Any], ...]:
    person = new_person(family, given)
    return tuple(create(client, person.patient(h)) for h in (HOSPITAL_A, HOSPITAL_B))


def test_manual_links_win_over_later_automatic_rematching(client: TestClient) -> None:
    first, second = _pair(client, "马", "军")
    golden = golden_of(client, first)
    answer = operation(client, "mdm-update-link", goldenResourceId=f"Person/{golden['id']}",
                       resourceId=second["id"], matchResult="NO_MATCH")
    assert {p["name"] for p in answer["parameter"][0]["part"]} >= {"matchResult", "linkSource"}
    moved = client.get(f"/fhir/Patient/{second['id']}").json()
    resaved = client.put(f"/fhir/Patient/{second['id']}", json=moved)  # re-matched on update
    assert resaved.status_code == 200
    assert empi_of(resaved.json()) != empi_of(first)
    [no_match] = links(client, resourceId=second["id"], goldenResourceId=golden["id"])
    assert (no_match["matchResult"], no_match["linkSource"]) == ("NO_MATCH", "MANUAL")

    operation(client, "mdm-create-link", goldenResourceId=golden["id"],
              resourceId=second["id"], matchResult="MATCH")
    renamed = client.get(f"/fhir/Patient/{second['id']}").json()
    renamed["name"] = [{"family": "欧阳", "given": ["修"]}]
    renamed["birthDate"] = "1901-01-01"
    after = client.put(f"/fhir/Patient/{second['id']}", json=renamed).json()
    assert empi_of(after) == empi_of(first)  # the hand-set MATCH survives the update
    [link] = links(client, resourceId=second["id"], matchResult="MATCH")
    assert (link["goldenResourceId"], link["linkSource"]) == (f"Person/{golden['id']}",
                                                              "MANUAL")
    levels = {x["target"]["reference"]: x["assurance"]
              for x in client.get(f"/fhir/Person/{golden['id']}").json()["link"]}
    assert levels == {f"Patient/{first['id']}": "level3", f"Patient/{second['id']}": "level4"}
    assert "mpi.link.changed" in topics(client)


def test_update_link_needs_an_existing_link_and_a_valid_result(client: TestClient) -> None:
    first, = _pair(client, "胡", "斌")[:1]
    golden = golden_of(client, first)
    other = create(client, new_person("何", "平").patient())
    operation(client, "mdm-update-link", 404, goldenResourceId=golden["id"],
              resourceId=other["id"], matchResult="MATCH")
    bad = operation(client, "mdm-update-link", 400, goldenResourceId=golden["id"],
                    resourceId=first["id"], matchResult="MAYBE")
    assert bad["issue"][0]["expression"] == ["matchResult"]
    operation(client, "mdm-update-link", 404, goldenResourceId=first["id"],
              resourceId=first["id"], matchResult="MATCH")
    wrong_type = operation(client, "mdm-update-link", 400,
                           goldenResourceId=f"Patient/{golden['id']}", resourceId=first["id"],
                           matchResult="MATCH")
    assert wrong_type["issue"][0]["expression"] == ["goldenResourceId"]


def test_merge_then_unmerge_restores_both_golden_records(client: TestClient) -> None:
    a = create(client, new_person("高", "洁", "female").patient())
    b = create(client, new_person("林", "涛").patient(HOSPITAL_B))
    ga, gb = golden_of(client, a), golden_of(client, b)
    merged = operation(client, "mdm-merge-golden-resources",
                       fromGoldenResourceId=f"Person/{ga['id']}",
                       toGoldenResourceId=f"Person/{gb['id']}")
    merge_id = merged["parameter"][0]["valueInteger"]
    target = merged["parameter"][1]["resource"]
    assert target["resourceType"] == "Person"
    assert {f"Patient/{a['id']}", f"Person/{ga['id']}"} <= set(targets(target))
    assert empi_of(ga) in [i["value"] for i in target["identifier"] if i.get("use") == "old"]
    gone = client.get(f"/fhir/Person/{ga['id']}").json()
    assert gone["active"] is False and "REDIRECTED" in [t["code"] for t in gone["meta"]["tag"]]
    assert targets(gone) == [f"Person/{gb['id']}"]
    pix = client.get("/fhir/Patient/$ihe-pix", params={
        "sourceIdentifier": f"{HOSPITAL_A}|{a['identifier'][0]['value']}"}).json()
    assert {"reference": f"Patient/{b['id']}"} in [p.get("valueReference")
                                                   for p in pix["parameter"]]

    undone = operation(client, "mdm-unmerge", mergeId=str(merge_id))
    assert undone["parameter"][0]["valueInteger"] == merge_id
    assert _content(client.get(f"/fhir/Person/{ga['id']}").json()) == _content(ga)
    assert _content(client.get(f"/fhir/Person/{gb['id']}").json()) == _content(gb)
    assert [x["sourceResourceId"] for x in links(client, goldenResourceId=ga["id"])] == [
        f"Patient/{a['id']}"]
    operation(client, "mdm-unmerge", 404, mergeId=str(merge_id))  # already undone
    history = client.get("/fhir/$mdm-link-history", params={"resourceId": a["id"]}).json()
    assert [p["part"][5]["valueString"] for p in history["parameter"]] == [
        "created", "changed", "changed"]
    assert {"mpi.golden.merged", "mpi.golden.unmerged"} <= set(topics(client))


def test_not_duplicate_suppresses_a_pair(client: TestClient) -> None:
    twin, other = new_person("刘", "洋"), new_person("刘", "洋")
    first = create(client, twin.patient())
    second = create(client, twin.patient(HOSPITAL_B, resident_id=other.resident_id))
    g1, g2 = golden_of(client, first), golden_of(client, second)
    queue = client.get("/fhir/Patient/$mdm-review-queue", params={"_count": "100"}).json()
    pairs = [{p["name"]: p.get("valueString") for p in e["part"]}
             for e in queue["parameter"] if e["name"] == "link"]
    assert {"goldenResourceId": f"Person/{g1['id']}",
            "sourceResourceId": f"Patient/{second['id']}"}.items() <= next(
        p for p in pairs if p["sourceResourceId"] == f"Patient/{second['id']}").items()
    answer = operation(client, "mdm-not-duplicate", goldenResourceId=g1["id"],
                       resourceId=g2["id"])
    assert answer["parameter"][1]["valueInteger"] == 1
    client.put(f"/fhir/Patient/{second['id']}",
               json=client.get(f"/fhir/Patient/{second['id']}").json())
    [link] = links(client, resourceId=second["id"], goldenResourceId=g1["id"])
    assert (link["matchResult"], link["linkSource"]) == ("NO_MATCH", "MANUAL")
    operation(client, "mdm-merge-golden-resources", 409, fromGoldenResourceId=g1["id"],
              toGoldenResourceId=g2["id"])
    assert "mpi.golden.not-duplicate" in topics(client)


def test_concurrent_registrations_of_a_new_person_end_with_one_golden_record(
        live_server: LiveServer) -> None:
    people = [new_person("郭", "鹏") for _ in range(4)]
    results: list[httpx.Response] = []
    lock = threading.Lock()

    def register(body: dict[str, Any], barrier: threading.Barrier) -> None:
        barrier.wait()
        resp = httpx.post(f"{live_server.base}/Patient", json=body, timeout=60,
                          headers=live_server.headers)
        with lock:
            results.append(resp)

    for person in people:
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=register, args=(person.patient(h), barrier))
                   for h in (HOSPITAL_A, HOSPITAL_B)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert [r.status_code for r in results] == [201] * 8
    for person in people:
        found = httpx.get(f"{live_server.base}/Patient", params={
            "identifier": f"{RESIDENT_ID_SYSTEM}|{person.resident_id}"},
            headers=live_server.headers).json()
        assert found["total"] == 2
        assert len({empi_of(e["resource"]) for e in found["entry"]}) == 1


def test_corrected_source_is_rematched_automatically(client: TestClient) -> None:
    person, stranger = new_person("韩", "梅", "female"), new_person("曹", "操")
    first = create(client, person.patient(HOSPITAL_A))
    wrong = create(client, stranger.patient(HOSPITAL_B))  # registered with the wrong person
    old_golden = golden_of(client, wrong)
    corrected = person.patient(HOSPITAL_B, mrn=wrong["identifier"][0]["value"])
    corrected["id"] = wrong["id"]
    resp = client.put(f"/fhir/Patient/{wrong['id']}", json=corrected)
    assert resp.status_code == 200
    assert empi_of(resp.json()) == empi_of(first)
    [link] = links(client, resourceId=wrong["id"], matchResult="MATCH")
    assert link["linkSource"] == "AUTO" and link["grade"] == "certain"
    orphan = client.get(f"/fhir/Person/{old_golden['id']}").json()
    assert orphan["active"] is False and "link" not in orphan
