"""Run a parsed search: match, sort, page by keyset cursor, count on request, include."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, and_, func, literal, or_, select
from sqlalchemy.sql.elements import ColumnElement

from gansu_health.core.errors import BadRequest
from gansu_health.fhir.definitions import search_parameters
from gansu_health.fhir.search.criteria import CriteriaBuilder
from gansu_health.fhir.search.params import Include, SearchRequest
from gansu_health.fhir.search.terminology import current_connection
from gansu_health.fhir.storage.repository import ResourceStore, Stored
from gansu_health.fhir.storage.tables import INDEX_TABLES, resource, resource_version

ESTIMATE_CAP = 5000
_HIGH = {"string", "token", "uri", "reference"}
_SORT_COLUMN = {"string": "value", "token": "code", "uri": "uri", "reference": "target_id",
                "number": "value", "quantity": "value"}


@dataclass
class SearchResult:
    """Matches of one page, included resources, optional total and the next-page cursor."""

    matches: list[Stored]
    included: list[Stored] = field(default_factory=list)
    total: int | None = None
    next_cursor: str | None = None


def encode_cursor(values: list[Any]) -> str:
    """Encode keyset values as an opaque URL-safe token."""
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def decode_cursor(token: str) -> list[Any]:
    """Decode a token made by :func:`encode_cursor`."""
    try:
        value = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise BadRequest("_cursor is not a valid paging token", expression="_cursor") from exc
    if not isinstance(value, list):
        raise BadRequest("_cursor is not a valid paging token", expression="_cursor")
    return value


class SearchEngine:
    """Executes searches against the store."""

    def __init__(self, store: ResourceStore, builder: CriteriaBuilder, max_include: int) -> None:
        self.store = store
        self.builder = builder
        self.max_include = max_include

    def where(self, req: SearchRequest, res: Any, conn: Connection | None = None
              ) -> list[ColumnElement[bool]]:
        """Return the match conditions of ``req`` against the resource alias ``res``.

        With several simple lookups, the one with the fewest index hits drives the query as a
        row-id list and the others become correlated probes, instead of materialising every
        list (the cost of ``status=final&category=vital-signs`` on big tables).
        """
        pairs, criteria = self.builder.pair_windows(req.criteria)
        simple = [c for c in criteria if self.builder.simple(c)]
        probes: set[int] = set()
        scan = False
        if conn is not None and (len(simple) > 1 or (simple and not req.sort and not pairs)):
            sizes = {id(c): self.builder.estimate(conn, req.rtype, c, ESTIMATE_CAP)
                     for c in simple}
            driver = min(simple, key=lambda c: sizes[id(c)])
            # when even the best list is long, walking the type in row order with probes
            # stops as soon as a page is full; a date window is a short list of its own
            scan = sizes[id(driver)] >= ESTIMATE_CAP and not pairs
            probes = {id(c) for c in simple if scan or pairs or (
                c is not driver and sizes[id(c)] > sizes[id(driver)])}
        conds = [self.builder.window(req.rtype, low, high, res) for low, high in pairs]
        conds += [self.builder.probe(req.rtype, c, res) if id(c) in probes
                  else self.builder.condition(req.rtype, c, res) for c in criteria]
        conds.append(res.c.deleted.is_(False))
        if scan or (not pairs and not any(self.builder.drives(c) and id(c) not in probes
                                         for c in criteria)):
            # without an index subquery to start from, scan the type; with one, naming the type
            # would tempt SQLite into that scan instead of following the matching row ids
            conds.append(res.c.rtype == req.rtype)
        return conds

    def count(self, conn: Connection, req: SearchRequest) -> int:
        """Count all matches."""
        token = current_connection.set(conn)
        try:
            return self._count(conn, req)
        finally:
            current_connection.reset(token)

    def _count(self, conn: Connection, req: SearchRequest) -> int:
        res = resource.alias("res")
        query = select(func.count()).select_from(res).where(*self.where(req, res))
        return int(conn.execute(query).scalar_one())

    def _sort_keys(self, req: SearchRequest, res: Any) -> list[tuple[Any, bool]]:
        keys: list[tuple[Any, bool]] = []
        params = search_parameters().get(req.rtype, {})
        for code, desc in req.sort:
            if code == "_id":
                keys.append((res.c.fid, desc))
                continue
            if code == "_lastUpdated":
                keys.append((res.c.updated_us, desc))
                continue
            param = params[code]
            if param.type == "composite":
                raise BadRequest(f"Cannot sort by composite parameter '{code}'",
                                 expression="_sort")
            table = INDEX_TABLES[param.type]
            fill: str | float | int
            if param.type == "date":
                col = table.c.hi if desc else table.c.lo
                fill = -(2**62) if desc else 2**62
            else:
                col = table.c[_SORT_COLUMN[param.type]]
                textual = param.type in _HIGH
                fill = ("" if textual else -1e308) if desc else ("\uffff" if textual else 1e308)
            agg = func.max if desc else func.min
            sub = select(agg(col)).where(table.c.rid == res.c.rid,
                                         table.c.param == code).scalar_subquery()
            keys.append((func.coalesce(sub, literal(fill)), desc))
        keys.append((res.c.rid, False))
        return keys

    @staticmethod
    def _after(keys: list[tuple[Any, bool]], values: list[Any]) -> ColumnElement[bool]:
        if len(values) != len(keys):
            raise BadRequest("_cursor does not belong to this search", expression="_cursor")
        clauses = []
        for i, (expr, desc) in enumerate(keys):
            prior = [k == v for (k, _), v in zip(keys[:i], values[:i], strict=True)]
            step = expr < values[i] if desc else expr > values[i]
            clauses.append(and_(*prior, step))
        return or_(*clauses)

    def search(self, conn: Connection, req: SearchRequest) -> SearchResult:
        """Return one page of matches with includes."""
        token = current_connection.set(conn)
        try:
            return self._search(conn, req)
        finally:
            current_connection.reset(token)

    def _search(self, conn: Connection, req: SearchRequest) -> SearchResult:
        if req.summary == "count" or req.count == 0:
            return SearchResult([], total=self._count(conn, req))
        res = resource.alias("res")
        keys = self._sort_keys(req, res)
        conds = self.where(req, res, conn)
        if req.cursor:
            conds.append(self._after(keys, decode_cursor(req.cursor)))
        rv = resource_version
        query = (
            select(res.c.rid, res.c.fid, res.c.version, res.c.updated_us, rv.c.content,
                   *(k for k, _ in keys[:-1]))
            .join(rv, and_(rv.c.rid == res.c.rid, rv.c.version == res.c.version))
            .where(*conds)
            .order_by(*(k.desc() if d else k.asc() for k, d in keys))
            .limit(req.count + 1)
        )
        rows = list(conn.execute(query)) if req.count > 0 else []
        result = SearchResult([self.store.reveal(Stored(r.rid, req.rtype, r.fid, r.version,
                                                        r.updated_us, r.content, "update"))
                               for r in rows[:req.count]])
        if len(rows) > req.count:
            last = rows[req.count - 1]
            result.next_cursor = encode_cursor([*last[5:], last.rid])
        if req.total in ("accurate", "estimate"):  # an exact count is a fine estimate
            result.total = self._count(conn, req)
        elif req.cursor is None and result.next_cursor is None:
            result.total = len(result.matches)
        if req.includes and result.matches:
            result.included = self.includes(conn, result.matches, req.includes)
        return result

    def includes(self, conn: Connection, matches: list[Stored],
                 includes: list[Include]) -> list[Stored]:
        """Resolve _include and _revinclude (with :iterate) for a page of matches."""
        seen = {m.rid for m in matches}
        found: list[Stored] = []
        frontier = list(matches)
        for depth in range(4):
            batch: list[Stored] = []
            for inc in includes:
                if depth > 0 and not inc.iterate:
                    continue
                rids = self._include_rids(conn, frontier, inc)
                new = [r for r in rids if r not in seen]
                seen.update(new)
                loaded = self.store.load_many(conn, new[: self.max_include - len(found)])
                batch.extend(loaded[r] for r in new if r in loaded)
            found.extend(batch)
            if not batch or len(found) >= self.max_include:
                break
            frontier = batch
        return found

    def _include_rids(self, conn: Connection, frontier: list[Stored], inc: Include) -> list[int]:
        ref = INDEX_TABLES["reference"]
        if not inc.reverse:
            sources = [s.rid for s in frontier if inc.source_type in ("*", s.rtype)]
            if not sources:
                return []
            conds: list[ColumnElement[bool]] = [ref.c.rid.in_(sources),
                                                ref.c.target_id.is_not(None)]
            if inc.param != "*":
                conds.append(ref.c.param == inc.param)
            if inc.target_type:
                conds.append(ref.c.target_type == inc.target_type)
            target = resource.alias()
            query = select(target.c.rid).join(
                ref, and_(ref.c.target_type == target.c.rtype, ref.c.target_id == target.c.fid)
            ).where(*conds, target.c.deleted.is_(False)).distinct()
            return [r.rid for r in conn.execute(query)]
        keys = [(s.rtype, s.fid) for s in frontier]
        if inc.target_type:
            keys = [k for k in keys if k[0] == inc.target_type]
        if not keys:
            return []
        conds = [ref.c.target_id.in_({k[1] for k in keys}),
                 ref.c.target_type.in_({k[0] for k in keys})]
        if inc.source_type != "*":
            conds.append(ref.c.rtype == inc.source_type)
        if inc.param != "*":
            conds.append(ref.c.param == inc.param)
        query = select(ref.c.rid).where(*conds).distinct().limit(self.max_include)
        return [r.rid for r in conn.execute(query)]
