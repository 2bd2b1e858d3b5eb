"""Bulk registration: the after-write work of a whole Bundle in a few statements.

``MpiService.after_write`` takes this path when every stored record is a new source without
links (the usual transaction or create); it writes exactly what the per-record path writes
(records, keys, identifiers, golden records, links, link history, events, in the same order)
with one multi-row statement per table, and refreshes all touched golden Persons with one
``write_many``. Anything else (updates, deletions, existing links) takes the per-record path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, insert, select

from gansu_health.core.events import outbox, transaction_id
from gansu_health.fhir.storage.repository import Stored, WriteItem
from gansu_health.mpi import repository as repo
from gansu_health.mpi.golden import GOLDEN_TYPE, SourceView, build_golden, same_content
from gansu_health.mpi.models import (
    mpi_block_key,
    mpi_golden,
    mpi_identifier,
    mpi_link,
    mpi_link_history,
    mpi_record,
)

if TYPE_CHECKING:
    from gansu_health.mpi.decision import Pending
    from gansu_health.mpi.service import MpiService

CHUNK = 500
REASON = "registration"


def _chunks(items: Sequence[str]) -> list[list[str]]:
    return [list(items[i:i + CHUNK]) for i in range(0, len(items), CHUNK)]


def unlinked(conn: Connection, fids: Sequence[str]) -> bool:
    """Tell whether none of the sources has a link yet (the bulk path's precondition)."""
    return all(conn.execute(select(mpi_link.c.id).where(mpi_link.c.source_id.in_(chunk))
                            .limit(1)).first() is None for chunk in _chunks(fids))


def apply_new(mpi: MpiService, conn: Connection, items: Sequence[tuple[str, Pending]]
              ) -> list[str]:
    """Index new sources and link them as decided; return the golden ids to refresh."""
    node, stamp = mpi.node, repo.now_us()
    fids = [fid for fid, _ in items]
    for chunk in _chunks(fids):  # nothing to forget for new sources; kept for safety
        for table in (mpi_block_key, mpi_identifier, mpi_record):
            conn.execute(table.delete().where(table.c.patient_id.in_(chunk)))
    records, keys, idents = [], [], []
    for fid, p in items:
        indexed = mpi.vault.rows(node, fid, p.features, p.resident_id, p.verified, p.keys,
                                 p.identifiers, stamp)
        records.append(indexed.record)
        keys += indexed.keys
        idents += indexed.identifiers
    for table, rows in ((mpi_record, records), (mpi_block_key, keys), (mpi_identifier, idents)):
        if rows:
            conn.execute(insert(table), rows)
    new = [p.decision for _, p in items if p.decision.new_golden]
    known = {r.golden_id for chunk in _chunks([d.golden_id for d in new]) for r in conn.execute(
        select(mpi_golden.c.golden_id).where(mpi_golden.c.golden_id.in_(chunk)))}
    created = {d.golden_id: d.empi_id for d in new if d.golden_id not in known}
    if created:
        conn.execute(insert(mpi_golden), [
            {"golden_id": g, "node": node, "empi_id": e, "status": "active", "created_us": stamp,
             "updated_us": stamp} for g, e in created.items()])
    wanted: list[tuple[str, str, dict[str, Any]]] = []  # (source, golden, values) in order
    for fid, p in items:
        d = p.decision
        wanted.append((fid, d.golden_id, {"match_result": repo.MATCH, "link_source": d.link_source,
                                          "score": d.score, "grade": d.grade}))
        wanted += [(fid, s.golden_id, {"match_result": repo.POSSIBLE_MATCH,
                                       "link_source": repo.AUTO, "score": s.score,
                                       "grade": s.grade}) for s in d.possibles]
    version = mpi.scorer.model_version
    conn.execute(insert(mpi_link), [
        {"node": node, "source_id": s, "golden_id": g, "model_version": version, "version": 1,
         "created_us": stamp, "updated_us": stamp, **values} for s, g, values in wanted])
    links = {(link.source_id, link.golden_id): link for chunk in _chunks(fids)
             for link in map(repo.as_link, conn.execute(
                 select(mpi_link).where(mpi_link.c.source_id.in_(chunk))))}
    history, events = [], []
    at = 0
    for _, p in items:
        d = p.decision
        if d.golden_id in created:
            events.append(("mpi.golden.created", {"goldenId": d.golden_id, "empiId": d.empi_id}))
        for source, golden, _ in wanted[at:at + 1 + len(d.possibles)]:
            link = links[(source, golden)]
            history.append(repo.history_row(node, link, "created", REASON, stamp))
            events.append(("mpi.link.created", link_payload(link)))
        at += 1 + len(d.possibles)
    conn.execute(insert(mpi_link_history), history)
    emit_many(conn, node, events, stamp)
    return [p.decision.golden_id for _, p in items]


def link_payload(link: repo.Link) -> dict[str, Any]:
    """Describe a link for events and answers."""
    return {"linkId": link.id, "sourceId": link.source_id, "goldenId": link.golden_id,
            "matchResult": link.match_result, "linkSource": link.link_source,
            "score": link.score, "grade": link.grade, "modelVersion": link.model_version,
            "version": link.version}


def emit_many(conn: Connection, node: str, events: Sequence[tuple[str, dict[str, Any]]],
              stamp: int) -> None:
    """Record events in the outbox, in order, with one statement."""
    if events:
        txid = transaction_id(conn)
        conn.execute(insert(outbox), [
            {"txid": txid, "node": node, "topic": topic, "payload": orjson.dumps(payload),
             "created_us": stamp} for topic, payload in events])


def refresh_many(mpi: MpiService, conn: Connection, golden_ids: Sequence[str],
                 known: Mapping[str, tuple[Stored, bool]] | None = None) -> None:
    """Rewrite the golden Persons whose survivorship view changed, with one ``write_many``;
    ``known`` sources (just written: version, verified) are not read again."""
    known = known or {}
    ids = list(dict.fromkeys(golden_ids))
    if not ids:
        return
    rows = {r.golden_id: r for chunk in _chunks(ids) for r in conn.execute(
        select(mpi_golden).where(mpi_golden.c.golden_id.in_(chunk)))}
    active = [g for g in ids if g in rows and rows[g].status == "active"]
    absorbed: dict[str, list[tuple[str, str]]] = {}
    for chunk in _chunks(active):
        for r in conn.execute(select(mpi_golden.c.golden_id, mpi_golden.c.empi_id,
                                     mpi_golden.c.redirect_to)
                              .where(mpi_golden.c.redirect_to.in_(chunk),
                                     mpi_golden.c.status == "redirected")
                              .order_by(mpi_golden.c.created_us)):
            absorbed.setdefault(r.redirect_to, []).append((r.golden_id, r.empi_id))
    manual: dict[str, dict[str, bool]] = {g: {} for g in active}
    for chunk in _chunks(active):
        for r in conn.execute(select(mpi_link.c.golden_id, mpi_link.c.source_id,
                                     mpi_link.c.link_source)
                              .where(mpi_link.c.golden_id.in_(chunk),
                                     mpi_link.c.match_result == repo.MATCH)
                              .order_by(mpi_link.c.id)):
            manual[r.golden_id][r.source_id] = r.link_source == repo.MANUAL
    store = mpi.store
    missing = [fid for g in active for fid in manual[g] if fid not in known]
    loaded = store.load_many(conn, store.rids_of(conn, [("Patient", f) for f in missing]))
    info = repo.records(conn, missing)
    by_fid = {s.fid: (s, info.get(s.fid, (b"", True, 0))[1]) for s in loaded.values()}
    by_fid.update((fid, known[fid]) for g in active for fid in manual[g] if fid in known)
    current = {s.fid: s.json() for s in store.load_many(conn, store.rids_of(
        conn, [(GOLDEN_TYPE, g) for g in active])).values()}
    writes: list[WriteItem] = []
    for g in active:
        mine = manual[g]
        sources = [SourceView(s.fid, s.json(), verified, s.updated_us, mine[s.fid])
                   for s, verified in sorted((by_fid[f] for f in mine if f in by_fid),
                                             key=lambda pair: pair[0].rid)]
        old = absorbed.get(g, [])
        body = build_golden(g, rows[g].empi_id, sources, old_empi_ids=[e for _, e in old],
                            replaces=[o for o, _ in old])
        if g in current and same_content(current[g], body):
            continue
        writes.append(WriteItem(body, g))
    if writes:
        with mpi.internal(conn):
            store.write_many(conn, writes)
