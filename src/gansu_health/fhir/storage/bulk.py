"""Driver-level SQL for the write hot path: many rows per statement, no ORM or Core overhead."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, text

from gansu_health.core.database import is_sqlite
from gansu_health.fhir.storage.tables import INDEX_TABLES, resource, resource_version

CHUNK = 500


@cache
def _insert_sql(table_name: str, columns: tuple[str, ...], qmark: bool) -> str:
    marks = ", ".join("?" if qmark else "%s" for _ in columns)
    return f"INSERT INTO {table_name} ({', '.join(columns)}) VALUES ({marks})"


COPY_FROM = 16  # on PostgreSQL, COPY beats pipelined INSERTs from about this many rows


def insert_rows(conn: Connection, table_name: str, columns: tuple[str, ...],
                rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert many rows: executemany on SQLite, COPY on PostgreSQL for larger batches."""
    if not rows:
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
    """Reserve ``count`` new resource row ids (the caller holds the write transaction)."""
    if count == 0:
        return []
    if is_sqlite(conn):  # BEGIN IMMEDIATE: nobody else can insert until we commit
        start = conn.exec_driver_sql("SELECT COALESCE(MAX(rid), 0) FROM resource").scalar_one()
        return list(range(int(start) + 1, int(start) + 1 + count))
    rows = conn.execute(text(
        "SELECT nextval(pg_get_serial_sequence('resource', 'rid')) "
        "FROM generate_series(1, :n)"), {"n": count})
    return [int(r[0]) for r in rows]


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
