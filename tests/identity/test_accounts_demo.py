"""The demo province's staff sign-ins: one per role, created once, able to sign in."""

from __future__ import annotations

import stat
from pathlib import Path

from fastapi.testclient import TestClient

from gansu_health.core.database import build_engine, read_transaction
from gansu_health.core.settings import Settings
from gansu_health.identity.accounts import repository
from gansu_health.identity.accounts.demo import ROLES, ensure_demo_staff, write_credentials
from gansu_health.identity.keys import FieldCipher, MemoryKeyProvider


def test_one_sign_in_per_role_created_once(client: TestClient, settings: Settings,
                                           tmp_path: Path) -> None:
    org = client.post("/fhir/Organization", json={"resourceType": "Organization",
                                                  "name": "演示医院"}).json()["id"]
    doc = client.post("/fhir/Practitioner", json={"resourceType": "Practitioner",
                                                  "name": [{"text": "演示医生"}]}).json()["id"]
    client.post("/fhir/PractitionerRole", json={
        "resourceType": "PractitionerRole", "practitioner": {"reference": f"Practitioner/{doc}"},
        "organization": {"reference": f"Organization/{org}"}})
    engine = build_engine(settings.database_url, settings)
    fhir = client.app.state.fhir.service  # type: ignore[attr-defined]
    cipher = FieldCipher(MemoryKeyProvider())
    logins = ensure_demo_staff(engine, fhir, cipher, settings.node_id)
    assert sorted(x.role for x in logins) == sorted(ROLES)
    assert [x.role for x in logins if x.totp_uri] == ["admin"]
    assert ensure_demo_staff(engine, fhir, cipher, settings.node_id) == []
    with read_transaction(engine) as conn:
        doctor = repository.find_by_username(conn, "demo-doctor")
        assert doctor is not None
        grants = repository.list_roles(conn, doctor.id)
    assert [(g.organization_id, g.practitioner_id) for g in grants] == [(org, doc)]
    signed_in = TestClient(client.app).post("/auth/staff/login", json={
        "username": "demo-doctor", "password": next(
            x.password for x in logins if x.role == "doctor")})
    assert signed_in.status_code == 200, signed_in.text
    path = tmp_path / "var" / "demo-credentials.txt"
    write_credentials(logins, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text(encoding="utf-8").splitlines()) == len(ROLES)
    engine.dispose()
