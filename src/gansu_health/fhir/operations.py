"""The registry of FHIR operations ($name); domains register theirs, the REST layer calls them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from gansu_health.core.errors import MethodNotAllowed


@dataclass
class OperationCall:
    """What an operation receives: where it was invoked, its parameters and body."""

    conn: Connection
    rtype: str | None
    fid: str | None
    params: list[tuple[str, str]]
    body: Any
    base_url: str
    services: Any  # the FhirApi, giving access to service/store/search
    deferrable: bool = False  # the caller can await a ``Deferred`` answer (the HTTP front)


@dataclass
class OperationResult:
    """An operation's answer: a status, a JSON body (dict or pre-encoded bytes), headers."""

    body: dict[str, Any] | bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Deferred:
    """An answer that comes later: the request's transaction ends and its thread is freed,
    then the HTTP front awaits ``wait()`` on its event loop (e.g. a claim at the booking
    engine). Returned only when ``OperationCall.deferrable``."""

    wait: Callable[[], Awaitable[OperationResult]]


Handler = Callable[[OperationCall], OperationResult | Deferred]
# a cheap refusal answered before the transaction opens, from in-memory state only (e.g. a clinic
# known to be sold out): called with (FhirApi, instance id, parameters, body); raises to refuse
Precheck = Callable[[Any, str | None, list[tuple[str, str]], Any], None]


@dataclass(frozen=True)
class Operation:
    """One registered operation."""

    name: str
    handler: Handler
    levels: frozenset[str]  # "system", "type", "instance"
    types: frozenset[str] | None  # None means every resource type
    writes: bool = False
    get_allowed: bool = True
    description: str = ""
    # who may invoke it, read by the access guard: "open" (any caller; touches no health data),
    # "patient" (reads a patient's whole record), "person-lookup" (finds people by demographics),
    # "steward" (changes identity links), "booking" (acts for the ``patient`` parameter),
    # "schedule" (runs clinic schedules: registrars and administrators),
    # "payment" (pays a bill of the ``patient`` parameter), "indicators" (supervisors, who the
    # operation keeps to their region, administrators and systems), "card-holder" (a
    # Patient's e-health card: the person, family, card desks), "card-terminal" (scans cards),
    # "admin" (operators, systems and administrators only — the default)
    access: str = "admin"
    precheck: Precheck | None = None  # run once the caller holds a scope on the type


class OperationRegistry:
    """Operations by name; looked up by level and resource type."""

    def __init__(self) -> None:
        self._ops: dict[str, list[Operation]] = {}

    def register(self, name: str, handler: Handler, *, levels: set[str],
                 types: set[str] | None = None, writes: bool = False, get_allowed: bool = True,
                 description: str = "", access: str = "admin",
                 precheck: Precheck | None = None) -> None:
        """Register ``$name`` at the given levels (and types)."""
        self._ops.setdefault(name, []).append(Operation(
            name, handler, frozenset(levels), frozenset(types) if types else None, writes,
            get_allowed, description, access, precheck))

    def find(self, name: str, level: str, rtype: str | None) -> Operation:
        """Return the operation for this invocation, raising when it is not defined there."""
        for op in self._ops.get(name, []):
            if level in op.levels and (op.types is None or rtype in op.types):
                return op
        where = f"{rtype} {level}" if rtype else level
        raise MethodNotAllowed(f"Operation ${name} is not defined at the {where} level",
                               expression=f"${name}")

    def all(self) -> list[Operation]:
        """Return every registered operation."""
        return [op for ops in self._ops.values() for op in ops]
