"""The supervisor dashboard page: charts (ECharts) and the same figures as tables."""

from __future__ import annotations

from datetime import date, timedelta

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gansu_health.console import indicators
from gansu_health.console.pages import show, staff
from gansu_health.portal.booking import today_in
from gansu_health.ui.assets import asset_url
from gansu_health.ui.i18n import N_, translations
from gansu_health.ui.page_route import PageRoute
from gansu_health.ui.templating import renderer

router = APIRouter(prefix="/console/indicators", include_in_schema=False,
                   route_class=PageRoute)
WINDOW_DAYS = 7
SERIES = {"online": N_("Online booking rate"), "expert": N_("Expert numbers online"),
          "noshow": N_("No-show rate")}


def _day(value: str, default: date) -> date:
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return default


@router.get("")
def dashboard(request: Request, start: str = "", end: str = "") -> Response:
    """Indicators of the supervisor's region by city and hospital (last week to next week)."""
    who = staff(request)
    today = today_in(renderer(request).zone)
    first = _day(start, today - timedelta(days=WINDOW_DAYS))
    last = _day(end, today + timedelta(days=WINDOW_DAYS))
    first, last = min(first, last), max(first, last)
    gettext = translations(who.page.lang).gettext
    labels = {k: gettext(v) for k, v in SERIES.items()}
    cities = indicators.indicators(who.fhir, first, last, "city")
    hospitals = indicators.indicators(who.fhir, first, last, "hospital")
    return show(request, who, "indicators.html", {
        "start": first, "end": last, "cities": cities, "hospitals": hospitals,
        "series": SERIES, "echarts": asset_url("vendor/echarts/echarts.common.min.js"),
        "city_chart": orjson.dumps(indicators.chart(cities, labels)).decode(),
        "hospital_chart": orjson.dumps(indicators.chart(hospitals, labels)).decode()})
