"""The payment gate of booking: hold → pay → book.

``GANSU_HEALTH_PAYMENT_GATE`` says whose bookings must be paid before ``$book`` books a number
or confirms a hold: ``citizen`` (the default: residents booking online; staff at the window and
hospital systems collect the fee themselves), ``all``, or ``off``. A session without a fee
(exams, free clinics) is never gated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gansu_health.core.errors import Conflict, PlatformError
from gansu_health.fhir.operations import OperationCall
from gansu_health.fhir.rest.dispatch import current_request
from gansu_health.payment import repository as repo
from gansu_health.scheduling import operations as sched_ops
from gansu_health.scheduling import repository as sched_repo

if TYPE_CHECKING:
    from gansu_health.payment.service import Payments


class PaymentRequired(PlatformError):
    """A fee must be paid first (402)."""

    status = 402
    code = "business-rule"


def gated(pay: Payments) -> bool:
    """Whether the current caller must pay before booking."""
    if pay.gate == "off":
        return False
    req = current_request.get()
    kind = getattr(getattr(req, "principal", None), "kind", None)
    return pay.gate == "all" or kind == "citizen"


def _fee_text(fen: int) -> str:
    return f"¥{fen / 100:.2f}"


def check(pay: Payments, call: OperationCall, found: dict[str, list[Any]], fid: str | None
          ) -> None:
    """Refuse to book or confirm while the registration fee is unpaid."""
    if not gated(pay):
        return
    conn = call.conn
    if fid is None:
        visit = sched_repo.visit(conn, sched_ops.target(call, found).session_id)
        if visit is not None and visit.fee_cents > 0:
            raise PaymentRequired(
                f"The registration fee of {_fee_text(visit.fee_cents)} is paid before booking: "
                "$hold the number, pay the hold with Invoice/$pay (appointment), then $book it",
                expression="appointment")
        return
    row = sched_repo.appointment(conn, fid)
    if row is None or row.status != "held":
        return  # the booking engine explains what is wrong (or it is already booked)
    visit = sched_repo.visit(conn, row.session_id)
    if visit is None or visit.fee_cents <= 0:
        return
    bill = repo.invoice_for_appointment(conn, fid)
    if bill is not None and bill.status == "issued":
        for payment in repo.payments_of(conn, bill.id, "processing"):
            if pay.refresh(conn, payment).status == "processing":
                raise Conflict(f"Payment {payment.id} of Appointment/{fid} is still processing; "
                               "book when it has succeeded", expression="appointment")
        bill = repo.invoice(conn, bill.id)
    if bill is None or bill.status != "paid":
        raise PaymentRequired(
            f"Appointment/{fid} has a registration fee of {_fee_text(visit.fee_cents)} to pay "
            "first (Invoice/$pay with appointment)", expression="appointment")
