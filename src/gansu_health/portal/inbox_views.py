"""The notifications inbox page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from gansu_health.portal import inbox
from gansu_health.portal.citizen import citizen
from gansu_health.portal.pages import show
from gansu_health.ui.i18n import N_
from gansu_health.ui.page_route import PageRoute

router = APIRouter(include_in_schema=False, route_class=PageRoute)


@router.get("/inbox")
def inbox_page(request: Request) -> Response:
    """Booking confirmations, waiting-room reminders, 停诊 notices, receipts and refunds."""
    who = citizen(request)
    if not who.people:
        return show(request, "unbound.html", {"heading": N_("Messages")}, page=who.page)
    return show(request, "inbox.html", {"messages": inbox.messages(who.fhir, who.people)},
                page=who.page)
