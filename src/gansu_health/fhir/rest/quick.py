"""Answers known without I/O, given on the event loop instead of a worker thread.

At release time most ``$book`` requests ask for clinics already full, and the operation's
precheck knows the refusal from memory. Handing each one to a worker thread costs more than the
answer and makes it wait behind the bookings that do need the database. So the HTTP front asks
here first: a POST operation with a precheck, from a caller whose token is remembered, whose
precheck refuses, is answered (and audited) at once; everything else returns None and goes the
normal way through ``FhirApi.handle``, which decides exactly as before.
"""

from __future__ import annotations

from gansu_health.core.errors import PlatformError
from gansu_health.fhir.rest.dispatch import (
    FhirApi,
    FhirRequest,
    FhirResponse,
    current_request,
    error_response,
)


def _operation_path(req: FhirRequest) -> tuple[str, str, str | None] | None:
    """(operation, type, id) of a type- or instance-level POST operation, else None."""
    if req.method != "POST" or not req.body:
        return None
    parts = [p for p in req.path.split("/") if p]
    if len(parts) == 2 and parts[1].startswith("$"):
        return parts[1][1:], parts[0], None
    if len(parts) == 3 and parts[2].startswith("$"):
        return parts[2][1:], parts[0], parts[1]
    return None


def answer_from_memory(api: FhirApi, req: FhirRequest) -> FhirResponse | None:
    """The answer to ``req`` if it needs no I/O, else None (serve it with ``api.handle``)."""
    path = _operation_path(req)
    if path is None:
        return None
    name, rtype, fid = path
    token = current_request.set(req)
    try:
        try:
            op = api.registry.find(name, "instance" if fid else "type", rtype)
            if op.precheck is None or not api.guard.authenticate_from_memory(req):
                return None
            api.negotiate(req)
            body = api.json_body(req)
        except PlatformError:
            return None  # the normal way gives the same answer, audited as usual
        req.access.interaction("operation", "U" if op.writes else "E", rtype, fid)
        req.access.query = f"${name}"
        try:
            api.precheck(req, op, rtype, fid, body)
        except PlatformError as exc:
            api.guard.finish(req, exc.status)
            return error_response(exc)
        return None
    finally:
        current_request.reset(token)
