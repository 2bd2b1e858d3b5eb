"""Paying a hold in the sandbox: the gate, idempotency, declined / processing / error paths,
signed callbacks (forged, stale, replayed), clinic orders paid from the phone."""

from __future__ import annotations

from datetime import datetime

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.payment.conftest import (
    ZONE,
    Clock,
    Resident,
    api_of,
    appointment,
    clinic,
    diagnostics,
    sandbox,
    value,
)

from gansu_health.core.clock import to_micros
from gansu_health.core.database import write_transaction
from gansu_health.core.settings import Settings
from gansu_health.demo.registry import Clinician
from gansu_health.payment.gateway import sign
from gansu_health.payment.models import pay_sandbox_txn
from gansu_health.scheduling.operations import scheduler_of


def _charges(client: TestClient) -> int:
    with api_of(client).engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(pay_sandbox_txn).where(
            pay_sandbox_txn.c.kind == "charge", pay_sandbox_txn.c.status == "succeeded"))
            .scalar_one())


def test_hold_pay_book_is_idempotent(client: TestClient, settings: Settings,
                                     doctors: list[Clinician], clock: Clock) -> None:
    _, slots = clinic(client, doctors, perSlot=2)
    me = Resident(client, settings)
    refused = me.call(client, "Appointment/$book", 402, patient=me.ref, slot=slots[0])
    assert "paid before booking" in diagnostics(refused)
    hold = appointment(me.call(client, "Appointment/$hold", patient=me.ref, slot=slots[0]))
    unpaid = me.call(client, f"Appointment/{hold['id']}/$book", 402, patient=me.ref)
    assert "registration fee" in diagnostics(unpaid)
    missing = me.call(client, "Invoice/$pay", 422, patient=me.ref,
                      appointment=f"Appointment/{hold['id']}")
    assert "Idempotency-Key" in diagnostics(missing)
    before = _charges(client)
    first = me.pay(client, hold["id"], "key-1")
    assert value(first, "outcome") == "succeeded" and value(first, "replayed") is False
    again = me.pay(client, hold["id"], "key-1")
    assert value(again, "payment") == value(first, "payment") and value(again, "replayed")
    other_key = me.pay(client, hold["id"], "key-2")  # a second key finds the bill paid
    assert value(other_key, "payment") == value(first, "payment")
    assert _charges(client) == before + 1
    notice = value(first, "paymentNotice")
    assert notice["status"] == "active" and notice["paymentStatus"]["coding"][0]["code"] == "paid"
    assert value(first, "invoice")["status"] == "balanced"
    invoice_id = value(first, "invoice")["id"]
    line = value(first, "invoice")["lineItem"][0]
    charge = client.get(f"/fhir/{line['chargeItemReference']['reference']}").json()
    assert charge["supportingInformation"] == [{"reference": f"Appointment/{hold['id']}"}]
    booked = appointment(me.call(client, f"Appointment/{hold['id']}/$book", patient=me.ref))
    assert booked["status"] == "booked"
    tamper = client.put(f"/fhir/Invoice/{invoice_id}", json={
        **value(first, "invoice"), "status": "cancelled"})
    assert tamper.status_code == 422 and "owned by payments" in tamper.text


def test_declined_error_and_processing_then_callback(
        client: TestClient, settings: Settings, doctors: list[Clinician], clock: Clock) -> None:
    _, slots = clinic(client, doctors, perSlot=2)
    me = Resident(client, settings)
    hold = appointment(me.call(client, "Appointment/$hold", patient=me.ref, slot=slots[0]))
    declined = me.pay(client, hold["id"], "d-1", 402, card="6222000000000002")
    assert value(declined, "outcome") == "declined"
    assert value(declined, "paymentNotice")["status"] == "cancelled"
    assert value(me.pay(client, hold["id"], "d-1", 402), "replayed") is True
    failed = me.pay(client, hold["id"], "e-1", 502, headers={"X-Sandbox-Outcome": "error"})
    assert "unavailable" in value(failed, "message")
    pending = me.pay(client, hold["id"], "p-1", 202, card="6222 0000 0000 0003")
    assert value(pending, "outcome") == "processing"
    order = value(pending, "payment")
    busy = me.call(client, f"Appointment/{hold['id']}/$book", 409, patient=me.ref)
    assert "still processing" in diagnostics(busy)
    assert "still processing" in diagnostics(me.pay(client, hold["id"], "p-2", 409))
    with write_transaction(api_of(client).engine) as conn:
        body, headers = sandbox(client).settle(conn, order, "approve")
    forged = body.replace(b'"succeeded"', b'"declined"')
    resp = client.post("/payment/callback/sandbox", content=forged, headers=headers)
    assert resp.status_code == 401 and "signature" in resp.text
    wrong_key = sign(b"not-the-secret", body, int(clock.moment.timestamp()), "n-1")
    assert client.post("/payment/callback/sandbox", content=body,
                       headers=wrong_key).status_code == 401
    stale = sign(settings.payment_callback_secret.encode(), body,
                 int(clock.moment.timestamp()) - 3600, "n-2")
    resp = client.post("/payment/callback/sandbox", content=body, headers=stale)
    assert resp.status_code == 401 and "timestamp" in resp.text
    resp = client.post("/payment/callback/sandbox", content=body, headers=headers)
    assert resp.status_code == 200 and resp.json() == {"code": "SUCCESS"}
    replay = client.post("/payment/callback/sandbox", content=body, headers=headers)
    assert replay.status_code == 409 and "replay" in replay.text
    done = me.pay(client, hold["id"], "p-1")
    assert value(done, "outcome") == "succeeded" and value(done, "payment") == order
    assert appointment(me.call(client, f"Appointment/{hold['id']}/$book",
                               patient=me.ref))["status"] == "booked"


