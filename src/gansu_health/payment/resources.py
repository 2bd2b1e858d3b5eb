"""The FHIR face of payments, written in the same transaction as the payment tables.

ChargeItem (a registration fee we bill, or a clinic order a hospital sent; ``billed`` once on an
Invoice) → Invoice (``issued``, ``balanced`` when paid, ``cancelled`` with the reason when
refunded) → one PaymentNotice and one PaymentReconciliation (the gateway transaction) per payment
attempt and per refund: ``draft``/``queued`` while processing, ``active``/``complete`` when
settled, ``cancelled``/``error`` when declined or failed. A refund's PaymentNotice carries a
negative amount. Clients cannot write the resources payments own (422).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from gansu_health.core.errors import UnprocessableEntity
from gansu_health.fhir.storage.repository import ResourceStore, Stored, WriteItem
from gansu_health.payment.models import pay_invoice, pay_invoice_item, pay_payment, pay_refund
from gansu_health.scheduling.resources import BASE, instant, money

CS_CHARGE = f"{BASE}/CodeSystem/charge-kind"
CS_PAYMENT_STATUS = "http://terminology.hl7.org/CodeSystem/paymentstatus"
SYS_ORDER = f"{BASE}/sid/payment-order"
SYS_GATEWAY_TXN = f"{BASE}/sid/gateway-transaction"
EXT_REFUND_OF = f"{BASE}/StructureDefinition/refund-of"
_FLAG = "payment.write"
NOTICE_STATUS = {"processing": ("draft", "queued"), "succeeded": ("active", "complete"),
                 "declined": ("cancelled", "error"), "error": ("cancelled", "error"),
                 "pending": ("draft", "queued"), "failed": ("cancelled", "error")}


def ref(rtype: str, fid: str) -> dict[str, str]:
    """A Reference."""
    return {"reference": f"{rtype}/{fid}"}


def registration_charge(fid: str, patient: str, institution: str, appointment: str, fee: int,
                        display: str, at_us: int, zone: ZoneInfo) -> dict[str, Any]:
    """The ChargeItem of a registration fee (挂号费)."""
    return {"resourceType": "ChargeItem", "id": fid, "status": "billed",
            "code": {"coding": [{"system": CS_CHARGE, "code": "registration",
                                 "display": "挂号费"}], "text": f"挂号费 {display}"},
            "subject": ref("Patient", patient),
            "performingOrganization": ref("Organization", institution),
            "quantity": {"value": 1}, "priceOverride": money(fee),
            "enteredDate": instant(at_us, zone),
            "supportingInformation": [ref("Appointment", appointment)]}


def invoice(fid: str, status: str, patient: str, institution: str,
            items: Sequence[tuple[str, int]], at_us: int, zone: ZoneInfo,
            cancelled: str | None = None) -> dict[str, Any]:
    """An Invoice over ChargeItems (id, amount in fen)."""
    body: dict[str, Any] = {
        "resourceType": "Invoice", "id": fid, "status": status,
        "subject": ref("Patient", patient), "recipient": ref("Patient", patient),
        "date": instant(at_us, zone), "issuer": ref("Organization", institution),
        "lineItem": [{"sequence": i + 1, "chargeItemReference": ref("ChargeItem", item),
                      "priceComponent": [{"type": "base", "amount": money(fen)}]}
                     for i, (item, fen) in enumerate(items)],
        "totalNet": money(sum(f for _, f in items)),
        "totalGross": money(sum(f for _, f in items))}
    if cancelled:
        body["cancelledReason"] = cancelled
    return body


def notice(fid: str, status: str, invoice_id: str, institution: str, amount: int, at_us: int,
           zone: ZoneInfo, txn: str | None, refund_of: str | None = None
           ) -> list[dict[str, Any]]:
    """The PaymentNotice and PaymentReconciliation of one payment or refund attempt."""
    notice_status, outcome = NOTICE_STATUS[status]
    when = instant(at_us, zone)
    recon: dict[str, Any] = {
        "resourceType": "PaymentReconciliation", "id": fid, "status": "active",
        "created": when, "outcome": outcome, "disposition": status,
        "paymentDate": when[:10], "paymentAmount": money(amount),
        "request": ref("Invoice", invoice_id)}
    if txn:
        recon["paymentIdentifier"] = {"system": SYS_GATEWAY_TXN, "value": txn}
    body: dict[str, Any] = {
        "resourceType": "PaymentNotice", "id": fid, "status": notice_status,
        "identifier": [{"system": SYS_ORDER, "value": fid}],
        "request": ref("Invoice", invoice_id), "created": when,
        "payment": ref("PaymentReconciliation", fid),
        "recipient": ref("Organization", institution), "amount": money(amount)}
    if status == "succeeded":
        body["paymentDate"] = when[:10]
        body["paymentStatus"] = {"coding": [{"system": CS_PAYMENT_STATUS, "code": "paid"}]}
    if refund_of:
        body["extension"] = [{"url": EXT_REFUND_OF,
                              "valueReference": ref("PaymentNotice", refund_of)}]
    return [recon, body]


def write(conn: Connection, store: ResourceStore, bodies: Sequence[dict[str, Any]]
          ) -> list[Stored]:
    """Store payment resources (the only path allowed to write those payments own)."""
    conn.info[_FLAG] = True
    try:
        return store.write_many(conn, [WriteItem(b, b["id"]) for b in bodies])
    finally:
        conn.info[_FLAG] = False


_OWNERS = {"Invoice": (pay_invoice.c.id,), "ChargeItem": (pay_invoice_item.c.charge_item,),
           "PaymentNotice": (pay_payment.c.id, pay_refund.c.id),
           "PaymentReconciliation": (pay_payment.c.id, pay_refund.c.id)}


def owned(conn: Connection, rtype: str, fid: str | None) -> bool:
    """Whether a resource belongs to payments (billed ChargeItems included)."""
    return bool(fid) and any(conn.execute(select(col).where(col == fid)).first() is not None
                             for col in _OWNERS.get(rtype, ()))


def guard_write(conn: Connection, body: dict[str, Any], _is_new: bool) -> None:
    """Before-write hook: billed ChargeItems, our Invoices and notices change only by payments."""
    rtype = str(body.get("resourceType"))
    if not conn.info.get(_FLAG) and owned(conn, rtype, body.get("id")):
        raise UnprocessableEntity(
            f"{rtype}/{body.get('id')} is owned by payments; use $pay (refunds follow "
            "cancellations)", expression=rtype)


def guard_delete(conn: Connection, stored: list[Stored]) -> None:
    """After-write hook: resources payments own cannot be deleted."""
    for s in stored:
        if s.deleted and not conn.info.get(_FLAG) and owned(conn, s.rtype, s.fid):
            raise UnprocessableEntity(f"{s.rtype}/{s.fid} is owned by payments and cannot be "
                                      "deleted", expression=s.rtype)
