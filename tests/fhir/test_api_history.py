"""Instance, type and system history; the gap-free change feed; Patient/$everything."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx
from fastapi.testclient import TestClient
from tests.conftest import LiveServer


def _pages(client: TestClient, url: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    while url:
        body = client.get(url.replace("http://testserver", "")).json()
        entries.extend(body.get("entry", []))
        url = next((lnk["url"] for lnk in body["link"] if lnk["relation"] == "next"), "")
    return entries


def test_instance_type_system_history(client: TestClient) -> None:
    pid = client.post("/fhir/Basic", json={"resourceType": "Basic", "code": {"text": "a"}}
                      ).json()["id"]
    for text in ("b", "c"):
        client.put(f"/fhir/Basic/{pid}", json={"resourceType": "Basic", "id": pid,
                                               "code": {"text": text}})
    hist = client.get(f"/fhir/Basic/{pid}/_history").json()
    assert hist["type"] == "history" and hist["total"] == 3
    assert [e["resource"]["meta"]["versionId"] for e in hist["entry"]] == ["3", "2", "1"]
    paged = _pages(client, f"/fhir/Basic/{pid}/_history?_count=1")
    assert [e["resource"]["code"]["text"] for e in paged] == ["c", "b", "a"]
    type_hist = client.get("/fhir/Basic/_history?_count=2").json()
    assert len(type_hist["entry"]) == 2
    assert all(e["resource"]["resourceType"] == "Basic" for e in type_hist["entry"])
    since = hist["entry"][0]["response"]["lastModified"]
    recent = client.get(f"/fhir/_history?_since={since.replace('+', '%2B')}").json()
    assert [e["resource"]["id"] for e in recent["entry"]] == [pid]
    assert client.get("/fhir/Basic/nope/_history").status_code == 404


def test_change_feed_pages_forward(client: TestClient) -> None:
    marker = uuid.uuid4().hex
    ids = [client.post("/fhir/Basic", json={"resourceType": "Basic", "code": {"text": marker}}
                       ).json()["id"] for _ in range(5)]
    feed = _pages(client, "/fhir/_history?_sort=_lastUpdated&_count=3")
    mine = [e["resource"]["id"] for e in feed if e.get("resource", {}).get("code", {}).get(
        "text") == marker]
    assert mine == ids


def test_feed_reader_never_misses_concurrent_writes(live_server: LiveServer) -> None:
    """A cursor reader polling while writers commit sees every version exactly once."""
    stop = threading.Event()
    written: list[str] = []
    lock = threading.Lock()

    def writer() -> None:
        with httpx.Client(timeout=60, headers=live_server.headers) as http:
            while not stop.is_set():
                resp = http.post(f"{live_server.base}/Basic",
                                 json={"resourceType": "Basic", "code": {"text": "feed"}})
                with lock:
                    written.append(resp.json()["id"])

    with httpx.Client(timeout=60, headers=live_server.headers) as http:
        start = http.get(f"{live_server.base}/_history?_sort=_lastUpdated&_count=1000").json()
        url = next((lnk["url"] for lnk in start["link"] if lnk["relation"] == "next"), None)
        seen = {e["resource"]["id"] for e in start.get("entry", []) if "resource" in e}
        cursor_url = url or next(lnk["url"] for lnk in start["link"]
                                 if lnk["relation"] == "poll")
        threads = [threading.Thread(target=writer) for _ in range(3)]
        for t in threads:
            t.start()
        seen_ids: list[str] = []
        for _ in range(40):
            body = http.get(cursor_url).json()
            seen_ids.extend(e["resource"]["id"] for e in body.get("entry", []) if "resource" in e)
            nxt = next((lnk["url"] for lnk in body["link"] if lnk["relation"] == "next"), None)
            if nxt:
                cursor_url = nxt
            elif body.get("entry"):
                last = body["entry"][-1]
                cursor_url = _resume(live_server.base, last, body)
        stop.set()
        for t in threads:
            t.join()
        while True:
            body = http.get(cursor_url).json()
            seen_ids.extend(e["resource"]["id"] for e in body.get("entry", []) if "resource" in e)
            nxt = next((lnk["url"] for lnk in body["link"] if lnk["relation"] == "next"), None)
            if not nxt:
                if body.get("entry"):
                    cursor_url = _resume(live_server.base, body["entry"][-1], body)
                    continue
                break
            cursor_url = nxt
    new = [i for i in seen_ids if i not in seen]
    assert sorted(new) == sorted(written)
    assert len(new) == len(set(new))


def _resume(base: str, last: dict[str, Any], body: dict[str, Any]) -> str:
    return str(next(lnk["url"] for lnk in body["link"] if lnk["relation"] == "poll"))


def test_everything_pages_the_compartment(client: TestClient) -> None:
    org = client.post("/fhir/Organization", json={"resourceType": "Organization",
                                                  "name": "甘肃省人民医院"}).json()["id"]
    pid = client.post("/fhir/Patient", json={
        "resourceType": "Patient", "managingOrganization": {"reference": f"Organization/{org}"}}
    ).json()["id"]
    other = client.post("/fhir/Patient", json={"resourceType": "Patient"}).json()["id"]
    for i in range(7):
        client.post("/fhir/Observation", json={
            "resourceType": "Observation", "status": "final", "code": {"text": f"o{i}"},
            "subject": {"reference": f"Patient/{pid}"}})
    client.post("/fhir/Observation", json={
        "resourceType": "Observation", "status": "final", "code": {"text": "x"},
        "subject": {"reference": f"Patient/{other}"}})
    client.post("/fhir/Condition", json={"resourceType": "Condition",
                                         "subject": {"reference": f"Patient/{pid}"}})
    entries = _pages(client, f"/fhir/Patient/{pid}/$everything?_count=3")
    kinds = sorted(e["resource"]["resourceType"] for e in entries)
    assert kinds.count("Observation") == 7
    assert kinds.count("Condition") == 1 and kinds.count("Patient") == 1
    assert "Organization" in kinds
    assert len({(e["resource"]["resourceType"], e["resource"]["id"]) for e in entries}) == len(
        entries)
    only_cond = _pages(client, f"/fhir/Patient/{pid}/$everything?_type=Condition")
    assert [e["resource"]["resourceType"] for e in only_cond] == ["Condition"]
