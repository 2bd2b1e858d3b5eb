"""Walk a table in short write transactions, for re-encryption jobs that run beside the app.

Each batch is its own transaction, so the application keeps running; row updates are
compare-and-set on the old values, so a row changed concurrently is left to its writer (counted
in ``conflicts``; rerun to sweep). The walk is ordered by a unique column and can be resumed
from the last id it reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Table, select, update
from sqlalchemy.sql.elements import ColumnElement

from gansu_health.core.database import write_transaction

Row = Mapping[Any, Any]


@dataclass(slots=True)
class ReencryptStats:
    """What a re-encryption pass did; ``failed`` names rows that did not open (old key kept)."""

    scanned: int = 0
    rewritten: int = 0
    conflicts: int = 0
    last_id: Any = None
    failed: list[str] = field(default_factory=list)


# handles one batch of rows inside its transaction, counting what it did in the stats
BatchHandler = Callable[[Connection, list[Row], ReencryptStats], None]


def cas_update(conn: Connection, table: Table, id_column: str, row: Row,
               changes: Mapping[str, Any]) -> bool:
    """Apply ``changes`` to ``row`` only if the changed columns still hold their old values."""
    guard = [table.c[n] == row[n] if row[n] is not None else table.c[n].is_(None)
             for n in changes]
    done = conn.execute(update(table).where(table.c[id_column] == row[id_column], *guard)
                        .values(**changes)).rowcount
    return bool(done)


def row_rewriter(table: Table, id_column: str,
                 rewrite: Callable[[Row], Mapping[str, Any]]) -> BatchHandler:
    """Return a batch handler applying ``rewrite(row)`` (the changed columns) to each row."""
    def handle(conn: Connection, rows: list[Row], stats: ReencryptStats) -> None:
        for row in rows:
            changes = rewrite(row)
            if changes:
                count(stats, cas_update(conn, table, id_column, row, changes))
    return handle


def count(stats: ReencryptStats, done: bool) -> None:
    """Count a compare-and-set update as rewritten, or as a conflict when the row had changed."""
    stats.rewritten += done
    stats.conflicts += not done


def walk_table(engine: Engine, table: Table, id_column: str, columns: Sequence[str],
               handle: BatchHandler, *, where: Sequence[ColumnElement[bool]] = (),
               batch: int = 500, start: Any = None,
               progress: Callable[[ReencryptStats], None] | None = None) -> ReencryptStats:
    """Hand ``table``'s rows (id and ``columns``) to ``handle`` batch by batch, in id order."""
    key = table.c[id_column]
    stats = ReencryptStats(last_id=start)
    while True:
        with write_transaction(engine) as conn:
            query = select(key, *(table.c[n] for n in columns if n != id_column)).where(
                *where).order_by(key).limit(batch)
            if stats.last_id is not None:
                query = query.where(key > stats.last_id)
            rows: list[Row] = [r._mapping for r in conn.execute(query)]
            if rows:
                handle(conn, rows, stats)
        stats.scanned += len(rows)
        if rows:
            stats.last_id = rows[-1][id_column]
        if progress is not None:
            progress(stats)
        if len(rows) < batch:
            return stats
