"""What registration decides for a source record, and the records waiting for their ids."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gansu_health.mpi.engine import Features
from gansu_health.mpi.matching import GoldenScore
from gansu_health.mpi.repository import AUTO


@dataclass
class Decision:
    """Where a record goes: its golden record, how it was linked, and pairs to review."""

    golden_id: str
    empi_id: str
    new_golden: bool
    link_source: str = AUTO
    score: float | None = None
    grade: str | None = None
    keep: bool = False  # the existing MATCH link stays as it is
    possibles: list[GoldenScore] = field(default_factory=list)


@dataclass
class Pending:
    """A record seen by the before-write hook, waiting for its id in the after-write hook."""

    body: dict[str, Any]  # the very dict the store writes; it gets ``id`` before storing
    features: Features
    keys: list[str]
    identifiers: list[tuple[str, str]]
    resident_id: str | None
    verified: bool
    decision: Decision


def fresh_golden(pending: list[Pending], golden_id: str) -> str | None:
    """Return the enterprise id of a golden record created by this transaction, if it is one."""
    return next((p.decision.empi_id for p in pending
                 if p.decision.new_golden and p.decision.golden_id == golden_id), None)
