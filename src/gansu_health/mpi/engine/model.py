"""Fellegi–Sunter model parameters (m, u, prior) and term-frequency tables, with JSON I/O."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gansu_health.mpi.engine.compare import FIELDS, LEVELS
from gansu_health.mpi.engine.features import Features

TF_FIELDS = ("family", "given")
MODEL_FORMAT = "gansu-health-mpi-model/1"


class TermFrequencies:
    """Value counts per field (surname, given name) learned from the registered population."""

    def __init__(self, floor: float = 1e-5) -> None:
        self.floor = floor
        self._counts: dict[str, Counter[str]] = {name: Counter() for name in TF_FIELDS}
        self._totals: dict[str, int] = dict.fromkeys(TF_FIELDS, 0)

    def observe(self, records: Iterable[Features]) -> None:
        """Add the surname and given name of each record to the counts."""
        for record in records:
            for name in TF_FIELDS:
                value = getattr(record, name)
                if value:
                    self._counts[name][value] += 1
                    self._totals[name] += 1

    def set_counts(self, name: str, counts: Mapping[str, int], total: int | None = None) -> None:
        """Replace the counts of one field, e.g. from a SQL GROUP BY over the registry."""
        if name not in self._counts:
            raise KeyError(f"no term frequencies for {name}; choose from {TF_FIELDS}")
        self._counts[name] = Counter({k: v for k, v in counts.items() if v > 0})
        self._totals[name] = total if total is not None else sum(self._counts[name].values())

    def frequency(self, name: str, value: str) -> float | None:
        """Relative frequency of a value (at least ``floor``), or None when nothing is counted."""
        total = self._totals.get(name, 0)
        if total == 0:
            return None
        return max(self._counts[name].get(value, 0) / total, self.floor, 0.5 / total)

    def to_dict(self, top: int = 5000) -> dict[str, Any]:
        """Serialisable form keeping the ``top`` most common values per field."""
        return {
            "floor": self.floor,
            "totals": dict(self._totals),
            "counts": {name: dict(c.most_common(top)) for name, c in self._counts.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TermFrequencies:
        """Inverse of to_dict."""
        tf = cls(float(data.get("floor", 1e-5)))
        for name, counts in data.get("counts", {}).items():
            tf.set_counts(name, counts, int(data["totals"][name]))
        return tf


@dataclass
class MatchModel:
    """m and u probabilities per field and level, the prior λ over random pairs, and a version."""

    m: dict[str, list[float]]
    u: dict[str, list[float]]
    prior: float
    version: str
    term_frequencies: TermFrequencies = field(default_factory=TermFrequencies)
    meta: dict[str, Any] = field(default_factory=dict)

    def log2_factors(self) -> list[list[float]]:
        """log2(m/u) per field (in FIELDS order) and level index."""
        return [
            [math.log2(m / u) for m, u in zip(self.m[name], self.u[name], strict=True)]
            for name in FIELDS
        ]

    def to_json(self) -> str:
        """Serialise to JSON with level names as keys."""
        data = {
            "format": MODEL_FORMAT,
            "version": self.version,
            "prior": self.prior,
            "m": {n: dict(zip(LEVELS[n], self.m[n], strict=True)) for n in FIELDS},
            "u": {n: dict(zip(LEVELS[n], self.u[n], strict=True)) for n in FIELDS},
            "term_frequencies": self.term_frequencies.to_dict(),
            "meta": self.meta,
        }
        return json.dumps(data, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> MatchModel:
        """Load a model written by to_json."""
        data = json.loads(text)
        if data.get("format") != MODEL_FORMAT:
            raise ValueError(f"not a {MODEL_FORMAT} document")
        m = {n: [float(data["m"][n][level]) for level in LEVELS[n]] for n in FIELDS}
        u = {n: [float(data["u"][n][level]) for level in LEVELS[n]] for n in FIELDS}
        return cls(
            m=m,
            u=u,
            prior=float(data["prior"]),
            version=str(data["version"]),
            term_frequencies=TermFrequencies.from_dict(data.get("term_frequencies", {})),
            meta=dict(data.get("meta", {})),
        )
