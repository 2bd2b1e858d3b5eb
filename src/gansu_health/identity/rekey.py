"""Re-keying after a rotation, while the platform runs: what holds sealed or blinded values.

Every domain that seals values registers a ``RekeyTarget`` on the FHIR endpoint: how to re-seal
its rows under the active keys (in short batches, resumable from the last id) and how to count
its rows by key id. The FHIR store registers two: the version rows of person resources (every
version, not only the current one) and the blind token rows of their search index.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.sql.elements import ColumnElement

from gansu_health.core.database import is_sqlite
from gansu_health.fhir.search.special import as_text
from gansu_health.fhir.storage.protection import SealedValueError
from gansu_health.fhir.storage.tables import idx_token, resource, resource_version
from gansu_health.identity.reencrypt import ReencryptStats, Row, cas_update, count, walk_table

if TYPE_CHECKING:
    from gansu_health.fhir.rest.dispatch import FhirApi
    from gansu_health.fhir.storage.repository import ResourceStore, Stored
    from gansu_health.identity.fields import FhirFieldCipher
    from gansu_health.identity.keys import KeyProvider

Progress = Callable[[ReencryptStats], None]
# (engine, resume after this id, rebuild everything, rows per batch, progress) -> what it did
Runner = Callable[[Engine, Any, bool, int, Progress | None], ReencryptStats]
# (connection) -> rows as (what, key id, count)
Counter = Callable[[Connection], list[tuple[str, str, int]]]
TAGGED = re.compile(r"([a-z]\d+):[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class RekeyTarget:
    """Rows holding sealed or blinded values: how to re-key them and count them by key id."""

    name: str
    run: Runner
    status: Counter
    total: Callable[[Connection, Any], int]  # rows left after an id (None: all)


_TARGETS: WeakKeyDictionary[Any, list[RekeyTarget]] = WeakKeyDictionary()


def register(api: FhirApi, target: RekeyTarget) -> None:
    """Add a re-key target to a FHIR endpoint (domains call this from their setup)."""
    _TARGETS.setdefault(api, []).append(target)


def targets(api: FhirApi) -> list[RekeyTarget]:
    """Return the re-key targets of a FHIR endpoint, in registration order."""
    return list(_TARGETS.get(api, []))


def lock_resources(conn: Connection, rids: list[int]) -> None:
    """Lock resource rows against concurrent writers before rebuilding what derives from them."""
    if rids and not is_sqlite(conn):
        conn.execute(select(resource.c.rid).where(resource.c.rid.in_(rids))
                     .order_by(resource.c.rid).with_for_update())


def stale_tag(value: str, active: str) -> bool:
    """Tell whether ``value`` is a tagged blind index (``<kid>:<hex>``) under another key."""
    m = TAGGED.fullmatch(value)
    return m is not None and m.group(1) != active


def count_by_key(conn: Connection, what: str, column: ColumnElement[Any],
                 conds: Sequence[ColumnElement[bool]], kids: list[str],
                 pattern: Callable[[str], str]) -> list[tuple[str, str, int]]:
    """Count rows whose ``column`` matches ``pattern(kid)`` (a LIKE pattern), per key id."""
    out = []
    for kid in kids:
        found = conn.execute(select(func.count()).where(*conds, column.like(pattern(kid))))
        out.append((what, kid, int(found.scalar_one())))
    return out


def opened(store: ResourceStore, conn: Connection, rids: list[int], stats: ReencryptStats
           ) -> list[Stored]:
    """Load (and open) current versions; name the resources whose stored values do not open."""
    try:
        return list(store.load_many(conn, rids).values())
    except SealedValueError:
        found: list[Stored] = []
        for rid in rids:
            try:
                found += store.load_many(conn, [rid]).values()
            except SealedValueError as exc:
                stats.failed.append(exc.message)
        return found


def reindex(store: ResourceStore, conn: Connection, rids: list[int], stats: ReencryptStats
            ) -> None:
    """Rebuild the index rows of resources; name those whose stored values do not open."""
    rids = sorted(set(rids))
    lock_resources(conn, rids)
    try:  # reindex opens every resource before it writes anything
        stats.rewritten += store.reindex(conn, rids) if rids else 0
    except SealedValueError:
        for rid in rids:
            try:
                stats.rewritten += store.reindex(conn, [rid])
            except SealedValueError as exc:
                stats.failed.append(exc.message)


def _versions_target(fields: FhirFieldCipher, store: ResourceStore) -> RekeyTarget:
    rv = resource_version
    where = [rv.c.rtype.in_(sorted(fields.types)), rv.c.content.is_not(None)]

    def handle(conn: Connection, rows: list[Row], stats: ReencryptStats) -> None:
        plain: list[int] = []
        for row in rows:
            try:
                new, sealed = fields.rekey(row["rtype"], row["fid"], row["content"])
            except SealedValueError as exc:
                stats.failed.append(f"{exc.message} (version row {row['seq']})")
                continue
            if new is None:
                continue
            done = cas_update(conn, rv, "seq", row, {"content": new})
            count(stats, done)
            if done and sealed:
                plain.append(row["rid"])
        reindex(store, conn, plain, ReencryptStats())  # plaintext values were indexed in clear

    def run(engine: Engine, start: Any, full: bool, batch: int, progress: Progress | None
            ) -> ReencryptStats:
        return walk_table(engine, rv, "seq", ["rid", "rtype", "fid", "content"], handle,
                          where=where, batch=batch, start=start, progress=progress)

    def status(conn: Connection) -> list[tuple[str, str, int]]:
        keys: KeyProvider = fields.cipher.keys
        return count_by_key(conn, "resource_version (data)", as_text(rv.c.content,
                                                                      is_sqlite(conn)),
                            where, keys.key_ids("data"), lambda kid: f'%"g1:{kid}:%')

    return RekeyTarget("resource_version", run, status, counter(rv.c.seq, where))


def _index_target(fields: FhirFieldCipher, store: ResourceStore) -> RekeyTarget:
    where = [resource.c.rtype.in_(sorted(fields.types)), resource.c.deleted.is_(False)]
    tokens = [idx_token.c.rtype.in_(sorted(fields.types)),
              idx_token.c.param.in_(sorted(fields.token_params))]

    def run(engine: Engine, start: Any, full: bool, batch: int, progress: Progress | None
            ) -> ReencryptStats:
        def handle(conn: Connection, rows: list[Row], stats: ReencryptStats) -> None:
            rids = [row["rid"] for row in rows]
            if not full:  # only resources with blind values under a retired index key
                active = fields.cipher.keys.active("index")[0]
                found = conn.execute(select(idx_token.c.rid, idx_token.c.code).where(
                    idx_token.c.rid.in_(rids), *tokens))
                rids = [r.rid for r in found if r.code and stale_tag(r.code, active)]
            reindex(store, conn, rids, stats)

        return walk_table(engine, resource, "rid", ["rid"], handle, where=where, batch=batch,
                          start=start, progress=progress)

    def status(conn: Connection) -> list[tuple[str, str, int]]:
        return count_by_key(conn, "idx_token (index)", idx_token.c.code, tokens,
                            fields.cipher.keys.key_ids("index"), lambda kid: f"{kid}:%")

    return RekeyTarget("search index", run, status, counter(resource.c.rid, where))


def counter(key: ColumnElement[Any], where: Sequence[ColumnElement[bool]] = ()
            ) -> Callable[[Connection, Any], int]:
    """Return a function counting the rows a walk over ``key`` has left after an id."""
    def total(conn: Connection, after: Any) -> int:
        conds = [*where, key > after] if after is not None else list(where)
        return int(conn.execute(select(func.count(key)).where(*conds)).scalar_one())
    return total


def register_fhir(api: FhirApi, fields: FhirFieldCipher) -> None:
    """Register the FHIR store's version rows and blind index rows as re-key targets."""
    store = api.service.store
    register(api, _versions_target(fields, store))
    register(api, _index_target(fields, store))
