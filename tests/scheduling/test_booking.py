"""$find, $hold, $book, $cancel, $reschedule and the booking rules, on both databases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
    session,
)

from gansu_health.demo.registry import Clinician
from gansu_health.scheduling.resources import EXT_CHANNEL, EXT_HOLD_EXPIRES, EXT_NUMBER


def _ext(resource: dict[str, Any], url: str) -> Any:
    return next(next(v for k, v in e.items() if k.startswith("value"))
                for e in resource["extension"] if e["url"] == url)


def test_find_then_book_a_proposed_appointment(client: TestClient, doctors: list[Clinician],
                                               clock: Clock) -> None:
    schedule, slots = clinic(client, doctors, perSlot=2)
    found = op(client, "Appointment/$find", start="2027-03-03", end="2027-03-03",
               schedule=f"Schedule/{schedule}")
    assert found["total"] == 8
    proposal = found["entry"][0]["resource"]
    assert proposal["status"] == "proposed" and proposal["slot"] == [{"reference": slots[0]}]
    assert proposal["start"] == "2027-03-03T08:00:00+08:00"
    patient = new_patient(client)
    proposal["participant"].insert(0, {"actor": {"reference": f"Patient/{patient}"},
                                       "status": "needs-action"})
    booked = appointment(op(client, "Appointment/$book", appointment=proposal))
    assert booked["status"] == "booked" and booked["slot"] == [{"reference": slots[0]}]
    assert _ext(booked, EXT_NUMBER) == 1 and _ext(booked, EXT_CHANNEL) == "online"
    assert booked["participant"][0]["actor"]["reference"] == f"Patient/{patient}"
    assert client.get(f"/fhir/Appointment/{booked['id']}").json()["status"] == "booked"
    client.app.state.fhir.service.validate(booked, "Appointment")  # type: ignore[attr-defined]
    after = op(client, "Appointment/$find", start="2027-03-03", schedule=f"Schedule/{schedule}")
    remaining = {e["resource"]["slot"][0]["reference"]: e["resource"]["extension"][-1]
                 ["valueInteger"] for e in after["entry"]}
    assert remaining[slots[0]] == 1 and remaining[slots[1]] == 2
    assert events(client, "scheduling.appointment.booked")[-1]["appointment"] == \
        f"Appointment/{booked['id']}"


def test_slot_turns_busy_when_full_and_free_again_on_cancel(
        client: TestClient, doctors: list[Clinician], clock: Clock) -> None:
    _, slots = clinic(client, doctors, perSlot=1)
    first = appointment(op(client, "Appointment/$book", patient=f"Patient/{new_patient(client)}",
                           slot=slots[0]))
    assert client.get(f"/fhir/{slots[0]}").json()["status"] == "busy"
    full = op(client, "Appointment/$book", 409, patient=f"Patient/{new_patient(client)}",
              slot=slots[0])
    assert "No online number" in diagnostics(full) and full["issue"][0]["expression"] == ["slot"]
    cancelled = appointment(op(client, f"Appointment/{first['id']}/$cancel",
                               patient=first["participant"][0]["actor"]["reference"]))
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelationReason"]["coding"][0]["code"] == "patient"
    assert client.get(f"/fhir/{slots[0]}").json()["status"] == "free"
    event = events(client, "scheduling.appointment.cancelled")[-1]
    assert event["reason"] == "patient" and event["refund"] is True
    again = appointment(op(client, "Appointment/$book", patient=f"Patient/{new_patient(client)}",
                           slot=slots[0]))
    assert _ext(again, EXT_NUMBER) == 1  # the same number went back to the pool


def test_book_by_schedule_takes_numbers_in_order(client: TestClient, doctors: list[Clinician],
                                                 clock: Clock) -> None:
    schedule, slots = clinic(client, doctors, perSlot=2)
    numbers = []
    for _ in range(3):
        booked = appointment(op(client, "Appointment/$book",
                                patient=f"Patient/{new_patient(client)}",
                                schedule=f"Schedule/{schedule}", date="2027-03-03",
                                period="morning"))
        numbers.append((_ext(booked, EXT_NUMBER), booked["slot"][0]["reference"]))
    assert numbers == [(1, slots[0]), (2, slots[0]), (3, slots[1])]
    clock.set(datetime(2027, 3, 3, 9, 10, tzinfo=ZONE))  # slots before 09:30 are over
    late = appointment(op(client, "Appointment/$book", patient=f"Patient/{new_patient(client)}",
                          schedule=f"Schedule/{schedule}", date="2027-03-03"))
    assert late["slot"][0]["reference"] == slots[2]


def test_hold_then_confirm_and_expiry(client: TestClient, doctors: list[Clinician],
                                      clock: Clock) -> None:
    _, slots = clinic(client, doctors, perSlot=1)
    patient = f"Patient/{new_patient(client)}"
    held = appointment(op(client, "Appointment/$hold", patient=patient, slot=slots[0]))
    assert held["status"] == "pending"
    assert _ext(held, EXT_HOLD_EXPIRES).startswith("2027-03-01T02:15")  # 15 min, in UTC
    assert client.get(f"/fhir/{slots[0]}").json()["status"] == "busy"
    other = f"Patient/{new_patient(client)}"
    op(client, "Appointment/$hold", 409, patient=other, slot=slots[0])
    confirmed = appointment(op(client, f"Appointment/{held['id']}/$book", patient=patient))
    assert confirmed["status"] == "booked" and confirmed["id"] == held["id"]
    assert EXT_HOLD_EXPIRES not in [e["url"] for e in confirmed["extension"]]
    # a second hold expires: the number is taken again once the hold time has passed
    late = appointment(op(client, "Appointment/$hold", patient=other, slot=slots[1]))
    clock.advance(minutes=16)
    expired = op(client, f"Appointment/{late['id']}/$book", 409, patient=other)
    assert "expired" in diagnostics(expired)
    third = appointment(op(client, "Appointment/$book", patient=f"Patient/{new_patient(client)}",
                           slot=slots[1]))
    assert third["status"] == "booked"
    assert client.get(f"/fhir/Appointment/{late['id']}").json()["status"] == "cancelled"
    assert events(client, "scheduling.appointment.cancelled")[-1]["reason"] == "hold-expired"


def test_per_person_limits(client: TestClient, doctors: list[Clinician], clock: Clock) -> None:
    by_department = {d.service_id: d for d in reversed(doctors)}
    first, second, third = list(by_department.values())[:3]
    _, slots = session(client, first, perSlot=2)
    patient = f"Patient/{new_patient(client)}"
    op(client, "Appointment/$book", patient=patient, slot=slots[0])
    twice = op(client, "Appointment/$book", 422, patient=patient, slot=slots[1])
    assert twice["issue"][0]["expression"] == ["patient"]
    assert "limit 1 per person per day" in diagnostics(twice)
    _, other = session(client, second, period="afternoon")
    op(client, "Appointment/$book", patient=patient, slot=other[0])  # other department: fine
    _, night = session(client, third, period="night")
    daily = op(client, "Appointment/$book", 422, patient=patient, slot=night[0])
    assert "2 booking(s) on 2027-03-03" in diagnostics(daily)
    op(client, "Appointment/$book", patient=f"Patient/{new_patient(client)}", slot=night[0])


def test_release_time_and_channels(client: TestClient, doctors: list[Clinician],
                                   clock: Clock) -> None:
    # numbers of 2027-03-10 are released on 2027-03-03 at 15:00; referral numbers 14 days earlier
    schedule, slots = clinic(client, doctors, day="2027-03-10", perSlot=2, quota_online=8,
                             quota_referral=8)
    patient = f"Patient/{new_patient(client)}"
    early = op(client, "Appointment/$book", 422, patient=patient,
               schedule=f"Schedule/{schedule}", date="2027-03-10")
    assert "released at 2027-03-03 15:00" in diagnostics(early)
    assert op(client, "Appointment/$find", start="2027-03-10",
              schedule=f"Schedule/{schedule}")["total"] == 0
    referral = appointment(op(client, "Appointment/$book", patient=patient,
                              schedule=f"Schedule/{schedule}", date="2027-03-10",
                              channel="referral"))
    assert _ext(referral, EXT_CHANNEL) == "referral"
    clock.set(datetime(2027, 3, 3, 15, 0, tzinfo=ZONE))
    assert op(client, "Appointment/$find", start="2027-03-10",
              schedule=f"Schedule/{schedule}")["total"] == 8
    wrong = op(client, "Appointment/$book", 422, patient=patient, slot=slots[0], channel="vip")
    assert wrong["issue"][0]["expression"] == ["channel"]


def test_cancel_cutoff_and_reschedule(client: TestClient, doctors: list[Clinician],
                                      clock: Clock) -> None:
    _, slots = clinic(client, doctors, perSlot=1)
    patient = f"Patient/{new_patient(client)}"
    booked = appointment(op(client, "Appointment/$book", patient=patient, slot=slots[0]))
    moved = appointment(op(client, f"Appointment/{booked['id']}/$reschedule", patient=patient,
                           slot=slots[3]))
    assert moved["status"] == "booked" and moved["slot"] == [{"reference": slots[3]}]
    old = client.get(f"/fhir/Appointment/{booked['id']}").json()
    assert old["status"] == "cancelled"
    assert old["cancelationReason"]["coding"][0]["code"] == "rescheduled"
    assert client.get(f"/fhir/{slots[0]}").json()["status"] == "free"
    # a failed reschedule changes nothing
    taker = f"Patient/{new_patient(client)}"
    op(client, "Appointment/$book", patient=taker, slot=slots[5])
    op(client, f"Appointment/{moved['id']}/$reschedule", 409, patient=patient, slot=slots[5])
    assert client.get(f"/fhir/Appointment/{moved['id']}").json()["status"] == "booked"
    stranger = op(client, f"Appointment/{moved['id']}/$cancel", 422, patient=taker)
    assert stranger["issue"][0]["expression"] == ["patient"]
    clock.set(datetime(2027, 3, 2, 16, 0, tzinfo=ZONE))  # the cutoff: 16:00 the day before
    late = op(client, f"Appointment/{moved['id']}/$cancel", 422, patient=patient)
    assert "until 2027-03-02 16:00" in diagnostics(late)
    clock.set(datetime(2027, 3, 2, 15, 59, tzinfo=ZONE))
    op(client, f"Appointment/{moved['id']}/$cancel", patient=patient)
    again = op(client, f"Appointment/{moved['id']}/$cancel", 409, patient=patient)
    assert "cancelled" in diagnostics(again)


def test_unknown_and_suspended_patients_are_refused(client: TestClient,
                                                    doctors: list[Clinician],
                                                    clock: Clock) -> None:
    _, slots = clinic(client, doctors)
    ghost = op(client, "Appointment/$book", 422, patient="Patient/nobody", slot=slots[0])
    assert "Patient/nobody is not known" in diagnostics(ghost)
    missing = op(client, "Appointment/$book", 400, slot=slots[0])
    assert missing["issue"][0]["expression"] == ["patient"]
