"""Resident sign-in by mobile number and SMS code (through the accounts service), sign-out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from gansu_health.core.errors import PlatformError
from gansu_health.identity.accounts import flows
from gansu_health.identity.accounts.sessions import (
    clear_session_cookie,
    set_session_cookie,
)
from gansu_health.identity.accounts.sms import mask_phone
from gansu_health.identity.accounts.views import safe_next
from gansu_health.portal.pages import show
from gansu_health.ui.feedback import error_msgid
from gansu_health.ui.page_route import PageRoute

router = APIRouter(include_in_schema=False, route_class=PageRoute)
Text = Annotated[str, Form(max_length=64)]
Next = Annotated[str, Form(max_length=2048)]


@router.get("/signin")
def signin_page(request: Request, next: str = "/") -> Response:
    """The sign-in page: mobile number, then the code sent to it."""
    return show(request, "signin.html", {"next": safe_next(next), "phone": "", "sent": None})


@router.post("/signin/code")
def send_code(request: Request, phone: Text = "", next: Next = "/") -> Response:
    """Send a sign-in code by SMS and ask for it."""
    values = {"next": safe_next(next), "phone": phone, "sent": None}
    try:
        issued = flows.request_code(request, phone)
    except PlatformError as exc:
        return show(request, "signin.html", {**values, "error": error_msgid(exc)},
                    status=exc.status)
    return show(request, "signin.html", {**values, "phone": issued.phone,
                                         "sent": mask_phone(issued.phone)})


@router.post("/signin")
def sign_in(request: Request, phone: Text = "", code: Text = "", next: Next = "/") -> Response:
    """Check the code, start the session and continue to ``next``."""
    target = safe_next(next)
    try:
        _account, session_id, info = flows.citizen_login(request, phone, code, None)
    except PlatformError as exc:
        return show(request, "signin.html", {"next": target, "phone": phone, "sent": None,
                                             "error": error_msgid(exc)}, status=exc.status)
    response = RedirectResponse(target, 303)
    set_session_cookie(response, flows.deps(request).settings, session_id, info)
    return response


@router.post("/signout")
def sign_out(request: Request) -> Response:
    """End the session (audited) and return to the home page."""
    flows.sign_out(request)
    response = RedirectResponse("/?signed_out=1", 303)
    clear_session_cookie(response, flows.deps(request).settings)
    return response

