"""Registering many Patients in one transaction: same decisions as one by one, few statements."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import event
from tests.conftest import LiveServer
from tests.mpi.test_service_support import (
    HOSPITAL_A,
    HOSPITAL_B,
    Person,
    create,
    empi_of,
    golden_of,
    links,
    new_person,
    operation,
)

from gansu_health.mpi.resident_id import RESIDENT_ID_SYSTEM


def _transaction(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": body,
         "request": {"method": "POST", "url": "Patient"}} for body in bodies]}


def _post(client: TestClient, bodies: list[dict[str, Any]]) -> list[str]:
    resp = client.post("/fhir", json=_transaction(bodies))
    assert resp.status_code == 200, resp.text
    assert all(e["response"]["status"].startswith("201") for e in resp.json()["entry"])
    return [e["response"]["location"].split("/")[1] for e in resp.json()["entry"]]


def _read(client: TestClient, fids: list[str]) -> list[dict[str, Any]]:
    return [client.get(f"/fhir/Patient/{fid}").json() for fid in fids]


@contextmanager
def _statements(client: TestClient) -> Iterator[list[str]]:
    """Collect the SQL statements the app's engine runs inside the block."""
    engine = client.app.state.engine  # type: ignore[attr-defined]
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_bundle_links_as_one_by_one_registration_would(client: TestClient) -> None:
    known = [new_person("赵", "敏", "female") for _ in range(3)]
    stored = [create(client, p.patient(HOSPITAL_A)) for p in known]
    twin, other = new_person("钱", "坤"), new_person("钱", "坤")
    first = create(client, twin.patient(HOSPITAL_A))
    second = create(client, twin.patient(HOSPITAL_B, resident_id=other.resident_id))
    g1, g2 = golden_of(client, first), golden_of(client, second)
    operation(client, "mdm-not-duplicate", goldenResourceId=g1["id"], resourceId=g2["id"])
    fresh = new_person("孙", "丽", "female")
    merged_a, merged_b = new_person("周", "杰"), new_person("吕", "布")
    ma = create(client, merged_a.patient(HOSPITAL_A))
    mb = create(client, merged_b.patient(HOSPITAL_A, resident_id=None))
    operation(client, "mdm-merge-golden-resources", fromGoldenResourceId=golden_of(
        client, mb)["id"], toGoldenResourceId=golden_of(client, ma)["id"])
    bodies = [
        *[p.patient(HOSPITAL_B, family="招" if i == 0 else p.family)  # 赵/招 by ear
          for i, p in enumerate(known)],
        twin.patient(HOSPITAL_B, resident_id=None),  # like both twins, declared distinct
        fresh.patient(HOSPITAL_A), fresh.patient(HOSPITAL_B),  # one new person, twice
        merged_a.patient(HOSPITAL_B),
    ]
    got = _read(client, _post(client, bodies))
    assert [empi_of(p) for p in got[:3]] == [empi_of(p) for p in stored]
    assert empi_of(got[4]) == empi_of(got[5])
    assert empi_of(got[4]) not in {empi_of(p) for p in [*stored, first, second, ma]}
    assert empi_of(got[6]) == empi_of(ma)  # the survivor of the merge
    twin_links = links(client, resourceId=got[3]["id"])
    assert len([link for link in twin_links if link["matchResult"] == "MATCH"]) == 1
    assert not {f"Person/{g1['id']}", f"Person/{g2['id']}"} <= {
        link["goldenResourceId"] for link in twin_links}  # never both: they are distinct


def _persons(n: int) -> list[Person]:
    return [new_person("吴", f"{'一二三四五六七八九十'[i % 10]}明") for i in range(n)]


def test_the_statements_of_a_bundle_do_not_grow_with_its_records(client: TestClient) -> None:
    small, large = _persons(2), _persons(24)
    for person in [*small, *large]:
        create(client, person.patient(HOSPITAL_A))
    counts = []
    for group in (small, large):
        with _statements(client) as seen:
            _post(client, [p.patient(HOSPITAL_B) for p in group])
        counts.append(len([s for s in seen if "mpi_" in s or "advisory" in s]))
    assert counts[1] <= counts[0] + 4, counts  # per Bundle, not per record


def _post_when_ready(server: LiveServer, bundle: dict[str, Any], barrier: threading.Barrier,
                     answers: list[httpx.Response]) -> None:
    barrier.wait()
    answers.append(httpx.post(server.base, json=bundle, timeout=60, headers=server.headers))


def test_concurrent_bundles_naming_the_same_people_in_opposite_orders_both_succeed(
        live_server: LiveServer) -> None:
    for _ in range(3):
        people = [new_person("冯", given) for given in ("一", "二", "三", "四")]
        bundles = [_transaction([p.patient(HOSPITAL_A) for p in people]),
                   _transaction([p.patient(HOSPITAL_B) for p in reversed(people)])]
        barrier = threading.Barrier(2)
        answers: list[httpx.Response] = []
        threads = [threading.Thread(target=_post_when_ready, args=(
            live_server, b, barrier, answers)) for b in bundles]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [a.status_code for a in answers] == [200, 200], [a.text[:300] for a in answers]
        for person in people:
            found = httpx.get(f"{live_server.base}/Patient", headers=live_server.headers,
                              params={"identifier": f"{RESIDENT_ID_SYSTEM}|{person.resident_id}"}
                              ).json()
            assert found["total"] == 2
            assert len({empi_of(e["resource"]) for e in found["entry"]}) == 1
