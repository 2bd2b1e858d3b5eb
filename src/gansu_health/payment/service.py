"""Paying invoices through the gateway, idempotently; settling by callback; refunds by policy.

Every method runs in the caller's transaction and never commits. A payment's id (the merchant
order number) is derived from the caller and their Idempotency-Key, so the same key answers the
same payment — a retry never places a second order — and an invoice is locked while it is paid,
so a second key cannot pay it twice. Outcomes are applied by ``settle`` (from the gateway's
synchronous answer, a ``query`` or a signed callback); a charge that succeeds for an invoice that
is already paid, or for an appointment that is no longer held or booked, is refunded at once.

Refund policy (``REFUND_REASONS``): an appointment cancelled within the cutoff by the patient,
by the institution or by 停诊, a hold that expired, or a closed waitlist are refunded in full;
a reschedule moves the payment to the new appointment. Failed refunds are retried with backoff
(``retry_refunds``) and after ``MAX_REFUND_ATTEMPTS`` become ``failed`` (event
``payment.refund.failed`` for the finance desk). Events: ``payment.payment.{succeeded,declined,
error,processing}``, ``payment.refund.{succeeded,failed}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from gansu_health.core.clock import now, to_micros
from gansu_health.core.errors import Conflict, NotFound, UnprocessableEntity
from gansu_health.core.events import Event, emit
from gansu_health.fhir.storage.repository import ResourceStore
from gansu_health.identity.crypto import sm3
from gansu_health.payment import repository as repo
from gansu_health.payment import resources as res
from gansu_health.payment.gateway import GatewayResult, Order, PaymentGateway
from gansu_health.payment.models import pay_payment, pay_refund
from gansu_health.scheduling import repository as sched_repo

REFUND_REASONS = frozenset({"patient", "clinic-stopped", "institution", "hold-expired",
                            "waitlist-closed", "limit-reached", "duplicate", "late-payment"})
MAX_REFUND_ATTEMPTS = 6
RETRY_BASE_S = 60
FINAL = ("succeeded", "declined")


@dataclass(frozen=True, slots=True)
class Paid:
    """The answer of a payment: its row and whether it was already there (a retry)."""

    payment: Any
    replayed: bool


def payment_id(scope: str, key: str) -> str:
    """The merchant order number of a caller's Idempotency-Key."""
    return "pay-" + sm3(f"{scope}\x00{key}".encode()).hex()[:32]


