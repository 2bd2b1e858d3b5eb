"""Queries and writes of the card tables; callers own the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from gansu_health.card.models import card, card_code_use, card_sequence, card_usage
from gansu_health.core.database import is_sqlite


def _insert(conn: Connection, table: Any) -> Any:
    """A dialect INSERT that supports ``on_conflict_do_nothing``."""
    dialect = sqlite if is_sqlite(conn) else postgresql
    stmt: Insert = dialect.insert(table)
    return stmt


def next_sequence(conn: Connection, node: str) -> int:
    """Take the next card sequence number of ``node`` (the row lock serialises issuers)."""
    bump = (update(card_sequence).where(card_sequence.c.node == node)
            .values(last=card_sequence.c.last + 1).returning(card_sequence.c.last))
    row = conn.execute(bump).first()
    if row is None:
        conn.execute(_insert(conn, card_sequence).values(node=node, last=0)
                     .on_conflict_do_nothing())
        row = conn.execute(bump).first()
    assert row is not None
    return int(row.last)


def insert_card(conn: Connection, values: dict[str, Any]) -> bool:
    """Insert a card; False when the person already holds an active card (a concurrent issue)."""
    stmt = _insert(conn, card).values(**values).on_conflict_do_nothing()
    return conn.execute(stmt.returning(card.c.card_id)).first() is not None


def get(conn: Connection, card_id: str, *, lock: bool = False) -> Any:
    """Return the card row or None."""
    query = select(card).where(card.c.card_id == card_id)
    if lock and not is_sqlite(conn):
        query = query.with_for_update()
    return conn.execute(query).first()


def active_of(conn: Connection, goldens: Sequence[str], *, lock: bool = False) -> Any:
    """Return the active card filed under one of ``goldens`` (the newest), or None."""
    query = (select(card).where(card.c.active_golden.in_(list(goldens)))
             .order_by(card.c.issued_us.desc()).limit(1))
    if lock and not is_sqlite(conn):
        query = query.with_for_update()
    return conn.execute(query).first()


def cards_of(conn: Connection, goldens: Sequence[str]) -> list[Any]:
    """Return every card (active and revoked) filed under ``goldens``, newest first."""
    return list(conn.execute(select(card).where(card.c.golden_id.in_(list(goldens)))
                             .order_by(card.c.issued_us.desc(), card.c.card_id.desc())))


def revoke(conn: Connection, card_id: str, *, at_us: int, reason: str) -> None:
    """Mark a card revoked; it no longer counts as the person's active card."""
    conn.execute(update(card).where(card.c.card_id == card_id).values(
        status="revoked", active_golden=None, revoked_us=at_us, revoke_reason=reason))


def reactivate(conn: Connection, card_id: str) -> None:
    """Make a revoked card its person's active card again (after an undone merge)."""
    conn.execute(update(card).where(card.c.card_id == card_id).values(
        status="active", active_golden=card.c.golden_id, revoked_us=None, revoke_reason=None,
        replaced_by=None))


def set_replaced_by(conn: Connection, card_id: str, new_id: str) -> None:
    """Point a revoked card at the card that replaced it."""
    conn.execute(update(card).where(card.c.card_id == card_id).values(replaced_by=new_id))


def set_factor_state(conn: Connection, card_id: str, *, failures: int,
                     locked_us: int | None) -> None:
    """Record the count of consecutive wrong second factors and any lock-out end."""
    conn.execute(update(card).where(card.c.card_id == card_id).values(
        factor_failures=failures, factor_locked_us=locked_us))


def set_factor(conn: Connection, card_id: str, factor: str | None) -> None:
    """Replace the card's PIN digest (None: the resident id's last six characters serve)."""
    conn.execute(update(card).where(card.c.card_id == card_id).values(
        factor=factor, factor_failures=0, factor_locked_us=None))


def claim_nonce(conn: Connection, node: str, card_id: str, nonce: str, *, now_us: int,
                expires_us: int, organization: str | None) -> Any:
    """Accept a dynamic code's nonce once: None when claimed now, else the earlier use's row.

    Rows of the card's codes that have expired are deleted first: an expired code is refused
    before its nonce is looked at, so the guard only needs the live ones.
    """
    conn.execute(delete(card_code_use).where(card_code_use.c.card_id == card_id,
                                             card_code_use.c.expires_us < now_us))
    stmt = _insert(conn, card_code_use).values(
        card_id=card_id, nonce=nonce, node=node, used_us=now_us, expires_us=expires_us,
        organization=organization).on_conflict_do_nothing()
    if conn.execute(stmt.returning(card_code_use.c.nonce)).first() is not None:
        return None
    return conn.execute(select(card_code_use).where(card_code_use.c.card_id == card_id,
                                                    card_code_use.c.nonce == nonce)).first()


def log_use(conn: Connection, values: dict[str, Any]) -> None:
    """Append one row to the usage log."""
    conn.execute(card_usage.insert().values(**values))


def uses(conn: Connection, goldens: Sequence[str], *, limit: int,
         before_id: int | None = None, organization: str | None = None) -> list[Any]:
    """Return usage-log rows of a person's cards, newest first (only those recorded at
    ``organization`` when one is named)."""
    query = select(card_usage).where(card_usage.c.golden_id.in_(list(goldens)))
    if organization is not None:
        query = query.where(card_usage.c.organization == organization)
    if before_id is not None:
        query = query.where(card_usage.c.id < before_id)
    return list(conn.execute(query.order_by(card_usage.c.id.desc()).limit(limit)))
