"""The built-in sandbox gateway: a fake provider whose ledger lives in ``pay_sandbox_txn``.

The outcome of a charge is chosen, in this order, by the ``X-Sandbox-Outcome`` header (or the
``sandboxOutcome`` parameter) — ``approve``, ``decline``, ``processing`` or ``error`` — or by the
test card number (``card``):

==================== ===========================================================
``6222000000000002`` declined (insufficient funds, 余额不足)
``6222000000000003`` hangs in "processing" until ``settle`` sends the callback
``6222000000000004`` gateway error (the order is not placed)
any other / none     approved at once
==================== ===========================================================

or, without either, by the amount: an amount ending in 0.99 yuan is declined. Refunds succeed
unless a test queues other outcomes in ``refund_outcomes``. ``settle`` finishes a processing
charge and returns the signed callback (body and headers) the provider would POST to
``/payment/callback/sandbox``.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Mapping

import orjson
from sqlalchemy import Connection, insert, select, update

from gansu_health.core.clock import now, to_micros
from gansu_health.core.errors import NotFound
from gansu_health.payment.gateway import (
    GatewayResult,
    Notification,
    Order,
    PaymentGateway,
    StatementLine,
    read_notification,
    sign,
    verify,
)
from gansu_health.payment.models import pay_sandbox_txn as T

CARDS = {"6222000000000002": "decline", "6222000000000003": "processing",
         "6222000000000004": "error"}
STATUS = {"approve": "succeeded", "decline": "declined", "processing": "processing",
          "error": "error"}
MESSAGES = {"succeeded": "sandbox: approved", "declined": "sandbox: declined (余额不足)",
            "processing": "sandbox: processing (用户支付中)",
            "error": "sandbox: gateway unavailable (simulated)"}


def choose(hints: Mapping[str, str], amount_fen: int) -> str:
    """The sandbox outcome of a charge (approve, decline, processing or error)."""
    outcome = (hints.get("outcome") or "").strip().lower()
    if outcome in STATUS:
        return outcome
    card = (hints.get("card") or "").replace(" ", "")
    if card in CARDS:
        return CARDS[card]
    return "decline" if amount_fen % 100 == 99 else "approve"


class SandboxGateway(PaymentGateway):
    """A provider that settles in-process; see the module docstring for its test cards."""

    name = "sandbox"

    def __init__(self, node: str, secret: bytes) -> None:
        self.node = node
        self.secret = secret
        self.refund_outcomes: deque[str] = deque()  # tests: queue "error", "processing"…

    def _row(self, conn: Connection, kind: str, order_id: str) -> GatewayResult | None:
        row = conn.execute(select(T).where(T.c.kind == kind, T.c.order_id == order_id)).first()
        if row is None:
            return None
        return GatewayResult(row.status, row.id, MESSAGES[row.status], row.amount_fen)

    def _record(self, conn: Connection, kind: str, order_id: str, amount: int, status: str
                ) -> GatewayResult:
        if status == "error":
            return GatewayResult("error", None, MESSAGES["error"])
        txn = f"sbx-{uuid.uuid4().hex[:24]}"
        moment = to_micros(now())
        conn.execute(insert(T).values(
            id=txn, node=self.node, kind=kind, order_id=order_id, amount_fen=amount,
            status=status, created_us=moment,
            settled_us=moment if status == "succeeded" else None))
        return GatewayResult(status, txn, MESSAGES[status], amount)

    def charge(self, conn: Connection, order: Order) -> GatewayResult:
        """Charge by the test card or header; the same order id is charged once."""
        return self._row(conn, "charge", order.order_id) or self._record(
            conn, "charge", order.order_id, order.amount_fen,
            STATUS[choose(order.hints, order.amount_fen)])

    def query(self, conn: Connection, order_id: str) -> GatewayResult:
        """The ledger's state of a charge."""
        return self._row(conn, "charge", order_id) or GatewayResult(
            "error", None, f"sandbox: no order {order_id}")

    def refund(self, conn: Connection, refund_id: str, order_id: str, amount_fen: int
               ) -> GatewayResult:
        """Refund a settled charge (once per refund id)."""
        done = self._row(conn, "refund", refund_id)
        if done is not None:
            return done
        charge = self._row(conn, "charge", order_id)
        if charge is None or charge.status != "succeeded" or (charge.amount_fen or 0) < amount_fen:
            return GatewayResult("declined", None, f"sandbox: order {order_id} has no settled "
                                 f"charge of {amount_fen} fen to refund")
        outcome = self.refund_outcomes.popleft() if self.refund_outcomes else "approve"
        return self._record(conn, "refund", refund_id, amount_fen, STATUS[outcome])

    def statement(self, conn: Connection, start_us: int, end_us: int) -> list[StatementLine]:
        """Settled charges and refunds of the period, as the provider's statement file."""
        rows = conn.execute(select(T).where(T.c.status == "succeeded", T.c.settled_us >= start_us,
                                            T.c.settled_us < end_us).order_by(T.c.settled_us))
        return [StatementLine(r.kind, r.order_id, r.id, r.amount_fen) for r in rows]

    def parse_callback(self, headers: Mapping[str, str], body: bytes, now_s: int
                       ) -> Notification:
        """Verify and read a callback the sandbox signed."""
        return read_notification(body, verify(self.secret, headers, body, now_s))

    def settle(self, conn: Connection, order_id: str, outcome: str = "approve", *,
               kind: str = "charge") -> tuple[bytes, dict[str, str]]:
        """Finish a processing charge (or refund); return the signed callback to deliver."""
        row = conn.execute(select(T).where(T.c.kind == kind, T.c.order_id == order_id)).first()
        if row is None:
            raise NotFound(f"The sandbox has no {kind} {order_id}", expression="order")
        status = STATUS[outcome]
        moment = to_micros(now())
        if row.status == "processing":
            conn.execute(update(T).where(T.c.id == row.id).values(
                status=status, settled_us=moment if status == "succeeded" else None))
        else:
            status = row.status
        return self.callback(kind, order_id, status, row.id, row.amount_fen)

    def callback(self, kind: str, order_id: str, status: str, txn: str | None, amount: int
                 ) -> tuple[bytes, dict[str, str]]:
        """A signed callback body and its headers (fresh event id and nonce)."""
        body = orjson.dumps({"id": f"evt-{uuid.uuid4().hex}", "kind": kind, "order": order_id,
                             "status": status, "txn": txn, "amount": amount})
        return body, sign(self.secret, body, to_micros(now()) // 1_000_000, uuid.uuid4().hex)
