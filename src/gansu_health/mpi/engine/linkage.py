"""Batch helpers: candidate pairs from blocking, scoring, clustering and accuracy metrics."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from gansu_health.mpi.engine.features import Features, blocking_keys
from gansu_health.mpi.engine.matcher import Matcher

Pair = tuple[int, int]


def candidate_pairs(
    records: Sequence[Features], *, sources: Sequence[int] | None = None, max_block: int = 400
) -> set[Pair]:
    """Union of the blocking passes as (i, j) with i < j; with ``sources``, only across sources.

    Blocks larger than ``max_block`` records are skipped (a stop list for values such as a
    shared reception phone or a very common name).
    """
    blocks: dict[str, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        for key in blocking_keys(record):
            blocks[key].append(index)
    pairs: set[Pair] = set()
    for members in blocks.values():
        if len(members) < 2 or len(members) > max_block:
            continue
        for position, i in enumerate(members):
            for j in members[position + 1 :]:
                if i != j and (sources is None or sources[i] != sources[j]):
                    pairs.add((i, j) if i < j else (j, i))
    return pairs


def true_pairs(entities: Sequence[str], sources: Sequence[int] | None = None) -> set[Pair]:
    """All pairs of records with the same entity label (across sources when given)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, entity in enumerate(entities):
        groups[entity].append(index)
    result: set[Pair] = set()
    for members in groups.values():
        for position, i in enumerate(members):
            for j in members[position + 1 :]:
                if sources is None or sources[i] != sources[j]:
                    result.add((i, j))
    return result


def clusters(n: int, edges: Iterable[Pair]) -> list[int]:
    """Connected components (union–find): the cluster label of every record."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in edges:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    return [find(i) for i in range(n)]


@dataclass(frozen=True, slots=True)
class PairMetrics:
    """Pairwise precision, recall and F1."""

    precision: float
    recall: float
    f1: float
    true_positives: int
    predicted: int
    actual: int


def pair_metrics(predicted: Collection[Pair], actual: Collection[Pair]) -> PairMetrics:
    """Precision, recall and F1 of a predicted pair set against the truth."""
    hits = len(set(predicted) & set(actual))
    precision = hits / len(predicted) if predicted else 1.0
    recall = hits / len(actual) if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairMetrics(precision, recall, f1, hits, len(predicted), len(actual))


def cluster_pairs(labels: Sequence[int]) -> set[Pair]:
    """All within-cluster pairs of a clustering."""
    return true_pairs([str(label) for label in labels])


def reduction_ratio(candidates: int, total_pairs: int) -> float:
    """1 − candidates / all possible pairs."""
    return 1.0 - candidates / total_pairs if total_pairs else 0.0


@dataclass(frozen=True, slots=True)
class GradeReport:
    """Accuracy of graded candidate pairs against the truth (the MPI service's view)."""

    records: int
    true_pairs: int
    candidates: int
    pair_completeness: float
    certain: PairMetrics
    any_grade: PairMetrics
    review_pairs: int
    review_share: float
    grades: dict[str, int]


def grade_report(
    records: Sequence[Features],
    entities: Sequence[str],
    matcher: Matcher,
    *,
    sources: Sequence[int] | None = None,
) -> GradeReport:
    """Block, score and grade all candidates; report certain precision, recall and queue share."""
    truth = true_pairs(entities, sources)
    candidates = candidate_pairs(records, sources=sources)
    graded = {p: matcher.compare(records[p[0]], records[p[1]]).grade for p in candidates}
    counts = Counter(graded.values())
    review = counts["probable"] + counts["possible"]
    return GradeReport(
        records=len(records),
        true_pairs=len(truth),
        candidates=len(candidates),
        pair_completeness=len(candidates & truth) / len(truth) if truth else 1.0,
        certain=pair_metrics({p for p, g in graded.items() if g == "certain"}, truth),
        any_grade=pair_metrics({p for p, g in graded.items() if g != "certainly-not"}, truth),
        review_pairs=review,
        review_share=review / len(records) if records else 0.0,
        grades=dict(counts),
    )
