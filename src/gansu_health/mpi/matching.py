"""Score a record against the golden records whose sources share its blocking keys."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection

from gansu_health.mpi import blocking
from gansu_health.mpi.engine import Features, Matcher, MatchResult

if TYPE_CHECKING:
    from gansu_health.mpi.protect import MpiVault

GRADE_RANK = {"certain": 3, "probable": 2, "possible": 1, "certainly-not": 0}


def encode_features(f: Features) -> bytes:
    """Serialise Features for the ``mpi_record`` table."""
    return orjson.dumps(dataclasses.asdict(f))


def decode_features(blob: bytes) -> Features:
    """Rebuild Features stored by :func:`encode_features`."""
    data: dict[str, Any] = orjson.loads(blob)
    data["identifiers"] = tuple(tuple(pair) for pair in data.get("identifiers") or ())
    born = data.get("birth_date")
    data["birth_date"] = date.fromisoformat(born) if born else None
    return Features(**data)


@dataclass(frozen=True, slots=True)
class GoldenScore:
    """How well a record matches one golden record (through its best-matching source)."""

    golden_id: str
    source_id: str
    score: float
    grade: str


@dataclass(frozen=True, slots=True)
class PairScore:
    """A scored pair of source records."""

    source_id: str
    golden_id: str | None
    result: MatchResult


def rank(score: GoldenScore | PairScore) -> tuple[int, float]:
    """Sort key: grade first, then score."""
    if isinstance(score, PairScore):
        return GRADE_RANK.get(score.result.grade, 0), score.result.score
    return GRADE_RANK.get(score.grade, 0), score.score


class Scorer:
    """Blocking lookup plus the engine's Matcher."""

    def __init__(self, matcher: Matcher, max_candidates: int, vault: MpiVault) -> None:
        self.matcher = matcher
        self.max_candidates = max_candidates
        self.vault = vault  # stored keys are blind and stored features sealed
        self.model_version = str(matcher.model.version)[:32]

    def score_sources(self, conn: Connection, features: Features, keys: Sequence[str], *,
                      exclude: str | None, linked_only: bool = True,
                      extra: Sequence[tuple[str, str | None, Features]] = (),
                      found: Sequence[blocking.Candidate] | None = None) -> list[PairScore]:
        """Score every candidate source (and ``extra`` in-flight records), best first; the
        candidates are looked up unless ``found`` (fetched ahead)."""
        if found is None:
            found = blocking.candidates(conn, self.vault.lookup_keys(keys), exclude=exclude,
                                        limit=self.max_candidates, linked_only=linked_only)
        pairs = [PairScore(c.source_id, c.golden_id, self.matcher.compare(
                     features, self.vault.open_features(c.source_id, c.features)))
                 for c in found]
        seen = {c.source_id for c in found}
        pairs += [PairScore(sid, gid, self.matcher.compare(features, other))
                  for sid, gid, other in extra if sid not in seen and sid != exclude]
        return sorted(pairs, key=rank, reverse=True)

    def score_goldens(self, conn: Connection, features: Features, keys: Sequence[str], *,
                      exclude: str | None,
                      extra: Sequence[tuple[str, str | None, Features]] = (),
                      found: Sequence[blocking.Candidate] | None = None) -> list[GoldenScore]:
        """Best score per golden record, best first (certainly-not pairs are dropped)."""
        best: dict[str, GoldenScore] = {}
        for pair in self.score_sources(conn, features, keys, exclude=exclude, extra=extra,
                                       found=found):
            if pair.golden_id is None or pair.result.grade == "certainly-not":
                continue
            if pair.golden_id not in best:  # pairs come best first
                best[pair.golden_id] = GoldenScore(pair.golden_id, pair.source_id,
                                                   round(float(pair.result.score), 4),
                                                   pair.result.grade)
        return sorted(best.values(), key=rank, reverse=True)
