"""FHIR operations of the pool (IHE ITI Scheduling plus the platform's own).

Booking: ``Appointment/$find`` (ITI-115), ``Appointment/$hold`` (ITI-116), ``Appointment/$book``
(ITI-117; ``Appointment/<id>/$book`` confirms a hold), ``Appointment/<id>/$cancel``,
``Appointment/<id>/$reschedule``, ``Appointment/<id>/$check-in`` (or ``Appointment/$check-in``
with ``patient`` and ``organization``), ``Appointment/$waitlist``. The patient is always an
explicit ``patient`` input (a Patient reference), so authorisation can check who may act for whom.
A target is ``slot`` (a pool Slot), or ``schedule`` + ``date`` + ``period`` (the first free number
of that clinic), or an ``appointment`` resource from $find; ``channel`` defaults to ``online``.
$hold and $book answer a searchset Bundle holding the Appointment, as IHE asks.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from datetime import date
from typing import Any, cast
from weakref import WeakKeyDictionary

from anyio import to_thread
from sqlalchemy import Connection

from gansu_health.core.clock import now, to_micros
from gansu_health.core.database import is_sqlite, write_transaction
from gansu_health.core.errors import BadRequest, NotFound, PlatformError
from gansu_health.fhir.operations import (
    Deferred,
    OperationCall,
    OperationRegistry,
    OperationResult,
)
from gansu_health.fhir.rest.messages import note_patients
from gansu_health.fhir.storage.repository import Stored
from gansu_health.mpi import parameters as p
from gansu_health.scheduling import attendance, find
from gansu_health.scheduling import repository as repo
from gansu_health.scheduling import resources as res
from gansu_health.scheduling.batch import Claim, Claimer, Combiner
from gansu_health.scheduling.booking import Scheduler
from gansu_health.scheduling.engine import RemoteCombiner
from gansu_health.scheduling.resources import Target

_SCHEDULERS: WeakKeyDictionary[Any, Scheduler] = WeakKeyDictionary()
_COMBINERS: WeakKeyDictionary[Any, Claimer] = WeakKeyDictionary()
Inputs = dict[str, list[Any]]
# checks run before a booking is made or a hold confirmed (the payment gate): (call, inputs,
# the Appointment id of a hold to confirm, or None for a direct booking); raise to refuse
Gate = Callable[[OperationCall, Inputs, str | None], None]
_GATES: WeakKeyDictionary[Any, list[Gate]] = WeakKeyDictionary()


def add_gate(api: Any, gate: Gate) -> None:
    """Add a check run before $book books or confirms (e.g. the registration fee is paid)."""
    _GATES.setdefault(api, []).append(gate)


def _gate(call: OperationCall, found: Inputs, fid: str | None) -> None:
    for gate in _GATES.get(call.services, []):
        gate(call, found, fid)


def attach(api: Any, sched: Scheduler) -> None:
    """Remember the scheduler of a FHIR endpoint."""
    _SCHEDULERS[api] = sched


def scheduler_of(api: Any) -> Scheduler:
    """Return the scheduler attached to a FHIR endpoint."""
    return _SCHEDULERS[api]


def combiner_of(api: Any) -> Claimer:
    """Return the booking combiner of a FHIR endpoint (made on first use): the server's
    booking engine when ``serve`` started one, else a thread of this process."""
    found = _COMBINERS.get(api)
    if found is None:
        sched, settings = scheduler_of(api), api.settings
        local = Combiner(sched, api.engine)
        found = _COMBINERS.setdefault(api, RemoteCombiner(
            sched, settings.booking_engine, settings.booking_engine_key, local)
            if settings.booking_engine else local)
    return found


def bundle(call: OperationCall, stored: Stored) -> OperationResult:
    """Wrap one stored Appointment in a searchset Bundle (bytes spliced, not re-encoded)."""
    url = f"{call.base_url}/{stored.rtype}/{stored.fid}".encode()
    body = (b'{"resourceType":"Bundle","type":"searchset","total":1,"entry":[{"fullUrl":"' + url
            + b'","resource":' + (stored.content or b"{}") + b',"search":{"mode":"match"}}]}')
    return OperationResult(body, 200, {"Location": f"{url.decode()}/_history/{stored.version}"})


def _ref(value: str | None, rtype: str, name: str) -> str | None:
    if value is None:
        return None
    fid = value.removeprefix(f"{rtype}/")
    if not fid or "/" in fid:
        raise BadRequest(f"'{value}' is not a {rtype} reference", expression=name)
    return fid


def _from_appointment(found: Inputs) -> Inputs:
    """Read slot, patient and channel from an ``appointment`` input (a $find proposal)."""
    values = found.get("appointment") or []
    if not values:
        return found
    appt = values[0]
    if not isinstance(appt, dict) or appt.get("resourceType") != "Appointment":
        raise BadRequest("The 'appointment' parameter must hold an Appointment",
                         expression="appointment")
    merged = dict(found)
    slots = appt.get("slot") or []
    if slots and "slot" not in merged:
        merged["slot"] = [slots[0]]
    patients = [pt["actor"] for pt in appt.get("participant") or []
                if str((pt.get("actor") or {}).get("reference", "")).startswith("Patient/")]
    if patients and "patient" not in merged:
        merged["patient"] = [patients[0]]
    channel = next((e.get("valueCode") for e in appt.get("extension") or []
                    if e.get("url") == res.EXT_CHANNEL), None)
    if channel and "channel" not in merged:
        merged["channel"] = [channel]
    return merged


def inputs(call: OperationCall) -> Inputs:
    """Collect inputs from the query string, a Parameters body or an Appointment body."""
    if isinstance(call.body, dict) and call.body.get("resourceType") == "Appointment":
        return _from_appointment({"appointment": [call.body], **p.inputs(
            OperationCall(call.conn, call.rtype, call.fid, call.params, None, call.base_url,
                          call.services))})
    return _from_appointment(p.inputs(call))


def _session_key(found: Inputs) -> tuple[str, str, str] | None:
    """Return (Schedule id, ISO day, period) of a schedule target, or None."""
    schedule = _ref(p.text(found, "schedule"), "Schedule", "schedule")
    if schedule is None:
        return None
    day = find.parse_day(p.text(found, "date", required=True), date.min, "date").isoformat()
    return schedule, day, p.text(found, "period") or "morning"


def target(call: OperationCall, found: Inputs) -> Target:
    """Resolve the booking target: a Slot, or a Schedule with date and period."""
    hints = scheduler_of(call.services).hints
    slot_ref = _ref(p.text(found, "slot"), "Slot", "slot")
    if slot_ref is not None:
        hit = repo.slot(call.conn, fid=slot_ref)
        if hit is None:
            raise NotFound(f"Slot/{slot_ref} is not a slot of the number-source pool",
                           expression="slot")
        hints.name_slot(slot_ref, hit[1], hit[0].id)
        return Target(hit[1], hit[0].id)
    key = _session_key(found)
    if key is None:
        raise BadRequest("Name a 'slot', or a 'schedule' with 'date' and 'period'",
                         expression="slot")
    known = hints.session_of(key)
    if known is not None:  # a session never moves: the booking reads it in its transaction
        return Target(known)
    visit = repo.session_at(call.conn, *key)
    if visit is None:
        raise NotFound(f"Schedule/{key[0]} has no {key[2]} clinic on {key[1]}",
                       expression="schedule")
    hints.name_session(key, visit.session_id)
    return Target(visit.session_id, visit=visit)


def precheck(services: Any, fid: str | None, params: list[tuple[str, str]], body: Any) -> None:
    """Refuse $hold/$book for a clinic this process knows to be full, before the transaction
    opens (``hint.SoldOut``); anything unclear is left to the operation itself."""
    if fid is not None:
        return
    try:
        found = inputs(OperationCall(cast(Connection, None), "Appointment", None, params, body,
                                     "", services))
        appt = (found.get("appointment") or [None])[0]
        if isinstance(appt, dict) and appt.get("id"):
            return  # confirming a hold, which already has its number
        slot = _ref(p.text(found, "slot"), "Slot", "slot")
        refusal = scheduler_of(services).hints.refusal(
            p.text(found, "channel") or "online", None if slot else _session_key(found), slot)
    except PlatformError:
        return
    if refusal is not None:
        with contextlib.suppress(PlatformError):
            patient(found)  # names the person the attempt was for in the audit row
        raise refusal


def patient(found: Inputs) -> str:
    """Return the required patient id (named in the request's audit row, refused or not)."""
    who = p.patient_id(found, "patient")
    note_patients(who)
    return who


def _take(call: OperationCall, hold: bool) -> OperationResult | Deferred:
    sched = scheduler_of(call.services)
    found = inputs(call)
    if call.fid is not None:
        _gate(call, found, call.fid)
        return bundle(call, sched.confirm(call.conn, call.fid, patient(found)))
    appt = (found.get("appointment") or [None])[0]
    if not hold and isinstance(appt, dict) and appt.get("id") and repo.appointment(
            call.conn, str(appt["id"])) is not None:
        _gate(call, found, str(appt["id"]))
        return bundle(call, sched.confirm(call.conn, str(appt["id"]), patient(found)))
    if not hold:
        _gate(call, found, None)
    who, where, channel = patient(found), target(call, found), p.text(found, "channel") or "online"
    if not is_sqlite(call.conn):  # concurrent claims share transactions (``batch``)
        claim = combiner_of(call.services).claim(who, where, channel, hold)
        if claim is not None and call.deferrable:
            return Deferred(functools.partial(_answered, call, claim, where))
        stored = claim.wait() if claim is not None else None
        if stored is not None:
            return bundle(call, stored)
    return bundle(call, sched.take(call.conn, who, where, channel, hold=hold))


async def _answered(call: OperationCall, claim: Claim, where: Target) -> OperationResult:
    """The answer to a claim awaited on the event loop; a claim the batch left to its request
    books alone in a thread, in a transaction of its own (the request's one has ended)."""
    stored = await claim.answered()
    if stored is not None:
        return bundle(call, stored)
    api = call.services

    def alone() -> Stored:  # in a thread that sees the request's context (``current_request``)
        with write_transaction(api.engine) as conn:
            return scheduler_of(api).take(conn, claim.patient, where, claim.channel,
                                          hold=claim.hold)

    return bundle(call, await to_thread.run_sync(alone))


def hold_op(call: OperationCall) -> OperationResult | Deferred:
    """Appointment/$hold: hold a number for ``hold_minutes`` (a pending Appointment)."""
    return _take(call, hold=True)


def book_op(call: OperationCall) -> OperationResult | Deferred:
    """Appointment/$book: book a number directly, or confirm a hold."""
    return _take(call, hold=False)


def cancel_op(call: OperationCall) -> OperationResult:
    """Appointment/<id>/$cancel: cancel within the cutoff; the number returns to its pool."""
    assert call.fid is not None
    return bundle(call, scheduler_of(call.services).cancel(call.conn, call.fid,
                                                           patient(inputs(call))))


def reschedule_op(call: OperationCall) -> OperationResult:
    """Appointment/<id>/$reschedule: move a booking to another slot or clinic atomically."""
    assert call.fid is not None
    found = inputs(call)
    return bundle(call, scheduler_of(call.services).reschedule(
        call.conn, call.fid, target(call, found), p.text(found, "channel"), patient(found)))


def check_in_op(call: OperationCall) -> OperationResult:
    """Appointment/[<id>/]$check-in: record arrival within the check-in window."""
    sched = scheduler_of(call.services)
    found = inputs(call)
    who = patient(found)
    fid = call.fid
    if fid is None:
        org = _ref(p.text(found, "organization", required=True), "Organization",
                   "organization")
        day = res.local_day(to_micros(now()), sched.zone)
        rows = repo.appointments(call.conn, repo.A.c.patient == who, repo.A.c.day == day,
                                 repo.A.c.institution == org, repo.A.c.status == "booked")
        if not rows:
            raise NotFound(f"Patient/{who} has no booking at Organization/{org} today",
                           expression="patient")
        fid = rows[0].id
    return bundle(call, attendance.check_in(sched, call.conn, fid, who))


def waitlist_op(call: OperationCall) -> OperationResult:
    """Appointment/$waitlist: queue for a full clinic (候补); numbers freed go to the head."""
    found = inputs(call)
    where = target(call, found)
    return bundle(call, scheduler_of(call.services).join_waitlist(
        call.conn, patient(found), where.session_id, p.text(found, "channel") or "online"))


def find_op(call: OperationCall) -> OperationResult:
    """Appointment/$find (IHE ITI-115): proposed Appointments for open numbers."""
    sched = scheduler_of(call.services)
    found = inputs(call)
    today, last = find.default_window(sched)
    start = find.parse_day(p.text(found, "start"), today, "start")
    end = find.parse_day(p.text(found, "end"), max(start, last), "end")
    provider = p.text(found, "provider") or p.text(found, "practitioner")
    actor = practitioner = None
    if provider and provider.startswith("Practitioner/"):
        practitioner = _ref(provider, "Practitioner", "provider")
    elif provider:
        actor = provider
    query = find.FindQuery(
        start, end, p.text(found, "channel") or "online",
        _ref(p.text(found, "schedule"), "Schedule", "schedule"), actor, practitioner,
        _ref(p.text(found, "department"), "HealthcareService", "department"),
        _ref(p.text(found, "organization"), "Organization", "organization"),
        p.text(found, "kind"), p.text(found, "modality"), p.integer(found, "_count", 100,
                                                                     low=1, high=1000))
    proposals = find.find(sched, call.conn, query)
    return OperationResult({"resourceType": "Bundle", "type": "searchset",
                            "total": len(proposals),
                            "entry": [{"resource": a, "search": {"mode": "match"}}
                                      for a in proposals]})


def register(registry: OperationRegistry) -> None:
    """Register the booking operations on Appointment."""
    appt = {"Appointment"}
    registry.register("find", find_op, levels={"type"}, types=appt, access="open",
                      description="IHE ITI-115: proposed appointments for open numbers")
    registry.register("hold", hold_op, levels={"type"}, types=appt, writes=True,
                      get_allowed=False, description="IHE ITI-116: hold a number", access="booking",
                      precheck=precheck)
    registry.register("book", book_op, levels={"type", "instance"}, types=appt, writes=True,
                      get_allowed=False, access="booking", precheck=precheck,
                      description="IHE ITI-117: book a number or a hold")
    registry.register("cancel", cancel_op, levels={"instance"}, types=appt, writes=True,
                      get_allowed=False, description="Cancel a booking within the cutoff",
                      access="booking")
    registry.register("reschedule", reschedule_op, levels={"instance"}, types=appt, writes=True,
                      get_allowed=False, description="Move a booking to another number",
                      access="booking")
    registry.register("check-in", check_in_op, levels={"type", "instance"}, types=appt,
                      writes=True, get_allowed=False, description="Check in at the hospital",
                      access="booking")
    registry.register("waitlist", waitlist_op, levels={"type"}, types=appt, writes=True,
                      get_allowed=False, description="Join the waitlist of a full clinic",
                      access="booking")
