"""The waitlist (候补): queueing for a full clinic and offering freed numbers to its head.

Functions of the booking engine (``booking.Scheduler`` calls them), run in the caller's write
transaction; a place offered becomes a hold the patient confirms within the policy's window.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from gansu_health.core.clock import now, to_micros
from gansu_health.core.errors import Conflict, UnprocessableEntity
from gansu_health.fhir.storage.repository import Stored, new_id
from gansu_health.scheduling import policy as pol
from gansu_health.scheduling import repository as repo
from gansu_health.scheduling.resources import Visit, minute

if TYPE_CHECKING:
    from gansu_health.scheduling.booking import Scheduler

ACTIVE = ("held", "booked")


def join(sched: Scheduler, conn: Connection, patient: str, session_id: int, channel: str
         ) -> Stored:
    """Queue a patient for a full session channel."""
    now_us = to_micros(now())
    visit = sched.visit(conn, session_id)
    sched.check_open(visit, channel, now_us, None)
    free, deleted, suspended = repo.booking_checks(conn, session_id, channel, None, patient,
                                                   now_us)
    sched.check_patient(patient, deleted, suspended)
    policy = pol.load(conn, visit.institution)
    if not policy.waitlist_enabled:
        raise UnprocessableEntity("This institution has no waitlist", expression="slot")
    closes = pol.days_before(date.fromisoformat(visit.day), policy.waitlist_close_days_before,
                             policy.waitlist_close_time, sched.zone)
    if now_us >= closes:
        raise UnprocessableEntity(f"The waitlist of the {visit.day} clinic closed at "
                                  f"{minute(closes, sched.zone)}", expression="slot")
    if free:
        raise Conflict(f"{channel} numbers of this clinic are still free: book one instead",
                       expression="slot")
    if repo.appointments(conn, repo.A.c.session_id == session_id, repo.A.c.patient == patient,
                         repo.A.c.status.in_([*ACTIVE, "waitlist"]), limit=1):
        raise Conflict(f"Patient/{patient} already has a number or a waitlist place in this "
                       "clinic", expression="patient")
    row = {"id": new_id(), "node": sched.node, "session_id": session_id, "slot_id": None,
           "number_seq": None, "channel": channel, "patient": patient,
           "institution": visit.institution, "department": visit.department, "day": visit.day,
           "status": "waitlist", "hold_expires_us": None, "reason": None,
           "rescheduled_from": None, "created_us": now_us, "updated_us": now_us}
    repo.insert_appointment(conn, **row)
    stored = sched.render(conn, visit, row, new=True)
    sched.event(conn, "waitlisted", visit, row)
    return stored


def offer(sched: Scheduler, conn: Connection, visit: Visit, channel: str, now_us: int
          ) -> set[int]:
    """Give free numbers of a session channel to the head of its waitlist, as holds to be
    confirmed within the policy's window; return the slots taken."""
    policy = pol.load(conn, visit.institution)
    touched: set[int] = set()
    for entry in repo.waiting(conn, visit.session_id, channel):
        if not repo.channel_free(conn, visit.session_id, channel):
            break
        try:
            sched.claim_places(conn, visit, policy, entry.patient, entry.id)
        except UnprocessableEntity:
            sched.release(conn, entry, visit, "limit-reached", now_us, offer=False)
            continue
        got = sched.claim_number(conn, visit, channel, entry.id, "held", now_us)
        if got is None:
            repo.release_person(conn, entry.id)
            break
        values = {"status": "held", "slot_id": got[0], "number_seq": got[1],
                  "hold_expires_us": now_us + policy.waitlist_confirm_hours * 3_600_000_000,
                  "updated_us": now_us}
        repo.update_appointment(conn, entry.id, values)
        data = {**entry._asdict(), **values}
        sched.render(conn, visit, data)
        sched.event(conn, "offered", visit, data)
        touched.add(got[0])
    return touched
