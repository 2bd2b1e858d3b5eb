"""The e-health card page, and the QR fragment htmx swaps in before each code expires."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from gansu_health.portal import card
from gansu_health.portal.citizen import citizen
from gansu_health.portal.pages import show
from gansu_health.ui.i18n import N_
from gansu_health.ui.page_route import PageRoute

router = APIRouter(include_in_schema=False, route_class=PageRoute)


@router.get("/card")
def card_page(request: Request, who: str = "") -> Response:
    """The card with a dynamic QR code (or the button to get one)."""
    person = citizen(request, who)
    if person.person is None:
        return show(request, "unbound.html", {"heading": N_("E-health card")},
                    page=person.page)
    code = card.dynamic_code(person.fhir, person.person.patient_id)
    return show(request, "card.html", {"code": code, "person": person.person,
                                       "people": person.people}, page=person.page)


@router.get("/card/code")
def code_fragment(request: Request, who: str = "") -> Response:
    """A fresh code as a fragment (htmx polls it before the shown code expires)."""
    person = citizen(request, who)
    if person.person is None:
        return RedirectResponse("/card", 303)
    code = card.dynamic_code(person.fhir, person.person.patient_id)
    return show(request, "card_code.html", {"code": code, "person": person.person},
                page=person.page)


@router.post("/card/issue")
def issue(request: Request, who: Annotated[str, Form(max_length=64)]) -> Response:
    """Issue the person's card, then show it."""
    person = citizen(request, who)
    patient = person.person_of(who).patient_id
    card.issue(person.fhir, patient)
    return RedirectResponse(f"/card?who={patient}", 303)
