"""The supervisor dashboard: booking indicators (``$booking-indicators``) by city and by
hospital over a range of visit days, summed over the days (rates recomputed from the counts)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from gansu_health.portal import directory_codes as codes
from gansu_health.ui.fhir_access import FhirAs

Json = dict[str, Any]
COUNTS = ("expertNumbers", "expertOnline", "bookings", "onlineBookings", "arrived", "noShows",
          "checkIns")


@dataclass
class Row:
    """The indicators of one city or hospital over the range."""

    scope: str
    name: str
    counts: dict[str, int]
    wait_median: float | None = None

    def share(self, part: str, whole: str) -> float | None:
        """A rate in percent (None when nothing to divide by)."""
        return round(100 * self.counts[part] / self.counts[whole], 1) if self.counts[whole] \
            else None

    @property
    def expert_share(self) -> float | None:
        """Expert numbers released to remote channels, %."""
        return self.share("expertOnline", "expertNumbers")

    @property
    def online_rate(self) -> float | None:
        """Bookings made online, %."""
        return self.share("onlineBookings", "bookings")

    @property
    def noshow_rate(self) -> float | None:
        """No-shows of the bookings whose outcome is known, %."""
        known = self.counts["arrived"] + self.counts["noShows"]
        return round(100 * self.counts["noShows"] / known, 1) if known else None


def _rows(answer: Json) -> dict[str, Row]:
    out: dict[str, Row] = {}
    for param in answer.get("parameter") or []:
        if param.get("name") != "indicators":
            continue
        values = {p["name"]: next((v for k, v in p.items() if k.startswith("value")), None)
                  for p in param.get("part") or []}
        scope = str(values["scope"])
        row = out.setdefault(scope, Row(scope, scope, dict.fromkeys(COUNTS, 0)))
        for name in COUNTS:
            row.counts[name] += int(values.get(name) or 0)
        median = values.get("checkInWaitMedianMin")
        if median is not None:
            row.wait_median = float(median)
    return out


def indicators(fhir: FhirAs, start: date, end: date, group: str) -> list[Row]:
    """Rows per city or hospital, by name."""
    rows = _rows(fhir.call("GET", "$booking-indicators", [
        ("start", start.isoformat()), ("end", end.isoformat()), ("groupBy", group)]))
    if group == "city":
        for row in rows.values():
            row.name = codes.city_name(row.scope) or row.scope
    elif rows:
        ids = ",".join(s.removeprefix("Organization/") for s in rows)
        names = {o["id"]: o.get("name", "") for o in fhir.search(
            "Organization", [("_id", ids), ("_count", "500"), ("_elements", "name")])}
        for row in rows.values():
            row.name = names.get(row.scope.removeprefix("Organization/")) or row.scope
    return sorted(rows.values(), key=lambda r: r.name)


def chart(rows: list[Row], labels: dict[str, str]) -> dict[str, Any]:
    """ECharts data: one bar series per rate (labels are translated series names)."""
    return {"kind": "bars", "categories": [r.name for r in rows], "unit": "%",
            "series": [{"name": labels["online"], "data": [r.online_rate for r in rows]},
                       {"name": labels["expert"], "data": [r.expert_share for r in rows]},
                       {"name": labels["noshow"], "data": [r.noshow_rate for r in rows]}]}
