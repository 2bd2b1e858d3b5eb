"""Audit rows render as valid FHIR R4 AuditEvents (IHE BALP style); the CLI verifies and purges."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gansu_health.core.clock import now
from gansu_health.core.database import build_engine, get_engine, write_transaction
from gansu_health.core.migrate import upgrade
from gansu_health.core.settings import Settings, get_settings
from gansu_health.fhir.validation import validate_resource
from gansu_health.identity.audit.cli import audit_app
from gansu_health.identity.audit.repository import AuditRecord, AuditRow, record, record_now
from gansu_health.identity.audit.service import patient_trail, render
from gansu_health.identity.keys import FieldCipher, FileKeyProvider

BASE = "http://testserver/fhir"
CASES = {
    "read": AuditRecord(action="R", subtype="read", actor_type="Practitioner", actor_id="doc-1",
                        actor_name="王医生", patient_id="p-1", resource_type="Observation",
                        resource_id="obs-1", purpose_of_use="TREAT", source_ip="10.62.0.8",
                        user_agent="his/1.0"),
    "search": AuditRecord(action="E", subtype="search-type", actor_type="client",
                          actor_id="app-42", patient_id="p-1", resource_type="Observation",
                          query="patient=p-1&code=8480-6"),
    "create": AuditRecord(action="C", subtype="create", actor_type="Practitioner",
                          actor_id="doc-2", patient_id="p-1", resource_type="Condition",
                          resource_id="c-9"),
    "patient": AuditRecord(action="R", subtype="read", actor_type="Patient", actor_id="p-1",
                           patient_id="p-1", resource_type="Patient", resource_id="p-1",
                           purpose_of_use="PATRQT"),
    "break-glass": AuditRecord(action="R", subtype="read", actor_type="Practitioner",
                               actor_id="er-doc", patient_id="p-2", resource_type="Patient",
                               resource_id="p-2", break_glass=True, reason="急诊昏迷患者"),
    "login-failed": AuditRecord(action="E", subtype="login", actor_type="Practitioner",
                                actor_name="unknown", outcome=4, reason="bad password",
                                source_ip="2001:db8::1"),
    "custom": AuditRecord(action="E", subtype="consent-check", actor_type="system"),
}


@pytest.fixture(scope="module")
def rows(settings: Settings) -> Iterator[dict[str, AuditRow]]:
    engine = build_engine(settings.database_url, settings)
    with write_transaction(engine) as conn:
        stored = {name: record(conn, event) for name, event in CASES.items()}
    yield stored
    engine.dispose()


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_audit_event_is_valid_r4(rows: dict[str, AuditRow], case: str) -> None:
    resource = render(rows[case], base_url=BASE)
    errors = [i for i in validate_resource(resource) if i.severity == "error"]
    assert errors == [], errors
    assert resource["action"] == CASES[case].action
    assert resource["outcome"] == str(CASES[case].outcome)
    assert resource["agent"][0]["requestor"] is True


def test_balp_shape(rows: dict[str, AuditRow]) -> None:
    read = render(rows["read"], base_url=BASE)
    assert read["type"]["code"] == "rest" and read["subtype"][0]["code"] == "read"
    roles = {e["role"]["code"]: e["what"]["reference"] for e in read["entity"]}
    assert roles == {"4": "Observation/obs-1", "1": "Patient/p-1"}
    user, client, server = read["agent"]
    assert user["who"]["reference"] == "Practitioner/doc-1"
    assert user["type"]["coding"][0]["code"] == "IRCP"
    assert client["network"] == {"address": "10.62.0.8", "type": "2"}
    assert server["network"]["address"] == BASE
    assert read["purposeOfEvent"][0]["coding"][0]["code"] == "TREAT"
    search = render(rows["search"])
    query = next(e for e in search["entity"] if e["role"]["code"] == "24")
    assert base64.b64decode(query["query"]).decode() == "patient=p-1&code=8480-6"
    assert search["agent"][0]["who"]["identifier"]["value"] == "app-42"
    glass = render(rows["break-glass"])
    assert glass["meta"]["security"][0]["code"] == "BTG"
    assert glass["purposeOfEvent"][0] == {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                    "code": "ETREAT"}], "text": "急诊昏迷患者"}
    failed = render(rows["login-failed"])
    assert failed["type"]["code"] == "110114" and failed["outcomeDesc"] == "bad password"
    assert render(rows["patient"])["agent"][0]["type"]["coding"][0]["code"] == "PAT"


def test_patient_trail_bundle(settings: Settings, rows: dict[str, AuditRow]) -> None:
    engine = build_engine(settings.database_url, settings)
    bundle = patient_trail(engine, "p-1", count=2, base_url=BASE)
    engine.dispose()
    assert [e["resource"]["id"] for e in bundle["entry"]] == [
        str(rows["patient"].id), str(rows["create"].id)]
    assert "_before=" in bundle["link"][0]["url"]
    assert [i for i in validate_resource(bundle) if i.severity == "error"] == []


def test_cli_verify_purge_and_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    monkeypatch.setenv("GANSU_HEALTH_DATABASE_URL", url)
    monkeypatch.setenv("GANSU_HEALTH_KEY_FILE", str(tmp_path / "keys.json"))
    get_settings.cache_clear()
    get_engine.cache_clear()
    try:
        for event in CASES.values():
            record_now(get_engine(), event)
        runner = CliRunner()
        ok = runner.invoke(audit_app, ["verify"])
        assert ok.exit_code == 0 and "intact" in ok.output and "7" in ok.output
        shown = runner.invoke(audit_app, ["show", "--patient", "p-1"])
        assert shown.exit_code == 0 and "Patient/p-1" in shown.output and "TREAT" in shown.output
        young = (now() - timedelta(days=3)).date().isoformat()
        refused = runner.invoke(audit_app, ["purge", "--before", young])
        assert refused.exit_code == 2 and "refused" in refused.output
        with get_engine().begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER audit_event_no_update")
            conn.exec_driver_sql("UPDATE audit_event SET actor_id = 'mallory' WHERE id = 3")
        broken = runner.invoke(audit_app, ["verify"])
        assert broken.exit_code == 1 and "BROKEN" in broken.output
        cipher = FieldCipher(FileKeyProvider(tmp_path / "keys.json"))
        with get_engine().begin() as conn:
            conn.exec_driver_sql("CREATE TABLE person_secret (id INTEGER PRIMARY KEY, "
                                 "node VARCHAR(16), phone TEXT, phone_bidx VARCHAR(64))")
            for i in range(1, 6):
                conn.exec_driver_sql(
                    "INSERT INTO person_secret VALUES (?, '620000', ?, ?)",
                    (i, cipher.encrypt(f"1390000000{i}", "phone"),
                     cipher.blind_index(f"1390000000{i}", "phone")))
        rotated = runner.invoke(audit_app, ["key", "rotate"])
        assert rotated.exit_code == 0 and "d2" in rotated.output
        assert (tmp_path / "keys.json").stat().st_mode & 0o777 == 0o600
        assert runner.invoke(audit_app, ["key", "rotate", "--purpose", "index"]).exit_code == 0
        done = runner.invoke(audit_app, [
            "key", "reencrypt", "--table", "person_secret", "--column", "phone",
            "--context", "phone=phone", "--index", "phone=phone_bidx:phone", "--batch", "2"])
        assert done.exit_code == 0 and "5 of 5" in done.output, done.output
        fresh = FieldCipher(FileKeyProvider(tmp_path / "keys.json"))
        with get_engine().connect() as conn:
            rows = conn.exec_driver_sql("SELECT id, phone, phone_bidx FROM person_secret").all()
            for rid, token, index in rows:
                assert token.startswith("g1:d2:")
                assert fresh.decrypt(token, "phone") == f"1390000000{rid}"
                assert index == fresh.blind_index(f"1390000000{rid}", "phone")
    finally:
        get_engine().dispose()
        get_settings.cache_clear()
        get_engine.cache_clear()
