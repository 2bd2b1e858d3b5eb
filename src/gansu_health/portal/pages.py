"""Render citizen-app pages with the app's navigation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from gansu_health.portal.navigation import NAV
from gansu_health.ui.context import PageContext
from gansu_health.ui.templating import renderer


def show(request: Request, name: str, values: Mapping[str, Any] | None = None, *,
         page: PageContext | None = None, status: int = 200) -> HTMLResponse:
    """The page ``portal/<name>`` with the citizen navigation."""
    return renderer(request).render(request, f"portal/{name}", {"nav": NAV, **(values or {})},
                                    page=page, status=status)
