"""Queries and writes of the MPI tables; callers own the transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, delete, func, insert, or_, select, text, update

from gansu_health.core.clock import now, to_micros
from gansu_health.core.database import is_sqlite
from gansu_health.fhir.storage.tables import resource
from gansu_health.mpi.models import (
    mpi_block_key,
    mpi_golden,
    mpi_identifier,
    mpi_link,
    mpi_link_history,
    mpi_merge,
    mpi_not_duplicate,
    mpi_record,
)
from gansu_health.mpi.protect import SourceRows

MATCH, POSSIBLE_MATCH, NO_MATCH = "MATCH", "POSSIBLE_MATCH", "NO_MATCH"
AUTO, MANUAL = "AUTO", "MANUAL"


def _now() -> int:
    return to_micros(now())


@dataclass(frozen=True, slots=True)
class Link:
    """One source ↔ golden link."""

    id: int
    source_id: str
    golden_id: str
    match_result: str
    link_source: str
    score: float | None
    grade: str | None
    model_version: str
    version: int
    created_us: int
    updated_us: int


def now_us() -> int:
    """Return the current time in microseconds (the stamps of MPI rows)."""
    return _now()


def as_link(row: Any) -> Link:
    """Build a Link from an ``mpi_link`` row."""
    return _link(row)


def _link(row: Any) -> Link:
    return Link(row.id, row.source_id, row.golden_id, row.match_result, row.link_source,
                row.score, row.grade, row.model_version, row.version, row.created_us,
                row.updated_us)


def lock_keys(conn: Connection, keys: Iterable[str]) -> None:
    """Serialise registrations sharing a blocking key (PostgreSQL; SQLite writers are serial)."""
    if is_sqlite(conn):
        return
    locks = sorted({int.from_bytes(hashlib.sha256(f"mpi:{key}".encode()).digest()[:8], "big",
                                   signed=True) for key in keys})
    if locks:  # one statement, taken in array order: every transaction locks in the same order
        conn.execute(text("SELECT count(pg_advisory_xact_lock(k)) "
                          "FROM unnest(CAST(:ks AS bigint[])) AS k"), {"ks": locks})


# ---- features, blocking keys and identifiers of source records


def save_record(conn: Connection, rows: SourceRows) -> None:
    """Store (replace) a source record's features, blocking keys and identifiers."""
    delete_record(conn, rows.record["patient_id"])
    conn.execute(insert(mpi_record).values(**rows.record))
    if rows.keys:
        conn.execute(insert(mpi_block_key), rows.keys)
    if rows.identifiers:
        conn.execute(insert(mpi_identifier), rows.identifiers)


def delete_record(conn: Connection, fid: str) -> None:
    """Forget a source record's features, keys and identifiers."""
    for table in (mpi_block_key, mpi_identifier, mpi_record):
        conn.execute(delete(table).where(table.c.patient_id == fid))


def has_record(conn: Connection, fid: str) -> bool:
    """Tell whether a source record is indexed."""
    return conn.execute(select(mpi_record.c.patient_id).where(
        mpi_record.c.patient_id == fid)).first() is not None


def records(conn: Connection, fids: Sequence[str]) -> dict[str, tuple[bytes, bool, int]]:
    """Return fid → (features, verified, updated_us) of indexed source records."""
    if not fids:
        return {}
    rows = conn.execute(select(mpi_record).where(mpi_record.c.patient_id.in_(list(fids))))
    return {r.patient_id: (r.features, r.verified, r.updated_us) for r in rows}


def sources_with_identifier(conn: Connection, system: str, values: Sequence[str]) -> list[str]:
    """Return the source records carrying ``system`` and one of the stored forms ``values``."""
    rows = conn.execute(select(mpi_identifier.c.patient_id).where(
        mpi_identifier.c.system == system, mpi_identifier.c.value.in_(list(values))))
    return sorted({r.patient_id for r in rows})


def system_known(conn: Connection, system: str) -> bool:
    """Tell whether any source record has an identifier in ``system``."""
    return conn.execute(select(mpi_identifier.c.id).where(
        mpi_identifier.c.system == system).limit(1)).first() is not None


def indexed_after(conn: Connection, after: str, limit: int) -> list[str]:
    """Return indexed source ids in id order, for batch scans."""
    rows = conn.execute(select(mpi_record.c.patient_id).where(mpi_record.c.patient_id > after)
                        .order_by(mpi_record.c.patient_id).limit(limit))
    return [r.patient_id for r in rows]


# ---- golden records


def insert_golden(conn: Connection, node: str, golden_id: str, empi_id: str) -> None:
    """Register a new golden record and its enterprise id."""
    stamp = _now()
    conn.execute(insert(mpi_golden).values(golden_id=golden_id, node=node, empi_id=empi_id,
                                           status="active", created_us=stamp, updated_us=stamp))


def golden(conn: Connection, golden_id: str) -> Any:
    """Return the golden row (golden_id, empi_id, status, redirect_to) or None."""
    return conn.execute(select(mpi_golden).where(mpi_golden.c.golden_id == golden_id)).first()


