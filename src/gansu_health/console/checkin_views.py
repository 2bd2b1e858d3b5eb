"""Check-in desk pages: scan or type the QR code → verified identity → check in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from gansu_health.console import checkin
from gansu_health.console.pages import show, staff
from gansu_health.core.errors import PlatformError
from gansu_health.portal.booking import today_in
from gansu_health.portal.family import GENDER_LABELS
from gansu_health.ui.feedback import error_msgid
from gansu_health.ui.page_route import PageRoute
from gansu_health.ui.templating import renderer

router = APIRouter(prefix="/console/checkin", include_in_schema=False, route_class=PageRoute)
Id = Annotated[str, Form(max_length=64)]


@router.get("")
def desk(request: Request) -> Response:
    """The scan form."""
    return show(request, staff(request), "checkin.html", {"holder": None})


@router.post("")
def verify(request: Request, code: Annotated[str, Form(max_length=600)] = "") -> Response:
    """Verify the code; show the holder and their bookings here today."""
    who = staff(request)
    try:
        holder, patients = checkin.verify(who.fhir, code)
    except PlatformError as exc:
        return show(request, who, "checkin.html", {"holder": None, "error": error_msgid(exc)},
                    status=exc.status)
    holder.bookings = checkin.bookings_today(who.fhir, patients,
                                             who.fhir.principal.organization or "",
                                             today_in(renderer(request).zone))
    return show(request, who, "checkin.html", {"holder": holder, "genders": GENDER_LABELS})


@router.post("/{appointment}")
def check_in(request: Request, appointment: str, patient: Id, name: Id = "") -> Response:
    """Check the booking in and show the waiting-room position."""
    who = staff(request)
    try:
        ahead = checkin.check_in(who.fhir, appointment[:64], patient)
    except PlatformError as exc:
        return show(request, who, "checkin.html", {"holder": None, "error": error_msgid(exc)},
                    status=exc.status)
    return show(request, who, "checkin.html", {"holder": None, "arrived": name or patient,
                                               "ahead": ahead})
