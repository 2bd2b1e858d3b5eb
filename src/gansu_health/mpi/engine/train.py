"""Unsupervised training: u from random pairs, m and λ by Fellegi–Sunter EM on blocked pairs."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date

from gansu_health.mpi.engine.compare import (
    FIELDS,
    LEVELS,
    NULL,
    Levels,
    compare_levels,
    pattern_weight,
)
from gansu_health.mpi.engine.features import Features, blocking_keys
from gansu_health.mpi.engine.linkage import Pair, candidate_pairs
from gansu_health.mpi.engine.model import MatchModel, TermFrequencies

_SMOOTH = 0.1


def count_patterns(records: Sequence[Features], pairs: Iterable[Pair]) -> Counter[Levels]:
    """Count the comparison vectors of the given pairs."""
    return Counter(compare_levels(records[i], records[j]) for i, j in pairs)


def random_pairs(
    n: int, count: int, seed: int = 0, sources: Sequence[int] | None = None
) -> list[Pair]:
    """Sample distinct random record pairs (across sources when given)."""
    rng = random.Random(seed)
    result: list[Pair] = []
    attempts = 0
    while len(result) < count and attempts < count * 20:
        attempts += 1
        i, j = rng.randrange(n), rng.randrange(n)
        if i != j and (sources is None or sources[i] != sources[j]):
            result.append((i, j))
    return result


def _normalise(counts: Sequence[float]) -> list[float]:
    total = sum(counts) + _SMOOTH * len(counts)
    return [(c + _SMOOTH) / total for c in counts]


def estimate_u(patterns: Counter[Levels]) -> dict[str, list[float]]:
    """u probabilities from the comparison vectors of random pairs (Laplace-smoothed)."""
    result = {}
    for index, name in enumerate(FIELDS):
        counts = [0.0] * len(LEVELS[name])
        for pattern, count in patterns.items():
            if pattern[index] != NULL:
                counts[pattern[index]] += count
        result[name] = _normalise(counts)
    return result


def _initial_m() -> dict[str, list[float]]:
    result = {}
    for name in FIELDS:
        k = len(LEVELS[name])
        result[name] = _normalise([0.8 * 1000] + [0.2 * 1000 / (k - 1)] * (k - 1))
    return result


def em_m(
    patterns: Counter[Levels],
    u: dict[str, list[float]],
    *,
    prior: float = 0.1,
    max_iter: int = 100,
    tol: float = 1e-6,
    fixed_m: dict[str, list[float]] | None = None,
) -> tuple[dict[str, list[float]], float, int]:
    """EM for m (unless ``fixed_m``) and the match share λ with u held fixed.

    Returns (m, λ, iterations).
    """
    m = fixed_m or _initial_m()
    items = list(patterns.items())
    iteration = 0
    for iteration in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        sums = {name: [0.0] * len(LEVELS[name]) for name in FIELDS}
        matched = 0.0
        total = 0.0
        factors = [
            [math.log2(mv / uv) for mv, uv in zip(m[name], u[name], strict=True)] for name in FIELDS
        ]
        logit = math.log2(prior / (1.0 - prior))
        for pattern, count in items:
            w = max(-60.0, min(60.0, logit + pattern_weight(pattern, factors)))
            g = 1.0 / (1.0 + 2.0**-w)
            weighted = g * count
            matched += weighted
            total += count
            for index, level in enumerate(pattern):
                if level != NULL:
                    sums[FIELDS[index]][level] += weighted
        new_m = fixed_m or {name: _normalise(sums[name]) for name in FIELDS}
        new_prior = min(max(matched / total, 1e-9), 1 - 1e-9) if total else prior
        change = max(
            abs(a - b) for name in FIELDS for a, b in zip(m[name], new_m[name], strict=True)
        )
        change = max(change, abs(prior - new_prior))
        m, prior = new_m, new_prior
        if change < tol:
            break
    return m, prior, iteration


# EM sessions as in Splink: pairs sharing one kind of blocking key; the fields of that key are
# held out (their m is not learned in that session, as agreement there is forced by blocking).
# Ordered from the purest (shared identifiers) to the most mixed (households, namesakes).
SESSIONS: dict[str, tuple[str, ...]] = {
    "id": ("resident_id", "birth_date", "sex", "region"),
    "ident": ("identifier",),
    "bdfp": ("birth_date", "family"),
    "nm": ("family", "given"),
}


def session_pairs(records: Sequence[Features], prefix: str, max_block: int = 50) -> set[Pair]:
    """Pairs of records sharing a blocking key of one kind (e.g. "bdfp")."""
    blocks: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        for key in blocking_keys(record):
            if key.split(":", 1)[0] == prefix:
                blocks.setdefault(key, []).append(index)
    pairs: set[Pair] = set()
    for members in blocks.values():
        if 2 <= len(members) <= max_block:
            pairs.update((i, j) for k, i in enumerate(members) for j in members[k + 1 :])
    return pairs


def _session_m(
    records: Sequence[Features], u: dict[str, list[float]], max_iter: int, minimum: int
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """m per field from the first session (in SESSIONS order, purest first) not holding it out."""
    result: dict[str, list[float]] = {}
    source: dict[str, str] = {}
    for prefix, held_out in SESSIONS.items():
        wanted = [name for name in FIELDS if name not in held_out and name not in result]
        if not wanted:
            continue
        pairs = session_pairs(records, prefix)
        if len(pairs) < minimum:
            continue
        m, _, _ = em_m(count_patterns(records, pairs), u, prior=0.5, max_iter=max_iter)
        for name in wanted:
            result[name] = m[name]
            source[name] = prefix
    return result, source


def train_em(
    records: Sequence[Features],
    pairs: Iterable[Pair] | None = None,
    *,
    sources: Sequence[int] | None = None,
    total_pairs: int | None = None,
    max_iter: int = 100,
    u_sample: int = 200_000,
    seed: int = 0,
    version: str | None = None,
) -> MatchModel:
    """Train a model: u from random pairs, m by EM sessions per blocking pass, then λ.

    Each session (SESSIONS) runs EM on the pairs sharing one kind of blocking key, with the
    key's fields held out; a field's m comes from the purest session that estimates it
    (falling back to one EM over all candidates). λ is estimated on the candidate pairs (``pairs``,
    default: the blocking candidates, only across ``sources`` when given) and rescaled to all
    ``total_pairs``.
    """
    candidates = (
        list(pairs) if pairs is not None else list(candidate_pairs(records, sources=sources))
    )
    n = len(records)
    u = estimate_u(count_patterns(records, random_pairs(n, u_sample, seed, sources)))
    patterns = count_patterns(records, candidates)
    m_all, _, iterations = em_m(patterns, u, max_iter=max_iter)
    m_sessions, session_weights = _session_m(records, u, max_iter, minimum=max(20, n // 200))
    m = {name: m_sessions.get(name, m_all[name]) for name in FIELDS}
    _, in_block, _ = em_m(patterns, u, max_iter=max_iter, fixed_m=m)
    everything = total_pairs if total_pairs is not None else n * (n - 1) // 2
    prior = min(max(in_block * len(candidates) / max(everything, 1), 1e-12), 0.5)
    tf = TermFrequencies()
    tf.observe(records)
    return MatchModel(
        m=m,
        u=u,
        prior=prior,
        version=version or f"em-{date.today():%Y%m%d}-n{n}",
        term_frequencies=tf,
        meta={"records": n, "candidate_pairs": len(candidates), "em_iterations": iterations,
              "in_block_match_share": in_block, "m_sessions": session_weights},
    )  # fmt: skip
