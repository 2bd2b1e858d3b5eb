"""The sold-out hint: full clinics are refused before a transaction opens, and only while full."""

from __future__ import annotations

import time
from typing import NoReturn

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.scheduling.conftest import Clock, appointment, clinic, diagnostics, new_patient, op

from gansu_health.demo.registry import Clinician
from gansu_health.identity.audit.models import audit_event
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


def test_a_full_clinic_is_refused_from_memory_until_a_number_returns(
        client: TestClient, doctors: list[Clinician], clock: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    schedule, _ = clinic(client, doctors, perSlot=1, quota_online=1, quota_window=7)
    where = {"schedule": f"Schedule/{schedule}", "date": "2027-03-03", "period": "morning"}
    first = new_patient(client)
    held = appointment(op(client, "Appointment/$hold", patient=f"Patient/{first}", **where))
    turned_away = new_patient(client)
    refused = op(client, "Appointment/$book", 409, patient=f"Patient/{turned_away}", **where)
    patient = new_patient(client)
    sched = scheduler_of(client.app.state.fhir)  # type: ignore[attr-defined]

    def unexpected(*_args: object, **_kwargs: object) -> NoReturn:
        raise AssertionError("the hint should have answered")

    api = client.app.state.fhir  # type: ignore[attr-defined]
    monkeypatch.setattr(sched, "take", unexpected)
    monkeypatch.setattr(api, "handle", unexpected)  # answered on the event loop, no thread
    again = op(client, "Appointment/$book", 409, patient=f"Patient/{patient}", **where)
    monkeypatch.undo()
    assert diagnostics(again) == diagnostics(refused) and "No online number" in diagnostics(again)
    api.guard.flush()
    with api.engine.connect() as conn:  # audited like any other refusal
        last = conn.execute(select(audit_event.c.query, audit_event.c.outcome)
                            .order_by(audit_event.c.id.desc()).limit(1)).one()
        refusals = {r.patient_id for r in conn.execute(select(audit_event.c.patient_id).where(
            audit_event.c.query == "$book", audit_event.c.outcome == 4))}
    assert tuple(last) == ("$book", 4)
    assert {turned_away, patient} <= refusals  # each attempt is in that person's access log
    # confirming the hold is not a new claim: the hint does not stand in its way
    booked = appointment(op(client, f"Appointment/{held['id']}/$book",
                            patient=f"Patient/{first}"))
    assert booked["status"] == "booked"
    op(client, f"Appointment/{held['id']}/$cancel", patient=f"Patient/{first}")
    assert sched.hints.refusal("online", (schedule, "2027-03-03", "morning")) is None
    taken = appointment(op(client, "Appointment/$book", patient=f"Patient/{patient}", **where))
    assert taken["status"] == "booked"
