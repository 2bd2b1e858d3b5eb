"""Registering many records at once: what each record's matching reads, fetched per write.

Before a write of several Patients (a transaction Bundle, or one create), the MPI prepares every
record (identity check, features, blocking keys), takes all their key locks in one statement,
finds the candidates of every record with two queries and locks and reads the golden records
those candidates belong to, with their declared-distinct pairs. The per-record decision then
reads from here. Records written earlier in the same write are not stored yet, so they are no
candidates here either: the decision compares them as in-flight records, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from gansu_health.core.database import per_transaction
from gansu_health.mpi import blocking
from gansu_health.mpi import repository as repo
from gansu_health.mpi.blocking import Candidate
from gansu_health.mpi.engine import Features, blocking_keys, features_from_patient
from gansu_health.mpi.golden import GOLDEN_TYPE, is_golden
from gansu_health.mpi.identity import IdentityCheck, check_identity
from gansu_health.mpi.models import mpi_golden
from gansu_health.mpi.protect import source_identifiers

if TYPE_CHECKING:
    from gansu_health.mpi.service import MpiService

_KEY = "mpi_prefetch"


@dataclass(slots=True)
class Prepared:
    """One record prepared ahead of its before-write hook."""

    check: IdentityCheck
    features: Features
    keys: list[str]
    identifiers: list[tuple[str, str]]
    candidates: list[Candidate]


@dataclass
class Fetched:
    """What one transaction's writes fetched ahead: prepared records and locked golden rows."""

    prepared: dict[str, Prepared] = field(default_factory=dict)
    goldens: dict[str, Any] = field(default_factory=dict)  # locked rows by golden id
    distinct: dict[str, set[str]] = field(default_factory=dict)  # of the golden ids above


def prepare(body: dict[str, Any], *, reject: bool
            ) -> tuple[IdentityCheck, Features, list[str], list[tuple[str, str]]]:
    """Check the identity of a source body, then extract features, blocking keys, identifiers."""
    check = check_identity(body, reject=reject)
    features = features_from_patient(body)
    return check, features, blocking_keys(features), source_identifiers(body)


def fetched(conn: Connection, *, reset: bool = False) -> Fetched:
    """Return what the transaction's current write fetched ahead (empty when nothing)."""
    return per_transaction(conn, _KEY, Fetched, reset=reset)


def prefetch(mpi: MpiService, conn: Connection, items: list[tuple[dict[str, Any], bool]]
             ) -> None:
    """Prepare the source Patients about to be written and fetch what their matching reads."""
    into = fetched(conn, reset=True)
    reject = mpi.settings.identity_policy == "reject"
    ready: list[tuple[str, Any]] = []
    for body, _ in items:
        if is_golden(body):
            continue
        try:
            ready.append((str(body["id"]), prepare(body, reject=reject)))
        except Exception:  # the record's own hook raises it in its turn
            continue
    if not ready:
        return
    repo.lock_keys(conn, [k for _, (_, _, keys, _) in ready for k in keys])
    found = blocking.candidates_many(
        conn, [(mpi.vault.lookup_keys(keys), fid) for fid, (_, _, keys, _) in ready],
        limit=mpi.settings.max_candidates)
    for (fid, (check, features, keys, idents)), candidates in zip(ready, found, strict=True):
        into.prepared[fid] = Prepared(check, features, keys, idents, candidates)
    golden_ids = sorted({c.golden_id for cs in found for c in cs if c.golden_id})
    if not golden_ids:
        return
    mpi.store.lock(conn, GOLDEN_TYPE, golden_ids)
    for i in range(0, len(golden_ids), blocking.CHUNK):
        chunk = golden_ids[i:i + blocking.CHUNK]
        into.goldens.update((r.golden_id, r) for r in conn.execute(
            select(mpi_golden).where(mpi_golden.c.golden_id.in_(chunk))))
        for gid in chunk:
            into.distinct.setdefault(gid, set())
        for a, b in repo.not_duplicates_of(conn, chunk):
            if a in into.distinct:
                into.distinct[a].add(b)
            if b in into.distinct:
                into.distinct[b].add(a)
