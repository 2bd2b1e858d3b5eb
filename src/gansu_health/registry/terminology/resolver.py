"""Answer token-search terminology questions (``:below``, ``:above``, ``:in``) from stored codes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from gansu_health.core.errors import BadRequest
from gansu_health.registry.terminology.source import TerminologyCache, TerminologySource


class StoredCodeResolver:
    """Implements the FHIR search ``CodeResolver`` port over the stored CodeSystems/ValueSets."""

    def __init__(self, cache: TerminologyCache, service: Any) -> None:
        self.cache = cache
        self.service = service

    def _system(self, conn: Connection, system: str, code: str) -> Any:
        index = TerminologySource(self.cache, conn, self.service).code_system(system)
        if index is None:
            raise BadRequest(f"Code system {system} is not known to this server, so its "
                             "hierarchy cannot be searched")
        if index.get(code) is None:
            raise BadRequest(f"Code {code} is not in code system {system}")
        return index

    def below(self, conn: Connection, system: str, code: str) -> set[str]:
        """Return ``code`` and its descendants."""
        return {code, *self._system(conn, system, code).descendants(code)}

    def above(self, conn: Connection, system: str, code: str) -> set[str]:
        """Return ``code`` and its ancestors."""
        return {code, *self._system(conn, system, code).ancestors(code)}

    def members(self, conn: Connection, value_set: str) -> set[tuple[str, str]]:
        """Return the (system, code) pairs of the ValueSet's expansion."""
        url, _, version = value_set.partition("|")
        expansion = TerminologySource(self.cache, conn, self.service).value_set(
            url, version or None)
        return {(m.system, m.code) for m in expansion.members.values()}
