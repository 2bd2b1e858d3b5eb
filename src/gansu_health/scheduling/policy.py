"""Booking policy as data, per institution, with the defaults of the booking reference.

Defaults (../shared/reference/scheduling-workflows.md §1): release 7 days ahead at 15:00 (Beijing
114); referral/family reserve bookable 14 days before the public release and returned to the
online pool the day before the visit; cancellation until 16:00 the day before (114); one number
per person per day per department (hospital rules), at most 2 bookings a day (114 WeChat); no-show
ladder 30/60/90 days per calendar year (114); waitlist clears at 23:00 the day before, an offered
number must be confirmed within 24 h (Qingdao). Marked *unconfirmed* in the reference or chosen
here: the 15-minute hold, the check-in window (30 min before the session until the slot ends) and
the registration fees by title.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from time import monotonic
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Connection, select

from gansu_health.core.clock import now, to_micros
from gansu_health.core.errors import UnprocessableEntity
from gansu_health.scheduling.models import sched_policy

CHANNELS = ("online", "window", "referral", "family")
RESERVE_CHANNELS = frozenset({"referral", "family"})
PERIODS = {"morning": ("08:00", "12:00"), "afternoon": ("14:00", "17:30"),
           "night": ("18:00", "21:00")}
TIME_RE = re.compile(r"([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?")


@dataclass(frozen=True)
class Policy:
    """The booking rules of one institution."""

    release_time: str = "15:00"  # local time of day new numbers are released (HH:MM[:SS])
    horizon_days: int = 7  # a day's numbers are released this many days ahead
    reserve_lead_days: int = 14  # referral/family reserve opens this much before the release
    reserve_return_days_before: int = 1  # unused reserve returns to the online pool…
    reserve_return_time: str = "00:00"  # …at this local time, that many days before the visit
    hold_minutes: int = 15
    cancel_cutoff_days_before: int = 1  # cancellation closes that many days before the visit…
    cancel_cutoff_time: str = "16:00"  # …at this local time
    checkin_open_minutes_before: int = 30  # check-in opens before the session starts…
    checkin_grace_minutes: int = 0  # …and closes this long after the booked slot ends
    per_department_per_day: int = 1
    per_day: int = 2
    per_modality_per_day: int = 1  # exams
    noshow_ladder_days: tuple[int, ...] = (30, 60, 90)  # nth no-show in a calendar year
    waitlist_enabled: bool = True
    waitlist_confirm_hours: int = 24
    waitlist_close_days_before: int = 1
    waitlist_close_time: str = "23:00"
    slot_minutes: int = 30
    fees_by_title: dict[str, int] = field(default_factory=lambda: {
        "chief": 5000, "associate-chief": 3000, "attending": 1500, "resident": 1000,
        "village-doctor": 500})  # fen (分); unconfirmed placeholders
    exam_fee: int = 0

    def fee_for(self, kind: str, title: str | None) -> int:
        """Return the registration fee in fen for a resource kind and doctor title."""
        if kind == "exam":
            return self.exam_fee
        return self.fees_by_title.get(title or "", self.fees_by_title.get("resident", 0))

    def to_json(self) -> dict[str, Any]:
        """Return every field as JSON."""
        out = dataclasses.asdict(self)
        out["noshow_ladder_days"] = list(self.noshow_ladder_days)
        return out


DEFAULT = Policy()
_INT_BOUNDS = {"horizon_days": (0, 90), "reserve_lead_days": (0, 60),
               "reserve_return_days_before": (0, 30), "hold_minutes": (1, 24 * 60),
               "cancel_cutoff_days_before": (0, 30), "checkin_open_minutes_before": (0, 600),
               "checkin_grace_minutes": (0, 600), "per_department_per_day": (1, 10),
               "per_day": (1, 20), "per_modality_per_day": (1, 10),
               "waitlist_confirm_hours": (1, 72), "waitlist_close_days_before": (0, 30),
               "slot_minutes": (5, 30), "exam_fee": (0, 10_000_000)}
_TIMES = ("release_time", "reserve_return_time", "cancel_cutoff_time", "waitlist_close_time")


def _checked(name: str, value: Any) -> Any:
    where = f"policy.{name}"
    if name in _INT_BOUNDS:
        low, high = _INT_BOUNDS[name]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise UnprocessableEntity(f"{name} must be an integer from {low} to {high}",
                                      expression=where)
        return value
    if name in _TIMES:
        if not isinstance(value, str) or not TIME_RE.fullmatch(value):
            raise UnprocessableEntity(f"{name} must be a local time HH:MM[:SS]",
                                      expression=where)
        return value
    if name == "waitlist_enabled":
        if not isinstance(value, bool):
            raise UnprocessableEntity(f"{name} must be true or false", expression=where)
        return value
    if name == "noshow_ladder_days":
        if not isinstance(value, list) or not value or not all(
                isinstance(v, int) and 0 < v <= 3650 for v in value):
            raise UnprocessableEntity("noshow_ladder_days must list suspension days (1–3650)",
                                      expression=where)
        return tuple(value)
    if name == "fees_by_title":
        if not isinstance(value, dict) or not all(
                isinstance(v, int) and v >= 0 for v in value.values()):
            raise UnprocessableEntity("fees_by_title maps a title code to a fee in fen",
                                      expression=where)
        return dict(value)
    raise UnprocessableEntity(f"Unknown policy field '{name}'", expression=where)


def from_json(data: dict[str, Any], base: Policy = DEFAULT) -> Policy:
    """Return ``base`` with the fields given in ``data`` (each checked)."""
    known = {f.name for f in fields(Policy)}
    changes = {}
    for name, value in data.items():
        if name not in known:
            raise UnprocessableEntity(f"Unknown policy field '{name}'", expression=f"policy.{name}")
        changes[name] = _checked(name, value)
    return dataclasses.replace(base, **changes)


def load(conn: Connection, institution: str) -> Policy:
    """Return the policy of an institution (the defaults when it has none)."""
    row = conn.execute(select(sched_policy.c.body).where(
        sched_policy.c.institution == institution)).first()
    return from_json(orjson.loads(row.body)) if row else DEFAULT


_CACHE: dict[str, tuple[float, Policy]] = {}
CACHE_S = 5.0


def cached(conn: Connection, institution: str) -> Policy:
    """Return an institution's policy as read at most ``CACHE_S`` seconds ago (hot path)."""
    hit = _CACHE.get(institution)
    moment = monotonic()
    if hit is None or moment - hit[0] > CACHE_S:
        hit = (moment, load(conn, institution))
        _CACHE[institution] = hit
    return hit[1]


