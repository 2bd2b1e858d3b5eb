"""The issue record and the mutable state carried through one validation walk."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Issue:
    """One validation finding, shaped like an OperationOutcome.issue."""

    severity: str  # "error" | "warning" | "information"
    code: str  # FHIR issue-type code
    expression: str  # FHIRPath-style location of the element at fault
    diagnostics: str  # an English sentence naming the element and what is wrong


class Context:
    """Issues found so far plus what references may resolve against."""

    __slots__ = ("contained_ids", "in_contained", "in_transaction", "issues")

    def __init__(self) -> None:
        self.issues: list[Issue] = []
        self.contained_ids: frozenset[str] = frozenset()
        self.in_contained = False
        self.in_transaction = False

    def error(self, code: str, expression: str, diagnostics: str) -> None:
        """Record an error."""
        self.issues.append(Issue("error", code, expression, diagnostics))

    def warning(self, code: str, expression: str, diagnostics: str) -> None:
        """Record a warning."""
        self.issues.append(Issue("warning", code, expression, diagnostics))
