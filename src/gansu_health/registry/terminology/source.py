"""Read CodeSystems and ValueSets through the FHIR service; cache what is compiled from them.

Entries are keyed by (type, url, version) and remember the rows (rid → version) and URLs they
were built from. A hit is re-checked against the current versions of those rows (one query), so
writes by any process are seen; in-process writes also drop entries at once (after-write hook).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from gansu_health.core.errors import NotFound
from gansu_health.fhir.storage.repository import Stored
from gansu_health.fhir.storage.tables import resource as resource_table
from gansu_health.registry.terminology.expand import Expansion, compile_value_set
from gansu_health.registry.terminology.model import CodeSystemIndex, Json

CacheKey = tuple[str, str, str]
MAX_ENTRIES = 256


@dataclass(slots=True)
class _Deps:
    rows: dict[int, int] = field(default_factory=dict)
    urls: set[str] = field(default_factory=set)

    def add(self, other: _Deps) -> None:
        self.rows.update(other.rows)
        self.urls |= other.urls


@dataclass(slots=True)
class _Entry:
    value: CodeSystemIndex | Expansion
    deps: _Deps


def _version_key(text: str | None) -> tuple[Any, ...]:
    parts = (text or "").replace("-", ".").split(".")
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


class TerminologyCache:
    """Compiled CodeSystems and expansions shared by every request of one FhirApi."""

    def __init__(self) -> None:
        self._entries: OrderedDict[CacheKey, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.compilations = 0  # how many times something was compiled (tests watch it)

    def get(self, key: CacheKey) -> _Entry | None:
        """Return an entry without checking it."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: CacheKey, entry: _Entry) -> None:
        """Store an entry, evicting the least recently used beyond the limit."""
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)

    def drop(self, key: CacheKey) -> None:
        """Forget one entry."""
        with self._lock:
            self._entries.pop(key, None)

    def on_write(self, conn: Connection, stored: list[Stored]) -> None:
        """After-write hook: forget entries built from a written row or naming a written URL."""
        rids = {s.rid for s in stored}
        urls = {s.json().get("url") for s in stored if s.content}
        with self._lock:
            for key in [k for k, e in self._entries.items()
                        if rids & e.deps.rows.keys() or urls & e.deps.urls]:
                del self._entries[key]

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()


class TerminologySource:
    """One request's view of the stored terminology (implements the expand Resolver)."""

    def __init__(self, cache: TerminologyCache, conn: Connection, service: Any) -> None:
        self.cache = cache
        self.conn = conn
        self.service = service
        self._frames: list[_Deps] = []
        self._building: set[CacheKey] = set()

    def _record(self, deps: _Deps) -> None:
        for frame in self._frames:
            frame.add(deps)

    def find(self, rtype: str, url: str, version: str | None = None) -> Stored | None:
        """Return the stored resource with this canonical URL (the highest version if several)."""
        pairs = [("url", url), ("_count", "100")] + ([("version", version)] if version else [])
        matches = self.service.search(self.conn, self.service.parse(rtype, pairs)).matches
        if not matches:
            self._record(_Deps(urls={url}))
            return None
        docs = [(m, m.json()) for m in matches]
        best: Stored = max(docs, key=lambda d: (_version_key(d[1].get("version")),
                                                d[0].updated_us))[0]
        self._record(_Deps({best.rid: best.version}, {url}))
        return best

    def read(self, rtype: str, fid: str) -> tuple[Stored, Json]:
        """Read a resource by id (raising NotFound/Gone)."""
        stored = self.service.read(self.conn, rtype, fid)
        self._record(_Deps({stored.rid: stored.version}))
        return stored, stored.json()

    def _fresh(self, entry: _Entry) -> bool:
        rows = entry.deps.rows
        if not rows:
            return True
        current = {r.rid: r.version for r in self.conn.execute(
            select(resource_table.c.rid, resource_table.c.version).where(
                resource_table.c.rid.in_(list(rows)), resource_table.c.deleted.is_(False)))}
        return current == rows

    def _cached(self, key: CacheKey, build: Any) -> Any:
        entry = self.cache.get(key)
        if entry is not None and self._fresh(entry):
            self._record(entry.deps)
            return entry.value
        if key in self._building:
            raise NotFound(f"{key[0]} {key[1]} includes itself", expression="url")
        self._building.add(key)
        self._frames.append(_Deps())
        try:
            value = build()
        finally:
            deps = self._frames.pop()
            self._building.discard(key)
        self.cache.compilations += 1
        if value is not None:
            self.cache.put(key, _Entry(value, deps))
        self._record(deps)
        return value

    def code_system(self, url: str, version: str | None = None) -> CodeSystemIndex | None:
        """Return the compiled CodeSystem with this URL (and version), or None."""
        def build() -> CodeSystemIndex | None:
            stored = self.find("CodeSystem", url, version)
            return CodeSystemIndex(stored.json()) if stored else None

        result: CodeSystemIndex | None = self._cached(("CodeSystem", url, version or ""), build)
        return result

    def code_system_by_id(self, fid: str) -> CodeSystemIndex:
        """Return the compiled CodeSystem stored under ``fid``."""
        _, body = self.read("CodeSystem", fid)
        found = self.code_system(body["url"], body.get("version")) if body.get("url") else None
        return found or CodeSystemIndex(body)

    def value_set(self, url: str, version: str | None = None) -> Expansion:
        """Return the expansion of the stored ValueSet with this URL, raising NotFound."""
        def build() -> Expansion | None:
            stored = self.find("ValueSet", url, version)
            return compile_value_set(stored.json(), self) if stored else None

        result: Expansion | None = self._cached(("ValueSet", url, version or ""), build)
        if result is None:
            raise NotFound(f"ValueSet {url}{'|' + version if version else ''} is not known",
                           expression="url")
        return result

    def value_set_by_id(self, fid: str) -> Expansion:
        """Return the expansion of the ValueSet stored under ``fid``."""
        _, body = self.read("ValueSet", fid)
        if body.get("url"):
            return self.value_set(body["url"], body.get("version"))
        return compile_value_set(body, self)
