"""SQL of payments: invoices and their ChargeItems, payments by idempotency key, refunds, callback
nonces, and what we settled in a period (our side of the reconciliation)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gansu_health.core.database import is_sqlite
from gansu_health.payment.models import (
    pay_callback,
    pay_invoice,
    pay_invoice_item,
    pay_payment,
    pay_refund,
)

V, P, F = pay_invoice, pay_payment, pay_refund


def insert_once(conn: Connection, table: Table, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; tell whether the row was inserted (on PostgreSQL a
    concurrent insert of the same key waits for the other transaction, then does nothing)."""
    stmt = (sqlite_insert(table) if is_sqlite(conn) else pg_insert(table)).values(**values)
    key = next(iter(table.primary_key.columns))
    return conn.execute(stmt.on_conflict_do_nothing().returning(key)).first() is not None


def _one(conn: Connection, table: Table, where: Any, lock: bool) -> Any:
    query = select(table).where(where)
    if lock and not is_sqlite(conn):
        query = query.with_for_update()
    return conn.execute(query).first()


def invoice(conn: Connection, fid: str, *, lock: bool = False) -> Any:
    """An invoice row (locked on PostgreSQL when asked), or None."""
    return _one(conn, V, V.c.id == fid, lock)


def invoice_for_appointment(conn: Connection, appointment: str, *, lock: bool = False) -> Any:
    """The registration invoice of an appointment, or None."""
    return _one(conn, V, V.c.appointment == appointment, lock)


def insert_invoice(conn: Connection, items: Sequence[tuple[str, int]], **values: Any) -> None:
    """Store an invoice and its ChargeItems (id, fen)."""
    conn.execute(insert(V).values(**values))
    conn.execute(insert(pay_invoice_item), [
        {"charge_item": item, "node": values["node"], "invoice": values["id"], "amount_fen": fen}
        for item, fen in items])


def update_invoice(conn: Connection, fid: str, **values: Any) -> None:
    """Change an invoice row."""
    conn.execute(update(V).where(V.c.id == fid).values(**values))


def items_of(conn: Connection, invoice_id: str) -> list[tuple[str, int]]:
    """The ChargeItems (id, fen) of an invoice, in id order."""
    return [(r.charge_item, r.amount_fen) for r in conn.execute(
        select(pay_invoice_item).where(pay_invoice_item.c.invoice == invoice_id)
        .order_by(pay_invoice_item.c.charge_item))]


def billed_on(conn: Connection, charge_items: Sequence[str]) -> dict[str, str]:
    """The invoice each already billed ChargeItem is on."""
    return {r.charge_item: r.invoice for r in conn.execute(select(pay_invoice_item).where(
        pay_invoice_item.c.charge_item.in_(list(charge_items))))}


def payment(conn: Connection, fid: str, *, lock: bool = False) -> Any:
    """A payment row, or None."""
    return _one(conn, P, P.c.id == fid, lock)


def payment_by_key(conn: Connection, scope: str, key: str) -> Any:
    """The payment made with an Idempotency-Key by one caller, or None."""
    return conn.execute(select(P).where(P.c.idem_scope == scope, P.c.idem_key == key)).first()


def payments_of(conn: Connection, invoice_id: str, *statuses: str) -> list[Any]:
    """Payments of an invoice (of the given statuses), oldest first."""
    query = select(P).where(P.c.invoice == invoice_id)
    if statuses:
        query = query.where(P.c.status.in_(statuses))
    return list(conn.execute(query.order_by(P.c.created_us)))


def update_payment(conn: Connection, fid: str, **values: Any) -> None:
    """Change a payment row."""
    conn.execute(update(P).where(P.c.id == fid).values(**values))


def refund(conn: Connection, fid: str, *, lock: bool = False) -> Any:
    """A refund row, or None."""
    return _one(conn, F, F.c.id == fid, lock)


def refund_of(conn: Connection, payment_id: str) -> Any:
    """The refund of a payment, or None."""
    return conn.execute(select(F).where(F.c.payment == payment_id)).first()


def update_refund(conn: Connection, fid: str, **values: Any) -> None:
    """Change a refund row."""
    conn.execute(update(F).where(F.c.id == fid).values(**values))


def due_refunds(conn: Connection, now_us: int, limit: int = 100) -> list[Any]:
    """Refunds to (re)try now."""
    return list(conn.execute(select(F).where(F.c.status.in_(("pending", "error")),
                                             F.c.next_us <= now_us)
                             .order_by(F.c.next_us).limit(limit)))


def remember_nonce(conn: Connection, gateway: str, nonce: str, event_id: str, node: str,
                   now_us: int) -> bool:
    """Record a callback nonce; False when it was seen before (a replay)."""
    return insert_once(conn, pay_callback, {"gateway": gateway, "nonce": nonce, "node": node,
                                            "event_id": event_id[:64], "received_us": now_us})


def settled(conn: Connection, start_us: int, end_us: int) -> list[tuple[str, str, int]]:
    """Our settled charges and refunds of a period: (kind, order id, fen)."""
    charges = conn.execute(select(P.c.id, P.c.amount_fen).where(
        P.c.status == "succeeded", P.c.settled_us >= start_us, P.c.settled_us < end_us))
    refunds = conn.execute(select(F.c.id, F.c.amount_fen).where(
        F.c.status == "succeeded", F.c.settled_us >= start_us, F.c.settled_us < end_us))
    return ([("charge", r.id, r.amount_fen) for r in charges]
            + [("refund", r.id, r.amount_fen) for r in refunds])


def paid_for_appointment(conn: Connection, appointment: str) -> tuple[int, str] | None:
    """(fen, invoice status) of an appointment's paid registration invoice, or None."""
    row = conn.execute(select(V.c.amount_fen, V.c.status).where(
        V.c.appointment == appointment, V.c.status.in_(("paid", "refunded")))).first()
    return (row.amount_fen, row.status) if row else None
