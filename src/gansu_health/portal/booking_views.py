"""Booking pages: hospital → date → department → doctor → slot → confirm → pay → done."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from gansu_health.core.errors import NotFound, PlatformError
from gansu_health.portal import booking, hospitals
from gansu_health.portal import directory_codes as codes
from gansu_health.portal.citizen import Citizen, citizen
from gansu_health.portal.pages import show
from gansu_health.ui.feedback import error_msgid
from gansu_health.ui.fhir_access import FhirCallError
from gansu_health.ui.i18n import N_
from gansu_health.ui.page_route import PageRoute

router = APIRouter(include_in_schema=False, route_class=PageRoute)
Id = Annotated[str, Form(max_length=64)]
STEPS = (N_("Hospital"), N_("Date"), N_("Department"), N_("Doctor"), N_("Time"),
         N_("Confirm"), N_("Pay"))
PAY_ERRORS = {"declined": N_("The payment was declined. Try another card."),
              "error": N_("The payment service is not available. Please try again."),
              "processing": N_("The payment is still being processed. Check again shortly.")}


def _unbound(request: Request, who: Citizen) -> Response:
    return show(request, "unbound.html", {"heading": N_("Book an appointment")}, page=who.page)


@router.get("/book")
def book_page(request: Request, hospital: str = "", date: str = "", department: str = "",
              doctor: str = "", slot: str = "", city: str = "") -> Response:
    """One page per step; each link carries the choices made so far."""
    who = citizen(request)
    if not who.people:
        return _unbound(request, who)
    values: dict[str, Any] = {"choice": {"hospital": hospital[:64], "date": date[:10],
                                         "department": department[:64], "doctor": doctor[:64]},
                              "steps": STEPS, "periods": booking.PERIOD_LABELS}
    if not hospital:
        places = hospitals.search_hospitals(who.fhir, hospitals.Filters(city=city[:6]),
                                            who.page.lang)
        return show(request, "book_hospital.html", {
            **values, "step": 0, "hospitals": places, "cities": codes.cities(),
            "city": city[:6]}, page=who.page)
    place, departments = hospitals.hospital_detail(who.fhir, hospital[:64], who.page.lang)
    names = {d.id: d.name for d in departments}
    titles = {doc.role_id: doc.title for d in departments for doc in d.doctors}
    values.update(hospital=place, names=names, titles=titles)
    today = booking.today_in(who.zone)
    day = booking.parse_day(date, today) if date else None
    if day is None:
        found_all = booking.sessions(who.fhir, place.id, today, booking.window(today)[-1])
        return show(request, "book_date.html", {
            **values, "step": 1, "days": booking.window(today),
            "open": booking.tally(found_all, lambda o: o.day)}, page=who.page)
    found = (booking.offers(who.fhir, place.id, day, day, role=doctor[:64]) if doctor else
             booking.sessions(who.fhir, place.id, day, day, department=department[:64]))
    if not department:
        return show(request, "book_department.html", {
            **values, "step": 2, "open": booking.tally(found, lambda o: o.department)},
            page=who.page)
    if not doctor:
        return show(request, "book_doctor.html", {
            **values, "step": 3, "open": booking.tally(found, lambda o: o.role),
            "doctors": {o.role: o for o in found}}, page=who.page)
    chosen = next((o for o in found if o.slot == slot), None)
    if chosen is None:
        return show(request, "book_slot.html", {**values, "step": 4, "offers": found},
                    page=who.page)
    return show(request, "book_confirm.html", {**values, "step": 5, "offer": chosen,
                                               "people": who.people}, page=who.page)


@router.post("/book")
def hold(request: Request, slot: Id, who: Id, back: Annotated[str, Form(max_length=400)] = ""
         ) -> Response:
    """Hold the number for the chosen person, then pay."""
    person = citizen(request, who)
    patient = person.person_of(who).patient_id
    try:
        appointment = booking.hold(person.fhir, slot, patient)
    except PlatformError as exc:
        return show(request, "book_failed.html", {"message": error_msgid(exc),
                                                  "back": back if back.startswith("/book") else
                                                  "/book"},
                    page=person.page, status=exc.status)
    return RedirectResponse(f"/book/pay/{appointment}?who={patient}", 303)


def _pay_page(request: Request, who: Citizen, appointment: str, *, error: str = "",
              status: int = 200) -> Response:
    assert who.person is not None
    appt = who.fhir.read("Appointment", appointment)
    if booking.actor(appt, "Patient") != who.person.patient_id:
        raise NotFound("This booking is not one of yours")
    return show(request, "book_pay.html", {
        "steps": STEPS, "step": 6, "appt": appt, "person": who.person,
        "fee": booking.fee_of(appt),
        "expires": booking.hold_expires(appt), "key": secrets.token_urlsafe(16),
        "error": error}, page=who.page, status=status)


@router.get("/book/pay/{appointment}")
def pay_page(request: Request, appointment: str, who: str = "") -> Response:
    """The registration fee of a hold, with the (sandbox) card form."""
    person = citizen(request, who)
    appt = person.fhir.read("Appointment", appointment[:64])
    if appt.get("status") != "pending":
        return RedirectResponse(f"/appointments/{appointment}?who={who}", 303)
    return _pay_page(request, person, appointment[:64])


@router.post("/book/pay/{appointment}")
def pay(request: Request, appointment: str, who: Id, key: Id, card: Id = "") -> Response:
    """Pay (idempotent per form), then book the held number."""
    person = citizen(request, who)
    patient = person.person_of(who).patient_id
    try:
        result, _message = booking.outcome(booking.pay(person.fhir, appointment, patient, card,
                                                       key))
    except FhirCallError as exc:
        result = {402: "declined", 502: "error"}.get(exc.status, "")
        if not result:
            return _pay_page(request, person, appointment, error=error_msgid(exc),
                             status=exc.status)
    if result != "succeeded":
        return _pay_page(request, person, appointment, error=PAY_ERRORS.get(result, ""),
                         status=402 if result == "declined" else 200)
    try:
        booking.book(person.fhir, appointment, patient)
    except PlatformError as exc:
        return _pay_page(request, person, appointment, error=error_msgid(exc),
                         status=exc.status)
    return RedirectResponse(f"/appointments/{appointment}?who={patient}&done=booked", 303)
