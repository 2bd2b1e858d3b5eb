"""Transport-neutral FHIR requests and responses, and the error response every layer gives."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from email.utils import format_datetime
from typing import Any

import orjson
from sqlalchemy.exc import DBAPIError

from gansu_health.core.clock import from_micros
from gansu_health.core.database import is_transient
from gansu_health.core.errors import (
    PlatformError,
    ServiceUnavailable,
    TooManyRequests,
    TransientConflict,
    Unauthorized,
)
from gansu_health.fhir import jsonio
from gansu_health.fhir.operations import Deferred, OperationResult
from gansu_health.fhir.rest.guard import AccessNote
from gansu_health.fhir.storage.repository import Stored

FHIR_JSON = "application/fhir+json; charset=utf-8"
# the request being served on this thread, for callbacks that only get a connection (bundles)
current_request: ContextVar[FhirRequest | None] = ContextVar("current_request", default=None)


@dataclass
class FhirRequest:
    """A transport-neutral FHIR request."""

    method: str
    path: str
    params: list[tuple[str, str]]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    client_ip: str | None = None
    principal: Any = None  # set by the guard (an identity.principal.Principal)
    access: AccessNote = field(default_factory=AccessNote)
    deferrable: bool = False  # its caller awaits ``FhirResponse.later`` (the HTTP front)


@dataclass
class FhirResponse:
    """A transport-neutral FHIR response."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # the real response, awaited on the event loop (a deferred operation): see ``FhirApi.settle``
    later: Callable[[], Awaitable[FhirResponse]] | None = None


def note_patients(*patients: str | None) -> None:
    """Name the patients the current request touched, for its audit row."""
    req = current_request.get()
    if req is not None:
        req.access.patients |= {x for x in patients if x}


def stored_headers(stored: Stored, base: str) -> dict[str, str]:
    """The ETag, Last-Modified and Location headers of a stored version."""
    return {"ETag": stored.etag,
            "Last-Modified": format_datetime(from_micros(stored.updated_us), usegmt=True),
            "Location": f"{base}/{stored.rtype}/{stored.fid}/_history/{stored.version}"}


def error_response(exc: PlatformError) -> FhirResponse:
    """The OperationOutcome response for a platform error, with its protocol headers."""
    response = FhirResponse(exc.status, orjson.dumps(exc.outcome()))
    if isinstance(exc, Unauthorized):
        response.headers["WWW-Authenticate"] = 'Bearer realm="gansu-health", error="invalid_token"'
    if isinstance(exc, TooManyRequests | ServiceUnavailable):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def failure_response(exc: PlatformError | DBAPIError) -> FhirResponse:
    """The OperationOutcome for an error (a database error other than a conflict re-raised)."""
    if isinstance(exc, PlatformError):
        return error_response(exc)
    if not is_transient(exc):
        raise exc
    return error_response(TransientConflict(
        "The database undid this request to resolve a conflict with a concurrent one; "
        "nothing was stored. Send it again."))


def operation_response(result: OperationResult) -> FhirResponse:
    """The response carrying an operation's result."""
    payload = result.body if isinstance(result.body, bytes) else jsonio.dumps(result.body)
    return FhirResponse(result.status, payload, result.headers)


async def when_answered(deferred: Deferred) -> FhirResponse:
    """The response of a deferred operation, once its answer has come."""
    return operation_response(await deferred.wait())