def golden_by_empi(conn: Connection, empi_id: str) -> Any:
    """Return the golden row with this enterprise id, or None."""
    return conn.execute(select(mpi_golden).where(mpi_golden.c.empi_id == empi_id)).first()


def set_golden_status(conn: Connection, golden_id: str, status: str,
                      redirect_to: str | None) -> None:
    """Mark a golden record active or redirected (merged into ``redirect_to``)."""
    conn.execute(update(mpi_golden).where(mpi_golden.c.golden_id == golden_id).values(
        status=status, redirect_to=redirect_to, updated_us=_now()))


def absorbed(conn: Connection, golden_id: str) -> list[tuple[str, str]]:
    """Return (golden_id, empi_id) of the golden records currently merged into this one."""
    rows = conn.execute(select(mpi_golden.c.golden_id, mpi_golden.c.empi_id).where(
        mpi_golden.c.redirect_to == golden_id, mpi_golden.c.status == "redirected")
        .order_by(mpi_golden.c.created_us))
    return [(r.golden_id, r.empi_id) for r in rows]


# ---- links and their history


def links_of(conn: Connection, *, source_id: str | None = None, golden_id: str | None = None,
             result: str | None = None) -> list[Link]:
    """Return links filtered by source, golden record and match result."""
    query = select(mpi_link)
    if source_id is not None:
        query = query.where(mpi_link.c.source_id == source_id)
    if golden_id is not None:
        query = query.where(mpi_link.c.golden_id == golden_id)
    if result is not None and source_id is None:
        query = query.where(mpi_link.c.match_result == result)
    links = [_link(r) for r in conn.execute(query.order_by(mpi_link.c.id))]
    if result is not None and source_id is not None:
        # a source has a handful of links: filtering here keeps SQLite on the source_id index
        # instead of scanning ix_mpi_link_result (every MATCH link) for each source
        links = [link for link in links if link.match_result == result]
    return links


def match_link(conn: Connection, source_id: str) -> Link | None:
    """Return the MATCH link of a source record (there is at most one)."""
    found = links_of(conn, source_id=source_id, result=MATCH)
    return found[0] if found else None


def history_row(node: str, link: Link, action: str, reason: str, stamp: int
                ) -> dict[str, Any]:
    """Return the ``mpi_link_history`` row recording a link change."""
    return {"node": node, "link_id": link.id, "source_id": link.source_id,
            "golden_id": link.golden_id, "match_result": link.match_result,
            "link_source": link.link_source, "score": link.score, "grade": link.grade,
            "model_version": link.model_version, "action": action, "reason": reason,
            "changed_us": stamp}


def _history(conn: Connection, node: str, link: Link, action: str, reason: str) -> None:
    conn.execute(insert(mpi_link_history).values(**history_row(node, link, action, reason,
                                                               _now())))


def save_link(conn: Connection, node: str, source_id: str, golden_id: str, result: str,
              link_source: str, score: float | None, grade: str | None, model_version: str,
              reason: str) -> tuple[Link | None, Link]:
    """Create or change the (source, golden) link; return (before, after) and record history."""
    before = next(iter(links_of(conn, source_id=source_id, golden_id=golden_id)), None)
    stamp = _now()
    values = {"match_result": result, "link_source": link_source, "score": score,
              "grade": grade, "model_version": model_version, "updated_us": stamp}
    if before is None:
        conn.execute(insert(mpi_link).values(node=node, source_id=source_id,
                                             golden_id=golden_id, version=1, created_us=stamp,
                                             **values))
    else:
        conn.execute(update(mpi_link).where(mpi_link.c.id == before.id).values(
            version=before.version + 1, **values))
    after = links_of(conn, source_id=source_id, golden_id=golden_id)[0]
    _history(conn, node, after, "created" if before is None else "changed", reason)
    return before, after


def move_link(conn: Connection, node: str, link: Link, golden_id: str, reason: str) -> Link:
    """Point a link at another golden record (merge/unmerge), keeping its id and history."""
    conn.execute(update(mpi_link).where(mpi_link.c.id == link.id).values(
        golden_id=golden_id, version=link.version + 1, updated_us=_now()))
    after = _link(conn.execute(select(mpi_link).where(mpi_link.c.id == link.id)).one())
    _history(conn, node, after, "changed", reason)
    return after


def delete_link(conn: Connection, node: str, link: Link, reason: str) -> None:
    """Remove a link, recording it in the history."""
    conn.execute(delete(mpi_link).where(mpi_link.c.id == link.id))
    _history(conn, node, link, "deleted", reason)


