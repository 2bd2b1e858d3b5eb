"""Registrars and administrators run the clinic schedules of their own institution only."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.conftest import mint_token
from tests.scheduling.conftest import Clinician, clinic

from gansu_health.core.database import build_engine, write_transaction
from gansu_health.core.settings import Settings
from gansu_health.identity.accounts.staff import create_staff, make_grant
from gansu_health.identity.keys import FieldCipher, MemoryKeyProvider


def _registrar(settings: Settings, username: str, organization: str) -> dict[str, str]:
    engine = build_engine(settings.database_url, settings)
    with write_transaction(engine) as conn:
        staff = create_staff(conn, FieldCipher(MemoryKeyProvider()), node=settings.node_id,
                             username=username, display_name="挂号员",
                             password="Registrar-2026!", grants=[make_grant(
                                 organization, "registrar")], operator="pytest",
                             with_totp=False)
    engine.dispose()
    token = mint_token(settings, "user/*.cruds", kind="staff", subject=staff.account.id)
    return {"Authorization": f"Bearer {token}"}


def test_registrar_of_another_hospital_is_refused(client: TestClient, settings: Settings,
                                                  doctors: list[Clinician]) -> None:
    schedule, _ = clinic(client, doctors)
    role = client.get(f"/fhir/PractitionerRole/{doctors[0].role_id}").json()
    own = role["organization"]["reference"].split("/")[1]
    other = client.post("/fhir/Organization", json={"resourceType": "Organization",
                                                    "name": "另一家医院"}).json()["id"]
    here = _registrar(settings, "registrar-here", own)
    there = _registrar(settings, "registrar-there", other)
    anon = TestClient(client.app)
    assert anon.get(f"/fhir/Schedule/{schedule}/$sessions", headers=here).status_code == 200
    refused = anon.get(f"/fhir/Schedule/{schedule}/$sessions", headers=there)
    assert refused.status_code == 403
    assert "another institution" in refused.json()["issue"][0]["diagnostics"]
    assert anon.get(f"/fhir/Organization/{own}/$scheduling-policy",
                    headers=there).status_code == 403
    assert anon.get(f"/fhir/Organization/{other}/$scheduling-policy",
                    headers=there).status_code == 200
