"""IHE ITI-115 Find Potential Appointments (``Appointment/$find``) over the pool.

Answers one ``proposed`` Appointment per time slot that still has a released, untaken number of
the asked channel, with the Slot, the participants, the fee and the count of remaining numbers
(extension ``remaining-numbers``). The slots are the stored FHIR Slots, so a client books by
sending the proposed Appointment (or its ``slot``) to ``$hold`` or ``$book``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.sql.elements import ColumnElement

from gansu_health.core.clock import now, to_micros
from gansu_health.core.errors import BadRequest
from gansu_health.scheduling import policy as pol
from gansu_health.scheduling import repository as repo
from gansu_health.scheduling import resources as res
from gansu_health.scheduling.booking import Scheduler

MAX_DAYS = 31


@dataclass(frozen=True, slots=True)
class FindQuery:
    """The criteria of a $find."""

    start: date
    end: date
    channel: str = "online"
    schedule: str | None = None
    actor: str | None = None  # PractitionerRole/x, Device/x or Location/x
    practitioner: str | None = None
    department: str | None = None
    institution: str | None = None
    kind: str | None = None
    modality: str | None = None
    count: int = 100


def parse_day(value: str | None, default: date, name: str) -> date:
    """Read a date (or the date part of a dateTime)."""
    if not value:
        return default
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise BadRequest(f"'{value}' is not a date", expression=name) from None


def _conditions(q: FindQuery) -> list[ColumnElement[bool]]:
    S, R = repo.S, repo.R
    conds: list[ColumnElement[bool]] = [S.c.day >= q.start.isoformat(),
                                        S.c.day <= q.end.isoformat(), S.c.status == "open"]
    for column, value in ((R.c.id, q.schedule), (R.c.actor, q.actor),
                          (R.c.practitioner, q.practitioner), (S.c.department, q.department),
                          (S.c.institution, q.institution), (R.c.kind, q.kind),
                          (R.c.modality, q.modality)):
        if value is not None:
            conds.append(column == value)
    return conds


def find(sched: Scheduler, conn: Connection, q: FindQuery) -> list[dict[str, Any]]:
    """Return proposed Appointments for the open numbers matching ``q``, earliest first."""
    if q.channel not in pol.CHANNELS:
        raise BadRequest(f"Unknown channel '{q.channel}' (one of {', '.join(pol.CHANNELS)})",
                         expression="channel")
    if q.end < q.start or (q.end - q.start).days >= MAX_DAYS:
        raise BadRequest(f"end must be on or after start and at most {MAX_DAYS} days later",
                         expression="end")
    now_us = to_micros(now())
    reserve = q.channel in pol.RESERVE_CHANNELS
    visits = [v for v in repo.visits(conn, *_conditions(q))
              if now_us >= (v.reserve_release_us if reserve else v.release_us)
              and v.end_us > now_us]
    free = repo.availability(conn, [v.session_id for v in visits], q.channel)
    out: list[dict[str, Any]] = []
    for visit in visits:
        counts = free.get(visit.session_id)
        if not counts:
            continue
        for slot in repo.slots_of(conn, visit.session_id):
            remaining = counts.get(slot.id, 0)
            if not remaining or slot.end_us <= now_us:
                continue
            body = res.appointment_body(visit, slot, res.Booking(
                "", "proposed", "", q.channel, None, now_us), sched.zone)
            body["extension"].append({"url": res.EXT_REMAINING, "valueInteger": remaining})
            out.append(body)
            if len(out) >= q.count:
                return out
    return out


def default_window(sched: Scheduler) -> tuple[date, date]:
    """Return today and the last day $find looks at when no end is given (7 days)."""
    today = datetime.fromtimestamp(to_micros(now()) / 1e6, sched.zone).date()
    return today, today + timedelta(days=7)
