"""Hospital navigation pages: search with filters (live results with htmx) and one hospital."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from gansu_health.portal import booking, hospitals
from gansu_health.portal import directory_codes as codes
from gansu_health.portal.pages import show
from gansu_health.ui.context import PageContext, page_context
from gansu_health.ui.fhir_access import FhirAs, as_directory_reader, as_session
from gansu_health.ui.page_route import PageRoute
from gansu_health.ui.templating import renderer

router = APIRouter(include_in_schema=False, route_class=PageRoute)
RESULTS_TARGET = "hospital-results"


def _fhir(request: Request, page: PageContext) -> FhirAs:
    if page.session is not None:
        return as_session(request, page.session)
    return as_directory_reader(request)


@router.get("/hospitals")
def hospital_search(request: Request, city: str = "", level: str = "", department: str = "",
                    q: str = "", doctor: str = "") -> Response:
    """Find hospitals by city, level, department or name, and doctors by name."""
    page = page_context(request)
    filters = hospitals.Filters(city[:6], level[:4], department[:8], q[:40], doctor[:20])
    fhir = _fhir(request, page)
    found = hospitals.search_hospitals(fhir, filters, page.lang)
    doctors = hospitals.search_doctors(fhir, filters, page.lang) if filters.doctor.strip() else []
    values = {"filters": filters, "hospitals": found, "doctors": doctors,
              "cities": codes.cities(), "levels": codes.top_level(codes.CS_LEVEL, page.lang),
              "departments": codes.top_level(codes.CS_DEPARTMENT, page.lang)}
    if page.partial and request.headers.get("hx-target", "").endswith(RESULTS_TARGET):
        return show(request, "hospital_results.html", values, page=page)
    return show(request, "hospitals.html", values, page=page)


@router.get("/hospitals/{org_id}")
def hospital_page(request: Request, org_id: str) -> Response:
    """One hospital: address, phone, departments with hours and doctors."""
    page = page_context(request)
    fhir = _fhir(request, page)
    hospital, departments = hospitals.hospital_detail(fhir, org_id, page.lang)
    today = booking.today_in(renderer(request).zone)
    soonest = booking.next_free(booking.sessions(fhir, hospital.id, today,
                                                 booking.window(today)[-1]))
    return show(request, "hospital.html", {
        "hospital": hospital, "departments": departments, "soonest": soonest,
        "extensions": request.app.state.ui_slots.items("hospital")}, page=page)
