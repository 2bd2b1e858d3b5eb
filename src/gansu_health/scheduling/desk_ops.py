"""Operations for the registrar's desk, the waiting room and the booking pages (see ``desk``).

``Schedule/<id>/$templates`` (read) answers the weekly templates; ``Schedule/<id>/$sessions``
(``start``, ``end``; default the next 14 days) the sessions with their numbers per channel and
status; ``Schedule/<id>/$extra-numbers`` (``date``, ``period``, ``count``, ``channel`` — default
``window`` —, ``reason``) adds numbers (加号) to an open session — all for registrars
(access ``schedule``). ``Appointment/<id>/$queue`` (``patient``) answers a booking's status,
number and the patients ahead of it (access ``booking``: the patient, their guardian or
consenting family, hospital staff). ``Appointment/$availability`` (``organization``,
``start``, ``end``, ``channel``; open like ``$find``) sums a hospital's open numbers per session,
for calendars and "next free numbers" without a proposal per slot.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from gansu_health.core.errors import BadRequest, UnprocessableEntity
from gansu_health.fhir.operations import OperationCall, OperationRegistry, OperationResult
from gansu_health.fhir.rest.dispatch import current_request
from gansu_health.mpi import parameters as p
from gansu_health.scheduling import desk, find
from gansu_health.scheduling import repository as repo
from gansu_health.scheduling import resources as res
from gansu_health.scheduling.operations import inputs, scheduler_of

HORIZON_DAYS = 14


def templates_op(call: OperationCall) -> OperationResult:
    """Schedule/<id>/$templates: the weekly templates of a bookable resource."""
    assert call.fid is not None
    parts = []
    for weekday, spec in desk.templates(call.conn, call.fid):
        parts.append(p.part("template", [
            p.part("weekday", weekday), {"name": "period", "valueCode": spec.period},
            p.part("start", spec.start), p.part("end", spec.end),
            p.part("slotMinutes", spec.slot_minutes), p.part("perSlot", spec.per_slot),
            *[p.part(f"quota-{c}", n) for c, n in sorted(spec.quotas.items())]]))
    return OperationResult(p.parameters(*parts))


def sessions_op(call: OperationCall) -> OperationResult:
    """Schedule/<id>/$sessions: sessions of a date range with their numbers."""
    sched = scheduler_of(call.services)
    assert call.fid is not None
    found = inputs(call)
    today, _ = find.default_window(sched)
    start = find.parse_day(p.text(found, "start"), today, "start")
    end = find.parse_day(p.text(found, "end"), start + timedelta(days=HORIZON_DAYS), "end")
    parts = []
    for visit, counts, stop_reason in desk.sessions(call.conn, call.fid, start.isoformat(),
                                                    end.isoformat()):
        row: list[dict[str, Any]] = [
            p.part("date", visit.day), {"name": "period", "valueCode": visit.period},
            p.part("start", res.instant(visit.start_us, sched.zone)),
            p.part("end", res.instant(visit.end_us, sched.zone)),
            {"name": "status", "valueCode": visit.status},
            {"name": "fee", "valueMoney": res.money(visit.fee_cents)}]
        if stop_reason:
            row.append(p.part("stopReason", stop_reason))
        for channel, states in sorted(counts.items()):
            row.append(p.part("numbers", [
                {"name": "channel", "valueCode": channel},
                *[p.part(status, n) for status, n in sorted(states.items())]]))
        parts.append(p.part("session", row))
    return OperationResult(p.parameters(*parts))


def extra_numbers_op(call: OperationCall) -> OperationResult:
    """Schedule/<id>/$extra-numbers: add numbers to an open session (加号) with a reason."""
    sched = scheduler_of(call.services)
    assert call.fid is not None
    found = inputs(call)
    day = find.parse_day(p.text(found, "date", required=True), date.min, "date")
    req = current_request.get()
    actor = str(getattr(getattr(req, "principal", None), "subject", "") or "unknown")
    seqs = desk.add_numbers(sched, call.conn, call.fid, day.isoformat(),
                            p.text(found, "period") or "morning",
                            p.integer(found, "count", 1, low=1, high=desk.MAX_EXTRA),
                            p.text(found, "channel") or "window",
                            p.text(found, "reason", required=True) or "", actor)
    return OperationResult(p.parameters(*[p.part("number", n) for n in seqs]))


def queue_op(call: OperationCall) -> OperationResult:
    """Appointment/<id>/$queue: status, number and the patients ahead of a booking."""
    assert call.fid is not None
    patient = p.patient_id(inputs(call), "patient")
    row = repo.appointment(call.conn, call.fid)
    if row is None or row.patient != patient:
        raise UnprocessableEntity(f"Appointment/{call.fid} is not a booking of "
                                  f"Patient/{patient}", expression="patient")
    parts = [{"name": "status", "valueCode": res.FHIR_STATUS.get(row.status, row.status)}]
    if row.number_seq is not None:
        parts.append(p.part("number", row.number_seq))
    waiting = desk.queue_position(call.conn, row)
    if waiting is not None:
        parts.append(p.part("ahead", waiting))
    return OperationResult(p.parameters(*parts))


def availability_op(call: OperationCall) -> OperationResult:
    """Appointment/$availability: open numbers per session of an ``organization`` from
    ``start`` to ``end`` (default the coming week) for ``channel`` (online)."""
    sched = scheduler_of(call.services)
    found = inputs(call)
    today, last = find.default_window(sched)
    start = find.parse_day(p.text(found, "start"), today, "start")
    end = find.parse_day(p.text(found, "end"), max(start, last), "end")
    if end < start or (end - start).days >= find.MAX_DAYS:
        raise BadRequest(f"end must be on or after start and at most {find.MAX_DAYS} days "
                         "later", expression="end")
    org = p.reference_id(found, "organization", "Organization")
    parts = []
    for visit, remaining in desk.open_sessions(call.conn, org, start.isoformat(),
                                               end.isoformat(),
                                               p.text(found, "channel") or "online"):
        parts.append(p.part("session", [
            p.part("date", visit.day), {"name": "period", "valueCode": visit.period},
            p.part("start", res.instant(visit.start_us, sched.zone)),
            p.part("end", res.instant(visit.end_us, sched.zone)),
            p.part("actor", {"reference": visit.actor}),
            p.part("department", {"reference": f"HealthcareService/{visit.department}"}),
            p.part("display", visit.display), {"name": "fee", "valueMoney": res.money(
                visit.fee_cents)}, p.part("remaining", remaining)]))
    return OperationResult(p.parameters(*parts))


def register(registry: OperationRegistry) -> None:
    """Register the desk and waiting-room operations."""
    schedule = {"Schedule"}
    one = {"instance"}
    registry.register("templates", templates_op, levels=one, types=schedule,
                      access="schedule", description="The weekly templates of a resource")
    registry.register("sessions", sessions_op, levels=one, types=schedule, access="schedule",
                      description="Clinic sessions with their numbers per channel and status")
    registry.register("extra-numbers", extra_numbers_op, levels=one, types=schedule,
                      writes=True, get_allowed=False, access="schedule",
                      description="Add numbers to an open clinic session (加号) with a reason")
    registry.register("availability", availability_op, levels={"type"},
                      types={"Appointment"}, access="open",
                      description="Open numbers per clinic session of an institution")
    registry.register("queue", queue_op, levels=one, types={"Appointment"}, access="booking",
                      description="A booking's place in the waiting room (候诊)")