def query_links(conn: Connection, *, golden_id: str | None, source_id: str | None,
                result: str | None, link_source: str | None, offset: int, limit: int,
                by_score: bool = False) -> list[Link]:
    """Return a page of links matching the filters."""
    query = select(mpi_link)
    for column, value in ((mpi_link.c.golden_id, golden_id), (mpi_link.c.source_id, source_id),
                          (mpi_link.c.match_result, result),
                          (mpi_link.c.link_source, link_source)):
        if value is not None:
            query = query.where(column == value)
    order = (mpi_link.c.score.desc(), mpi_link.c.id) if by_score else (mpi_link.c.id,)
    return [_link(r) for r in conn.execute(query.order_by(*order).offset(offset).limit(limit))]


def link_history(conn: Connection, *, golden_ids: Sequence[str], source_ids: Sequence[str]
                 ) -> list[Any]:
    """Return history rows of links touching the given golden or source records, oldest first."""
    conds = []
    if golden_ids:
        conds.append(mpi_link_history.c.golden_id.in_(list(golden_ids)))
    if source_ids:
        conds.append(mpi_link_history.c.source_id.in_(list(source_ids)))
    if not conds:
        return []
    return list(conn.execute(select(mpi_link_history).where(or_(*conds))
                             .order_by(mpi_link_history.c.id)))


# ---- pairs declared distinct


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def add_not_duplicate(conn: Connection, node: str, a: str, b: str) -> bool:
    """Record that two records are not the same person; return False when already recorded."""
    lo, hi = _pair(a, b)
    if is_not_duplicate(conn, lo, hi):
        return False
    conn.execute(insert(mpi_not_duplicate).values(node=node, a_id=lo, b_id=hi,
                                                  created_us=_now()))
    return True


def is_not_duplicate(conn: Connection, a: str, b: str) -> bool:
    """Tell whether a pair was declared not to be duplicates."""
    lo, hi = _pair(a, b)
    return conn.execute(select(mpi_not_duplicate.c.id).where(
        mpi_not_duplicate.c.a_id == lo, mpi_not_duplicate.c.b_id == hi)).first() is not None


def not_duplicates_of(conn: Connection, ids: Sequence[str]) -> set[tuple[str, str]]:
    """Return the declared-distinct pairs (ordered) that involve any of ``ids``."""
    if not ids:
        return set()
    rows = conn.execute(select(mpi_not_duplicate.c.a_id, mpi_not_duplicate.c.b_id).where(
        or_(mpi_not_duplicate.c.a_id.in_(list(ids)), mpi_not_duplicate.c.b_id.in_(list(ids)))))
    return {(r.a_id, r.b_id) for r in rows}


# ---- merges


def insert_merge(conn: Connection, node: str, from_id: str, to_id: str, from_version: int,
                 to_version: int, moved: dict[str, Any]) -> int:
    """Record a merge of golden records; return its id."""
    result = conn.execute(insert(mpi_merge).values(
        node=node, from_id=from_id, to_id=to_id, from_version=from_version,
        to_version=to_version, moved=orjson.dumps(moved), state="merged",
        created_us=_now()).returning(mpi_merge.c.id))
    return int(result.scalar_one())


def merge_row(conn: Connection, merge_id: int | None, golden_id: str | None) -> Any:
    """Return a merge by id, or the latest live merge touching a golden record."""
    query = select(mpi_merge).where(mpi_merge.c.state == "merged")
    if merge_id is not None:
        query = query.where(mpi_merge.c.id == merge_id)
    if golden_id is not None:
        query = query.where(or_(mpi_merge.c.from_id == golden_id,
                                mpi_merge.c.to_id == golden_id))
    return conn.execute(query.order_by(mpi_merge.c.id.desc()).limit(1)).first()


def mark_undone(conn: Connection, merge_id: int) -> None:
    """Mark a merge as undone."""
    conn.execute(update(mpi_merge).where(mpi_merge.c.id == merge_id).values(
        state="undone", undone_us=_now()))


def link_by_id(conn: Connection, link_id: int) -> Link | None:
    """Return a link by id."""
    row = conn.execute(select(mpi_link).where(mpi_link.c.id == link_id)).first()
    return _link(row) if row else None


def unindexed_patients(conn: Connection, after_rid: int, limit: int) -> list[int]:
    """Return row ids of live Patients that are not indexed sources (goldens are Persons)."""
    query = (select(resource.c.rid)
             .outerjoin(mpi_record, mpi_record.c.patient_id == resource.c.fid)
             .where(resource.c.rtype == "Patient", resource.c.deleted.is_(False),
                    resource.c.rid > after_rid, mpi_record.c.patient_id.is_(None))
             .order_by(resource.c.rid).limit(limit))
    return [r.rid for r in conn.execute(query)]


def count_indexed(conn: Connection) -> int:
    """Count indexed source records."""
    return int(conn.execute(select(func.count()).select_from(mpi_record)).scalar_one())


def unlinked_sources(conn: Connection) -> list[str]:
    """Return indexed source records without a MATCH link."""
    linked = select(mpi_link.c.source_id).where(mpi_link.c.match_result == MATCH)
    rows = conn.execute(select(mpi_record.c.patient_id).where(
        mpi_record.c.patient_id.not_in(linked)).order_by(mpi_record.c.patient_id))
    return [r.patient_id for r in rows]
