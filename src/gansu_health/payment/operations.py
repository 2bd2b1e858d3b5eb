"""FHIR operations of payments.

``Invoice/$pay`` (with ``patient``, and ``appointment`` for a registration fee or one or more
``chargeItem`` for clinic orders) and ``Invoice/<id>/$pay`` pay a bill through the gateway. The
``Idempotency-Key`` header (or ``idempotencyKey`` parameter) is required: the same key answers
the same payment. Sandbox hints: ``card`` and the ``X-Sandbox-Outcome`` header (or
``sandboxOutcome``). The answer is Parameters with ``outcome`` (succeeded | processing |
declined | error), ``payment``, ``replayed``, ``message``, the Invoice and the PaymentNotice —
HTTP 200, 202 (processing), 402 (declined) or 502 (gateway error); the attempt is kept either way.
``$payment-reconciliation`` (system level, ``date``) compares a day of our settled payments and
refunds with the gateway's statement.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from weakref import WeakKeyDictionary

from gansu_health.core.errors import BadRequest
from gansu_health.fhir.operations import OperationCall, OperationRegistry, OperationResult
from gansu_health.fhir.rest.dispatch import current_request
from gansu_health.mpi import parameters as p
from gansu_health.payment import billing, reconcile
from gansu_health.payment.service import Payments
from gansu_health.scheduling import find

_PAYMENTS: WeakKeyDictionary[Any, Payments] = WeakKeyDictionary()
HTTP = {"succeeded": 200, "processing": 202, "declined": 402, "error": 502}


def attach(api: Any, payments: Payments) -> None:
    """Remember the payments service of a FHIR endpoint."""
    _PAYMENTS[api] = payments


def payments_of(api: Any) -> Payments:
    """Return the payments service attached to a FHIR endpoint."""
    return _PAYMENTS[api]


def _caller() -> tuple[str, dict[str, str]]:
    req = current_request.get()
    who = getattr(req, "principal", None)
    scope = f"{getattr(who, 'kind', 'anonymous')}:{getattr(who, 'subject', '')}"
    return scope, dict(req.headers) if req is not None else {}


def pay_op(call: OperationCall) -> OperationResult:
    """Invoice/[<id>/]$pay: pay a registration fee or clinic orders."""
    pay = payments_of(call.services)
    found = p.inputs(call)
    patient = p.patient_id(found, "patient")
    scope, headers = _caller()
    key = headers.get("idempotency-key") or p.text(found, "idempotencyKey") or ""
    if call.fid is not None:
        invoice_id = call.fid
    elif found.get("appointment"):
        invoice_id = billing.registration_invoice(
            pay, call.conn, p.reference_id(found, "appointment", "Appointment"), patient).id
    elif found.get("chargeItem"):
        items = [str(v.get("reference") if isinstance(v, dict) else v).removeprefix(
            "ChargeItem/") for v in found["chargeItem"]]
        invoice_id = billing.clinic_invoice(pay, call.conn, patient, items).id
    else:
        raise BadRequest("Name an 'appointment' (registration fee) or 'chargeItem's (clinic "
                         "orders), or call $pay on an Invoice", expression="appointment")
    hints = {"card": p.text(found, "card") or "",
             "outcome": headers.get("x-sandbox-outcome") or p.text(found, "sandboxOutcome") or ""}
    paid = pay.pay(call.conn, invoice_id, patient, scope, key, hints)
    row = paid.payment
    store = pay.store
    return OperationResult(p.parameters(
        p.part("outcome", row.status), p.part("payment", row.id),
        p.part("replayed", paid.replayed), p.part("message", row.message or row.status),
        {"name": "amount", "valueMoney": {"value": row.amount_fen / 100, "currency": "CNY"}},
        p.part("invoice", store.read(call.conn, "Invoice", row.invoice).json()),
        p.part("paymentNotice", store.read(call.conn, "PaymentNotice", row.notice).json())),
        HTTP.get(row.status, 200))


def reconcile_op(call: OperationCall) -> OperationResult:
    """$payment-reconciliation: ours against the gateway's statement for one day."""
    pay = payments_of(call.services)
    found = p.inputs(call)
    day = find.parse_day(p.text(found, "date", required=True), date.min, "date")
    return OperationResult(reconcile.report(pay, call.conn, day).to_parameters())


def register(registry: OperationRegistry) -> None:
    """Register the payment operations."""
    registry.register("pay", pay_op, levels={"type", "instance"}, types={"Invoice"},
                      writes=True, get_allowed=False, access="payment",
                      description="Pay a registration fee or clinic orders (idempotent)")
    registry.register("payment-reconciliation", reconcile_op, levels={"system"},
                      description="Daily reconciliation of payments with the gateway statement")
