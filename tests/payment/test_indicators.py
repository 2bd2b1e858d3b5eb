"""$booking-indicators from a small known world: one expert and one attending clinic, bookings
online and at the window, check-ins and no-shows; access for supervisors by region."""

from __future__ import annotations

from datetime import datetime

from fastapi.testclient import TestClient
from tests.conftest import mint_token
from tests.payment.conftest import (
    LONG,
    ZONE,
    Clock,
    Resident,
    api_of,
    appointment,
    new_patient,
    op,
    value,
)
from tests.scheduling.conftest import session

from gansu_health.core.clock import to_micros
from gansu_health.core.database import build_engine, write_transaction
from gansu_health.core.settings import Settings
from gansu_health.demo.registry import Clinician
from gansu_health.identity.accounts.staff import create_staff, make_grant
from gansu_health.identity.keys import FieldCipher, MemoryKeyProvider
from gansu_health.scheduling import attendance
from gansu_health.scheduling.operations import scheduler_of

HOSPITAL = "gs-620100-h01"  # Lanzhou (620100)


def _supervisor(settings: Settings, region: str) -> dict[str, str]:
    engine = build_engine(settings.database_url, settings)
    with write_transaction(engine) as conn:
        staff = create_staff(conn, FieldCipher(MemoryKeyProvider()), node=settings.node_id,
                             username=f"sup-{region}", display_name="卫健委", password="Gansu-"
                             "Health-2026!", grants=[make_grant(HOSPITAL, "supervisor", None,
                                                                region)],
                             operator="pytest", with_totp=False)
    engine.dispose()
    token = mint_token(settings, "user/*.rs", kind="staff", subject=staff.account.id, ttl_s=LONG)
    return {"Authorization": f"Bearer {token}"}


def _rows(answer: dict[str, object]) -> list[dict[str, object]]:
    out = []
    for part in answer["parameter"]:  # type: ignore[attr-defined]
        if part["name"] == "indicators":
            out.append({p["name"]: next(v for k, v in p.items() if k != "name")
                        for p in part["part"]})
    return out


def test_indicators_of_a_known_day(client: TestClient, settings: Settings,
                                   doctors: list[Clinician], clock: Clock) -> None:
    chief = next(d for d in doctors if d.title == "chief")
    attending = next(d for d in doctors if d.title == "attending")
    _, expert = session(client, chief, "2027-03-03", perSlot=1, quota_online=6,
                        quota_window=2)
    _, plain = session(client, attending, "2027-03-03", perSlot=2)
    ids = {}
    for name, slot, channel in (("a", expert[0], "online"), ("b", expert[1], "online"),
                                ("c", expert[2], "window"), ("d", plain[0], "online"),
                                ("e", plain[1], "online")):
        patient = f"Patient/{new_patient(client)}"
        ids[name] = (patient, appointment(op(client, "Appointment/$book", patient=patient,
                                             slot=slot, channel=channel))["id"])
    clock.set(datetime(2027, 3, 3, 7, 50, tzinfo=ZONE))  # 10 min before the 08:00 slot
    op(client, f"Appointment/{ids['a'][1]}/$check-in", patient=ids["a"][0])
    clock.set(datetime(2027, 3, 3, 7, 55, tzinfo=ZONE))
    op(client, f"Appointment/{ids['d'][1]}/$check-in", patient=ids["d"][0])
    clock.set(datetime(2027, 3, 3, 8, 40, tzinfo=ZONE))  # late for 08:30: no wait
    op(client, f"Appointment/{ids['b'][1]}/$check-in", patient=ids["b"][0])
    api = api_of(client)
    with write_transaction(api.engine) as conn:
        attendance.mark_noshows(scheduler_of(api), conn,
                                to_micros(datetime(2027, 3, 3, 23, 0, tzinfo=ZONE)))
    answer = op(client, "$booking-indicators", start="2027-03-03")
    rows = _rows(answer)
    assert len(rows) == 1 and rows[0]["scope"] == f"Organization/{HOSPITAL}"
    row = rows[0]
    assert (row["expertNumbers"], row["expertOnline"], row["expertOnlineShare"]) == (8, 6, 0.75)
    assert (row["bookings"], row["onlineBookings"], row["onlineBookingRate"]) == (5, 4, 0.8)
    assert (row["arrived"], row["noShows"], row["noShowRate"]) == (3, 2, 0.4)
    assert row["checkIns"] == 3 and row["checkInWaitMedianMin"] == 5.0
    assert row["checkInWaitP90Min"] == 10.0
    by_city = _rows(op(client, "$booking-indicators", start="2027-03-03", groupBy="city"))
    assert by_city[0]["scope"] == "620100" and by_city[0]["bookings"] == 5
    lanzhou = _supervisor(settings, "620100")
    seen = client.post("/fhir/$booking-indicators", headers=lanzhou, json={
        "resourceType": "Parameters", "parameter": [
            {"name": "start", "valueString": "2027-03-03"}]})
    assert seen.status_code == 200 and _rows(seen.json())[0]["bookings"] == 5
    tianshui = _supervisor(settings, "620500")
    elsewhere = client.post("/fhir/$booking-indicators", headers=tianshui, json={
        "resourceType": "Parameters", "parameter": [
            {"name": "start", "valueString": "2027-03-03"}]})
    assert elsewhere.status_code == 200 and _rows(elsewhere.json()) == []
    refused = client.post("/fhir/$booking-indicators", headers=tianshui, json={
        "resourceType": "Parameters", "parameter": [
            {"name": "start", "valueString": "2027-03-03"},
            {"name": "organization", "valueString": f"Organization/{HOSPITAL}"}]})
    assert refused.status_code == 403 and "outside your region" in refused.text
    citizen = Resident(client, settings)
    assert client.post("/fhir/$booking-indicators", headers=citizen.headers, json={
        "resourceType": "Parameters", "parameter": []}).status_code == 403
    assert value(answer, "groupBy") == "hospital"
