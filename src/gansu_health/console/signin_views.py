"""Staff sign-in (username, password and authenticator code), sign-out and the overview."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from gansu_health.console.navigation import nav_for
from gansu_health.console.pages import show, staff
from gansu_health.core.errors import PlatformError
from gansu_health.identity.accounts import flows
from gansu_health.identity.accounts.sessions import (
    clear_session_cookie,
    set_session_cookie,
)
from gansu_health.identity.accounts.views import safe_next
from gansu_health.ui.feedback import error_msgid
from gansu_health.ui.page_route import PageRoute

router = APIRouter(prefix="/console", include_in_schema=False, route_class=PageRoute)
Text = Annotated[str, Form(max_length=256)]


def _target(next_url: str) -> str:
    target = safe_next(next_url)
    return target if target.startswith("/console") else "/console"


@router.get("/signin")
def signin_page(request: Request, next: str = "/console") -> Response:
    """The staff sign-in page."""
    return show(request, None, "signin.html", {"next": _target(next), "username": ""})


@router.post("/signin")
def sign_in(request: Request, username: Text = "", password: Text = "", totp: Text = "",
            next: Text = "/console") -> Response:
    """Check password and TOTP, start the session, continue to ``next``."""
    target = _target(next)
    try:
        _acct, session_id, info = flows.staff_login(request, username, password, totp or None)
    except PlatformError as exc:
        return show(request, None, "signin.html", {"next": target, "username": username,
                                                   "error": error_msgid(exc)},
                    status=exc.status)
    response = RedirectResponse(target, 303)
    set_session_cookie(response, flows.deps(request).settings, session_id, info)
    return response


@router.post("/signout")
def sign_out(request: Request) -> Response:
    """End the staff session."""
    flows.sign_out(request)
    response = RedirectResponse("/console/signin", 303)
    clear_session_cookie(response, flows.deps(request).settings)
    return response


@router.get("")
def overview(request: Request) -> Response:
    """The console home: the sections of the staff member's roles."""
    who = staff(request)
    sections = [item for item in nav_for(who.roles, request.app.state.ui_slots.items("console"))
                if item.href != "/console"]
    return show(request, who, "home.html", {"sections": sections,
                                            "roles": sorted(who.roles)})
