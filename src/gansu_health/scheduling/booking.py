"""Holding, booking, confirming, cancelling and rescheduling numbers; the waitlist.

Every method runs in the caller's write transaction. A booking checks the clinic, the patient and
the free numbers in one statement, takes the per-person places (primary-key claims, one
statement), one number (one conditional UPDATE), writes the appointment row and its FHIR
Appointment, then locks and refreshes the touched Slots — slots last and in id order, so that two
transactions never wait for each other in opposite orders. A refusal because nothing is left is
remembered as a hint (``hint.SoldOut``) that answers the next requests before a transaction opens.
Events go to the outbox:
``scheduling.appointment.{held,booked,cancelled,waitlisted,offered,arrived,noshow}``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any, NoReturn, TypeVar, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from gansu_health.core.clock import now, to_micros
from gansu_health.core.errors import Conflict, NotFound, UnprocessableEntity
from gansu_health.core.events import emit_many
from gansu_health.fhir.storage.repository import ResourceStore, Stored, new_id
from gansu_health.scheduling import policy as pol
from gansu_health.scheduling import repository as repo
from gansu_health.scheduling import resources as res
from gansu_health.scheduling import waitlist
from gansu_health.scheduling.hint import SoldOut
from gansu_health.scheduling.resources import Booking, SlotRef, Visit, message
from gansu_health.scheduling.resources import Target as Target  # re-exported

ACTIVE = ("held", "booked")
_DEPTH = "scheduling.batch"
CLAIM_PATIENCE_S = 0.03
_TOUCHED = "scheduling.touched"


F = TypeVar("F", bound=Callable[..., Any])
_local = res.minute  # local 'YYYY-MM-DD HH:MM' for messages (also used by attendance)


def batched(method: F) -> F:
    """Run a Scheduler method inside ``self.batch(conn)``."""
    @functools.wraps(method)
    def wrapper(self: Scheduler, conn: Connection, *args: Any, **kwargs: Any) -> Any:
        with self.batch(conn):
            return method(self, conn, *args, **kwargs)
    return cast(F, wrapper)


class Scheduler:
    """The booking engine of one node."""

    def __init__(self, store: ResourceStore, node: str, zone: ZoneInfo) -> None:
        self.store = store
        self.node = node
        self.zone = zone
        self.hints = SoldOut()
        self._slots: dict[int, SlotRef] = {}  # slots never change their time or id

    # ---- reading -------------------------------------------------------------------------

    def visit(self, conn: Connection, session_id: int) -> Visit:
        """Return a session with its resource, or raise NotFound."""
        found = repo.visit(conn, session_id)
        if found is None:
            raise NotFound(f"Clinic session {session_id} is not known", expression="slot")
        return found

    def booking_row(self, conn: Connection, fid: str, patient: str | None = None) -> Any:
        """Return the locked row of a pool Appointment (of ``patient`` when given)."""
        row = repo.appointment(conn, fid, lock=True)
        if row is None:
            raise NotFound(f"Appointment/{fid} is not a booking of the number-source pool",
                           expression="Appointment")
        if patient is not None and row.patient != patient:
            raise UnprocessableEntity(f"Appointment/{fid} is not a booking of Patient/{patient}",
                                      expression="patient")
        return row

    def know_slots(self, conn: Connection, slot_ids: set[int]) -> None:
        """Read the slots not yet remembered in one query (a batch touches many)."""
        missing = sorted(slot_ids - self._slots.keys())
        for ref in repo.slot_refs(conn, missing) if missing else []:
            self._slots[ref.id] = ref

    def _slot(self, conn: Connection, slot_id: int | None) -> SlotRef | None:
        if slot_id is None:
            return None
        hit = self._slots.get(slot_id)
        if hit is None:
            found = repo.slot(conn, slot_id=slot_id)
            if found is None:
                return None
            hit = self._slots[slot_id] = found[0]
        return hit

    # ---- rules ---------------------------------------------------------------------------

    def check_patient(self, patient: str, deleted: bool | None,
                      suspended: tuple[int, str] | None) -> None:
        """Refuse an unknown or deleted Patient, or one suspended for no-shows."""
        if deleted is None or deleted:
            raise UnprocessableEntity(f"Patient/{patient} is not known", expression="patient")
        if suspended is not None:
            raise UnprocessableEntity(
                f"Patient/{patient} may not book until {_local(suspended[0], self.zone)} "
                f"({suspended[1]})", expression="patient")

    def check_open(self, visit: Visit, channel: str, now_us: int, slot: SlotRef | None) -> None:
        """Refuse an unknown channel, a stopped clinic, numbers not yet released, a clinic over."""
        if channel not in pol.CHANNELS:
            raise UnprocessableEntity(f"Unknown channel '{channel}' (one of "
                                      f"{', '.join(pol.CHANNELS)})", expression="channel")
        if visit.status != "open":
            raise Conflict(f"The {visit.day} {visit.period} clinic of {visit.display} was "
                           "stopped (停诊)", expression="slot")
        opens = visit.reserve_release_us if channel in pol.RESERVE_CHANNELS else visit.release_us
        if now_us < opens:
            raise UnprocessableEntity(
                f"The {channel} numbers of the {visit.day} {visit.period} clinic are released at "
                f"{_local(opens, self.zone)}", expression="slot")
        ends = slot.end_us if slot else visit.end_us
        if now_us >= ends:
            raise UnprocessableEntity(f"The {visit.day} {visit.period} clinic"
                                      f"{' slot' if slot else ''} is over", expression="slot")

    def limits(self, visit: Visit, policy: pol.Policy) -> list[tuple[str, int, str]]:
        """Return the per-person scopes of a session: (scope key, limit, description)."""
        if visit.kind == "exam":
            return [(f"modality:{visit.modality}", policy.per_modality_per_day,
                     f"{visit.modality} exam(s)")]
        return [(f"department:{visit.department}", policy.per_department_per_day,
                 f"booking(s) in HealthcareService/{visit.department}"),
                ("day", policy.per_day, "booking(s)")]

    def claim_places(self, conn: Connection, visit: Visit, policy: pol.Policy, patient: str,
                     fid: str) -> None:
        """Take the patient's per-person places for the session's day, or refuse."""
        scopes = self.limits(visit, policy)
        full = repo.claim_places(conn, patient, visit.day, [(k, n) for k, n, _ in scopes], fid,
                                 self.node)
        for scope, limit, what in scopes:
            if scope == full:
                raise UnprocessableEntity(
                    f"Patient/{patient} already has {limit} {what} on {visit.day} (limit {limit} "
                    "per person per day)", expression="patient")

    def _claim_number(self, conn: Connection, visit: Visit, channel: str, fid: str, status: str,
                      now_us: int, slot_id: int | None) -> tuple[int, int]:
        got = self.claim_number(conn, visit, channel, fid, status, now_us, slot_id)
        if got is not None:
            return got
        if repo.channel_free(conn, visit.session_id, channel, slot_id):
            raise Conflict(f"The last {channel} numbers of {self._where(visit, slot_id)} are "
                           "being booked by others right now; try again", expression="slot")
        self._full(visit, channel, slot_id)

    @staticmethod
    def _where(visit: Visit, slot_id: int | None) -> str:
        clinic = f"the {visit.day} {visit.period} clinic of {visit.display}"
        return f"this slot of {clinic}" if slot_id is not None else clinic

    def sold_out(self, visit: Visit, channel: str, slot_id: int | None) -> Conflict:
        """The refusal for a session channel (or slot) with no number left."""
        return Conflict(f"No {channel} number of {self._where(visit, slot_id)} is left (join "
                        "the waitlist with $waitlist)", expression="slot")

    def _full(self, visit: Visit, channel: str, slot_id: int | None) -> NoReturn:
        refusal = self.sold_out(visit, channel, slot_id)
        self.hints.mark(visit.session_id, channel, slot_id, refusal.message)
        raise refusal

    def claim_number(self, conn: Connection, visit: Visit, channel: str, fid: str, status: str,
                     now_us: int, slot_id: int | None = None) -> tuple[int, int] | None:
        """Claim a free number; while others hold the last free ones, retry briefly (they
        usually commit within milliseconds), and once, give back holds that have expired."""
        deadline = time.monotonic() + CLAIM_PATIENCE_S
        delay = 0.002
        swept = False
        while True:
            got = repo.claim_number(conn, visit.session_id, channel, fid, status, now_us,
                                    slot_id=slot_id)
            if got is not None:
                return got
            if not swept:
                swept = True
                if self.expire_holds(conn, now_us, session_id=visit.session_id):
                    continue
            if not repo.channel_free(conn, visit.session_id, channel, slot_id) or \
                    time.monotonic() > deadline:
                return None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    # ---- writing -------------------------------------------------------------------------

    def event(self, conn: Connection, topic: str, visit: Visit, row: dict[str, Any],
              **extra: Any) -> None:
        """Emit ``scheduling.appointment.<topic>`` for a booking row."""
        emit_many(conn, [message(topic, visit, row, **extra)], self.node)

    def body(self, conn: Connection, visit: Visit, row: dict[str, Any]) -> dict[str, Any]:
        """Return the FHIR Appointment of a booking row."""
        reason = row.get("reason")
        booking = Booking(row["id"], row["status"], row["patient"], row["channel"],
                          row.get("number_seq"), row["created_us"], row.get("hold_expires_us"),
                          reason, res.REASONS.get(reason or "", reason),
                          row.get("rescheduled_from"))
        return res.appointment_body(visit, self._slot(conn, row.get("slot_id")), booking,
                                    self.zone)

    def render(self, conn: Connection, visit: Visit, row: dict[str, Any], *, new: bool = False
               ) -> Stored:
        """Write the FHIR Appointment of a booking row."""
        return res.write(conn, self.store, [self.body(conn, visit, row)], new=new)[0]

    def new_row(self, fid: str, visit: Visit, channel: str, patient: str, number: tuple[int, int],
                hold: bool, policy: pol.Policy, now_us: int, rescheduled_from: str | None = None
                ) -> dict[str, Any]:
        """Return the booking row of a number just taken."""
        return {"id": fid, "node": self.node, "session_id": visit.session_id,
                "slot_id": number[0], "number_seq": number[1], "channel": channel,
                "patient": patient, "institution": visit.institution,
                "department": visit.department, "day": visit.day,
                "status": "held" if hold else "booked",
                "hold_expires_us": now_us + policy.hold_minutes * 60_000_000 if hold else None,
                "reason": None, "rescheduled_from": rescheduled_from, "created_us": now_us,
                "updated_us": now_us}

    @contextmanager
    def batch(self, conn: Connection) -> Iterator[None]:
        """Group pool changes: the Slots they touch are locked and refreshed once, in id order,
        when the outermost batch ends — after every number and claim lock is held, so that no
        transaction waits for a number while holding a slot."""
        depth = conn.info.get(_DEPTH, 0)
        conn.info[_DEPTH] = depth + 1
        try:
            yield
            if depth == 0:
                self._refresh(conn, conn.info.get(_TOUCHED, set()))
        finally:
            conn.info[_DEPTH] = depth
            if depth == 0:
                conn.info.pop(_TOUCHED, None)

    def touch(self, conn: Connection, slot_ids: set[int]) -> None:
        """Note slots whose numbers changed (refreshed when the batch ends)."""
        conn.info.setdefault(_TOUCHED, set()).update(slot_ids)

    def _refresh(self, conn: Connection, slot_ids: set[int]) -> None:
        changed = []
        for slot, session_id, stored, free, state in repo.lock_slots(conn, sorted(slot_ids)):
            status = "busy-unavailable" if state != "open" else "free" if free else "busy"
            if status != stored:
                changed.append((slot, session_id, status))
        if not changed:
            return
        repo.set_slot_statuses(conn, [(slot.id, status) for slot, _, status in changed])
        visits = repo.visits_by_id(conn, (session_id for _, session_id, _ in changed))
        res.write(conn, self.store, [res.slot_body(visits[session_id], slot, status, self.zone)
                                     for slot, session_id, status in changed])

    @batched
    def take(self, conn: Connection, patient: str, target: Target, channel: str, *,
             hold: bool, rescheduled_from: str | None = None) -> Stored:
        """Hold or book a number for a patient (the atomic heart of $hold and $book)."""
        now_us = to_micros(now())
        visit = target.visit or self.visit(conn, target.session_id)
        slot = self._slot(conn, target.slot_id)
        self.check_open(visit, channel, now_us, slot)
        free, deleted, suspended = repo.booking_checks(conn, visit.session_id, channel,
                                                       target.slot_id, patient, now_us)
        if not free and not self.expire_holds(conn, now_us, session_id=visit.session_id):
            self._full(visit, channel, target.slot_id)
        self.check_patient(patient, deleted, suspended)
        policy = pol.cached(conn, visit.institution)
        fid = new_id()
        self.claim_places(conn, visit, policy, patient, fid)
        number = self._claim_number(conn, visit, channel, fid, "held" if hold else "booked",
                                    now_us, target.slot_id)
        row = self.new_row(fid, visit, channel, patient, number, hold, policy, now_us,
                           rescheduled_from)
        repo.insert_appointment(conn, **row)
        stored = self.render(conn, visit, row, new=True)
        self.event(conn, row["status"], visit, row)
        self.touch(conn, {number[0]})
        return stored

    @batched
    def confirm(self, conn: Connection, fid: str, patient: str | None = None) -> Stored:
        """Turn a hold (or a waitlist offer) into a booking."""
        now_us = to_micros(now())
        row = self.booking_row(conn, fid, patient)
        if row.status == "booked":
            return self.store.read(conn, "Appointment", fid)
        if row.status != "held":
            raise Conflict(f"Appointment/{fid} is {res.FHIR_STATUS[row.status]}, not a hold",
                           expression="Appointment")
        visit = self.visit(conn, row.session_id)
        if row.hold_expires_us is not None and row.hold_expires_us <= now_us:
            raise Conflict(f"The hold Appointment/{fid} expired at "
                           f"{_local(row.hold_expires_us, self.zone)}", expression="Appointment")
        self.check_open(visit, row.channel, now_us, None)
        repo.confirm_number(conn, fid, now_us)
        values = {"status": "booked", "hold_expires_us": None, "updated_us": now_us}
        repo.update_appointment(conn, fid, values)
        data = {**row._asdict(), **values}
        stored = self.render(conn, visit, data)
        self.event(conn, "booked", visit, data)
        return stored

    @batched
    def release(self, conn: Connection, row: Any, visit: Visit, reason: str, now_us: int, *,
                void: bool = False, offer: bool = True, **extra: Any) -> Stored:
        """Cancel a hold, booking or waitlist entry: its number goes back to the pool (first to
        the head of the waitlist) and its per-person places are freed."""
        freed = repo.free_number(conn, row.id, now_us, void=void)
        if freed and not void:
            self.hints.forget(visit.session_id)
        repo.release_person(conn, row.id)
        values = {"status": "cancelled", "reason": reason, "hold_expires_us": None,
                  "updated_us": now_us}
        repo.update_appointment(conn, row.id, values)
        data = {**row._asdict(), **values}
        stored = self.render(conn, visit, data)
        self.event(conn, "cancelled", visit, data, reason=reason,
                   refund=row.status in ACTIVE and reason != "hold-expired", **extra)
        touched = {freed[0]} if freed else set()
        if freed and offer and not void:
            touched |= self.offer(conn, visit, freed[2], now_us)
        self.touch(conn, touched)
        return stored

    @batched
    def cancel(self, conn: Connection, fid: str, patient: str | None = None, *,
               reason: str = "patient", enforce_cutoff: bool = True) -> Stored:
        """Cancel a booking, honouring the institution's cancellation deadline."""
        now_us = to_micros(now())
        row = self.booking_row(conn, fid, patient)
        if row.status not in (*ACTIVE, "waitlist"):
            raise Conflict(f"Appointment/{fid} is {res.FHIR_STATUS[row.status]} and cannot be "
                           "cancelled", expression="Appointment")
        visit = self.visit(conn, row.session_id)
        if enforce_cutoff and row.status == "booked":
            policy = pol.load(conn, visit.institution)
            cutoff = pol.days_before(date.fromisoformat(visit.day),
                                     policy.cancel_cutoff_days_before, policy.cancel_cutoff_time,
                                     self.zone)
            if now_us >= cutoff:
                raise UnprocessableEntity(
                    f"Bookings for {visit.day} can be cancelled until "
                    f"{_local(cutoff, self.zone)}; that deadline has passed",
                    expression="Appointment")
        return self.release(conn, row, visit, reason, now_us)

    @batched
    def reschedule(self, conn: Connection, fid: str, target: Target, channel: str | None,
                   patient: str | None = None) -> Stored:
        """Move a booking to another number in one transaction (all or nothing)."""
        row = self.booking_row(conn, fid, patient)
        if row.status not in ACTIVE:
            raise Conflict(f"Appointment/{fid} is {res.FHIR_STATUS[row.status]} and cannot be "
                           "rescheduled", expression="Appointment")
        self.cancel(conn, fid, reason="rescheduled")
        return self.take(conn, row.patient, target, channel or row.channel,
                         hold=row.status == "held", rescheduled_from=fid)

    # ---- waitlist (候补, in ``waitlist``) -------------------------------------------------

    @batched
    def join_waitlist(self, conn: Connection, patient: str, session_id: int, channel: str
                      ) -> Stored:
        """Queue a patient for a full session channel."""
        return waitlist.join(self, conn, patient, session_id, channel)

    def offer(self, conn: Connection, visit: Visit, channel: str, now_us: int) -> set[int]:
        """Give freed numbers of a session channel to the head of its waitlist."""
        return waitlist.offer(self, conn, visit, channel, now_us)

    # ---- sweeping ------------------------------------------------------------------------

    @batched
    def expire_holds(self, conn: Connection, now_us: int, *, session_id: int | None = None
                     ) -> int:
        """Cancel holds whose time ran out (their numbers go back); return how many."""
        conds = [repo.A.c.status == "held", repo.A.c.hold_expires_us <= now_us]
        if session_id is not None:
            conds.append(repo.A.c.session_id == session_id)
        rows = repo.appointments(conn, *conds, lock=True)
        for row in rows:
            self.release(conn, row, self.visit(conn, row.session_id), "hold-expired", now_us)
        return len(rows)
