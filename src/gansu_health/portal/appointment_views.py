"""My appointments: every booking of the family, one booking with its waiting-room position,
cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from gansu_health.core.errors import NotFound, PlatformError
from gansu_health.portal import appointments
from gansu_health.portal.citizen import Citizen, citizen
from gansu_health.portal.pages import show
from gansu_health.ui.feedback import error_msgid
from gansu_health.ui.i18n import N_
from gansu_health.ui.page_route import PageRoute

router = APIRouter(include_in_schema=False, route_class=PageRoute)
Id = Annotated[str, Form(max_length=64)]
NOTICES = {"booked": N_("Booked and paid. Check in at the hospital with your e-health card."),
           "cancelled": N_("The booking was cancelled. A paid fee is refunded.")}


def _labels() -> dict[str, object]:
    return {"statuses": appointments.STATUS_LABELS, "reasons": appointments.REASON_LABELS,
            "payments": appointments.PAYMENT_LABELS}


@router.get("/appointments")
def appointment_list(request: Request) -> Response:
    """The bookings of everyone the account books for, latest visit first."""
    who = citizen(request)
    if not who.people:
        return show(request, "unbound.html", {"heading": N_("My appointments")}, page=who.page)
    found = sorted((b for p in who.people for b in appointments.bookings(who.fhir, p)),
                   key=lambda b: b.start, reverse=True)
    return show(request, "appointments.html", {"bookings": found, **_labels()}, page=who.page)


def _detail(request: Request, who: Citizen, appointment: str, *, error: str = "",
            status: int = 200) -> Response:
    assert who.person is not None
    found = next((b for b in appointments.bookings(who.fhir, who.person, 100)
                  if b.id == appointment), None)
    if found is None:
        raise NotFound("This booking is not one of yours")
    return show(request, "appointment.html", {
        "b": found, "ahead": appointments.queue(who.fhir, found), "error": error,
        "notice": NOTICES.get(request.query_params.get("done", ""), ""), **_labels()},
        page=who.page, status=status)


@router.get("/appointments/{appointment}")
def appointment_page(request: Request, appointment: str, who: str = "") -> Response:
    """One booking: time, place, number, payment, check-in and the queue ahead."""
    return _detail(request, citizen(request, who), appointment[:64])


@router.post("/appointments/{appointment}/cancel")
def cancel(request: Request, appointment: str, who: Id) -> Response:
    """Cancel a booking (the hospital's deadline applies)."""
    person = citizen(request, who)
    patient = person.person_of(who).patient_id
    try:
        appointments.cancel(person.fhir, appointment[:64], patient)
    except PlatformError as exc:
        return _detail(request, person, appointment[:64], error=error_msgid(exc),
                       status=exc.status)
    return RedirectResponse(f"/appointments/{appointment}?who={patient}&done=cancelled", 303)
