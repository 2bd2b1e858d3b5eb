"""An APIRoute class that answers PlatformErrors and body validation errors as OperationOutcomes."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from gansu_health.core.errors import BadRequest, OutcomeIssue, PlatformError, TooManyRequests

JSON = "application/json"


def error_response(error: PlatformError) -> Response:
    """The OperationOutcome response of ``error`` (with Retry-After for 429)."""
    headers = {}
    if isinstance(error, TooManyRequests):
        headers["Retry-After"] = str(error.retry_after)
    return Response(orjson.dumps(error.outcome()), error.status, headers=headers,
                    media_type=JSON)


def validation_error(exc: RequestValidationError) -> BadRequest:
    """A BadRequest listing each invalid field of a request body or query."""
    issues = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        issues.append(OutcomeIssue("error", "invalid", str(err.get("msg", "invalid")),
                                   ".".join(loc) or None))
    return BadRequest("The request is invalid", issues=issues or None)


class PlatformErrorRoute(APIRoute):
    """Renders errors of this route's endpoint as OperationOutcome JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler."""
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except PlatformError as exc:
                return error_response(exc)
            except RequestValidationError as exc:
                return error_response(validation_error(exc))

        return handle
