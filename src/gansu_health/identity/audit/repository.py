"""Append, verify, search and purge the SM3-chained audit trail.

``record`` appends inside the caller's write transaction and must be called in one opened with
``write_transaction`` (SQLite takes the write lock up front; on PostgreSQL, at the default READ
COMMITTED level, the ``audit_head`` row lock taken by ``UPDATE … RETURNING`` is held until commit,
serialising appends). Call it as late as possible in the transaction: the head lock is held until
commit, so an early call makes other auditing writers wait. Reads, which run in read-only
transactions, audit with ``record_now`` (its own short write transaction).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import takewhile
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    Engine,
    String,
    delete,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from gansu_health.core.clock import now, to_micros
from gansu_health.core.database import is_sqlite, read_transaction, write_transaction
from gansu_health.core.settings import get_settings
from gansu_health.identity.audit.models import audit_event, audit_head
from gansu_health.identity.crypto import sm3

GENESIS = "0" * 64
HEAD_ID = 1
ACTIONS = frozenset("CRUDE")
OUTCOMES = frozenset({0, 4, 8, 12})
MIN_RETENTION = timedelta(days=184)  # the longest span of six calendar months
# the hashed columns are fixed here, not derived from the table: a column added later must not
# change how existing rows hash (a new column needs a new chain format)
HASHED = ("id", "node", "recorded_us", "actor_type", "actor_id", "actor_name", "patient_id",
          "action", "subtype", "resource_type", "resource_id", "query", "purpose_of_use",
          "outcome", "source_ip", "user_agent", "break_glass", "reason")
_LIMITS = {str(c.name): c.type.length for c in audit_event.columns
           if isinstance(c.type, String) and c.type.length}


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """An event to append: who did what to which resource of which patient, why, and the result."""

    action: str
    subtype: str
    actor_type: str = "system"
    actor_id: str | None = None
    actor_name: str | None = None
    patient_id: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    query: str | None = None
    purpose_of_use: str | None = None
    outcome: int = 0
    source_ip: str | None = None
    user_agent: str | None = None
    break_glass: bool = False
    reason: str | None = None
    node: str | None = None
    recorded_us: int | None = None


@dataclass(frozen=True, slots=True)
class AuditRow:
    """A stored audit row, as read back from ``audit_event``."""

    id: int
    node: str
    recorded_us: int
    actor_type: str
    actor_id: str | None
    actor_name: str | None
    patient_id: str | None
    action: str
    subtype: str
    resource_type: str | None
    resource_id: str | None
    query: str | None
    purpose_of_use: str | None
    outcome: int
    source_ip: str | None
    user_agent: str | None
    break_glass: bool
    reason: str | None
    prev_hash: str
    hash: str

    @classmethod
    def from_mapping(cls, row: Mapping[Any, Any]) -> AuditRow:
        """Build from a result row mapping (normalising SQLite's integer booleans)."""
        values = {f.name: row[f.name] for f in fields(cls)}
        values["break_glass"] = bool(values["break_glass"])
        return cls(**values)


_EVENT_FIELDS = tuple(f.name for f in fields(AuditRecord))


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of walking the chain: rows checked and the first broken row, if any."""

    ok: bool
    checked: int
    first_id: int | None
    last_id: int | None
    broken_id: int | None = None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of a patient's audit trail, newest first; ``next_before`` pages on."""

    rows: list[AuditRow]
    next_before: int | None


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """What a purge removed and the anchor rows it appended."""

    deleted: int
    through_id: int
    anchors: list[int]


class RetentionError(ValueError):
    """A purge would delete rows younger than the retention period."""


def chain_hash(prev_hash: str, values: Mapping[str, Any]) -> str:
    """Return SM3(prev_hash ‖ canonical JSON of the hashed columns) as hex."""
    canonical = orjson.dumps({k: values[k] for k in HASHED}, option=orjson.OPT_SORT_KEYS)
    return sm3(bytes.fromhex(prev_hash) + canonical).hex()


def _clean(value: Any, column: str) -> Any:
    if not isinstance(value, str):
        return value
    value = value.replace("\x00", "")
    limit = _LIMITS.get(column)
    return value[:limit] if limit else value


def _lock_head(conn: Connection, node: str) -> Mapping[Any, Any]:
    query = select(audit_head).where(audit_head.c.id == HEAD_ID)
    if not is_sqlite(conn):
        query = query.with_for_update()
    head = conn.execute(query).first()
    if head is None:
        _create_head(conn, node)
        head = conn.execute(query).one()
    return head._mapping


def _create_head(conn: Connection, node: str) -> None:
    dialect = sqlite if is_sqlite(conn) else postgresql
    conn.execute(dialect.insert(audit_head).values(
        id=HEAD_ID, node=node, last_id=0, last_hash=GENESIS, base_id=0, base_hash=GENESIS,
        purging=False).on_conflict_do_nothing())


@lru_cache(maxsize=4)
def _append_sql(dialect: str) -> tuple[str, str, str]:
    """Driver-level SQL for the hot path: advance-and-lock the head, write the rows, the tip."""
    style = ":{}" if dialect == "sqlite" else "%({})s"  # named parameters of each driver

    def mark(name: str) -> str:
        return style.format(name)

    cols = (*HASHED, "prev_hash", "hash")
    insert_sql = (f"INSERT INTO audit_event ({', '.join(cols)}) "
                  f"VALUES ({', '.join(mark(c) for c in cols)})")
    tip = f"UPDATE audit_head SET last_hash = {mark('hash')} WHERE id = {HEAD_ID}"
    advance = (f"UPDATE audit_head SET last_id = last_id + {mark('n')} WHERE id = {HEAD_ID} "
               "RETURNING last_id, last_hash")
    return advance, insert_sql, tip


def _check_event(event: AuditRecord) -> None:
    if event.action not in ACTIONS or len(event.action) != 1:
        raise ValueError(f"audit action must be one of C/R/U/D/E, not {event.action!r}")
    if event.outcome not in OUTCOMES:
        raise ValueError(f"audit outcome must be 0, 4, 8 or 12, not {event.outcome!r}")


def record_many(conn: Connection, events: list[AuditRecord]) -> list[AuditRow]:
    """Append ``events`` in order to the chain inside the caller's write transaction.

    The head row is advanced by their number with ``UPDATE … RETURNING`` first, which takes its
    row lock on PostgreSQL (READ COMMITTED re-reads the newest tip after waiting) and runs under
    the database write lock on SQLite, so concurrent appends get consecutive ids and link
    correctly; the rows are then inserted in one batch and the tip moved once.
    """
    if not events:
        return []
    for event in events:
        _check_event(event)
    advance, insert_sql, tip = _append_sql(conn.dialect.name)
    head = conn.exec_driver_sql(advance, {"n": len(events)}).first()
    if head is None:
        _create_head(conn, events[0].node or get_settings().node_id)
        head = conn.exec_driver_sql(advance, {"n": len(events)}).one()
    next_id, prev = head[0] - len(events) + 1, head[1]
    rows: list[dict[str, Any]] = []
    for event in events:
        values = {k: _clean(getattr(event, k), k) for k in _EVENT_FIELDS}
        values.update(id=next_id, node=_clean(event.node or get_settings().node_id, "node"),
                      recorded_us=event.recorded_us or to_micros(now()),
                      break_glass=bool(event.break_glass), prev_hash=prev)
        values["hash"] = prev = chain_hash(prev, values)
        rows.append(values)
        next_id += 1
    conn.exec_driver_sql(insert_sql, rows if len(rows) > 1 else rows[0])
    conn.exec_driver_sql(tip, {"hash": prev})
    return [AuditRow(**values) for values in rows]


def record(conn: Connection, event: AuditRecord) -> AuditRow:
    """Append ``event`` to the chain inside the caller's write transaction; return the row."""
    return record_many(conn, [event])[0]


def record_now(engine: Engine, event: AuditRecord) -> AuditRow:
    """Append ``event`` in its own short write transaction (for read requests)."""
    with write_transaction(engine) as conn:
        return record(conn, event)


def iter_rows(conn: Connection, *, after: int = 0, batch: int = 2000) -> Iterator[AuditRow]:
    """Yield the rows with id > ``after`` in chain order, fetched in keyset batches."""
    while True:
        rows = conn.execute(select(audit_event).where(audit_event.c.id > after)
                            .order_by(audit_event.c.id).limit(batch)).all()
        for row in rows:
            yield AuditRow.from_mapping(row._mapping)
        if len(rows) < batch:
            return
        after = rows[-1].id


def _anchor_of(row: AuditRow) -> tuple[int, str] | None:
    if row.subtype != "purge" or row.resource_type != "AuditEvent" or not row.query:
        return None
    try:
        doc = orjson.loads(row.query)
        return int(doc["through_id"]), str(doc["through_hash"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def _check_row(row: AuditRow, expected_id: int, expected_prev: str) -> str | None:
    if row.id != expected_id:
        return f"row {expected_id} is missing (deleted); next row is {row.id}"
    problems = []
    if chain_hash(row.prev_hash, {k: getattr(row, k) for k in HASHED}) != row.hash:
        problems.append("its content does not match its hash (edited)")
    if row.prev_hash != expected_prev:
        problems.append("it does not link to the previous row (reordered or replaced)")
    return f"row {row.id}: " + " and ".join(problems) if problems else None


def verify(engine: Engine, *, batch: int = 2000) -> VerifyReport:
    """Walk the whole chain in one snapshot and report the first broken row, if any."""
    with read_transaction(engine) as conn:
        if not is_sqlite(conn):  # one snapshot for every batch
            conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        head = conn.execute(select(audit_head).where(audit_head.c.id == HEAD_ID)).first()
        base_id, base_hash = (head.base_id, head.base_hash) if head else (0, GENESIS)
        expected_id, expected_prev, checked = base_id + 1, base_hash, 0
        first: int | None = None
        anchor: tuple[int, str] | None = None
        for row in iter_rows(conn, batch=batch):
            first = row.id if first is None else first
            problem = _check_row(row, expected_id, expected_prev)
            if problem:
                return VerifyReport(False, checked, first, row.id, expected_id, problem)
            checked += 1
            anchor = _anchor_of(row) or anchor
            expected_id, expected_prev = row.id + 1, row.hash
        last = expected_id - 1 if checked else None
        if head is None and checked:
            return VerifyReport(False, checked, first, last, first, "the chain head is missing")
        if head is not None and (head.last_id, head.last_hash) != (expected_id - 1,
                                                                   expected_prev):
            return VerifyReport(False, checked, first, last, expected_id,
                                f"chain ends at row {expected_id - 1} but the head says "
                                f"{head.last_id} (rows deleted from the end)")
        if base_id and anchor != (base_id, base_hash):
            return VerifyReport(False, checked, first, last, base_id + 1,
                                "the purge base does not match the last purge anchor row")
        return VerifyReport(True, checked, first, last)


def search_by_patient(conn: Connection, patient_id: str, *, limit: int = 20,
                      before: int | None = None) -> AuditPage:
    """Return the audit rows about ``patient_id``, newest first; pass ``next_before`` to page."""
    query = select(audit_event).where(audit_event.c.patient_id == patient_id)
    if before is not None:
        query = query.where(audit_event.c.id < before)
    rows = [AuditRow.from_mapping(r._mapping) for r in
            conn.execute(query.order_by(audit_event.c.id.desc()).limit(limit + 1))]
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(rows, rows[-1].id if more else None)


def purge(engine: Engine, before: datetime, *, retention: timedelta = MIN_RETENTION,
          actor: str = "retention", batch: int = 50_000) -> PurgeReport:
    """Delete the chain prefix recorded before ``before``, appending an anchor row per batch.

    Refuses (``RetentionError``) when ``before`` is within ``retention`` of now or ``retention``
    is shorter than six months (网络安全法 Art. 21). Only a prefix is removed, so the first
    remaining row links to ``audit_head.base_hash`` and ``verify`` still succeeds.
    """
    if retention < MIN_RETENTION:
        raise RetentionError(f"retention {retention} is shorter than six months")
    limit = now() - retention
    if before > limit:
        raise RetentionError(f"refusing to purge rows recorded after {limit.isoformat()}: "
                             f"they are younger than the retention of {retention.days} days")
    cutoff = to_micros(before)
    deleted, through = 0, 0
    anchors: list[int] = []
    while True:
        with write_transaction(engine) as conn:
            head = _lock_head(conn, get_settings().node_id)
            prefix = conn.execute(
                select(audit_event.c.id, audit_event.c.recorded_us, audit_event.c.hash)
                .where(audit_event.c.id > head["base_id"]).order_by(audit_event.c.id)
                .limit(batch)).all()
            old = list(takewhile(lambda r: r.recorded_us < cutoff, prefix))
            if not old:  # the oldest remaining row is young: stop there
                return PurgeReport(deleted, through, anchors)
            end, end_hash = old[-1].id, old[-1].hash
            head_row = update(audit_head).where(audit_head.c.id == HEAD_ID)
            conn.execute(head_row.values(purging=True))  # lets the append-only trigger pass
            deleted += conn.execute(delete(audit_event)
                                    .where(audit_event.c.id <= end)).rowcount
            conn.execute(head_row.values(base_id=end, base_hash=end_hash, purging=False))
            anchor = orjson.dumps({"through_id": end, "through_hash": end_hash,
                                   "before": before.isoformat()}).decode()
            anchors.append(record(conn, AuditRecord(
                action="D", subtype="purge", actor_id=actor, resource_type="AuditEvent",
                query=anchor, reason=f"retention purge of rows {head['base_id'] + 1}..{end}")).id)
            through = end
