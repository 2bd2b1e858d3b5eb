"""Batch deduplication of existing source Patients through the blocking table."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from gansu_health.core.database import read_transaction, write_transaction
from gansu_health.mpi import repository as repo
from gansu_health.mpi.engine import blocking_keys, clusters
from gansu_health.mpi.repository import AUTO, MATCH, POSSIBLE_MATCH
from gansu_health.mpi.service import MpiService

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class DedupePair:
    """Two source records that may be the same person."""

    a: str
    b: str
    golden_a: str | None
    golden_b: str | None
    score: float
    grade: str

    @property
    def status(self) -> str:
        """linked (same golden record), split (different ones) or unlinked."""
        if self.golden_a is None or self.golden_b is None:
            return "unlinked"
        return "linked" if self.golden_a == self.golden_b else "split"


@dataclass
class DedupeReport:
    """What a run found and did."""

    indexed: int = 0
    scanned: int = 0
    pairs: list[DedupePair] = field(default_factory=list)
    applied: Counter[str] = field(default_factory=Counter)

    def by_grade(self) -> Counter[tuple[str, str]]:
        """Count pairs by (grade, status)."""
        return Counter((p.grade, p.status) for p in self.pairs)


class Deduplicator:
    """Index the Patients the MPI has not seen, score pairs sharing blocking keys, link them."""

    def __init__(self, mpi: MpiService, engine: Engine, batch: int = 500) -> None:
        self.mpi = mpi
        self.engine = engine
        self.batch = batch

    def index(self, progress: Progress) -> int:
        """Store features and blocking keys of Patients stored before the MPI knew them."""
        done, after = 0, 0
        while True:
            with write_transaction(self.engine) as conn:
                rids = repo.unindexed_patients(conn, after, self.batch)
                if not rids:
                    return done
                for stored in self.mpi.store.load_many(conn, rids).values():
                    self.mpi.index_source(conn, stored)
            after = rids[-1]
            done += len(rids)
            progress(len(rids))

    def total(self) -> int:
        """Count the indexed source records."""
        with read_transaction(self.engine) as conn:
            return repo.count_indexed(conn)

    def pairs(self, progress: Progress) -> list[DedupePair]:
        """Score each indexed record against those sharing a blocking key (each pair once)."""
        found: list[DedupePair] = []
        after = ""
        while True:
            with read_transaction(self.engine) as conn:
                fids = repo.indexed_after(conn, after, self.batch)
                if not fids:
                    return found
                stored = repo.records(conn, fids)
                for fid in fids:
                    features = self.mpi.vault.open_features(fid, stored[fid][0])
                    mine = repo.match_link(conn, fid)
                    for pair in self.mpi.scorer.score_sources(
                            conn, features, blocking_keys(features), exclude=fid,
                            linked_only=False):
                        if pair.source_id > fid and pair.result.grade != "certainly-not":
                            found.append(DedupePair(
                                fid, pair.source_id, mine.golden_id if mine else None,
                                pair.golden_id, round(pair.result.score, 4),
                                pair.result.grade))
            after = fids[-1]
            progress(len(fids))

    def apply(self, pairs: list[DedupePair]) -> Counter[str]:
        """Link certain clusters to one golden record, queue the rest for review."""
        done: Counter[str] = Counter()
        certain = [p for p in pairs if p.grade == "certain"]
        ids = sorted({x for p in certain for x in (p.a, p.b)})
        index = {fid: i for i, fid in enumerate(ids)}
        labels = clusters(len(ids), [(index[p.a], index[p.b]) for p in certain])
        groups: dict[int, list[str]] = {}
        for fid, label in zip(ids, labels, strict=True):
            groups.setdefault(label, []).append(fid)
        with write_transaction(self.engine) as conn:
            refresh: list[str] = []
            for members in groups.values():
                goldens = Counter(link.golden_id for m in members
                                  if (link := repo.match_link(conn, m)) is not None)
                target = (goldens.most_common(1)[0][0] if goldens
                          else self.mpi.create_golden(conn))
                done["split clusters"] += len(goldens) > 1
                for member in members:
                    if repo.match_link(conn, member) is None:
                        self.mpi.link(conn, member, target, MATCH, AUTO, None, "certain",
                                      "dedupe", refresh)
                        done["linked"] += 1
            for fid in repo.unlinked_sources(conn):
                self.mpi.link(conn, fid, self.mpi.create_golden(conn), MATCH, AUTO, None, None,
                              "dedupe", refresh)
                done["new golden records"] += 1
            for p in pairs:
                if p.grade == "certain":
                    continue
                a, b = repo.match_link(conn, p.a), repo.match_link(conn, p.b)
                if a and b and a.golden_id != b.golden_id and not repo.links_of(
                        conn, source_id=p.b, golden_id=a.golden_id) and not \
                        repo.is_not_duplicate(conn, a.golden_id, b.golden_id):
                    self.mpi.link(conn, p.b, a.golden_id, POSSIBLE_MATCH, AUTO, p.score,
                                  p.grade, "dedupe", refresh)
                    done["queued for review"] += 1
            for golden_id in dict.fromkeys(refresh):
                self.mpi.refresh_golden(conn, golden_id)
        return done
