"""One error hierarchy; every error maps to an HTTP status and a FHIR OperationOutcome."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class OutcomeIssue:
    """One OperationOutcome.issue."""

    severity: str
    code: str
    diagnostics: str
    expression: str | None = None

    def to_fhir(self) -> dict[str, Any]:
        """Render as FHIR JSON."""
        out: dict[str, Any] = {"severity": self.severity, "code": self.code,
                               "diagnostics": self.diagnostics}
        if self.expression:
            out["expression"] = [self.expression]
        return out


class PlatformError(Exception):
    """Base of every error the platform raises on purpose."""

    status = 500
    code = "exception"

    def __init__(self, message: str, *, expression: str | None = None,
                 issues: list[OutcomeIssue] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.issues = issues or [OutcomeIssue("error", self.code, message, expression)]

    def outcome(self) -> dict[str, Any]:
        """Return the OperationOutcome describing this error."""
        return operation_outcome(self.issues)

    def outcome_bytes(self) -> bytes:
        """Return the OperationOutcome as JSON bytes."""
        import orjson

        return orjson.dumps(self.outcome())


class BadRequest(PlatformError):
    """The request is malformed (400)."""

    status = 400
    code = "invalid"


class InvalidResource(PlatformError):
    """The resource does not validate (400; 422 is reserved for business rules)."""

    status = 400
    code = "structure"


class Unauthorized(PlatformError):
    """No valid credentials were presented (401)."""

    status = 401
    code = "login"


class TooManyRequests(PlatformError):
    """A rate limit was exceeded (429); ``retry_after`` is in seconds."""

    status = 429
    code = "throttled"

    def __init__(self, message: str, *, retry_after: int = 1, expression: str | None = None
                 ) -> None:
        super().__init__(message, expression=expression)
        self.retry_after = retry_after


class Forbidden(PlatformError):
    """The caller may not do this (403)."""

    status = 403
    code = "forbidden"


class NotFound(PlatformError):
    """No such resource (404)."""

    status = 404
    code = "not-found"


class Gone(PlatformError):
    """The resource was deleted (410)."""

    status = 410
    code = "deleted"


class MethodNotAllowed(PlatformError):
    """The interaction is not supported here (405)."""

    status = 405
    code = "not-supported"


class Conflict(PlatformError):
    """The request conflicts with the current state (409)."""

    status = 409
    code = "conflict"


class ServiceUnavailable(PlatformError):
    """A part of the server the request needs stopped while answering it (503 with
    Retry-After)."""

    status = 503
    code = "transient"
    retry_after = 1


class TransientConflict(ServiceUnavailable):
    """The database undid the transaction to break a deadlock or a serialisation conflict:
    nothing was written and the same request may be sent again."""


class PreconditionFailed(PlatformError):
    """An If-Match or conditional criterion failed (412)."""

    status = 412
    code = "conflict"


class PayloadTooLarge(PlatformError):
    """The request body exceeds a configured limit (413)."""

    status = 413
    code = "too-costly"


class NotAcceptable(PlatformError):
    """The requested format is not served (406)."""

    status = 406
    code = "not-supported"


class UnprocessableEntity(PlatformError):
    """The request is well-formed but breaks a business rule (422)."""

    status = 422
    code = "business-rule"


def operation_outcome(issues: list[OutcomeIssue]) -> dict[str, Any]:
    """Build an OperationOutcome resource from issues."""
    return {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in issues]}
