"""Resident ids, phones and street addresses are sealed at rest and blind in every index.

Writes go through the API (create, update, transaction, a batch Bundle big enough for COPY);
raw SQL over every table then finds none of the values, while reads, searches, history,
$everything, includes, $match and $ihe-pix answer them in clear. Key rotation plus
``keys reencrypt`` keeps everything readable and searchable and leaves only the new key ids.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from tests.mpi.test_service_support import HOSPITAL_A, HOSPITAL_B, empi_of, new_person
from typer.testing import CliRunner

from gansu_health.app import create_app
from gansu_health.cli import app as cli
from gansu_health.core.database import build_engine, get_engine, metadata
from gansu_health.core.settings import Settings, get_settings
from gansu_health.domains import import_models
from gansu_health.fhir.storage.tables import resource_version
from gansu_health.identity import rekey
from gansu_health.mpi.resident_id import RESIDENT_ID_SYSTEM

PASSPORT = "https://gansu-health.cn/fhir/sid/passport"
SECRETS: list[str] = []  # every sealed value written by this module


@pytest.fixture(scope="module")
def key_file(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys") / "keys.json"  # a fresh ring per database


@pytest.fixture(scope="module")
def fe_settings(settings: Settings, key_file: Path) -> Settings:
    return settings.model_copy(update={"key_file": key_file, "security_enabled": False})


@pytest.fixture(scope="module")
def engine(fe_settings: Settings) -> Iterator[Engine]:
    eng = build_engine(fe_settings.database_url, fe_settings)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def api(fe_settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(fe_settings, engine)) as test_client:
        yield test_client


@pytest.fixture
def keys_cli(fe_settings: Settings, key_file: Path, monkeypatch: pytest.MonkeyPatch
             ) -> Iterator[CliRunner]:
    monkeypatch.setenv("GANSU_HEALTH_DATABASE_URL", fe_settings.database_url)
    monkeypatch.setenv("GANSU_HEALTH_KEY_FILE", str(key_file))
    get_settings.cache_clear()
    get_engine.cache_clear()
    yield CliRunner()
    get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()


def _patient(line: str, **changes: Any) -> dict[str, Any]:
    """A Patient with a resident id, a passport, a mobile phone and a street address."""
    person = new_person("王", "秀英", "female")
    body = person.patient(HOSPITAL_A, **changes)
    passport = f"E{person.phone[-8:]}"
    body["identifier"].append({"system": PASSPORT, "value": passport})
    body["address"][0]["line"] = [line]
    body["address"][0]["text"] = f"甘肃省兰州市城关区{line}"
    body["contact"] = [{"name": {"text": "王建国"}, "telecom": [
        {"system": "sms", "value": f"186{person.phone[-8:]}"}]}]
    SECRETS.extend([person.resident_id or "", person.phone, passport, line,
                    f"186{person.phone[-8:]}"])
    return body


def _rid(body: dict[str, Any]) -> str:
    return str(next(i["value"] for i in body["identifier"] if i["system"] == RESIDENT_ID_SYSTEM))


def _ids(client: TestClient, query: str) -> set[str]:
    resp = client.get(f"/fhir/{query}")
    assert resp.status_code == 200, resp.text
    return {e["resource"]["id"] for e in resp.json().get("entry", [])
            if e.get("search", {}).get("mode") == "match"}


def _database_text(engine: Engine) -> str:
    """Every value of every table, as one text to search for plaintext."""
    import_models()
    parts: list[str] = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if not conn.dialect.has_table(conn, table.name):
                continue
            for row in conn.execute(select(table)):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode("utf-8", "replace")
                    parts.append(str(value))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def written(api: TestClient) -> dict[str, dict[str, Any]]:
    """Patients written by every write path: create, update, transaction, batch (COPY)."""
    out: dict[str, dict[str, Any]] = {}
    created = api.post("/fhir/Patient", json=_patient("白银路101号"))
    assert created.status_code == 201, created.text
    out["created"] = created.json()
    put = _patient("白银路102号")
    put["id"] = "fe-put"
    assert api.put("/fhir/Patient/fe-put", json=put).status_code == 201
    put["address"][0]["line"] = ["白银路103号"]
    SECRETS.append("白银路103号")
    updated = api.put("/fhir/Patient/fe-put", json=put)
    assert updated.status_code == 200, updated.text
    out["updated"] = updated.json()
    tx = api.post("/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:6f3c1a52-6a1e-4a5e-9a3c-1b8b0c1f5e01",
         "resource": _patient("白银路104号"), "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Observation", "status": "final",
                      "code": {"text": "体温"},
                      "subject": {"reference": "urn:uuid:6f3c1a52-6a1e-4a5e-9a3c-1b8b0c1f5e01"}},
         "request": {"method": "POST", "url": "Observation"}}]})
    assert tx.status_code == 200, tx.text
    location = tx.json()["entry"][0]["response"]["location"]
    out["transaction"] = api.get(f"/fhir/{location.split('/_history')[0]}").json()
    batch = [_patient(f"白银路{200 + i}号") for i in range(20)]  # ≥ 16 rows: COPY on PostgreSQL
    resp = api.post("/fhir", json={"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": b, "request": {"method": "POST", "url": "Patient"}} for b in batch]})
    assert resp.status_code == 200, resp.text
    assert all(e["response"]["status"].startswith("201") for e in resp.json()["entry"])
    out["batch"] = api.get(f"/fhir/{resp.json()['entry'][7]['response']['location']}").json()
    return out


def test_nothing_sealed_is_stored_in_clear(written: dict[str, Any], engine: Engine) -> None:
    everything = _database_text(engine)
    assert len(SECRETS) > 5 * 23 and all(SECRETS)
    leaked = [s for s in SECRETS if s in everything]
    assert leaked == []
    with engine.connect() as conn:
        stored = [json.loads(r.content) for r in conn.execute(
            select(resource_version.c.content).where(resource_version.c.rtype == "Patient"))]
    assert len(stored) >= 24
    for body in stored:
        rid = next(i for i in body["identifier"] if i["system"] == RESIDENT_ID_SYSTEM)
        assert rid["value"].startswith("g1:d1:")
        assert body["telecom"][0]["value"].startswith("g1:d1:")
        assert body["address"][0]["city"] == "兰州市"  # region parts stay clear
        assert body["address"][0]["line"][0].startswith("g1:d1:")


def test_reads_answer_plaintext(written: dict[str, Any], api: TestClient) -> None:
    body = written["updated"]
    assert body["address"][0]["line"] == ["白银路103号"]  # the write's own response
    read = api.get("/fhir/Patient/fe-put").json()
    assert read["address"][0]["line"] == ["白银路103号"]
    assert read["contact"][0]["telecom"][0]["value"].startswith("186")
    first = api.get("/fhir/Patient/fe-put/_history/1").json()
    assert first["address"][0]["line"] == ["白银路102号"]
    history = api.get("/fhir/Patient/fe-put/_history").json()
    assert [e["resource"]["address"][0]["line"][0] for e in history["entry"]] == [
        "白银路103号", "白银路102号"]
    rid = _rid(read)
    elements = api.get("/fhir/Patient", params={"_id": "fe-put",
                                                "_elements": "identifier,telecom"}).json()
    assert rid in {i["value"] for i in elements["entry"][0]["resource"]["identifier"]}
    tx = written["transaction"]
    found = api.get("/fhir/Observation", params={"subject": f"Patient/{tx['id']}",
                                                 "_include": "Observation:subject"}).json()
    included = [e["resource"] for e in found["entry"] if e["search"]["mode"] == "include"]
    assert _rid(included[0]) == _rid(tx)
    everything = api.get(f"/fhir/Patient/{tx['id']}/$everything").json()
    patient = next(e["resource"] for e in everything["entry"]
                   if e["resource"]["resourceType"] == "Patient")
    assert patient["telecom"][0]["value"] == tx["telecom"][0]["value"]
    golden = next(e["resource"] for e in everything["entry"]
                  if e["resource"]["resourceType"] == "Person")
    assert golden["address"][0]["line"] == tx["address"][0]["line"]
    got = api.post("/fhir", json={"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": f"Patient/{tx['id']}"}}]}).json()
    assert _rid(got["entry"][0]["resource"]) == _rid(tx)


def test_search_by_identifier_phone_and_region(written: dict[str, Any], api: TestClient
                                               ) -> None:
    body = written["batch"]
    rid, phone = _rid(body), body["telecom"][0]["value"]
    passport = next(i["value"] for i in body["identifier"] if i["system"] == PASSPORT)
    assert _ids(api, f"Patient?identifier={RESIDENT_ID_SYSTEM}|{rid}") == {body["id"]}
    assert _ids(api, f"Patient?identifier={rid.lower()}") == {body["id"]}  # any system
    assert _ids(api, f"Patient?identifier={PASSPORT}|{passport}") == {body["id"]}
    assert _ids(api, f"Patient?identifier=|{rid}") == set()  # "no system" never matches
    mrn = body["identifier"][0]["value"]
    assert _ids(api, f"Patient?identifier={HOSPITAL_A}|{mrn}") == {body["id"]}  # clear MRN
    assert _ids(api, f"Patient?phone={phone}") == {body["id"]}
    assert _ids(api, f"Patient?telecom=%2B86%20{phone[:3]}-{phone[3:7]}-{phone[7:]}"
                ) == {body["id"]}
    assert _ids(api, f"Patient?identifier:not={RESIDENT_ID_SYSTEM}|{rid}&_id={body['id']}"
                ) == set()
    assert body["id"] in _ids(api, "Patient?address=兰州&_count=100")
    assert body["id"] in _ids(api, "Patient?address-city=兰州市&_count=100")
    assert _ids(api, "Patient?address=白银路") == set()  # street text is not indexed
    assert _ids(api, f"Patient?_content={phone}") == set()
    chained = _ids(api, f"Observation?subject:Patient.identifier={_rid(written['transaction'])}")
    assert len(chained) == 1


def test_conditional_create_and_update_by_resident_id(written: dict[str, Any],
                                                      api: TestClient) -> None:
    body = written["created"]
    criteria = f"identifier={RESIDENT_ID_SYSTEM}|{_rid(body)}"
    again = api.post("/fhir/Patient", json=_patient("白银路999号", resident_id=_rid(body)),
                     headers={"If-None-Exist": criteria})
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    changed = dict(api.get(f"/fhir/Patient/{body['id']}").json())
    changed["address"] = [{"city": "天水市", "line": ["民主路1号"]}]
    SECRETS.append("民主路1号")
    put = api.put(f"/fhir/Patient?{criteria}", json=changed)
    assert put.status_code == 200 and put.json()["id"] == body["id"]
    assert api.get(f"/fhir/Patient/{body['id']}").json()["address"][0]["line"] == ["民主路1号"]


def test_mpi_matches_and_cross_references_sealed_identities(written: dict[str, Any],
                                                           api: TestClient) -> None:
    source = written["batch"]
    same = dict(source, identifier=[{"system": HOSPITAL_B, "value": "B-77"},
                                    {"system": RESIDENT_ID_SYSTEM, "value": _rid(source)}])
    same.pop("id")
    same.pop("meta")
    second = api.post("/fhir/Patient", json=same)
    assert second.status_code == 201 and empi_of(second.json()) == empi_of(source)
    match = api.post("/fhir/Patient/$match", json={"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": same}]}).json()
    assert _rid(match["entry"][0]["resource"]) == _rid(source)
    pix = api.get("/fhir/Patient/$ihe-pix", params={
        "sourceIdentifier": f"{RESIDENT_ID_SYSTEM}|{_rid(source)}"}).json()
    values = {p["valueIdentifier"]["value"] for p in pix["parameter"]
              if p["name"] == "targetIdentifier"}
    assert {"B-77", source["identifier"][0]["value"]} <= values
    assert any(v.startswith("E") for v in values)  # the passport, in clear


def _status(api: TestClient, runner: CliRunner) -> dict[tuple[str, str], int]:
    """Rows per (table, key id), as ``keys status`` counts them."""
    shown = runner.invoke(cli, ["keys", "status"])
    assert shown.exit_code == 0 and "resource_version" in shown.output, shown.output
    fhir = api.app.state.fhir  # type: ignore[attr-defined]
    with fhir.engine.connect() as conn:
        return {(what, kid): n for target in rekey.targets(fhir)
                for what, kid, n in target.status(conn)}


def test_rotation_and_reencrypt_without_downtime(written: dict[str, Any], api: TestClient,
                                                 keys_cli: CliRunner, engine: Engine,
                                                 key_file: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600  # created on first use
    before = _status(api, keys_cli)
    assert before[("resource_version (data)", "d1")] >= 24
    for purpose in ("data", "index"):
        result = keys_cli.invoke(cli, ["keys", "rotate", "--purpose", purpose])
        assert result.exit_code == 0 and f"{purpose} key {purpose[0]}2" in result.output
    old = written["updated"]
    assert api.get("/fhir/Patient/fe-put").json()["address"] == old["address"]  # d1 still opens
    assert _ids(api, f"Patient?identifier={_rid(old)}") == {"fe-put"}  # i1 still found
    fresh = api.post("/fhir/Patient", json=_patient("白银路500号")).json()
    assert _ids(api, f"Patient?phone={fresh['telecom'][0]['value']}") == {fresh["id"]}
    twin = dict(written["created"], identifier=[{"system": HOSPITAL_B, "value": "B-78"}, {
        "system": RESIDENT_ID_SYSTEM, "value": _rid(written["created"])}])
    twin.pop("id")
    twin.pop("meta")
    assert empi_of(api.post("/fhir/Patient", json=twin).json()) == empi_of(written["created"])

    mid = _status(api, keys_cli)
    block_keys = mid[("mpi_block_key (index)", "i1")] + mid[("mpi_block_key (index)", "i2")]
    assert mid[("mpi_block_key (index)", "i2")] > 0  # registered after the rotation
    real_walk = rekey.walk_table

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        def stop(stats: Any) -> None:
            kwargs["progress"](stats)
            raise RuntimeError("interrupted")
        return real_walk(*args, **{**kwargs, "progress": stop})

    monkeypatch.setattr(rekey, "walk_table", interrupted)
    stopped = keys_cli.invoke(cli, ["keys", "reencrypt", "--no-settle", "--batch", "5"])
    assert stopped.exit_code != 0
    saved = json.loads(key_file.with_name("keys.json.reencrypt.json").read_text())
    assert saved["after"]["resource_version"] is not None
    monkeypatch.setattr(rekey, "walk_table", real_walk)
    done = keys_cli.invoke(cli, ["keys", "reencrypt", "--no-settle", "--batch", "5"])
    assert done.exit_code == 0, done.output
    assert not key_file.with_name("keys.json.reencrypt.json").exists()

    after = _status(api, keys_cli)
    assert after[("resource_version (data)", "d1")] == 0
    assert after[("resource_version (data)", "d2")] >= 26
    assert after[("idx_token (index)", "i1")] == 0 and after[("idx_token (index)", "i2")] > 0
    assert after[("mpi_record.features (data)", "d1")] == 0
    assert after[("mpi_record.features (data)", "clear")] == 0
    assert after[("mpi_block_key (index)", "i1")] == 0
    assert after[("mpi_block_key (index)", "i2")] == block_keys  # same keys, re-blinded
    assert after[("mpi_identifier (index)", "i1")] == 0
    everything = _database_text(engine)
    assert "g1:d1:" not in everything
    assert [s for s in SECRETS if s in everything] == []
    for body in written.values():
        assert _ids(api, f"Patient?identifier={RESIDENT_ID_SYSTEM}|{_rid(body)}") >= {body["id"]}
        assert _rid(api.get(f"/fhir/Patient/{body['id']}").json()) == _rid(body)
    again = keys_cli.invoke(cli, ["keys", "reencrypt", "--no-settle"])
    assert again.exit_code == 0 and "MPI source records" in again.output


def test_turning_encryption_on_for_a_database_written_in_clear(
        fe_settings: Settings, engine: Engine, api: TestClient, keys_cli: CliRunner) -> None:
    clear = fe_settings.model_copy(update={"field_encryption": False})
    with TestClient(create_app(clear, engine)) as before:
        old = before.post("/fhir/Patient", json=_patient("白银路700号")).json()
    values = [_rid(old), old["telecom"][0]["value"], "白银路700号"]
    assert all(v in _database_text(engine) for v in values)
    assert _rid(api.get(f"/fhir/Patient/{old['id']}").json()) == values[0]  # served as is
    assert _ids(api, f"Patient?identifier={RESIDENT_ID_SYSTEM}|{values[0]}") == {old["id"]}
    done = keys_cli.invoke(cli, ["keys", "reencrypt", "--no-settle", "--full"])
    assert done.exit_code == 0, done.output
    everything = _database_text(engine)
    assert [v for v in values if v in everything] == []
    assert api.get(f"/fhir/Patient/{old['id']}").json()["address"] == old["address"]
    assert _ids(api, f"Patient?phone={values[1]}") == {old["id"]}
    twin = dict(old, identifier=[{"system": HOSPITAL_B, "value": "B-79"},
                                 {"system": RESIDENT_ID_SYSTEM, "value": values[0]}])
    twin.pop("id")
    twin.pop("meta")
    assert empi_of(api.post("/fhir/Patient", json=twin).json()) == empi_of(old)


def test_a_tampered_envelope_fails_with_a_clear_error(api: TestClient, engine: Engine,
                                                      keys_cli: CliRunner) -> None:
    victim = api.post("/fhir/Patient", json=_patient("白银路600号")).json()
    with engine.begin() as conn:
        row = conn.execute(select(resource_version.c.seq, resource_version.c.content).where(
            resource_version.c.fid == victim["id"])).one()
        body = json.loads(row.content)
        envelope = body["telecom"][0]["value"]
        body["telecom"][0]["value"] = envelope[:-2] + ("AA" if envelope[-2:] != "AA" else "BB")
        conn.execute(update(resource_version).where(resource_version.c.seq == row.seq)
                     .values(content=json.dumps(body).encode()))
    resp = api.get(f"/fhir/Patient/{victim['id']}")
    assert resp.status_code == 500
    issue = resp.json()["issue"][0]
    assert issue["code"] == "security"
    assert "telecom|phone" in issue["diagnostics"] and "does not open" in issue["diagnostics"]
    keys_cli.invoke(cli, ["keys", "rotate"])
    rekeyed = keys_cli.invoke(cli, ["keys", "reencrypt", "--no-settle"])
    assert rekeyed.exit_code == 1 and f"Patient/{victim['id']}" in rekeyed.output
    assert api.get("/fhir/Patient/fe-put").status_code == 200  # the others were re-keyed
    with engine.begin() as conn:  # an envelope moved to another element does not open either
        body["telecom"][0]["value"] = body["address"][0]["line"][0]
        conn.execute(update(resource_version).where(resource_version.c.seq == row.seq)
                     .values(content=json.dumps(body).encode()))
    assert api.get(f"/fhir/Patient/{victim['id']}").status_code == 500
