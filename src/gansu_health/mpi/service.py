"""Registration with matching: the write hooks, golden Person records and their survivorship.

The before-write hook validates the resident id, matches the record and writes the enterprise id
into the body (so the hospital gets it back); the after-write hook, which knows the logical id,
stores features, blocking keys and links and refreshes the golden records. Both run inside the
request's transaction, which commits or rolls back everything together. The Person hooks keep
clients from writing or deleting the golden records, which only the MPI maintains.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection

from gansu_health.core.database import per_transaction
from gansu_health.core.errors import UnprocessableEntity
from gansu_health.core.events import emit
from gansu_health.fhir.storage.repository import ResourceStore, Stored, new_id
from gansu_health.mpi import batch
from gansu_health.mpi import repository as repo
from gansu_health.mpi.batch import link_payload
from gansu_health.mpi.blocking import Candidate
from gansu_health.mpi.decision import Decision, Pending, fresh_golden
from gansu_health.mpi.engine import Features, Matcher
from gansu_health.mpi.golden import (
    GOLDEN_TYPE,
    SourceView,
    build_golden,
    is_golden,
    new_empi_id,
    same_content,
    set_empi,
)
from gansu_health.mpi.matching import Scorer
from gansu_health.mpi.prefetch import fetched, prefetch, prepare
from gansu_health.mpi.protect import MpiVault
from gansu_health.mpi.repository import AUTO, MANUAL, MATCH, NO_MATCH, POSSIBLE_MATCH, Link
from gansu_health.mpi.settings import MpiSettings

_INTERNAL = "mpi_internal"
_PENDING = "mpi_pending"


class MpiService:
    """The master patient index of one FHIR endpoint; methods run in the caller's transaction."""

    def __init__(self, store: ResourceStore, node: str, settings: MpiSettings,
                 matcher: Matcher | None = None, vault: MpiVault | None = None) -> None:
        self.store = store
        self.node = node
        self.settings = settings
        self._matcher = matcher
        self.vault = vault or MpiVault()

    @cached_property
    def scorer(self) -> Scorer:
        """The blocking lookup and Matcher (the model is loaded on first use)."""
        return Scorer(self._matcher or Matcher.default(), self.settings.max_candidates,
                      self.vault)

    # ---- plumbing

    def emit(self, conn: Connection, topic: str, payload: dict[str, Any]) -> None:
        """Record an MPI event in the outbox."""
        emit(conn, topic, payload, self.node)

    @contextmanager
    def internal(self, conn: Connection) -> Iterator[None]:
        """Mark writes made by the MPI itself (golden Persons), which the hooks let through."""
        conn.info[_INTERNAL] = conn.info.get(_INTERNAL, 0) + 1
        try:
            yield
        finally:
            conn.info[_INTERNAL] -= 1

    def _pending(self, conn: Connection) -> list[Pending]:
        return per_transaction(conn, _PENDING, list)

    def write_golden(self, conn: Connection, body: dict[str, Any]) -> Stored:
        """Store a golden Person version."""
        with self.internal(conn):
            return self.store.write(conn, body, fid=body["id"])

    def read_golden(self, conn: Connection, golden_id: str) -> dict[str, Any]:
        """Return the current golden Person body."""
        return self.store.read(conn, GOLDEN_TYPE, golden_id).json()

    def lock_golden(self, conn: Connection, golden_id: str) -> None:
        """Lock a golden Person row against concurrent changes (PostgreSQL)."""
        self.store.current(conn, GOLDEN_TYPE, golden_id, lock=True)

    # ---- the write hooks

    def before_person_write(self, conn: Connection, body: dict[str, Any], is_new: bool) -> None:
        """Refuse client writes of golden Persons (and of Persons claiming to be one)."""
        if conn.info.get(_INTERNAL):
            return
        fid = body.get("id")
        if is_golden(body) or (fid and repo.golden(conn, str(fid)) is not None):
            raise UnprocessableEntity(
                "Golden records are maintained by the master patient index; use the $mdm-* "
                "operations", expression="Person.meta.tag")

    def after_person_write(self, conn: Connection, stored: list[Stored]) -> None:
        """Refuse client deletions of golden Persons."""
        if conn.info.get(_INTERNAL):
            return
        for item in stored:
            if item.deleted and repo.golden(conn, item.fid) is not None:
                raise UnprocessableEntity(
                    f"Person/{item.fid} is a golden record; it cannot be deleted",
                    expression="Person")

    def before_write_many(self, conn: Connection, items: list[tuple[dict[str, Any], bool]]
                          ) -> None:
        """Prepare the source Patients of a write and fetch what their matching reads at once."""
        if not conn.info.get(_INTERNAL):
            prefetch(self, conn, items)

    def before_write(self, conn: Connection, body: dict[str, Any], is_new: bool) -> None:
        """Validate, match and stamp the enterprise id on a source Patient about to be stored."""
        if conn.info.get(_INTERNAL):
            return
        fid = body.get("id")
        if is_golden(body):
            raise UnprocessableEntity(
                "Golden records are Person resources maintained by the master patient index; "
                "a Patient cannot carry their tag", expression="Patient.meta.tag")
        ready = fetched(conn).prepared.pop(str(fid), None) if fid else None
        found: list[Candidate] | None = None
        if ready is None:
            check, features, keys, identifiers = prepare(
                body, reject=self.settings.identity_policy == "reject")
            repo.lock_keys(conn, keys)
        else:
            check, features, keys, identifiers = (ready.check, ready.features, ready.keys,
                                                  ready.identifiers)
            found = ready.candidates
        current = repo.match_link(conn, str(fid)) if fid and not is_new else None
        pending = self._pending(conn)
        decision = self.decide(conn, str(fid) if fid else None, features, keys, current,
                               pending, found=found, is_new=is_new)
        set_empi(body, decision.empi_id)
        pending.append(Pending(body, features, keys, identifiers, check.resident_id,
                               check.verified, decision))

    def after_write(self, conn: Connection, stored: list[Stored]) -> None:
        """Store features, keys and links of the stored sources; refresh their golden records."""
        pending = self._pending(conn)
        if self._after_new(conn, stored, pending):
            return
        refresh: list[str] = []
        for item in stored:
            if item.deleted:
                self._forget(conn, item.fid, refresh)
                continue
            found = next((p for p in pending if p.body.get("id") == item.fid), None)
            if found is None:
                continue
            pending.remove(found)
            self._apply(conn, item.fid, found, refresh)
        for golden_id in dict.fromkeys(refresh):
            self.refresh_golden(conn, golden_id)

    def _after_new(self, conn: Connection, stored: list[Stored], pending: list[Pending]
                   ) -> bool:
        """Take the bulk path when every stored item is a new, unlinked source; tell if taken."""
        found = {p.body.get("id"): p for p in pending}
        if len(found) < len(pending):  # the same id pending twice: the per-record path
            return False
        items: list[tuple[str, Pending]] = []
        for item in stored:
            p = found.get(item.fid)
            if item.deleted or p is None or p.decision.keep or item.method != "create":
                return False
            items.append((item.fid, p))
        if len({fid for fid, _ in items}) < len(items):
            return False
        if not items or not batch.unlinked(conn, [fid for fid, _ in items]):
            return False
        for _, p in items:
            pending.remove(p)
        written = {item.fid: (item, found[item.fid].verified) for item in stored}
        batch.refresh_many(self, conn, batch.apply_new(self, conn, items), written)
        return True

    # ---- matching

    def decide(self, conn: Connection, fid: str | None, features: Features, keys: list[str],
               current: Link | None, pending: list[Pending], *,
               found: list[Candidate] | None = None, is_new: bool = False) -> Decision:
        """Choose the golden record of a source: keep a MANUAL link, else the certain match."""
        wanted = set(keys)  # in-flight records are candidates as stored ones are: a shared key
        extra = [(str(p.body.get("id") or f"pending-{i}"), p.decision.golden_id, p.features)
                 for i, p in enumerate(pending) if wanted.intersection(p.keys)]
        scored = self.scorer.score_goldens(conn, features, keys, exclude=fid, extra=extra,
                                           found=found)
        blocked: set[str] = set()
        if fid and not is_new:  # a new (or re-created) source has no links yet
            blocked = {link.golden_id for link in repo.links_of(conn, source_id=fid)
                       if link.match_result == NO_MATCH or
                       (link.link_source == MANUAL and link.match_result != MATCH)}
        if current is not None:
            blocked |= self._distinct_from(conn, current.golden_id)
        scored = [s for s in scored if s.golden_id not in blocked]
        by_golden = {s.golden_id: s for s in scored}
        certain = [s for s in scored if s.grade == "certain"]
        decision: Decision | None = None
        if current is not None:
            mine = by_golden.get(current.golden_id)
            others = [link for link in repo.links_of(conn, golden_id=current.golden_id,
                                                     result=MATCH) if link.source_id != fid]
            keep = (current.link_source == MANUAL or (mine is not None and mine.grade ==
                                                      "certain") or
                    (not certain and (mine is not None or not others)))
            if keep:
                decision = Decision(*self._claim(conn, current.golden_id, pending), False,
                                    current.link_source, mine.score if mine else current.score,
                                    mine.grade if mine else current.grade, keep=True)
        if decision is None and certain:
            best = certain[0]
            decision = Decision(*self._claim(conn, best.golden_id, pending), False, AUTO,
                                best.score, best.grade)
        if decision is None:
            decision = Decision(new_id(), new_empi_id(), True)
        chosen = decision.golden_id
        distinct = set() if decision.new_golden or fresh_golden(pending, chosen) else \
            self._distinct_from(conn, chosen)
        decision.possibles = [s for s in scored if s.golden_id != chosen and
                              s.golden_id not in distinct]
        return decision

    def _distinct_from(self, conn: Connection, golden_id: str) -> set[str]:
        known = fetched(conn).distinct.get(golden_id)
        if known is not None:
            return set(known)
        pairs = repo.not_duplicates_of(conn, [golden_id])
        return {b if a == golden_id else a for a, b in pairs}

    def _claim(self, conn: Connection, golden_id: str, pending: list[Pending]
               ) -> tuple[str, str]:
        """Lock a golden record against concurrent merges; return (id, enterprise id)."""
        fresh = fresh_golden(pending, golden_id)
        if fresh is not None:
            return golden_id, fresh
        ahead = fetched(conn).goldens  # locked already
        while True:
            row = ahead.get(golden_id)
            if row is None:
                self.lock_golden(conn, golden_id)
                row = repo.golden(conn, golden_id)
            if row.status == "active":
                return golden_id, str(row.empi_id)
            golden_id = str(row.redirect_to)  # merged meanwhile: follow it

    # ---- applying decisions

    def _apply(self, conn: Connection, fid: str, p: Pending, refresh: list[str]) -> None:
        d = p.decision
        repo.save_record(conn, self.vault.rows(self.node, fid, p.features, p.resident_id,
                                               p.verified, p.keys, p.identifiers, repo.now_us()))
        if d.new_golden and repo.golden(conn, d.golden_id) is None:
            self.create_golden(conn, d.golden_id, d.empi_id)
        if not d.keep:
            self.link(conn, fid, d.golden_id, MATCH, d.link_source, d.score, d.grade,
                      "registration", refresh)
        existing = {link.golden_id: link for link in repo.links_of(conn, source_id=fid)}
        for s in d.possibles:
            old = existing.get(s.golden_id)
            if old is not None and (old.link_source == MANUAL or old.score == s.score or
                                    old.match_result != POSSIBLE_MATCH):
                continue
            self.link(conn, fid, s.golden_id, POSSIBLE_MATCH, AUTO, s.score, s.grade,
                      "registration", refresh)
        refresh.append(d.golden_id)

    def index_source(self, conn: Connection, stored: Stored) -> None:
        """(Re)index a stored source Patient: features, blocking keys, identifiers; no links."""
        check, features, keys, idents = prepare(stored.json(), reject=False)
        repo.save_record(conn, self.vault.rows(self.node, stored.fid, features, check.resident_id,
                                               check.verified, keys, idents, repo.now_us()))

    def create_golden(self, conn: Connection, golden_id: str | None = None,
                      empi_id: str | None = None) -> str:
        """Register a new golden record (its resource is written by refresh_golden)."""
        golden_id, empi_id = golden_id or new_id(), empi_id or new_empi_id()
        repo.insert_golden(conn, self.node, golden_id, empi_id)
        self.emit(conn, "mpi.golden.created", {"goldenId": golden_id, "empiId": empi_id})
        return golden_id

    def link(self, conn: Connection, source_id: str, golden_id: str, result: str,
             link_source: str, score: float | None, grade: str | None, reason: str,
             refresh: list[str]) -> Link:
        """Set a link; a new MATCH replaces the source's previous one. Emits the event."""
        previous = repo.match_link(conn, source_id) if result == MATCH else None
        if previous is not None and previous.golden_id != golden_id:
            repo.delete_link(conn, self.node, previous, reason)
            refresh.append(previous.golden_id)
        before, after = repo.save_link(conn, self.node, source_id, golden_id, result,
                                       link_source, score, grade,
                                       self.scorer.model_version, reason)
        moved = previous is not None and previous.golden_id != golden_id
        payload = link_payload(after)
        if moved and previous is not None:
            payload["previousGoldenId"] = previous.golden_id
        if before is not None:
            payload["previousMatchResult"] = before.match_result
        topic = "mpi.link.changed" if moved or before is not None else "mpi.link.created"
        self.emit(conn, topic, payload)
        if result == MATCH or (before is not None and before.match_result == MATCH):
            refresh.append(golden_id)
        return after

    def _forget(self, conn: Connection, fid: str, refresh: list[str]) -> None:
        for link in repo.links_of(conn, source_id=fid):
            repo.delete_link(conn, self.node, link, "source-deleted")
            self.emit(conn, "mpi.link.deleted", link_payload(link))
            if link.match_result == MATCH:
                refresh.append(link.golden_id)
        repo.delete_record(conn, fid)

    # ---- golden records

    def sources(self, conn: Connection, golden_id: str) -> list[SourceView]:
        """Return the source records linked to a golden record (MATCH links)."""
        manual = {link.source_id: link.link_source == MANUAL
                  for link in repo.links_of(conn, golden_id=golden_id, result=MATCH)}
        fids = list(manual)
        loaded = self.store.load_many(conn, self.store.rids_of(
            conn, [("Patient", fid) for fid in fids]))
        info = repo.records(conn, fids)
        return [SourceView(s.fid, s.json(), info.get(s.fid, (b"", True, 0))[1], s.updated_us,
                           manual[s.fid]) for s in loaded.values()]

    def golden_body(self, conn: Connection, golden_id: str) -> dict[str, Any] | None:
        """Build the current survivorship view (a Person) of an active golden record."""
        row = repo.golden(conn, golden_id)
        if row is None or row.status != "active":
            return None
        absorbed = repo.absorbed(conn, golden_id)
        sources = self.sources(conn, golden_id)
        return build_golden(golden_id, row.empi_id, sources,
                            old_empi_ids=[e for _, e in absorbed],
                            replaces=[g for g, _ in absorbed])

    def refresh_golden(self, conn: Connection, golden_id: str) -> None:
        """Rewrite a golden Person when its sources changed its survivorship view."""
        body = self.golden_body(conn, golden_id)
        if body is None:
            return
        current = self.store.current(conn, GOLDEN_TYPE, golden_id)
        if current is not None and not current[2] and same_content(
                self.read_golden(conn, golden_id), body):
            return
        self.write_golden(conn, body)


_SERVICES: WeakKeyDictionary[Any, MpiService] = WeakKeyDictionary()


def attach(api: Any, mpi: MpiService) -> None:
    """Remember the MPI of a FHIR endpoint (operations find it from ``call.services``)."""
    _SERVICES[api] = mpi


def mpi_of(api: Any) -> MpiService:
    """Return the MPI attached to a FHIR endpoint."""
    return _SERVICES[api]
