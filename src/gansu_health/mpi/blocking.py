"""Candidate lookup: the source records sharing blocking keys with a record, in one query."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from sqlalchemy import Connection

from gansu_health.core.database import is_sqlite


@dataclass(frozen=True, slots=True)
class Candidate:
    """A source record sharing a blocking key, with its golden record and stored features."""

    source_id: str
    golden_id: str | None
    features: bytes


@cache
def _candidates_sql(keys: int, exclude: bool, linked_only: bool, qmark: bool) -> str:
    """The candidate lookup: index searches on ``mpi_block_key.key``, then on ``source_id``.

    On SQLite, ``+match_result`` keeps the planner off ``ix_mpi_link_result`` (a scan of every
    MATCH link per candidate); the source id is the selective column.
    """
    mark = "?" if qmark else "%s"
    result = "+m.match_result" if qmark else "m.match_result"
    where = [f"k.key IN ({', '.join([mark] * keys)})"]
    if exclude:
        where.append(f"k.patient_id <> {mark}")
    if linked_only:
        where.append("EXISTS (SELECT 1 FROM mpi_link m WHERE m.source_id = k.patient_id "
                     f"AND {result} = 'MATCH')")
    top = (f"SELECT k.patient_id AS pid, count(*) AS shared FROM mpi_block_key k "
           f"WHERE {' AND '.join(where)} GROUP BY k.patient_id "
           f"ORDER BY shared DESC, k.patient_id LIMIT {mark}")
    return (f"SELECT r.patient_id, r.features, m.golden_id FROM ({top}) t "
            "JOIN mpi_record r ON r.patient_id = t.pid "
            f"LEFT JOIN mpi_link m ON m.source_id = r.patient_id AND {result} = 'MATCH' "
            "ORDER BY t.shared DESC, t.pid")


def candidates(conn: Connection, keys: Sequence[str], *, exclude: str | None, limit: int,
               linked_only: bool = True) -> list[Candidate]:
    """Source records sharing blocking keys (most shared keys first), with their golden record."""
    if not keys:
        return []
    wanted = sorted(set(keys))
    params = (*wanted, *([exclude] if exclude is not None else []), limit)
    sql = _candidates_sql(len(wanted), exclude is not None, linked_only, is_sqlite(conn))
    return [Candidate(r[0], r[2], r[1]) for r in conn.exec_driver_sql(sql, params)]


CHUNK = 500


def _dialect(conn: Connection) -> tuple[str, str]:
    """(parameter mark, MATCH column) of the connection's dialect; see ``_candidates_sql``."""
    return ("?", "+m.match_result") if is_sqlite(conn) else ("%s", "m.match_result")


def _key_rows(conn: Connection, keys: Sequence[str], linked_only: bool
              ) -> dict[str, list[str]]:
    """Return the source ids filed under each key (sources with a MATCH link, if asked)."""
    mark, result = _dialect(conn)
    linked = (" AND EXISTS (SELECT 1 FROM mpi_link m WHERE m.source_id = k.patient_id "
              f"AND {result} = 'MATCH')") if linked_only else ""
    found: dict[str, list[str]] = {}
    for i in range(0, len(keys), CHUNK):
        chunk = list(keys[i:i + CHUNK])
        sql = (f"SELECT k.key, k.patient_id FROM mpi_block_key k "
               f"WHERE k.key IN ({', '.join([mark] * len(chunk))}){linked}")
        for key, pid in conn.exec_driver_sql(sql, tuple(chunk)):
            found.setdefault(key, []).append(pid)
    return found


def _records(conn: Connection, pids: Sequence[str]) -> dict[str, tuple[bytes, str | None]]:
    """Return (features, MATCH golden id) of source records."""
    mark, result = _dialect(conn)
    found: dict[str, tuple[bytes, str | None]] = {}
    for i in range(0, len(pids), CHUNK):
        chunk = list(pids[i:i + CHUNK])
        sql = ("SELECT r.patient_id, r.features, m.golden_id FROM mpi_record r "
               f"LEFT JOIN mpi_link m ON m.source_id = r.patient_id AND {result} = 'MATCH' "
               f"WHERE r.patient_id IN ({', '.join([mark] * len(chunk))})")
        for pid, features, golden_id in conn.exec_driver_sql(sql, tuple(chunk)):
            found[pid] = (features, golden_id)
    return found


def candidates_many(conn: Connection, lookups: Sequence[tuple[Sequence[str], str | None]], *,
                    limit: int, linked_only: bool = True) -> list[list[Candidate]]:
    """:func:`candidates` for many (keys, exclude) lookups with a few queries in all."""
    by_key = _key_rows(conn, sorted({k for keys, _ in lookups for k in keys}), linked_only)
    tops: list[list[str]] = []
    for keys, exclude in lookups:
        shared: dict[str, int] = {}
        for key in set(keys):
            for pid in by_key.get(key, ()):
                if pid != exclude:
                    shared[pid] = shared.get(pid, 0) + 1
        tops.append(sorted(shared, key=lambda pid: (-shared[pid], pid))[:limit])
    rows = _records(conn, sorted({pid for top in tops for pid in top}))
    return [[Candidate(pid, rows[pid][1], rows[pid][0]) for pid in top if pid in rows]
            for top in tops]
