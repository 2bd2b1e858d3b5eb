"""Driver-level SQL for the write hot path: many rows per statement, no ORM or Core overhead."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql

from gansu_health.core.database import fetch_rows, in_pipeline, is_sqlite
from gansu_health.core.events import TXID_SQL, note_transaction_id
from gansu_health.fhir.storage.tables import INDEX_TABLES, resource, resource_version

CHUNK = 500


@cache
def _insert_sql(table_name: str, columns: tuple[str, ...], qmark: bool) -> str:
    marks = ", ".join("?" if qmark else "%s" for _ in columns)
    return f"INSERT INTO {table_name} ({', '.join(columns)}) VALUES ({marks})"


COPY_FROM = 16  # on PostgreSQL, COPY beats pipelined INSERTs from about this many rows
_TABLES = {t.name: t for t in (resource, resource_version, *INDEX_TABLES.values())}
_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


@cache
def _unnest_sql(table_name: str, columns: tuple[str, ...]) -> str:
    table = _TABLES[table_name]
    arrays = ", ".join(
        f"%s::{table.c[c].type.compile(dialect=_PG).split(' COLLATE')[0]}[]"
        for c in columns)
    return f"INSERT INTO {table_name} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"


def insert_rows(conn: Connection, table_name: str, columns: tuple[str, ...],
                rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert many rows: executemany on SQLite; on PostgreSQL one statement of column arrays
    inside ``pipelined`` (COPY cannot run there), else COPY for larger batches."""
    if not rows:
        return
    if in_pipeline(conn):
        conn.exec_driver_sql(_unnest_sql(table_name, columns),
                             tuple(list(column) for column in zip(*rows, strict=True)))
        return
    if is_sqlite(conn) or len(rows) < COPY_FROM:
        conn.exec_driver_sql(_insert_sql(table_name, columns, is_sqlite(conn)), list(rows))
        return
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cur, cur.copy(
            f"COPY {table_name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def allocate_rids(conn: Connection, count: int) -> list[int]:
    """Reserve ``count`` new resource row ids (the caller holds the write transaction); on
    PostgreSQL the transaction id is read in the same round trip."""
    if count == 0:
        return []
    if is_sqlite(conn):  # BEGIN IMMEDIATE: nobody else can insert until we commit
        start = conn.exec_driver_sql("SELECT COALESCE(MAX(rid), 0) FROM resource").scalar_one()
        return list(range(int(start) + 1, int(start) + 1 + count))
    rows = fetch_rows(conn, f"SELECT {TXID_SQL}, nextval(pg_get_serial_sequence('resource', "
                      "'rid')) FROM generate_series(1, %s)", (count,))
    note_transaction_id(conn, int(rows[0][0]))
    return [int(r[1]) for r in rows]


def delete_index(conn: Connection, rids: Sequence[int]) -> None:
    """Remove the index rows of the given resources from every index table."""
    qmark = is_sqlite(conn)
    for i in range(0, len(rids), CHUNK):
        chunk = list(rids[i:i + CHUNK])
        marks = ", ".join("?" if qmark else "%s" for _ in chunk)
        for table in INDEX_TABLES.values():
            conn.exec_driver_sql(f"DELETE FROM {table.name} WHERE rid IN ({marks})", tuple(chunk))


def update_current(conn: Connection, rows: Sequence[tuple[int, int, bool, int]]) -> None:
    """Point existing resources at new versions: rows of (version, updated_us, deleted, rid)."""
    if rows:
        mark = "?" if is_sqlite(conn) else "%s"
        conn.exec_driver_sql(
            f"UPDATE resource SET version = {mark}, updated_us = {mark}, deleted = {mark} "
            f"WHERE rid = {mark}", list(rows))


RESOURCE_COLUMNS = tuple(c.name for c in resource.columns)
VERSION_COLUMNS = tuple(c.name for c in resource_version.columns if c.name != "seq")
INDEX_COLUMNS = {ptype: tuple(c.name for c in table.columns)
                 for ptype, table in INDEX_TABLES.items()}
