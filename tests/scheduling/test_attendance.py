"""Check-in, no-shows and suspensions, stopping a clinic, the waitlist, reserves, exams."""

from __future__ import annotations

from datetime import datetime

from fastapi.testclient import TestClient
from tests.scheduling.conftest import (
    ZONE,
    Clock,
    appointment,
    clinic,
    diagnostics,
    events,
    new_patient,
    op,
)

from gansu_health.core.clock import to_micros
from gansu_health.core.database import write_transaction
from gansu_health.demo.registry import Clinician
from gansu_health.scheduling import attendance, jobs
from gansu_health.scheduling.operations import scheduler_of


def _run(client: TestClient, job: object, moment: datetime) -> int:
    api = client.app.state.fhir  # type: ignore[attr-defined]
    with write_transaction(api.engine) as conn:
        return int(job(scheduler_of(api), conn, to_micros(moment)))  # type: ignore[operator]


def test_check_in_window_no_show_and_suspension_ladder(
        client: TestClient, doctors: list[Clinician], clock: Clock) -> None:
    _, slots = clinic(client, doctors, perSlot=1)
    patient = f"Patient/{new_patient(client)}"
    first = appointment(op(client, "Appointment/$book", patient=patient, slot=slots[2]))
    clock.set(datetime(2027, 3, 3, 7, 20, tzinfo=ZONE))  # opens 07:30 (30 min before 08:00)
    early = op(client, f"Appointment/{first['id']}/$check-in", 422, patient=patient)
    assert "opens at 2027-03-03 07:30" in diagnostics(early)
    clock.set(datetime(2027, 3, 3, 8, 5, tzinfo=ZONE))
    arrived = appointment(op(client, "Appointment/$check-in", patient=patient,
                             organization="Organization/gs-620100-h01"))
    assert arrived["status"] == "arrived" and arrived["id"] == first["id"]
    # another patient never comes: after the slot ends the job marks a no-show and suspends
    clock.set(datetime(2027, 3, 1, 10, 0, tzinfo=ZONE))
    absent = f"Patient/{new_patient(client)}"
    missed = appointment(op(client, "Appointment/$book", patient=absent, slot=slots[3]))
    assert _run(client, attendance.mark_noshows, datetime(2027, 3, 3, 10, 10, tzinfo=ZONE)) == 1
    assert client.get(f"/fhir/Appointment/{missed['id']}").json()["status"] == "noshow"
    suspended = events(client, "scheduling.patient.suspended")[-1]
    assert suspended["patient"] == absent and suspended["days"] == 30
    clock.set(datetime(2027, 3, 4, 10, 0, tzinfo=ZONE))
    _, later = clinic(client, doctors, day="2027-03-05")
    refused = op(client, "Appointment/$book", 422, patient=absent, slot=later[0])
    assert "may not book until 2027-04-02" in diagnostics(refused)


def test_stop_clinic_cancels_everyone_and_offers_alternatives(
        client: TestClient, doctors: list[Clinician], clock: Clock) -> None:
    schedule, slots = clinic(client, doctors, perSlot=1)
    booked = [appointment(op(client, "Appointment/$book", patient=f"Patient/{new_patient(client)}",
                             slot=slot))["id"] for slot in slots[:3]]
    held = appointment(op(client, "Appointment/$hold", patient=f"Patient/{new_patient(client)}",
                          slot=slots[3]))["id"]
    answer = op(client, f"Schedule/{schedule}/$stop-clinic", date="2027-03-03",
                period="morning", reason="专家外出会诊")
    assert answer["parameter"][0]["valueInteger"] == 4
    for fid in [*booked, held]:
        resource = client.get(f"/fhir/Appointment/{fid}").json()
        assert resource["status"] == "cancelled"
        assert resource["cancelationReason"]["coding"][0]["code"] == "clinic-stopped"
    assert {client.get(f"/fhir/{s}").json()["status"] for s in slots} == {"busy-unavailable"}
    cancelled = [e for e in events(client, "scheduling.appointment.cancelled")
                 if e["reason"] == "clinic-stopped" and e["schedule"] == f"Schedule/{schedule}"]
    assert len(cancelled) == 4 and all(e["refund"] for e in cancelled)
    assert "alternatives" in cancelled[0]
    stopped = events(client, "scheduling.session.stopped")[-1]
    assert stopped["reason"] == "专家外出会诊" and stopped["cancelled"] == 4
    refused = op(client, "Appointment/$book", 409, patient=f"Patient/{new_patient(client)}",
                 slot=slots[5])
    assert "停诊" in diagnostics(refused)


