"""Booking indicators per hospital or city and day (``$booking-indicators``).

Definitions (from the pool's tables; the day is the visit day):

- ``expertOnlineShare``: expert numbers (doctors titled chief or associate-chief, 专家号) of open
  sessions released to remote channels (online pool, referral and family-doctor reserves) over
  all their numbers — the target is ≥ 85 %;
- ``onlineBookingRate``: bookings that took a number (booked, arrived, no-show) through a remote
  channel over all of them (the rest were taken at the window);
- ``noShowRate``: no-shows over bookings whose outcome is known (arrived + no-show);
- ``checkInWait``: minutes from check-in to the start of the booked time slot (0 when the patient
  checked in late): the median and the 90th percentile.

Institutions are grouped into cities by the GB/T 2260 division of their Organization address.
Supervisors see the institutions of their region only; administrators and system clients see all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from sqlalchemy import Connection

from gansu_health.fhir.storage.repository import ResourceStore
from gansu_health.indicators import repository as repo
from gansu_health.registry.terminology.systems import EXT_ADMIN_DIVISION


@dataclass
class Tally:
    """The counts behind one row of indicators."""

    expert_numbers: int = 0
    expert_online: int = 0
    bookings: int = 0
    online_bookings: int = 0
    arrived: int = 0
    noshows: int = 0
    waits_min: list[float] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        """The indicators of the tally."""
        def share(part: int, whole: int) -> float | None:
            return round(part / whole, 4) if whole else None
        waits = sorted(self.waits_min)
        return {
            "expertNumbers": self.expert_numbers, "expertOnline": self.expert_online,
            "expertOnlineShare": share(self.expert_online, self.expert_numbers),
            "bookings": self.bookings, "onlineBookings": self.online_bookings,
            "onlineBookingRate": share(self.online_bookings, self.bookings),
            "arrived": self.arrived, "noShows": self.noshows,
            "noShowRate": share(self.noshows, self.arrived + self.noshows),
            "checkIns": len(waits),
            "checkInWaitMedianMin": round(median(waits), 1) if waits else None,
            "checkInWaitP90Min": round(waits[min(len(waits) - 1, int(0.9 * len(waits)))], 1)
            if waits else None}


def division(store: ResourceStore, conn: Connection, institution: str) -> str:
    """The GB/T 2260 division code of an institution ('' when unknown)."""
    current = store.current(conn, "Organization", institution)
    if current is None or current[2]:
        return ""
    for address in store.read(conn, "Organization", institution).json().get("address") or []:
        for ext in address.get("extension") or []:
            if ext.get("url") == EXT_ADMIN_DIVISION:
                return str((ext.get("valueCoding") or {}).get("code") or "")
    return ""


def city_of(code: str) -> str:
    """The prefecture-level city of a county code (620102 → 620100)."""
    return f"{code[:4]}00" if len(code) == 6 else code


def compute(conn: Connection, start: str, end: str, institutions: Iterable[str] | None,
            key: Any) -> dict[tuple[str, str], Tally]:
    """Tallies per (key(institution), day)."""
    scope = sorted(institutions) if institutions is not None else None
    out: dict[tuple[str, str], Tally] = defaultdict(Tally)
    for r in repo.expert_numbers(conn, start, end, scope):
        tally = out[(key(r.institution), r.day)]
        tally.expert_numbers += int(r.total)
        tally.expert_online += int(r.online or 0)
    for r in repo.bookings(conn, start, end, scope):
        tally = out[(key(r.institution), r.day)]
        tally.bookings += int(r.n)
        tally.online_bookings += int(r.n) if r.online else 0
        tally.arrived += int(r.n) if r.status == "arrived" else 0
        tally.noshows += int(r.n) if r.status == "noshow" else 0
    for r in repo.check_ins(conn, start, end, scope):
        out[(key(r.institution), r.day)].waits_min.append(
            max(0.0, (r.slot_start - r.checked_in) / 60_000_000))
    return dict(out)