class Payments:
    """Payments of one node."""

    def __init__(self, store: ResourceStore, node: str, zone: ZoneInfo, gateway: PaymentGateway,
                 gate: str = "citizen") -> None:
        self.store = store
        self.node = node
        self.zone = zone
        self.gateway = gateway
        self.gate = gate

    # ---- paying --------------------------------------------------------------------------

    def pay(self, conn: Connection, invoice_id: str, patient: str, scope: str, key: str,
            hints: Mapping[str, str]) -> Paid:
        """Pay an invoice once per Idempotency-Key (and once at all)."""
        if not key or len(key) > 128:
            raise UnprocessableEntity("An Idempotency-Key (header, or the idempotencyKey "
                                      "parameter) of 1–128 characters is required",
                                      expression="Idempotency-Key")
        known = repo.payment_by_key(conn, scope, key)
        if known is not None:
            return Paid(self._known(conn, known, invoice_id), True)
        bill = repo.invoice(conn, invoice_id, lock=True)
        if bill is None or bill.patient != patient:
            raise NotFound(f"Invoice/{invoice_id} is not a bill of Patient/{patient}",
                           expression="invoice")
        for earlier in repo.payments_of(conn, invoice_id, "succeeded", "processing"):
            if earlier.status == "processing":
                earlier = self.refresh(conn, earlier)
            if earlier.status == "succeeded" and bill.status == "paid":
                return Paid(earlier, True)
            if earlier.status == "processing":
                raise Conflict(f"Payment {earlier.id} of Invoice/{invoice_id} is still "
                               "processing; retry with its Idempotency-Key",
                               expression="invoice")
        if bill.status != "issued":
            raise Conflict(f"Invoice/{invoice_id} is {bill.status}", expression="invoice")
        self._check_appointment(conn, bill)
        fid, at = payment_id(scope, key), to_micros(now())
        inserted = repo.insert_once(conn, pay_payment, {
            "id": fid, "node": self.node, "invoice": invoice_id, "patient": patient,
            "amount_fen": bill.amount_fen, "gateway": self.gateway.name, "status": "new",
            "idem_scope": scope, "idem_key": key, "notice": fid, "created_us": at,
            "updated_us": at})
        if not inserted:  # the same key committed by a concurrent request meanwhile
            return Paid(self._known(conn, repo.payment(conn, fid), invoice_id), True)
        try:
            result = self.gateway.charge(conn, Order(fid, bill.amount_fen,
                                                     f"Invoice/{invoice_id}", hints))
        except Exception as exc:  # a provider failure is an outcome, recorded and answered
            result = GatewayResult("error", None, f"gateway failure: {exc}"[:255])
        return Paid(self.settle(conn, fid, result), False)

    def _known(self, conn: Connection, row: Any, invoice_id: str) -> Any:
        if row.invoice != invoice_id:
            raise UnprocessableEntity(f"This Idempotency-Key was used to pay Invoice/"
                                      f"{row.invoice}, not Invoice/{invoice_id}",
                                      expression="Idempotency-Key")
        return self.refresh(conn, row) if row.status == "processing" else row

    def _check_appointment(self, conn: Connection, bill: Any) -> None:
        if bill.appointment is None:
            return
        row = sched_repo.appointment(conn, bill.appointment)
        if row is None or row.status not in ("held", "booked"):
            raise Conflict(f"Appointment/{bill.appointment} is "
                           f"{row.status if row else 'gone'}; its fee can no longer be paid",
                           expression="appointment")

    def refresh(self, conn: Connection, row: Any) -> Any:
        """Ask the gateway about a processing payment and apply its answer."""
        try:
            result = self.gateway.query(conn, row.id)
        except Exception:  # still unknown: keep processing
            return row
        return self.settle(conn, row.id, result) if result.status != "error" else row

    def settle(self, conn: Connection, fid: str, result: GatewayResult) -> Any:
        """Apply a gateway outcome to a payment (idempotent; success is never undone)."""
        row = repo.payment(conn, fid, lock=True)
        if row is None:
            raise NotFound(f"No payment {fid}", expression="order")
        status = result.status
        if row.status == status or row.status == "succeeded" or (
                row.status in FINAL and status != "succeeded"):
            return row
        at = to_micros(now())
        bill = repo.invoice(conn, row.invoice, lock=True)
        assert bill is not None
        values: dict[str, Any] = {"status": status, "message": result.message[:255] or None,
                                  "gateway_txn": result.txn or row.gateway_txn, "updated_us": at}
        if status == "succeeded":
            values["settled_us"] = at
        repo.update_payment(conn, fid, **values)
        res.write(conn, self.store, res.notice(fid, status, row.invoice, bill.institution,
                                               row.amount_fen, at, self.zone, values[
                                                   "gateway_txn"]))
        payload = self._payload(row, bill)
        emit(conn, f"payment.payment.{status}", payload, self.node)
        row = repo.payment(conn, fid)
        if status == "succeeded":
            self._paid(conn, row, bill, at)
        return row

    def _paid(self, conn: Connection, row: Any, bill: Any, at: int) -> None:
        if bill.status != "issued":
            self.refund(conn, row, "duplicate")  # the bill was paid (or dropped) meanwhile
            return
        repo.update_invoice(conn, bill.id, status="paid", updated_us=at)
        res.write(conn, self.store, [res.invoice(bill.id, "balanced", bill.patient,
                                                 bill.institution, repo.items_of(conn, bill.id),
                                                 at, self.zone)])
        if bill.appointment is not None:
            appt = sched_repo.appointment(conn, bill.appointment)
            if appt is None or appt.status not in ("held", "booked"):
                self.refund(conn, row, "late-payment")

    def _payload(self, row: Any, bill: Any) -> dict[str, Any]:
        return {"payment": row.id, "invoice": f"Invoice/{bill.id}",
                "patient": f"Patient/{bill.patient}", "institution": bill.institution,
                "amount": row.amount_fen, "kind": bill.kind,
                "appointment": f"Appointment/{bill.appointment}" if bill.appointment else None}

    # ---- refunds -------------------------------------------------------------------------

    def refund(self, conn: Connection, row: Any, reason: str) -> Any:
        """Refund a settled payment in full, once; answer the refund row."""
        done = repo.refund_of(conn, row.id)
        if done is not None:
            return done
        fid, at = "rf-" + row.id.removeprefix("pay-"), to_micros(now())
        repo.insert_once(conn, pay_refund, {
            "id": fid, "node": self.node, "payment": row.id, "amount_fen": row.amount_fen,
            "reason": reason, "status": "pending", "attempts": 0, "next_us": at,
            "notice": fid, "created_us": at})
        return self.attempt_refund(conn, fid)

    def attempt_refund(self, conn: Connection, fid: str) -> Any:
        """Ask the gateway to refund; failures are retried later with backoff."""
        row = repo.refund(conn, fid, lock=True)
        if row is None or row.status not in ("pending", "error"):
            return row
        payment = repo.payment(conn, row.payment)
        try:
            result = self.gateway.refund(conn, fid, payment.id, row.amount_fen)
        except Exception as exc:
            result = GatewayResult("error", None, f"gateway failure: {exc}"[:255])
        return self.settle_refund(conn, fid, result)

    def settle_refund(self, conn: Connection, fid: str, result: GatewayResult) -> Any:
        """Apply a gateway outcome to a refund."""
        row = repo.refund(conn, fid, lock=True)
        if row is None:
            raise NotFound(f"No refund {fid}", expression="order")
        if row.status in ("succeeded", "failed"):
            return row
        at = to_micros(now())
        payment = repo.payment(conn, row.payment)
        bill = repo.invoice(conn, payment.invoice)
        status = result.status
        values: dict[str, Any] = {"message": result.message[:255] or None,
                                  "gateway_txn": result.txn or row.gateway_txn}
        if status in ("succeeded", "processing"):
            values["status"] = status
        else:
            attempts = row.attempts + 1
            give_up = attempts >= MAX_REFUND_ATTEMPTS
            values.update(attempts=attempts, status="failed" if give_up else "error",
                          next_us=at + RETRY_BASE_S * 1_000_000 * 2 ** (attempts - 1))
        if status == "succeeded":
            values["settled_us"] = at
        repo.update_refund(conn, fid, **values)
        shown = values["status"] if values["status"] != "error" else "processing"
        res.write(conn, self.store, res.notice(fid, shown, bill.id, bill.institution,
                                               -row.amount_fen, at, self.zone,
                                               values["gateway_txn"], refund_of=payment.id))
        payload = {**self._payload(payment, bill), "refund": fid, "reason": row.reason}
        if status == "succeeded":
            if bill.status == "paid" and row.reason != "duplicate":
                repo.update_invoice(conn, bill.id, status="refunded", updated_us=at)
                res.write(conn, self.store, [res.invoice(
                    bill.id, "cancelled", bill.patient, bill.institution,
                    repo.items_of(conn, bill.id), at, self.zone,
                    cancelled=f"refunded: {row.reason}")])
            emit(conn, "payment.refund.succeeded", payload, self.node)
        elif values["status"] == "failed":
            emit(conn, "payment.refund.failed", payload, self.node)
        return repo.refund(conn, fid)

    def retry_refunds(self, conn: Connection, now_us: int | None = None) -> int:
        """Retry refunds whose backoff has passed; return how many were tried."""
        due = repo.due_refunds(conn, now_us if now_us is not None else to_micros(now()))
        for row in due:
            self.attempt_refund(conn, row.id)
        return len(due)

    def refund_appointment(self, conn: Connection, appointment: str, reason: str) -> Any:
        """Refund the paid registration fee of a cancelled appointment, if any."""
        bill = repo.invoice_for_appointment(conn, appointment)
        if bill is None:
            return None
        for row in repo.payments_of(conn, bill.id, "succeeded"):
            self.refund(conn, row, reason)
        return bill

    def on_event(self, conn: Connection, event: Event) -> None:
        """Outbox subscriber: refunds by policy after cancellations; reschedules keep paying."""
        if event.topic != "scheduling.appointment.cancelled":
            return
        fid = str(event.payload["appointment"]).removeprefix("Appointment/")
        reason = str(event.payload.get("reason") or "")
        if reason == "rescheduled":
            moved = sched_repo.appointments(conn, sched_repo.A.c.rescheduled_from == fid,
                                            limit=1)
            bill = repo.invoice_for_appointment(conn, fid)
            if moved and bill is not None and repo.invoice_for_appointment(
                    conn, moved[0].id) is None:
                repo.update_invoice(conn, bill.id, appointment=moved[0].id,
                                    updated_us=to_micros(now()))
                return
        if reason in REFUND_REASONS or reason == "rescheduled":
            self.refund_appointment(conn, fid, reason)
