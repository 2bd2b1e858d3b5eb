"""The transactional outbox: domain events are written in the same transaction as the change.

Subscribers read the outbox in commit order with their own durable offset, so an event is never
lost and never seen before its transaction commits (on PostgreSQL rows of still-running
transactions are held back using the snapshot's ``xmin``, as in the FHIR change feed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    LargeBinary,
    String,
    Table,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gansu_health.core.clock import now, to_micros
from gansu_health.core.database import BIGID, fetch_rows, is_sqlite, metadata, write_transaction

outbox = Table(
    "outbox",
    metadata,
    Column("id", BIGID, primary_key=True, autoincrement=True),
    Column("txid", BigInteger, nullable=False, default=0),
    Column("node", String(16), nullable=False),
    Column("topic", String(128), nullable=False, index=True),
    Column("payload", LargeBinary, nullable=False),
    Column("created_us", BigInteger, nullable=False),
)

outbox_offset = Table(
    "outbox_offset",
    metadata,
    Column("subscriber", String(128), primary_key=True),
    Column("node", String(16), nullable=False),
    Column("txid", BigInteger, nullable=False, default=0),
    Column("last_id", BigInteger, nullable=False, default=0),
)


@dataclass(frozen=True, slots=True)
class Event:
    """One delivered event."""

    id: int
    topic: str
    payload: dict[str, Any]
    created_us: int


Handler = Callable[[Connection, Event], None]
# a job run after every delivery round (retries, reminders); it opens its own transactions
RoundJob = Callable[[Engine], object]
log = logging.getLogger(__name__)


def transaction_id(conn: Connection) -> int:
    """Return the current write transaction's id (0 on SQLite, where writers are serial)."""
    if is_sqlite(conn):
        return 0
    cached = conn.info.get("txid")
    if cached is None:
        cached = fetch_rows(conn, f"SELECT {TXID_SQL}")[0][0]
        conn.info["txid"] = cached
    return int(cached)


TXID_SQL = "pg_current_xact_id()::text::bigint"  # a select item: read it with other values


def note_transaction_id(conn: Connection, txid: int) -> None:
    """Remember the transaction id a query read alongside other values (``TXID_SQL``)."""
    conn.info["txid"] = txid


def emit(conn: Connection, topic: str, payload: dict[str, Any], node: str) -> None:
    """Record an event inside the caller's transaction."""
    emit_many(conn, [(topic, payload)], node)


def emit_many(conn: Connection, events: Sequence[tuple[str, dict[str, Any]]], node: str) -> None:
    """Record events, in order, inside the caller's transaction with one statement."""
    if events:
        txid, stamp = transaction_id(conn), to_micros(now())
        conn.execute(insert(outbox).inline(), [{"txid": txid, "node": node, "topic": topic,
                                       "payload": orjson.dumps(payload), "created_us": stamp}
                                      for topic, payload in events])


class EventBus:
    """Named subscribers with topic prefixes; ``deliver`` hands them pending events in order."""

    def __init__(self) -> None:
        self._subs: dict[str, tuple[str, Handler]] = {}
        self._jobs: dict[str, RoundJob] = {}

    def every_round(self, name: str, job: RoundJob) -> None:
        """Register a job the app's delivery thread runs after each round of deliveries."""
        self._jobs[name] = job

    def run_jobs(self, engine: Engine) -> None:
        """Run every round job once; a failing job is logged and does not stop the others."""
        for name, job in self._jobs.items():
            try:
                job(engine)
            except Exception:
                log.exception("round job %s failed; it runs again next round", name)

    def subscribe(self, name: str, topic_prefix: str, handler: Handler) -> None:
        """Register a durable subscriber called for topics starting with ``topic_prefix``."""
        self._subs[name] = (topic_prefix, handler)

    def deliver(self, engine: Engine, node: str, batch: int = 100) -> int:
        """Deliver pending events to every subscriber; return how many handler calls ran."""
        calls = 0
        for name, (prefix, handler) in self._subs.items():
            with write_transaction(engine) as conn:
                # one deliverer per subscriber at a time (the app's thread, a CLI, tests): the
                # offset row is created if missing and locked until this batch commits
                first = (sqlite_insert if is_sqlite(conn) else pg_insert)(outbox_offset)
                conn.execute(first.values(subscriber=name, node=node, txid=0, last_id=0)
                             .on_conflict_do_nothing())
                query = select(outbox_offset.c.txid, outbox_offset.c.last_id).where(
                    outbox_offset.c.subscriber == name)
                offset = conn.execute(query if is_sqlite(conn) else query.with_for_update()).one()
                position = (offset.txid, offset.last_id)
                query = select(outbox).where(tuple_(outbox.c.txid, outbox.c.id) > position)
                if not is_sqlite(conn):
                    query = query.where(outbox.c.txid < text(
                        "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"))
                rows = list(conn.execute(query.order_by(outbox.c.txid, outbox.c.id)
                                         .limit(batch)))
                for row in rows:
                    if row.topic.startswith(prefix):
                        handler(conn, Event(row.id, row.topic, orjson.loads(row.payload),
                                            row.created_us))
                        calls += 1
                if rows:
                    conn.execute(update(outbox_offset).where(
                        outbox_offset.c.subscriber == name).values(
                        txid=rows[-1].txid, last_id=rows[-1].id))
        return calls
