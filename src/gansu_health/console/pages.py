"""Console pages: the signed-in staff member, their FHIR access and their navigation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from gansu_health.console.navigation import allowed, nav_for
from gansu_health.core.errors import Forbidden
from gansu_health.ui.context import PageContext
from gansu_health.ui.fhir_access import FhirAs, as_session
from gansu_health.ui.session_guard import require
from gansu_health.ui.templating import renderer


@dataclass(frozen=True, slots=True)
class Staff:
    """A console request: page context and FHIR access as the signed-in staff member."""

    page: PageContext
    fhir: FhirAs

    @property
    def roles(self) -> frozenset[str]:
        """The staff member's roles at their institution."""
        return self.fhir.principal.roles


def staff(request: Request) -> Staff:
    """The signed-in staff member (redirect to sign in; 403 outside their roles' sections)."""
    page, session = require(request, "staff")
    found = Staff(page, as_session(request, session))
    if not allowed(page.path, found.roles):
        raise Forbidden("This section is not for your role")
    return found


def show(request: Request, who: Staff | None, name: str,
         values: Mapping[str, Any] | None = None, *, status: int = 200,
         page: PageContext | None = None) -> HTMLResponse:
    """The page ``console/<name>`` with the navigation of the staff member's roles."""
    roles = who.roles if who else frozenset()
    nav = nav_for(roles, request.app.state.ui_slots.items("console")) if who else []
    return renderer(request).render(request, f"console/{name}",
                                    {"nav": nav, "staff": who, **(values or {})},
                                    page=page or (who.page if who else None), status=status)
