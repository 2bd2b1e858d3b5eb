"""End to end: issue → book → dynamic QR → terminal verify → check-in → appointment arrived."""

from __future__ import annotations

from datetime import datetime

from tests.card.conftest import World, reason, value
from tests.scheduling.conftest import ZONE, Clock, clinic

from gansu_health.demo.registry import Clinician


def _book(world: World, who: str, patient: str, slot: str) -> str:
    answer = world.call(who, "Appointment/$book", patient=f"Patient/{patient}", slot=slot)
    return str(answer["entry"][0]["resource"]["id"])


def test_issue_book_show_verify_check_in(world: World, doctors: list[Clinician],
                                         clock: Clock) -> None:
    world.client.post(f"/fhir/Patient/{world.mother_b}/$card-issue",
                      headers=world.headers("mother"))
    _, slots = clinic(world.client, doctors, perSlot=1)
    booked = _book(world, "operator", world.mother_b, slots[2])  # her home record
    clock.set(datetime(2027, 3, 3, 8, 5, tzinfo=ZONE))
    shown = world.code(world.mother_b)
    seen = world.call("registrar", "Patient/$card-verify", code=shown, step="registration")
    assert value(seen, "patient") == f"Patient/{world.mother_a}"
    # the code was used by the verification: checking in with it again is a replay
    why, _ = reason(world.call("registrar", "Appointment/$card-check-in", 409, code=shown))
    assert why == "replayed"
    assert world.client.get(f"/fhir/Appointment/{booked}").json()["status"] == "booked"
    world.call("pharmacist", "Appointment/$card-check-in", 403,
               code=world.code(world.mother_b))
    checked = world.call("registrar", "Appointment/$card-check-in",
                         code=world.code(world.mother_b))
    appointment = checked["entry"][0]["resource"]
    assert appointment["id"] == booked and appointment["status"] == "arrived"
    assert world.client.get(f"/fhir/Appointment/{booked}").json()["status"] == "arrived"
    log = world.call("mother", f"Patient/{world.mother_b}/$card-usage", _count=5)
    uses = [{p["name"]: p for p in u["part"]} for u in log["parameter"] if u["name"] == "use"]
    assert uses[0]["step"]["valueCoding"]["code"] == "check-in"
    assert uses[0]["appointment"]["valueReference"]["reference"] == f"Appointment/{booked}"
    assert uses[0]["outcome"]["valueCode"] == "accepted"


def test_check_in_refusals_leave_the_code_usable(world: World, doctors: list[Clinician],
                                                 clock: Clock) -> None:
    for patient in (world.stranger, world.child):
        world.client.post(f"/fhir/Patient/{patient}/$card-issue",
                          headers=world.headers("operator"))
    _, slots = clinic(world.client, doctors, perSlot=1)
    child_booking = _book(world, "operator", world.child, slots[4])
    clock.set(datetime(2027, 3, 3, 7, 0, tzinfo=ZONE))
    stranger_code = world.code(world.stranger, who="stranger")
    refused = world.call("nurse", "Appointment/$card-check-in", 404, code=stranger_code)
    assert "no booking at Organization/gs-620100-h01 on 2027-03-03" in (
        refused["issue"][0]["diagnostics"])
    refused = world.call("nurse", "Appointment/$card-check-in", 400, code=stranger_code,
                         appointment=f"Appointment/{child_booking}")
    assert "not a booking of the card holder" in refused["issue"][0]["diagnostics"]
    early = world.call("nurse", "Appointment/$card-check-in", 422,
                       code=world.code(world.child))
    assert "Check-in opens at 2027-03-03 07:30" in early["issue"][0]["diagnostics"]
    # another hospital's terminal cannot check in a booking here
    other = world.call("registrar-b", "Appointment/$card-check-in", 400,
                       code=world.code(world.child), appointment=f"Appointment/{child_booking}")
    assert "not at this terminal's" in other["issue"][0]["diagnostics"]
    # nothing was consumed by the refused check-ins: the stranger's code still verifies once
    world.call("nurse", "Patient/$card-verify", code=stranger_code)
    clock.set(datetime(2027, 3, 3, 9, 0, tzinfo=ZONE))
    arrived = world.call("nurse", "Appointment/$card-check-in", code=world.code(world.child),
                         appointment=f"Appointment/{child_booking}")
    assert arrived["entry"][0]["resource"]["status"] == "arrived"
