"""The route class of UI pages: platform errors become an error page in the reader's language."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from gansu_health.core.errors import PlatformError
from gansu_health.ui.feedback import error_msgid
from gansu_health.ui.templating import renderer


class PageRoute(APIRoute):
    """Renders ``ui/error.html`` with the error's status when a page raises a PlatformError."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the default handler."""
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except PlatformError as exc:
                return await run_in_threadpool(_error_page, request, exc)

        return handle


def _error_page(request: Request, exc: PlatformError) -> Response:
    home = "/console" if request.url.path.startswith("/console") else "/"
    return renderer(request).render(request, "ui/error.html",
                                    {"message": error_msgid(exc), "home": home},
                                    status=exc.status)
