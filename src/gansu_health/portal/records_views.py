"""My records pages, for the account holder or one of their 就诊人 (``?who=``)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gansu_health.core.errors import NotFound
from gansu_health.portal import family, records
from gansu_health.portal.pages import show
from gansu_health.ui.assets import asset_url
from gansu_health.ui.fhir_access import FhirAs, as_session
from gansu_health.ui.i18n import N_
from gansu_health.ui.page_route import PageRoute
from gansu_health.ui.session_guard import require

router = APIRouter(include_in_schema=False, route_class=PageRoute)
TABS = (("/records", N_("Visits")), ("/records/results", N_("Results")),
        ("/records/vaccines", N_("Vaccines")), ("/records/prescriptions", N_("Prescriptions")),
        ("/records/access-log", N_("Who looked")))


def _open(request: Request, template: str, who: str, fill: Any) -> Response:
    """Render a records page for ``who`` with ``fill(fhir, patient) -> values``."""
    page, session = require(request, "citizen")
    fhir = as_session(request, session)
    people = family.readable(request, session, fhir)
    chosen = family.pick(people, who)
    if chosen is None:
        return show(request, "records_unbound.html", page=page)
    values = fill(fhir, chosen.patient_id)
    return show(request, template, {"people": people, "person": chosen, "tabs": TABS,
                                    "statuses": records.STATUS_LABELS, **values}, page=page)


@router.get("/records")
def visits_page(request: Request, who: str = "") -> Response:
    """Visits and diagnoses."""
    def fill(fhir: FhirAs, patient: str) -> dict[str, Any]:
        found, diagnoses = records.visits(fhir, patient)
        return {"visits": found, "diagnoses": diagnoses}
    return _open(request, "records_visits.html", who, fill)


@router.get("/records/results")
def results_page(request: Request, who: str = "") -> Response:
    """Lab and exam results, one line per test with its latest value."""
    def fill(fhir: FhirAs, patient: str) -> dict[str, Any]:
        series, reports = records.results(fhir, patient)
        return {"series": series, "reports": reports}
    return _open(request, "records_results.html", who, fill)


@router.get("/records/results/{code}")
def trend_page(request: Request, code: str, who: str = "") -> Response:
    """One test over time: a chart (ECharts) and the same values as a table."""
    def fill(fhir: FhirAs, patient: str) -> dict[str, Any]:
        found = records.trend(fhir, patient, code[:20])
        if found is None:
            raise NotFound("No results of this test")
        oldest_first = list(reversed(found.values))
        latest = found.values[0]
        chart = {"label": found.name, "unit": latest.unit, "low": latest.low,
                 "high": latest.high, "range": latest.range,
                 "points": [[v.when, v.value] for v in oldest_first]}
        return {"trend": found, "chart_json": orjson.dumps(chart).decode(),
                "echarts": asset_url("vendor/echarts/echarts.common.min.js")}
    return _open(request, "records_trend.html", who, fill)


@router.get("/records/vaccines")
def vaccines_page(request: Request, who: str = "") -> Response:
    """Vaccinations."""
    return _open(request, "records_vaccines.html", who,
                 lambda fhir, patient: {"immunizations": records.immunizations(fhir, patient)})


@router.get("/records/prescriptions")
def prescriptions_page(request: Request, who: str = "") -> Response:
    """Prescriptions."""
    return _open(request, "records_prescriptions.html", who,
                 lambda fhir, patient: {"prescriptions": records.prescriptions(fhir, patient)})


@router.get("/records/access-log")
def access_log_page(request: Request, who: str = "", before: str = "") -> Response:
    """Who looked at the record (the audit trail), 20 at a time; htmx appends more."""
    def fill(fhir: FhirAs, patient: str) -> dict[str, Any]:
        events, cursor = records.access_log(fhir, patient, before)
        return {"events": records.access_rows(events), "cursor": cursor}
    page_name = "records_access_rows.html" if before and request.headers.get(
        "hx-request") == "true" else "records_access.html"
    return _open(request, page_name, who, fill)
