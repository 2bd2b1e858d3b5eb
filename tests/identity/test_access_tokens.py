"""Every FHIR request needs a token; scopes and compartments are enforced; each is audited."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.conftest import mint_token

from gansu_health.app import create_app
from gansu_health.core.database import build_engine, read_transaction, write_transaction
from gansu_health.core.settings import Settings
from gansu_health.identity.audit.models import audit_event
from gansu_health.identity.audit.repository import iter_rows
from gansu_health.identity.audit.repository import verify as audit_verify
from gansu_health.identity.tokens import repository as tokens
from gansu_health.identity.web.ratelimit import (
    Policy,
    RateLimits,
    current_limits,
    use_limits,
)

LAB = "http://terminology.hl7.org/CodeSystem/observation-category"


@pytest.fixture(scope="module")
def anon(settings: Settings) -> Iterator[TestClient]:
    """A client without credentials."""
    engine = build_engine(settings.database_url, settings)
    with TestClient(create_app(settings, engine)) as test_client:
        yield test_client
    engine.dispose()


def _patient(name: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"text": name, "family": name[0],
                                                 "given": [name[1:]]}],
            "gender": "female", "birthDate": "1990-01-01",
            "identifier": [{"system": "urn:oid:1.2.156.620102.1.1", "value": uuid.uuid4().hex}]}


def _obs(pid: str, category: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": LAB, "code": category}]}],
            "code": {"text": category}, "subject": {"reference": f"Patient/{pid}"}}


@pytest.fixture(scope="module")
def world(client: TestClient) -> dict[str, str]:
    """Two patients, each with a vital-sign and a laboratory observation."""
    ids: dict[str, str] = {}
    for who in ("me", "other"):
        ids[who] = client.post("/fhir/Patient", json=_patient("李" + who)).json()["id"]
        for cat in ("vital-signs", "laboratory"):
            ids[f"{who}-{cat}"] = client.post("/fhir/Observation",
                                              json=_obs(ids[who], cat)).json()["id"]
    return ids


def _bearer(settings: Settings, scope: str, patient: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(settings, scope, patient=patient)}"}


def test_requests_without_a_valid_token_are_refused(anon: TestClient,
                                                    settings: Settings) -> None:
    resp = anon.get("/fhir/Patient")
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert resp.json()["issue"][0]["code"] == "login"
    assert anon.get("/fhir/Patient", headers={"Authorization": "Bearer nonsense"}
                    ).status_code == 401
    assert anon.get("/fhir/Patient", headers={"Authorization": "Basic dXNlcjpwdw=="}
                    ).status_code == 401
    assert anon.get("/fhir/metadata").status_code == 200  # discovery stays open


def test_expired_revoked_and_tampered_tokens_are_refused(anon: TestClient,
                                                         settings: Settings) -> None:
    expired = mint_token(settings, ttl_s=-1)
    assert anon.get("/fhir/Patient", headers={"Authorization": f"Bearer {expired}"}
                    ).status_code == 401
    good = mint_token(settings)
    assert anon.get("/fhir/Patient", headers={"Authorization": f"Bearer {good}"}
                    ).status_code == 200
    tampered = good[:-1] + ("A" if good[-1] != "A" else "B")
    assert anon.get("/fhir/Patient", headers={"Authorization": f"Bearer {tampered}"}
                    ).status_code == 401
    engine = build_engine(settings.database_url, settings)
    with write_transaction(engine) as conn:
        assert tokens.revoke(conn, good)
    engine.dispose()
    assert anon.get("/fhir/Patient", headers={"Authorization": f"Bearer {good}"}
                    ).status_code == 401


def test_system_scopes_limit_types_and_interactions(anon: TestClient, settings: Settings,
                                                    world: dict[str, str]) -> None:
    headers = _bearer(settings, "system/Patient.rs")
    assert anon.get(f"/fhir/Patient/{world['me']}", headers=headers).status_code == 200
    assert anon.get("/fhir/Patient", headers=headers).status_code == 200
    denied = anon.post("/fhir/Patient", json=_patient("王五"), headers=headers)
    assert denied.status_code == 403
    assert "create" in denied.json()["issue"][0]["diagnostics"]
    assert anon.get(f"/fhir/Observation/{world['me-laboratory']}",
                    headers=headers).status_code == 403
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": _patient("赵六"), "request": {"method": "POST", "url": "Patient"}}]}
    assert anon.post("/fhir", json=bundle, headers=headers).status_code == 403
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": f"Patient/{world['me']}"}},
        {"request": {"method": "GET", "url": f"Observation/{world['me-laboratory']}"}}]}
    statuses = [e["response"]["status"][:3] for e in anon.post(
        "/fhir", json=batch, headers=headers).json()["entry"]]
    assert statuses == ["200", "403"]


def test_patient_context_reaches_only_that_compartment(anon: TestClient, settings: Settings,
                                                      world: dict[str, str]) -> None:
    headers = _bearer(settings, "patient/*.rs", patient=world["me"])
    assert anon.get(f"/fhir/Patient/{world['me']}", headers=headers).status_code == 200
    assert anon.get(f"/fhir/Patient/{world['other']}", headers=headers).status_code == 403
    assert anon.get(f"/fhir/Observation/{world['other-laboratory']}",
                    headers=headers).status_code == 403
    found = anon.get("/fhir/Observation", headers=headers).json()
    assert {e["resource"]["id"] for e in found["entry"]} == {
        world["me-vital-signs"], world["me-laboratory"]}
    probing = anon.get(f"/fhir/Observation?subject=Patient/{world['other']}", headers=headers)
    assert probing.status_code == 403
    patients = anon.get("/fhir/Patient", headers=headers).json()
    assert [e["resource"]["id"] for e in patients["entry"]] == [world["me"]]
    assert anon.get(f"/fhir/Patient/{world['me']}/$everything",
                    headers=headers).status_code == 200
    assert anon.get(f"/fhir/Patient/{world['other']}/$everything",
                    headers=headers).status_code == 403
    assert anon.get("/fhir/Observation/_history", headers=headers).status_code == 403
    assert anon.post("/fhir/Observation", json=_obs(world["me"], "vital-signs"),
                     headers=headers).status_code == 403  # no c in the scope


def test_included_resources_of_other_patients_are_withheld(
        anon: TestClient, client: TestClient, settings: Settings,
        world: dict[str, str]) -> None:
    link = client.post("/fhir/Observation", json={
        **_obs(world["me"], "vital-signs"),
        "hasMember": [{"reference": f"Observation/{world['other-laboratory']}"}]}).json()
    headers = _bearer(settings, "patient/*.rs", patient=world["me"])
    found = anon.get(f"/fhir/Observation?_id={link['id']}&_include=Observation:has-member",
                     headers=headers).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [link["id"]]
    assert "total" not in found


def test_granular_scopes_restrict_by_category(anon: TestClient, settings: Settings,
                                              world: dict[str, str]) -> None:
    headers = _bearer(settings, f"patient/Observation.rs?category={LAB}|vital-signs",
                      patient=world["me"])
    assert anon.get(f"/fhir/Observation/{world['me-vital-signs']}",
                    headers=headers).status_code == 200
    assert anon.get(f"/fhir/Observation/{world['me-laboratory']}",
                    headers=headers).status_code == 403
    found = {e["resource"]["id"]: e["resource"] for e in anon.get(
        "/fhir/Observation", headers=headers).json()["entry"]}
    assert world["me-vital-signs"] in found and world["me-laboratory"] not in found
    assert {o["category"][0]["coding"][0]["code"] for o in found.values()} == {"vital-signs"}
    assert anon.get(f"/fhir/Patient/{world['me']}", headers=headers).status_code == 403


def test_each_request_leaves_exactly_one_audit_row(anon: TestClient, client: TestClient,
                                                   settings: Settings,
                                                   world: dict[str, str]) -> None:
    engine = build_engine(settings.database_url, settings)

    def count() -> int:
        for app_client in (anon, client):  # rows still queued by each app's audit writer
            app_client.app.state.fhir.guard.flush()  # type: ignore[attr-defined]
        with read_transaction(engine) as conn:
            return int(conn.execute(select(func.count()).select_from(audit_event)).scalar_one())

    headers = _bearer(settings, "patient/*.rs", patient=world["me"])
    before = count()
    calls = [f"/fhir/Patient/{world['me']}", f"/fhir/Patient/{world['other']}",
             "/fhir/Observation", f"/fhir/Observation/{world['me-laboratory']}"]
    for url in calls:
        anon.get(url, headers=headers)
    anon.get("/fhir/metadata")  # touches no health data: not audited
    assert count() == before + len(calls)
    with read_transaction(engine) as conn:
        rows = list(iter_rows(conn))[-len(calls):]
    engine.dispose()
    assert [(r.subtype, r.outcome, r.patient_id) for r in rows] == [
        ("read", 0, world["me"]), ("read", 4, world["other"]),
        ("search-type", 0, world["me"]), ("read", 0, world["me"])]
    assert all(r.actor_type == "operator" for r in rows)


def test_each_api_client_has_a_request_quota(anon: TestClient, settings: Settings) -> None:
    limits = current_limits()
    use_limits(RateLimits(policies={"client": Policy(3, 60.0)}))
    try:
        headers = _bearer(settings, "system/*.rs")
        statuses = [anon.get("/fhir/Organization", headers=headers).status_code
                    for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = anon.get("/fhir/Organization", headers=headers)
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["issue"][0]["code"] == "throttled"
    finally:
        use_limits(limits)


def test_every_kind_of_interaction_is_audited_once(anon: TestClient, client: TestClient,
                                                   settings: Settings,
                                                   world: dict[str, str]) -> None:
    """Writes, searches, history, bundles and operations, allowed or refused: one row each."""
    engine = build_engine(settings.database_url, settings)
    headers = _bearer(settings, "system/*.cruds")

    def rows() -> list[Any]:
        for app_client in (anon, client):
            app_client.app.state.fhir.guard.flush()  # type: ignore[attr-defined]
        with read_transaction(engine) as conn:
            return list(iter_rows(conn))

    before = len(rows())
    created = anon.post("/fhir/Observation", json=_obs(world["me"], "vital-signs"),
                        headers=headers).json()
    created["status"] = "amended"
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": _obs(world["other"], "laboratory"),
         "request": {"method": "POST", "url": "Observation"}}]}
    calls = [
        ("PUT", f"/fhir/Observation/{created['id']}", created, ("update", "U", 0)),
        ("GET", f"/fhir/Observation/{created['id']}/_history", None,
         ("history-instance", "R", 0)),
        ("GET", "/fhir/Observation?code=laboratory", None, ("search-type", "E", 0)),
        ("POST", "/fhir", bundle, ("transaction", "E", 0)),
        ("GET", f"/fhir/Patient/{world['me']}/$everything", None, ("operation", "E", 0)),
        ("DELETE", f"/fhir/Observation/{created['id']}", None, ("delete", "D", 0)),
        ("GET", "/fhir/Observation/does-not-exist", None, ("read", "R", 4)),
    ]
    for method, url, body, _ in calls:
        anon.request(method, url, json=body, headers=headers)
    anon.get("/fhir/Observation")  # no token: refused before anyone is known, not audited
    written = rows()[before:]
    assert [("create", "C", 0), *(c[3] for c in calls)] == [
        (r.subtype, r.action, r.outcome) for r in written]
    assert written[0].resource_id == created["id"] and written[0].patient_id == world["me"]
    assert written[4].patient_id == world["other"]  # the patient the transaction wrote to
    assert audit_verify(engine).ok
    engine.dispose()


def test_sealed_search_values_are_masked_in_the_audit_trail(
        anon: TestClient, client: TestClient, settings: Settings) -> None:
    headers = _bearer(settings, "system/*.rs")
    anon.get("/fhir/Patient?identifier=urn:oid:2.16.156.10011.1.3|620102199001011234"
             "&phone=13800138000&gender=female", headers=headers)
    anon.app.state.fhir.guard.flush()  # type: ignore[attr-defined]
    engine = build_engine(settings.database_url, settings)
    with read_transaction(engine) as conn:
        last = list(iter_rows(conn))[-1]
    engine.dispose()
    assert last.subtype == "search-type" and last.query is not None
    assert "620102199001011234" not in last.query and "13800138000" not in last.query
    assert "gender=female" in last.query


def test_capability_statement_announces_smart_security(anon: TestClient) -> None:
    security = anon.get("/fhir/metadata").json()["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    uris = {e["url"]: e["valueUri"] for e in security["extension"][0]["extension"]}
    assert uris["token"] == "http://testserver/oauth/token"
    assert uris["authorize"] == "http://testserver/oauth/authorize"
    assert anon.get("/fhir/.well-known/smart-configuration").json()["token_endpoint"] == uris[
        "token"]
