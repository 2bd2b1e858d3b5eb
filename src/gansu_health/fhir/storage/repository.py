"""Queries and writes of stored resources: current pointers, versions, index rows, history."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, and_, delete, func, insert, select, text, tuple_, update
from sqlalchemy.sql.elements import ColumnElement

from gansu_health.core.clock import fhir_instant, now, to_micros
from gansu_health.core.database import is_sqlite
from gansu_health.core.errors import Gone, NotFound, PreconditionFailed
from gansu_health.fhir.search.indexer import Indexer
from gansu_health.fhir.storage.tables import INDEX_TABLES, resource, resource_version

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
        return orjson.loads(self.content) if self.content else {}


def new_id() -> str:
    """Return a fresh server-assigned logical id."""
    return str(uuid.uuid4())


def _txid(conn: Connection) -> int:
    if is_sqlite(conn):
        return 0
    cached = conn.info.get("txid")
    if cached is None:
        cached = conn.execute(text("SELECT pg_current_xact_id()::text::bigint")).scalar_one()
        conn.info["txid"] = cached
    return int(cached)


class ResourceStore:
    """Reads and writes FHIR resources; callers own the transaction."""

    def __init__(self, indexer: Indexer, node: str) -> None:
        self.indexer = indexer
        self.node = node

    def current(self, conn: Connection, rtype: str, fid: str, *, lock: bool = False
                ) -> tuple[int, int, bool] | None:
        """Return (rid, version, deleted) of the current version, or None."""
        query = select(resource.c.rid, resource.c.version, resource.c.deleted).where(
            resource.c.rtype == rtype, resource.c.fid == fid)
        if lock and not is_sqlite(conn):
            query = query.with_for_update()
        row = conn.execute(query).first()
        return (row.rid, row.version, row.deleted) if row else None

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
        return Stored(row.rid, rtype, fid, row.version, row.updated_us, row.content)

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
        return {r.rid: Stored(r.rid, r.rtype, r.fid, r.version, r.updated_us, r.content)
                for r in rows}

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
        rtype = body["resourceType"]
        fid = fid or body.get("id") or new_id()
        existing = self.current(conn, rtype, fid, lock=True)
        if if_match is not None and (existing is None or existing[1] != if_match):
            have = "none" if existing is None else str(existing[1])
            raise PreconditionFailed(
                f"If-Match expects version {if_match} of {rtype}/{fid} but the current is {have}",
                expression="If-Match")
        stamp = to_micros(now())
        version = existing[1] + 1 if existing else 1
        body["id"] = fid
        meta = body.get("meta") or {}
        meta["versionId"] = str(version)
        meta["lastUpdated"] = fhir_instant(stamp)
        body["meta"] = meta
        content = orjson.dumps(body)
        if existing is None:
            rid = int(conn.execute(insert(resource).values(
                node=self.node, rtype=rtype, fid=fid, version=version, updated_us=stamp,
                deleted=False).returning(resource.c.rid)).scalar_one())
            method = "create"
        else:
            rid = existing[0]
            conn.execute(update(resource).where(resource.c.rid == rid).values(
                version=version, updated_us=stamp, deleted=False))
            self._drop_index(conn, rid)
            method = "update" if not existing[2] else "create"
        stored = Stored(rid, rtype, fid, version, stamp, content, method)
        self._append_version(conn, stored)
        self._insert_index(conn, rid, rtype, body)
        return stored

    def delete(self, conn: Connection, rtype: str, fid: str) -> Stored | None:
        """Record a deletion; return it, or None when there was nothing live to delete."""
        existing = self.current(conn, rtype, fid, lock=True)
        if existing is None or existing[2]:
            return None
        rid, version = existing[0], existing[1] + 1
        stamp = to_micros(now())
        conn.execute(update(resource).where(resource.c.rid == rid).values(
            version=version, updated_us=stamp, deleted=True))
        self._drop_index(conn, rid)
        stored = Stored(rid, rtype, fid, version, stamp, None, "delete")
        self._append_version(conn, stored)
        return stored

    def reindex(self, conn: Connection, rids: Sequence[int]) -> int:
        """Rebuild the index rows of the given resources; return how many were reindexed."""
        loaded = self.load_many(conn, rids)
        for rid, stored in loaded.items():
            self._drop_index(conn, rid)
            self._insert_index(conn, rid, stored.rtype, stored.json())
        return len(loaded)

    def _append_version(self, conn: Connection, stored: Stored) -> None:
        conn.execute(insert(resource_version).values(
            txid=_txid(conn), node=self.node, rid=stored.rid, rtype=stored.rtype, fid=stored.fid,
            version=stored.version, updated_us=stored.updated_us, method=stored.method,
            content=stored.content))

    def _drop_index(self, conn: Connection, rid: int) -> None:
        for table in INDEX_TABLES.values():
            conn.execute(delete(table).where(table.c.rid == rid))

    def _insert_index(self, conn: Connection, rid: int, rtype: str, body: dict[str, Any]) -> None:
        for ptype, rows in self.indexer.rows(body).items():
            for row in rows:
                row["rid"] = rid
                row["node"] = self.node
                row["rtype"] = rtype
            conn.execute(insert(INDEX_TABLES[ptype]), rows)

    @staticmethod
    def _stored(row: Any) -> Stored:
        return Stored(row.rid, row.rtype, row.fid, row.version, row.updated_us, row.content,
                      row.method, row.seq, row.txid)

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

    def count_versions(self, conn: Connection, rtype: str | None = None) -> int:
        """Count stored versions (optionally of one type)."""
        query = select(func.count()).select_from(resource_version)
        if rtype:
            query = query.where(resource_version.c.rtype == rtype)
        return int(conn.execute(query).scalar_one())