def test_late_callback_after_the_hold_expired_is_refunded(
        client: TestClient, settings: Settings, doctors: list[Clinician], clock: Clock) -> None:
    _, slots = clinic(client, doctors, perSlot=2)
    me = Resident(client, settings)
    hold = appointment(me.call(client, "Appointment/$hold", patient=me.ref, slot=slots[1]))
    order = value(me.pay(client, hold["id"], "late", 202,
                         headers={"X-Sandbox-Outcome": "processing"}), "payment")
    clock.advance(minutes=20)  # the 15-minute hold expires and the job gives it back
    with write_transaction(api_of(client).engine) as conn:
        assert scheduler_of(api_of(client)).expire_holds(conn, to_micros(clock.moment)) == 1
        body, headers = sandbox(client).settle(conn, order)
    assert client.post("/payment/callback/sandbox", content=body,
                       headers=headers).status_code == 200
    notice = client.get(f"/fhir/PaymentNotice/rf-{order.removeprefix('pay-')}").json()
    assert notice["amount"]["value"] < 0 and notice["status"] == "active"


def test_clinic_orders_paid_from_the_phone(client: TestClient, settings: Settings,
                                           doctors: list[Clinician], clock: Clock) -> None:
    me = Resident(client, settings)
    orders = [client.post("/fhir/ChargeItem", json={
        "resourceType": "ChargeItem", "status": "billable", "code": {"text": text},
        "subject": {"reference": me.ref}, "quantity": {"value": qty},
        "priceOverride": {"value": price, "currency": "CNY"},
        "performingOrganization": {"reference": "Organization/gs-620100-h01"}}).json()["id"]
        for text, qty, price in (("血常规", 1, 25.5), ("阿莫西林胶囊", 2, 12.3))]
    refs = [f"ChargeItem/{o}" for o in orders]
    paid = me.call(client, "Invoice/$pay", headers={"Idempotency-Key": "orders-1"},
                   patient=me.ref, chargeItem=refs)
    assert value(paid, "outcome") == "succeeded"
    assert value(paid, "amount") == {"value": 50.1, "currency": "CNY"}
    assert {client.get(f"/fhir/{r}").json()["status"] for r in refs} == {"billed"}
    again = me.call(client, "Invoice/$pay", headers={"Idempotency-Key": "orders-2"},
                    patient=me.ref, chargeItem=refs)
    assert value(again, "payment") == value(paid, "payment")
    stranger = Resident(client, settings)
    denied = stranger.call(client, "Invoice/$pay", 403, headers={"Idempotency-Key": "x"},
                           patient=me.ref, chargeItem=refs)
    assert "may not" in diagnostics(denied)
    item = client.get(f"/fhir/{refs[0]}").json()
    assert client.put(f"/fhir/{refs[0]}", json={**item, "priceOverride": {
        "value": 1, "currency": "CNY"}}).status_code == 422
    assert orjson.loads(orjson.dumps(value(paid, "invoice")))["totalGross"]["value"] == 50.1


def test_cancel_after_the_cutoff_keeps_the_fee(client: TestClient, settings: Settings,
                                               doctors: list[Clinician], clock: Clock) -> None:
    _, slots = clinic(client, doctors, perSlot=2)
    me = Resident(client, settings)
    hold = appointment(me.call(client, "Appointment/$hold", patient=me.ref, slot=slots[2]))
    me.pay(client, hold["id"], "cutoff")
    me.call(client, f"Appointment/{hold['id']}/$book", patient=me.ref)
    clock.set(datetime(2027, 3, 2, 16, 30, tzinfo=ZONE))
    late = me.call(client, f"Appointment/{hold['id']}/$cancel", 422, patient=me.ref)
    assert "deadline has passed" in diagnostics(late)
