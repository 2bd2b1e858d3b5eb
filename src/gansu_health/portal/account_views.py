"""The "Me" pages: real-name binding and family members (就诊人)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from gansu_health.core.errors import PlatformError
from gansu_health.identity.accounts import flows
from gansu_health.identity.accounts.sms import mask_phone
from gansu_health.portal import family
from gansu_health.portal.pages import show
from gansu_health.ui.feedback import error_msgid
from gansu_health.ui.fhir_access import as_session
from gansu_health.ui.i18n import N_
from gansu_health.ui.page_route import PageRoute
from gansu_health.ui.session_guard import require

router = APIRouter(include_in_schema=False, route_class=PageRoute)
Text = Annotated[str, Form(max_length=64)]
NOTICES = {"bound": N_("Your identity is verified and bound to this account."),
           "added": N_("The family member was added."),
           "removed": N_("The family member was removed.")}
ADDABLE = ("child", "parent", "spouse", "other")


def _me(request: Request, *, error: str = "", status: int = 200, form: dict[str, str] | None = None
        ) -> Response:
    page, session = require(request, "citizen")
    acct = family.account_of(request, session)
    phone = flows.deps(request).accounts.phone_of(acct)
    persons = family.people(request, session, as_session(request, session))
    notice = NOTICES.get(request.query_params.get("done", ""), "")
    return show(request, "me.html", {
        "bound": acct.patient_id is not None, "phone": mask_phone(phone) if phone else "",
        "people": persons, "labels": family.RELATIONSHIP_LABELS,
        "genders": family.GENDER_LABELS, "addable": ADDABLE,
        "notice": notice, "error": error, "form": form or {}}, page=page, status=status)


@router.get("/me")
def me(request: Request) -> Response:
    """Account, identity binding and family members."""
    return _me(request)


@router.post("/me/bind")
def bind(request: Request, resident_id: Text = "", name: Text = "") -> Response:
    """Bind the account to the resident's own record (实名认证)."""
    _page, session = require(request, "citizen")
    try:
        family.bind(request, session, resident_id, name)
    except PlatformError as exc:
        return _me(request, error=error_msgid(exc), status=exc.status,
                   form={"bind_name": name, "bind_id": resident_id})
    return RedirectResponse("/me?done=bound", 303)


@router.post("/me/family")
def add_member(request: Request, resident_id: Text = "", name: Text = "",
               relationship: Text = "") -> Response:
    """Add a 就诊人 proven by ID number and name."""
    _page, session = require(request, "citizen")
    try:
        family.add(request, session, resident_id, name, relationship)
    except PlatformError as exc:
        return _me(request, error=error_msgid(exc), status=exc.status,
                   form={"name": name, "resident_id": resident_id,
                         "relationship": relationship})
    return RedirectResponse("/me?done=added", 303)


@router.post("/me/family/{patient_id}/remove")
def remove_member(request: Request, patient_id: str) -> Response:
    """Remove a 就诊人."""
    _page, session = require(request, "citizen")
    try:
        family.remove(request, session, patient_id)
    except PlatformError as exc:
        return _me(request, error=error_msgid(exc), status=exc.status)
    return RedirectResponse("/me?done=removed", 303)
