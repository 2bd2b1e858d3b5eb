"""Queries and writes of stored resources: current pointers, versions, index rows, history."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, select, text, tuple_
from sqlalchemy.sql.elements import ColumnElement

from gansu_health.core.clock import fhir_instant, now, to_micros
from gansu_health.core.database import is_sqlite, pipelined
from gansu_health.core.errors import Gone, NotFound, PreconditionFailed
from gansu_health.core.events import transaction_id
from gansu_health.fhir import jsonio
from gansu_health.fhir.search.indexer import Indexer
from gansu_health.fhir.storage import bulk
from gansu_health.fhir.storage.protection import FieldProtection
from gansu_health.fhir.storage.tables import INDEX_TABLES, resource, resource_version

PIPELINE_ROWS = 1000  # a write with more rows than this COPYs them (faster, one round trip each)
METHOD_STATUS = {"create": "201", "update": "200", "delete": "204"}


@dataclass(slots=True)
class Stored:
    """One stored version of a resource, with its JSON bytes (None when deleted)."""

    rid: int
    rtype: str
    fid: str
    version: int
    updated_us: int
    content: bytes | None
    method: str = "update"
    seq: int = 0
    txid: int = 0

    @property
    def deleted(self) -> bool:
        """Tell whether this version is a deletion."""
        return self.content is None

    @property
    def etag(self) -> str:
        """Return the weak ETag of this version."""
        return f'W/"{self.version}"'

    @property
    def last_modified(self) -> str:
        """Return the lastUpdated instant of this version."""
        return fhir_instant(self.updated_us)

    def json(self) -> dict[str, Any]:
        """Parse the stored JSON."""
        return jsonio.loads(self.content) if self.content else {}


@dataclass(slots=True)
class WriteItem:
    """One resource to store: a new resource (no id, or ``new``) or a version of an existing one."""

    body: dict[str, Any]
    fid: str | None = None
    if_match: int | None = None
    new: bool = False  # the id was just assigned by this server, so it cannot exist yet


def new_id() -> str:
    """Return a fresh server-assigned logical id."""
    return str(uuid.uuid4())


_txid = transaction_id


BeforeWrite = Callable[[Connection, dict[str, Any], bool], None]
BeforeWriteMany = Callable[[Connection, list[tuple[dict[str, Any], bool]]], None]
AfterWrite = Callable[[Connection, list[Stored]], None]


class ResourceStore:
    """Reads and writes FHIR resources; callers own the transaction.

    Domains plug in per resource type: ``before_write`` hooks may amend a body before it is
    stored (told whether it is new), ``after_write`` hooks see what was stored (deletions too),
    in the same transaction. With a ``protection`` installed, version rows hold sealed values,
    index rows blind ones, and every read opens them again: hooks and callers see plaintext.
    """

    def __init__(self, indexer: Indexer, node: str) -> None:
        self.indexer = indexer
        self.node = node
        self.protection: FieldProtection | None = None
        self.before_write: dict[str, list[BeforeWrite]] = {}
        self.before_write_many: dict[str, list[BeforeWriteMany]] = {}
        self.after_write: dict[str, list[AfterWrite]] = {}

    def on_before_write(self, rtype: str, hook: BeforeWrite) -> None:
        """Call ``hook(conn, body, is_new)`` before each ``rtype`` body is stored."""
        self.before_write.setdefault(rtype, []).append(hook)

    def on_before_write_many(self, rtype: str, hook: BeforeWriteMany) -> None:
        """Call ``hook(conn, [(body, is_new), …])`` once per write before the per-body hooks."""
        self.before_write_many.setdefault(rtype, []).append(hook)

    def on_after_write(self, rtype: str, hook: AfterWrite) -> None:
        """Call ``hook(conn, stored)`` after ``rtype`` versions (or deletions) are stored."""
        self.after_write.setdefault(rtype, []).append(hook)

    def _after(self, conn: Connection, stored: list[Stored]) -> None:
        if not self.after_write:
            return
        by_type: dict[str, list[Stored]] = {}
        for s in stored:
            by_type.setdefault(s.rtype, []).append(s)
        for rtype, group in by_type.items():
            for hook in self.after_write.get(rtype, ()):
                hook(conn, group)

    def reveal(self, stored: Stored) -> Stored:
        """Open the protected values of a version read from the database (in place)."""
        if self.protection is not None and stored.content is not None:
            stored.content = self.protection.open(stored.rtype, stored.fid, stored.content)
        return stored

    def _index_body(self, rtype: str, body: dict[str, Any]) -> dict[str, Any]:
        protection = self.protection
        if protection is None or not protection.protects(rtype):
            return body
        return protection.index_body(rtype, body)

    def _at_rest(self, rtype: str, fid: str, body: dict[str, Any], content: bytes) -> bytes:
        protection = self.protection
        if protection is None or not protection.protects(rtype):
            return content
        return jsonio.dumps(protection.seal(rtype, fid, body))

    def current(self, conn: Connection, rtype: str, fid: str, *, lock: bool = False
                ) -> tuple[int, int, bool] | None:
        """Return (rid, version, deleted) of the current version, or None."""
        query = select(resource.c.rid, resource.c.version, resource.c.deleted).where(
            resource.c.rtype == rtype, resource.c.fid == fid)
        if lock and not is_sqlite(conn):
            query = query.with_for_update()
        row = conn.execute(query).first()
        return (row.rid, row.version, row.deleted) if row else None

    def lock(self, conn: Connection, rtype: str, fids: Sequence[str]) -> None:
        """Lock the current rows of many resources, in id order (PostgreSQL; no-op on SQLite)."""
        if is_sqlite(conn):
            return
        wanted = sorted(set(fids))
        for i in range(0, len(wanted), bulk.CHUNK):
            conn.execute(select(resource.c.rid).where(
                resource.c.rtype == rtype, resource.c.fid.in_(wanted[i:i + bulk.CHUNK]))
                .order_by(resource.c.fid).with_for_update()).all()

    def read(self, conn: Connection, rtype: str, fid: str) -> Stored:
        """Return the current version, raising NotFound or Gone."""
        row = conn.execute(
            select(resource.c.rid, resource.c.version, resource.c.updated_us,
                   resource_version.c.content)
            .join(resource_version, and_(resource_version.c.rid == resource.c.rid,
                                         resource_version.c.version == resource.c.version))
            .where(resource.c.rtype == rtype, resource.c.fid == fid)
        ).first()
        if row is None:
            raise NotFound(f"{rtype}/{fid} is not known")
        if row.content is None:
            raise Gone(f"{rtype}/{fid} was deleted (version {row.version})")
        return self.reveal(Stored(row.rid, rtype, fid, row.version, row.updated_us, row.content))

    def vread(self, conn: Connection, rtype: str, fid: str, version: int) -> Stored:
        """Return one version, raising NotFound or Gone."""
        row = conn.execute(
            select(resource_version).where(resource_version.c.rtype == rtype,
                                           resource_version.c.fid == fid,
                                           resource_version.c.version == version)
        ).first()
        if row is None:
            raise NotFound(f"{rtype}/{fid} has no version {version}")
        if row.content is None:
            raise Gone(f"version {version} of {rtype}/{fid} is a deletion")
        return self._stored(row)

    def load_many(self, conn: Connection, rids: Sequence[int]) -> dict[int, Stored]:
        """Return the current versions of many resources by row id."""
        if not rids:
            return {}
        rows = conn.execute(
            select(resource.c.rid, resource.c.rtype, resource.c.fid, resource.c.version,
                   resource.c.updated_us, resource_version.c.content)
            .join(resource_version, and_(resource_version.c.rid == resource.c.rid,
                                         resource_version.c.version == resource.c.version))
            .where(resource.c.rid.in_(list(rids)), resource.c.deleted.is_(False))
        )
        return {r.rid: self.reveal(Stored(r.rid, r.rtype, r.fid, r.version, r.updated_us,
                                          r.content)) for r in rows}

    def rids_of(self, conn: Connection, keys: Sequence[tuple[str, str]]) -> list[int]:
        """Return row ids of live resources named by (type, id) pairs."""
        if not keys:
            return []
        rows = conn.execute(select(resource.c.rid).where(
            tuple_(resource.c.rtype, resource.c.fid).in_(list(keys)),
            resource.c.deleted.is_(False)))
        return [r.rid for r in rows]

    def write(self, conn: Connection, body: dict[str, Any], *, fid: str | None = None,
              if_match: int | None = None, method: str = "update") -> Stored:
        """Store a new version of ``body`` (create when the id is new); indexes it."""
        return self.write_many(conn, [WriteItem(body, fid, if_match)])[0]

    def write_many(self, conn: Connection, items: Sequence[WriteItem]) -> list[Stored]:
        """Store many resources at once; each item is a create or an update by id."""
        keys = [(i.body["resourceType"], i.fid or i.body.get("id")) for i in items]
        if len({k for k in keys if k[1]}) < sum(1 for k in keys if k[1]):
            return [self.write_many(conn, [item])[0] for item in items]  # same id twice
        existing = self._currents(conn, [(t, f) for i, (t, f) in zip(items, keys, strict=True)
                                         if f and not i.new])
        for item, (rtype, fid) in zip(items, keys, strict=True):
            have = existing.get((rtype, fid)) if fid else None
            if item.if_match is not None and (have is None or have[1] != item.if_match):
                raise PreconditionFailed(
                    f"If-Match expects version {item.if_match} of {rtype}/{fid} but the current "
                    f"is {'none' if have is None else have[1]}", expression="If-Match")
        named: list[tuple[str, str]] = []
        fresh: list[bool] = []
        for item, (rtype, fid) in zip(items, keys, strict=True):
            fid = fid or new_id()
            have = existing.get((rtype, fid))
            item.body["id"] = fid
            named.append((rtype, fid))
            fresh.append(have is None or have[2])
        self._before_many(conn, items, named, fresh)
        for item, (rtype, _), is_new in zip(items, named, fresh, strict=True):
            for before in self.before_write.get(rtype, ()):
                before(conn, item.body, is_new)
        # row ids are reserved only after the hooks, which may themselves have stored resources
        rids = iter(bulk.allocate_rids(conn, sum(k not in existing for k in named)))
        stamp = to_micros(now())
        txid = _txid(conn)
        out: list[Stored] = []
        new_rows, updates, versions, reindexed = [], [], [], []
        index_rows: dict[str, list[tuple[Any, ...]]] = {}
        for item, (rtype, fid) in zip(items, named, strict=True):
            have = existing.get((rtype, fid))
            version = have[1] + 1 if have else 1
            body = item.body
            meta = body.get("meta") or {}
            meta["versionId"] = str(version)
            meta["lastUpdated"] = fhir_instant(stamp)
            body["meta"] = meta
            content = jsonio.dumps(body)
            if have is None:
                rid = next(rids)
                new_rows.append((rid, self.node, rtype, fid, version, stamp, False))
                method = "create"
            else:
                rid = have[0]
                updates.append((version, stamp, False, rid))
                reindexed.append(rid)
                method = "create" if have[2] else "update"
            versions.append((txid, self.node, rid, rtype, fid, version, stamp, method,
                             self._at_rest(rtype, fid, body, content)))
            for ptype, rows in self.indexer.rows(self._index_body(rtype, body)).items():
                index_rows.setdefault(ptype, []).extend(
                    (rid, self.node, rtype, *row) for row in rows)
            out.append(Stored(rid, rtype, fid, version, stamp, content, method))
        size = len(new_rows) + len(versions) + sum(len(r) for r in index_rows.values())
        with pipelined(conn) if size <= PIPELINE_ROWS else nullcontext():
            bulk.insert_rows(conn, "resource", bulk.RESOURCE_COLUMNS, new_rows)
            bulk.update_current(conn, updates)
            bulk.delete_index(conn, reindexed)
            bulk.insert_rows(conn, "resource_version", bulk.VERSION_COLUMNS, versions)
            for ptype, rows in index_rows.items():
                bulk.insert_rows(conn, INDEX_TABLES[ptype].name, bulk.INDEX_COLUMNS[ptype], rows)
        self._after(conn, out)
        return out

    def _before_many(self, conn: Connection, items: Sequence[WriteItem],
                     named: Sequence[tuple[str, str]], fresh: Sequence[bool]) -> None:
        for rtype, hooks in self.before_write_many.items():
            group = [(item.body, is_new) for item, (t, _), is_new in
                     zip(items, named, fresh, strict=True) if t == rtype]
            for hook in hooks if group else ():
                hook(conn, group)

    def _currents(self, conn: Connection, keys: Sequence[tuple[str, str]]
                  ) -> dict[tuple[str, str], tuple[int, int, bool]]:
        found: dict[tuple[str, str], tuple[int, int, bool]] = {}
        for i in range(0, len(keys), bulk.CHUNK):
            chunk = list(keys[i:i + bulk.CHUNK])
            query = select(resource.c.rid, resource.c.rtype, resource.c.fid, resource.c.version,
                           resource.c.deleted).where(
                tuple_(resource.c.rtype, resource.c.fid).in_(chunk))
            if not is_sqlite(conn):
                query = query.with_for_update()
            for r in conn.execute(query):
                found[(r.rtype, r.fid)] = (r.rid, r.version, r.deleted)
        return found

    def delete(self, conn: Connection, rtype: str, fid: str) -> Stored | None:
        """Record a deletion; return it, or None when there was nothing live to delete."""
        existing = self.current(conn, rtype, fid, lock=True)
        if existing is None or existing[2]:
            return None
        rid, version = existing[0], existing[1] + 1
        stamp = to_micros(now())
        bulk.update_current(conn, [(version, stamp, True, rid)])
        bulk.delete_index(conn, [rid])
        bulk.insert_rows(conn, "resource_version", bulk.VERSION_COLUMNS, [
            (_txid(conn), self.node, rid, rtype, fid, version, stamp, "delete", None)])
        stored = Stored(rid, rtype, fid, version, stamp, None, "delete")
        self._after(conn, [stored])
        return stored

    def reindex(self, conn: Connection, rids: Sequence[int]) -> int:
        """Rebuild the index rows of the given resources; return how many were reindexed."""
        loaded = self.load_many(conn, rids)
        bulk.delete_index(conn, list(loaded))
        index_rows: dict[str, list[tuple[Any, ...]]] = {}
        for rid, stored in loaded.items():
            for ptype, rows in self.indexer.rows(self._index_body(stored.rtype,
                                                                  stored.json())).items():
                index_rows.setdefault(ptype, []).extend(
                    (rid, self.node, stored.rtype, *row) for row in rows)
        for ptype, rows in index_rows.items():
            bulk.insert_rows(conn, INDEX_TABLES[ptype].name, bulk.INDEX_COLUMNS[ptype], rows)
        return len(loaded)

    def _stored(self, row: Any) -> Stored:
        return self.reveal(Stored(row.rid, row.rtype, row.fid, row.version, row.updated_us,
                                  row.content, row.method, row.seq, row.txid))

    def history(self, conn: Connection, *, rtype: str | None = None, fid: str | None = None,
                since_us: int | None = None, before_seq: int | None = None,
                after: tuple[int, int] | None = None, limit: int = 50,
                ascending: bool = False) -> list[Stored]:
        """Return versions newest first (or, with ``ascending``, as a gap-free change feed)."""
        rv = resource_version
        conds: list[ColumnElement[bool]] = []
        if rtype:
            conds.append(rv.c.rtype == rtype)
        if fid:
            conds.append(rv.c.fid == fid)
        if since_us is not None:
            conds.append(rv.c.updated_us >= since_us)
        query = select(rv).where(*conds)
        if ascending:
            if after is not None:
                conds.append(tuple_(rv.c.txid, rv.c.seq) > tuple_(*after))
            if not is_sqlite(conn):
                horizon = text("pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
                conds.append(rv.c.txid < horizon)
            query = select(rv).where(*conds).order_by(rv.c.txid, rv.c.seq)
        else:
            if before_seq is not None:
                conds.append(rv.c.seq < before_seq)
            query = select(rv).where(*conds).order_by(rv.c.seq.desc())
        return [self._stored(r) for r in conn.execute(query.limit(limit))]