def save(conn: Connection, institution: str, changes: dict[str, Any], node: str) -> Policy:
    """Merge ``changes`` into an institution's stored policy; return the effective policy."""
    row = conn.execute(select(sched_policy.c.body).where(
        sched_policy.c.institution == institution)).first()
    stored = orjson.loads(row.body) if row else {}
    stored.update(changes)
    policy = from_json(stored)
    _CACHE.pop(institution, None)
    body = orjson.dumps(stored).decode()
    values = {"body": body, "updated_us": to_micros(now())}
    if row:
        conn.execute(sched_policy.update().where(
            sched_policy.c.institution == institution).values(**values))
    else:
        conn.execute(sched_policy.insert().values(institution=institution, node=node, **values))
    return policy


def parse_time(value: str) -> time:
    """Parse a local HH:MM[:SS] time."""
    return time.fromisoformat(value)


def local_us(day: date, at: str, zone: ZoneInfo) -> int:
    """Return epoch microseconds of a local day and HH:MM[:SS] time."""
    return to_micros(datetime.combine(day, parse_time(at), zone))


def days_before(day: date, days: int, at: str, zone: ZoneInfo) -> int:
    """Return epoch microseconds of ``at`` local time ``days`` days before ``day``."""
    return local_us(day - timedelta(days=days), at, zone)
