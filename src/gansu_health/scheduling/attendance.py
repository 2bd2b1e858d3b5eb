"""Check-in, the no-show job with its suspension ladder, and stopping a clinic (停诊)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from gansu_health.core.clock import now, to_micros
from gansu_health.core.errors import Conflict, UnprocessableEntity
from gansu_health.core.events import emit
from gansu_health.fhir.storage.repository import Stored
from gansu_health.scheduling import policy as pol
from gansu_health.scheduling import repository as repo
from gansu_health.scheduling import resources as res
from gansu_health.scheduling.booking import ACTIVE, Scheduler, _local
from gansu_health.scheduling.models import (
    sched_number,
    sched_session,
    sched_suspension,
    sched_violation,
)

MINUTE_US = 60_000_000
DAY_US = 86_400_000_000


def checkin_window(sched: Scheduler, conn: Connection, row: Any, policy: pol.Policy
                   ) -> tuple[int, int]:
    """Return the (opens, closes) instants of a booking's check-in window."""
    visit = sched.visit(conn, row.session_id)
    slot = repo.slot(conn, slot_id=row.slot_id)
    ends = slot[0].end_us if slot else visit.end_us
    return (visit.start_us - policy.checkin_open_minutes_before * MINUTE_US,
            ends + policy.checkin_grace_minutes * MINUTE_US)


def check_in(sched: Scheduler, conn: Connection, fid: str, patient: str | None = None
             ) -> Stored:
    """Record the patient's arrival within the check-in window (取号/签到)."""
    now_us = to_micros(now())
    row = sched.booking_row(conn, fid, patient)
    if row.status == "arrived":
        return sched.store.read(conn, "Appointment", fid)
    if row.status != "booked":
        raise Conflict(f"Appointment/{fid} is {res.FHIR_STATUS[row.status]}; only booked "
                       "appointments can check in", expression="Appointment")
    visit = sched.visit(conn, row.session_id)
    opens, closes = checkin_window(sched, conn, row, pol.load(conn, visit.institution))
    if now_us < opens:
        raise UnprocessableEntity(f"Check-in opens at {_local(opens, sched.zone)}",
                                  expression="Appointment")
    if now_us >= closes:
        raise UnprocessableEntity(f"Check-in closed at {_local(closes, sched.zone)}; the number "
                                  "is forfeited", expression="Appointment")
    values = {"status": "arrived", "updated_us": now_us}
    repo.update_appointment(conn, fid, values)
    data = {**row._asdict(), **values}
    stored = sched.render(conn, visit, data)
    sched.event(conn, "arrived", visit, data)
    return stored


def booking_on(conn: Connection, patients: Collection[str], institution: str, day: str
               ) -> str | None:
    """Return the first booked (not yet arrived) appointment of any of ``patients`` (one
    person's Patient records) at ``institution`` on local ``day``, or None."""
    rows = repo.appointments(conn, repo.A.c.patient.in_(sorted(patients)), repo.A.c.day == day,
                             repo.A.c.institution == institution, repo.A.c.status == "booked",
                             limit=1)
    return str(rows[0].id) if rows else None


def _year_start(now_us: int, sched: Scheduler) -> int:
    today = datetime.fromtimestamp(now_us / 1_000_000, sched.zone).date()
    return pol.local_us(date(today.year, 1, 1), "00:00", sched.zone)


def mark_noshows(sched: Scheduler, conn: Connection, now_us: int | None = None) -> int:
    """Mark booked appointments whose check-in window has closed as no-shows, record the
    violation and suspend the patient by the institution's ladder; return how many."""
    now_us = now_us if now_us is not None else to_micros(now())
    marked = 0
    for row in repo.appointments(conn, repo.A.c.status == "booked",
                                 repo.A.c.day <= res.local_day(now_us, sched.zone), lock=True):
        visit = sched.visit(conn, row.session_id)
        policy = pol.load(conn, visit.institution)
        if checkin_window(sched, conn, row, policy)[1] > now_us:
            continue
        values = {"status": "noshow", "updated_us": now_us}
        repo.update_appointment(conn, row.id, values)
        data = {**row._asdict(), **values}
        sched.render(conn, visit, data)
        sched.event(conn, "noshow", visit, data)
        conn.execute(insert(sched_violation).values(
            node=sched.node, patient=row.patient, appointment=row.id,
            institution=visit.institution, kind="noshow", at_us=now_us))
        count = int(conn.execute(select(func.count()).select_from(sched_violation).where(
            sched_violation.c.patient == row.patient, sched_violation.c.kind == "noshow",
            sched_violation.c.at_us >= _year_start(now_us, sched))).scalar_one())
        ladder = policy.noshow_ladder_days
        days = ladder[min(count, len(ladder)) - 1]
        reason = f"no-show #{count} this year (Appointment/{row.id}): {days}-day suspension"
        conn.execute(insert(sched_suspension).values(
            node=sched.node, patient=row.patient, from_us=now_us,
            until_us=now_us + days * DAY_US, reason=reason))
        emit(conn, "scheduling.patient.suspended", {
            "patient": f"Patient/{row.patient}", "days": days, "noshows": count,
            "until": res.instant(now_us + days * DAY_US, sched.zone), "reason": reason},
             sched.node)
        marked += 1
    return marked


def alternatives(sched: Scheduler, conn: Connection, visit: Any, limit: int = 3) -> list[str]:
    """Return open sessions of the same department on or after the day, as rebooking offers
    (Schedule/<id>|<day>|<period>)."""
    found = repo.visits(conn, repo.S.c.department == visit.department,
                        repo.S.c.day >= visit.day, repo.S.c.status == "open",
                        repo.S.c.id != visit.session_id, limit=limit)
    return [f"Schedule/{v.schedule}|{v.day}|{v.period}" for v in found]


def stop_clinic(sched: Scheduler, conn: Connection, session_id: int, reason: str) -> int:
    """Stop a clinic session (停诊): cancel every hold, booking and waitlist entry with reason
    ``clinic-stopped``, void its numbers and mark its Slots busy-unavailable; return how many
    appointments were cancelled."""
    with sched.batch(conn):
        return _stop(sched, conn, session_id, reason)


def _stop(sched: Scheduler, conn: Connection, session_id: int, reason: str) -> int:
    now_us = to_micros(now())
    visit = sched.visit(conn, session_id)
    if visit.status == "stopped":
        return 0
    conn.execute(update(sched_session).where(sched_session.c.id == session_id).values(
        status="stopped", stop_reason=reason[:255]))
    stopped = sched.visit(conn, session_id)
    offers = alternatives(sched, conn, stopped)
    rows = repo.appointments(conn, repo.A.c.session_id == session_id,
                             repo.A.c.status.in_([*ACTIVE, "waitlist"]), limit=100_000)
    for row in rows:
        sched.release(conn, row, stopped, "clinic-stopped", now_us, void=True, offer=False,
                      alternatives=offers)
    conn.execute(update(sched_number).where(sched_number.c.session_id == session_id).values(
        status="void", updated_us=now_us))
    sched.touch(conn, {s.id for s in repo.slots_of(conn, session_id)})
    emit(conn, "scheduling.session.stopped", {
        "schedule": f"Schedule/{visit.schedule}", "day": visit.day, "period": visit.period,
        "institution": visit.institution, "reason": reason, "cancelled": len(rows),
        "alternatives": offers}, sched.node)
    return len(rows)
