"""The issue's "Done when", through the API alone: a resident finds a doctor, holds, pays in the
sandbox, books, cancels within the cutoff and is refunded; a stopped clinic notifies and refunds
everyone, offering other clinics."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.payment.conftest import (
    Clock,
    Resident,
    api_of,
    appointment,
    clinic,
    dispatch,
    op,
    value,
)

from gansu_health.core.settings import Settings
from gansu_health.demo.registry import Clinician
from gansu_health.notifications.channels import SinkNotifier
from gansu_health.notifications.setup import notifications_of


def _texts(client: TestClient, me: Resident) -> str:
    found = client.get(f"/fhir/Communication?recipient={me.ref}", headers=me.headers).json()
    return " ".join(e["resource"]["payload"][0]["contentString"] for e in found.get("entry", []))


def test_find_hold_pay_book_cancel_refund(client: TestClient, settings: Settings,
                                          doctors: list[Clinician], clock: Clock) -> None:
    schedule, _ = clinic(client, doctors, perSlot=1)
    me = Resident(client, settings)
    found = client.post("/fhir/Appointment/$find", headers=me.headers, json={
        "resourceType": "Parameters", "parameter": [
            {"name": "start", "valueString": "2027-03-03"},
            {"name": "schedule", "valueString": f"Schedule/{schedule}"}]}).json()
    proposal = found["entry"][0]["resource"]
    slot = proposal["slot"][0]["reference"]
    hold = appointment(me.call(client, "Appointment/$hold", patient=me.ref, slot=slot))
    assert hold["status"] == "pending"
    paid = me.pay(client, hold["id"], "e2e-pay")
    fee = value(paid, "amount")["value"]
    booked = appointment(me.call(client, f"Appointment/{hold['id']}/$book", patient=me.ref))
    assert booked["status"] == "booked"
    cancelled = appointment(me.call(client, f"Appointment/{hold['id']}/$cancel",
                                    patient=me.ref))
    assert cancelled["status"] == "cancelled"
    dispatch(client)
    invoice = client.get(f"/fhir/Invoice?subject={me.ref}", headers=me.headers).json()
    assert invoice["entry"][0]["resource"]["status"] == "cancelled"
    texts = _texts(client, me)
    assert "预约成功" in texts and "预约已取消" in texts and "退款成功" in texts
    assert f"¥{fee:.2f}" in texts


def test_stopped_clinic_notifies_and_refunds_everyone(
        client: TestClient, settings: Settings, doctors: list[Clinician], clock: Clock) -> None:
    schedule, slots = clinic(client, doctors, perSlot=1)
    clinic(client, doctors, day="2027-03-04")  # another clinic to offer (same hospital)
    residents = []
    for i, slot in enumerate(slots[:3]):
        me = Resident(client, settings)
        hold = appointment(me.call(client, "Appointment/$hold", patient=me.ref, slot=slot))
        me.pay(client, hold["id"], f"stop-{i}")
        me.call(client, f"Appointment/{hold['id']}/$book", patient=me.ref)
        residents.append(me)
    op(client, f"Schedule/{schedule}/$stop-clinic", date="2027-03-03", period="morning",
       reason="专家外出会诊")
    dispatch(client)
    sink = notifications_of(api_of(client)).channels["sink"]
    assert isinstance(sink, SinkNotifier)
    for me in residents:
        texts = _texts(client, me)
        assert "停诊通知" in texts and "专家外出会诊" in texts and "将原路退回" in texts
        assert "退款成功" in texts
        assert {"clinic-stopped", "refund-receipt"} <= {m.kind for m in sink.recent(me.patient)}
        invoice = client.get(f"/fhir/Invoice?subject={me.ref}", headers=me.headers).json()
        assert invoice["entry"][0]["resource"]["status"] == "cancelled"
