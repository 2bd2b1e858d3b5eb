"""The port through which token search asks a terminology service about codes.

The FHIR layer only defines the questions; the registry domain answers them (it knows the stored
CodeSystems and ValueSets) by installing a :class:`CodeResolver` at setup. The request's database
connection travels in a context variable, so resolvers read in the search's own transaction.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Protocol

from sqlalchemy import Connection

current_connection: ContextVar[Connection | None] = ContextVar("search_connection", default=None)


class CodeResolver(Protocol):
    """Answers subsumption and value-set membership for token searches."""

    def below(self, conn: Connection, system: str, code: str) -> set[str]:
        """Return ``code`` and every code it subsumes in ``system`` (raise if unknown)."""
        ...

    def above(self, conn: Connection, system: str, code: str) -> set[str]:
        """Return ``code`` and every code that subsumes it in ``system`` (raise if unknown)."""
        ...

    def members(self, conn: Connection, value_set: str) -> set[tuple[str, str]]:
        """Return the (system, code) pairs of a ValueSet's expansion (raise if unknown)."""
        ...
