"""The seam where authorisation and audit plug into the FHIR endpoint (see identity.policy).

The FHIR layer does not know who callers are: it asks its guard at fixed points of every
interaction — before any work (``permit``), on each resource it reads or writes (``check``),
on searches (``narrow`` before, ``visible`` after) and on operations — and tells it how the
request ended (``finish``), which is where the audit row is written. ``OpenGuard`` lets
everything through; the application installs the real one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection

if TYPE_CHECKING:
    from gansu_health.fhir.operations import Operation
    from gansu_health.fhir.rest.messages import FhirRequest
    from gansu_health.fhir.storage.repository import Stored

# SMART permission letters: create, read, update, delete, search
CREATE, READ, UPDATE, DELETE, SEARCH = "c", "r", "u", "d", "s"


@dataclass
class AccessNote:
    """What one request touched, gathered for its audit row."""

    subtype: str = ""  # BALP/restful-interaction code: read, search-type, create, …
    action: str = "E"  # C R U D E
    resource_type: str | None = None
    resource_id: str | None = None
    patients: set[str] = field(default_factory=set)
    query: str | None = None
    withheld: int = 0  # search entries the caller may not see
    memo: dict[Any, Any] = field(default_factory=dict)  # the guard's per-request lookups

    def interaction(self, subtype: str, action: str, rtype: str | None = None,
                    fid: str | None = None) -> None:
        """Record which interaction this request is."""
        self.subtype, self.action = subtype, action
        self.resource_type, self.resource_id = rtype, fid


class Guard(Protocol):
    """Authorisation and audit hooks the FHIR endpoint calls."""

    def authenticate(self, req: FhirRequest) -> None:
        """Establish ``req.principal`` or raise Unauthorized."""

    def authenticate_from_memory(self, req: FhirRequest) -> bool:
        """Establish ``req.principal`` without I/O and say whether that was possible (also
        that the request's audit row can be queued without I/O); never raises."""

    def permit(self, req: FhirRequest, rtype: str, permission: str) -> None:
        """Raise Forbidden unless the caller may use ``permission`` on ``rtype`` at all."""

    def check(self, conn: Connection, req: FhirRequest, permission: str,
              resource: dict[str, Any]) -> None:
        """Raise Forbidden unless the caller may use ``permission`` on this resource."""

    def narrow(self, conn: Connection, req: FhirRequest, rtype: str,
               params: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Return the search parameters restricted to what the caller may see."""

    def visible(self, conn: Connection, req: FhirRequest, found: list[Stored]) -> list[Stored]:
        """Drop the search results the caller may not see."""

    def operation(self, conn: Connection, req: FhirRequest, op: Operation, rtype: str | None,
                  fid: str | None, body: Any) -> None:
        """Raise Forbidden unless the caller may invoke ``op`` here."""

    def history(self, req: FhirRequest, rtype: str | None) -> None:
        """Raise Forbidden unless the caller may read type- or system-level history."""

    def finish(self, req: FhirRequest, status: int) -> None:
        """Record how the request ended (the audit row)."""


class OpenGuard:
    """Lets every request through and records nothing (tools, embedded use, benchmarks)."""

    def authenticate(self, req: FhirRequest) -> None:
        """Accept everyone."""

    def authenticate_from_memory(self, req: FhirRequest) -> bool:
        """Accept everyone."""
        return True

    def permit(self, req: FhirRequest, rtype: str, permission: str) -> None:
        """Allow."""

    def check(self, conn: Connection, req: FhirRequest, permission: str,
              resource: dict[str, Any]) -> None:
        """Allow."""

    def narrow(self, conn: Connection, req: FhirRequest, rtype: str,
               params: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Leave the search as it is."""
        return params

    def visible(self, conn: Connection, req: FhirRequest, found: list[Stored]) -> list[Stored]:
        """Show everything."""
        return found

    def operation(self, conn: Connection, req: FhirRequest, op: Operation, rtype: str | None,
                  fid: str | None, body: Any) -> None:
        """Allow."""

    def history(self, req: FhirRequest, rtype: str | None) -> None:
        """Allow."""

    def finish(self, req: FhirRequest, status: int) -> None:
        """Record nothing."""
