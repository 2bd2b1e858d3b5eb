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