def test_waitlist_gets_the_freed_number(client: TestClient, doctors: list[Clinician],
                                        clock: Clock) -> None:
    schedule, slots = clinic(client, doctors, start="08:00", end="08:30", perSlot=1)
    holder = f"Patient/{new_patient(client)}"
    taken = appointment(op(client, "Appointment/$book", patient=holder, slot=slots[0]))
    waiting = f"Patient/{new_patient(client)}"
    early = op(client, "Appointment/$waitlist", 409, patient=holder,
               schedule=f"Schedule/{schedule}", date="2027-03-03")
    assert "already has a number" in diagnostics(early)
    queued = appointment(op(client, "Appointment/$waitlist", patient=waiting,
                            schedule=f"Schedule/{schedule}", date="2027-03-03"))
    assert queued["status"] == "waitlist" and "slot" not in queued
    op(client, f"Appointment/{taken['id']}/$cancel", patient=holder)
    offered = client.get(f"/fhir/Appointment/{queued['id']}").json()
    assert offered["status"] == "pending" and offered["slot"] == [{"reference": slots[0]}]
    assert events(client, "scheduling.appointment.offered")[-1]["patient"] == waiting
    confirmed = appointment(op(client, f"Appointment/{queued['id']}/$book", patient=waiting))
    assert confirmed["status"] == "booked"


def test_reserve_returns_to_the_online_pool(client: TestClient, doctors: list[Clinician],
                                            clock: Clock) -> None:
    schedule, _ = clinic(client, doctors, perSlot=1, quota_online=4, quota_referral=4)
    found = op(client, "Appointment/$find", start="2027-03-03", schedule=f"Schedule/{schedule}")
    assert found["total"] == 4
    assert _run(client, jobs.return_reserves, datetime(2027, 3, 2, 0, 0, tzinfo=ZONE)) == 4
    found = op(client, "Appointment/$find", start="2027-03-03", schedule=f"Schedule/{schedule}")
    assert found["total"] == 8
    assert events(client, "scheduling.reserve.returned")[-1]["numbers"] == 4


def test_exam_booking_on_the_same_engine(client: TestClient, doctors: list[Clinician],
                                         clock: Clock) -> None:
    device = client.post("/fhir/Device", json={
        "resourceType": "Device", "status": "active",
        "deviceName": [{"name": "64排CT", "type": "user-friendly-name"}]}).json()["id"]
    schedule = op(client, f"Device/{device}/$bookable",
                  department=f"HealthcareService/{doctors[0].service_id}", modality="CT")
    assert schedule["actor"][0]["reference"] == f"Device/{device}"
    answer = op(client, f"Schedule/{schedule['id']}/$session", date="2027-03-03",
                slotMinutes=15, perSlot=1)
    slots = [p["valueReference"]["reference"] for p in answer["parameter"]]
    assert len(slots) == 16
    patient = f"Patient/{new_patient(client)}"
    exam = appointment(op(client, "Appointment/$book", patient=patient, slot=slots[0]))
    assert {"reference": f"Device/{device}"} in [p["actor"] for p in exam["participant"]]
    again = op(client, "Appointment/$book", 422, patient=patient, slot=slots[1])
    assert "CT exam" in diagnostics(again)
    bad = op(client, f"Device/{device}/$bookable", 422,
             department=f"HealthcareService/{doctors[0].service_id}", modality="XYZ")
    assert bad["issue"][0]["expression"] == ["modality"]
