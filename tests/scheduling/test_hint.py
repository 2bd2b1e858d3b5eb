"""The sold-out hint: full clinics are refused before a transaction opens, and only while full."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient
from sqlalchemy import event
from tests.scheduling.conftest import Clock, appointment, clinic, diagnostics, new_patient, op

from gansu_health.demo.registry import Clinician
from gansu_health.scheduling.hint import SoldOut
from gansu_health.scheduling.operations import scheduler_of


def test_a_hint_lives_for_its_ttl_and_is_forgotten_when_numbers_return() -> None:
    hints = SoldOut(ttl_s=0.05)
    hints.name_session(("s1", "2027-03-03", "morning"), 7)
    hints.name_slot("slot-a", 7, 70)
    assert hints.refusal("online", ("s1", "2027-03-03", "morning")) is None
    hints.mark(7, "online", None, "No online number of this clinic is left")
    hints.mark(7, "online", 70, "No online number of this slot is left")
    refusal = hints.refusal("online", ("s1", "2027-03-03", "morning"))
    assert refusal is not None and refusal.status == 409 and "clinic" in refusal.message
    slot_refusal = hints.refusal("online", slot="slot-a")
    assert slot_refusal is not None and "slot" in slot_refusal.message
    assert hints.refusal("window", ("s1", "2027-03-03", "morning")) is None
    hints.forget(7)
    assert hints.refusal("online", ("s1", "2027-03-03", "morning")) is None
    hints.mark(7, "online", None, "full")
    time.sleep(0.06)
    assert hints.refusal("online", ("s1", "2027-03-03", "morning")) is None


@contextmanager
def _statements(client: TestClient) -> Iterator[list[str]]:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_full_clinic_is_refused_from_memory_until_a_number_returns(
        client: TestClient, doctors: list[Clinician], clock: Clock) -> None:
    schedule, _ = clinic(client, doctors, perSlot=1, quota_online=1, quota_window=7)
    where = {"schedule": f"Schedule/{schedule}", "date": "2027-03-03", "period": "morning"}
    first = new_patient(client)
    held = appointment(op(client, "Appointment/$hold", patient=f"Patient/{first}", **where))
    refused = op(client, "Appointment/$book", 409, patient=f"Patient/{new_patient(client)}",
                 **where)
    patient = new_patient(client)
    with _statements(client) as seen:
        again = op(client, "Appointment/$book", 409, patient=f"Patient/{patient}", **where)
    assert diagnostics(again) == diagnostics(refused) and "No online number" in diagnostics(again)
    assert not [s for s in seen if "sched_" in s]  # answered by the hint
    # confirming the hold is not a new claim: the hint does not stand in its way
    booked = appointment(op(client, f"Appointment/{held['id']}/$book",
                            patient=f"Patient/{first}"))
    assert booked["status"] == "booked"
    op(client, f"Appointment/{held['id']}/$cancel", patient=f"Patient/{first}")
    assert scheduler_of(client.app.state.fhir).hints.refusal(  # type: ignore[attr-defined]
        "online", (schedule, "2027-03-03", "morning")) is None
    taken = appointment(op(client, "Appointment/$book", patient=f"Patient/{patient}", **where))
    assert taken["status"] == "booked"
