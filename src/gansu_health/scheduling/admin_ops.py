"""Operations that shape the pool: bookable resources, templates, sessions, policy, 停诊.

``PractitionerRole/<id>/$bookable`` (a doctor) and ``Device/<id>/$bookable`` or
``Location/<id>/$bookable`` with ``department`` and ``modality`` (an exam resource) answer the
Schedule. ``Schedule/<id>/$template`` sets a weekly session (``weekday``, ``period``, ``start``,
``end``, ``slotMinutes``, ``perSlot``, ``quota-<channel>``); ``Schedule/<id>/$publish`` publishes
sessions up to the horizon; ``Schedule/<id>/$session`` adds one session on a ``date``;
``Schedule/<id>/$stop-clinic`` stops the session of a ``date`` and ``period`` with a ``reason``.
``Organization/<id>/$scheduling-policy`` answers the effective policy (GET) or changes it (POST,
one parameter per field; lists and maps as JSON strings).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import orjson

from gansu_health.core.clock import now, to_micros
from gansu_health.core.errors import BadRequest, NotFound
from gansu_health.fhir.operations import OperationCall, OperationRegistry, OperationResult
from gansu_health.mpi import parameters as p
from gansu_health.scheduling import attendance, find, pool
from gansu_health.scheduling import policy as pol
from gansu_health.scheduling import repository as repo
from gansu_health.scheduling.operations import inputs, scheduler_of

_JSON_FIELDS = ("noshow_ladder_days", "fees_by_title")


def _schedule(call: OperationCall) -> OperationResult:
    assert call.fid is not None
    return OperationResult(call.services.service.store.read(
        call.conn, "Schedule", call.fid).json())


def bookable_op(call: OperationCall) -> OperationResult:
    """Make a PractitionerRole, Device or Location bookable; answer its Schedule."""
    sched = scheduler_of(call.services)
    assert call.fid is not None and call.rtype is not None
    if call.rtype == "PractitionerRole":
        schedule = pool.register_doctor(call.conn, sched.store, call.fid, sched.node)
    else:
        found = inputs(call)
        department = p.reference_id(found, "department", "HealthcareService")
        schedule = pool.register_exam(call.conn, sched.store, f"{call.rtype}/{call.fid}",
                                      department, p.text(found, "modality", required=True) or "",
                                      sched.node, p.text(found, "display"))
    return OperationResult(sched.store.read(call.conn, "Schedule", schedule).json())


def spec_of(found: dict[str, list[Any]]) -> pool.SessionSpec:
    """Read a session shape from operation inputs."""
    period = p.text(found, "period") or "morning"
    if period not in pol.PERIODS:
        raise BadRequest(f"period must be one of {', '.join(pol.PERIODS)}", expression="period")
    start, end = pol.PERIODS[period]
    quotas = {c: p.integer(found, f"quota-{c}", 0, high=10_000) for c in pol.CHANNELS
              if f"quota-{c}" in found}
    per_slot = p.integer(found, "perSlot", 1, low=1, high=200)
    start = p.text(found, "start") or start
    end = p.text(found, "end") or end
    minutes = p.integer(found, "slotMinutes", 30, low=1, high=240)
    if not quotas:
        quotas = {"online": pool.slots_in(start, end, minutes) * per_slot}
    return pool.SessionSpec(period, start, end, minutes, per_slot, quotas)


def template_op(call: OperationCall) -> OperationResult:
    """Schedule/<id>/$template: set the weekly session of a weekday and period."""
    sched = scheduler_of(call.services)
    assert call.fid is not None
    found = inputs(call)
    pool.set_template(call.conn, call.fid, p.integer(found, "weekday", 0, low=1, high=7),
                      spec_of(found), sched.node, active=not p.boolean(found, "inactive"))
    return _schedule(call)


def publish_op(call: OperationCall) -> OperationResult:
    """Schedule/<id>/$publish: publish template sessions up to the booking horizon."""
    sched = scheduler_of(call.services)
    assert call.fid is not None
    row = pool.resource_row(call.conn, call.fid)
    today = datetime.fromtimestamp(to_micros(now()) / 1e6, sched.zone).date()
    created = pool.publish(call.conn, sched.store, call.fid, pol.load(call.conn, row.institution),
                           sched.zone, sched.node, today)
    return OperationResult(p.parameters(p.part("created", created)))


def session_op(call: OperationCall) -> OperationResult:
    """Schedule/<id>/$session: publish one session on a date (an extra clinic, 加诊)."""
    sched = scheduler_of(call.services)
    assert call.fid is not None
    found = inputs(call)
    day = find.parse_day(p.text(found, "date", required=True), date.min, "date")
    row = pool.resource_row(call.conn, call.fid)
    session_id = pool.create_session(call.conn, sched.store, call.fid, day, spec_of(found),
                                     pol.load(call.conn, row.institution), sched.zone,
                                     sched.node)
    slots = repo.slots_of(call.conn, session_id)
    return OperationResult(p.parameters(*[p.part("slot", {"reference": f"Slot/{s.fid}"})
                                          for s in slots]))


def stop_clinic_op(call: OperationCall) -> OperationResult:
    """Schedule/<id>/$stop-clinic: stop a session (停诊) and cancel its bookings."""
    sched = scheduler_of(call.services)
    assert call.fid is not None
    found = inputs(call)
    day = find.parse_day(p.text(found, "date", required=True), date.min, "date").isoformat()
    period = p.text(found, "period") or "morning"
    visit = repo.session_at(call.conn, call.fid, day, period)
    if visit is None:
        raise NotFound(f"Schedule/{call.fid} has no {period} clinic on {day}",
                       expression="date")
    cancelled = attendance.stop_clinic(sched, call.conn, visit.session_id,
                                       p.text(found, "reason", required=True) or "")
    return OperationResult(p.parameters(p.part("cancelled", cancelled)))


def policy_op(call: OperationCall) -> OperationResult:
    """Organization/<id>/$scheduling-policy: read (GET) or change (POST) the policy."""
    sched = scheduler_of(call.services)
    assert call.fid is not None
    sched.store.read(call.conn, "Organization", call.fid)
    changes: dict[str, Any] = {}
    body = call.body if isinstance(call.body, dict) else {}
    for param in body.get("parameter") or []:
        name = str(param.get("name"))
        value = next((v for k, v in param.items() if k.startswith("value")), None)
        if name in _JSON_FIELDS and isinstance(value, str):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                raise BadRequest(f"{name} must be JSON", expression=f"policy.{name}") from None
        changes[name] = value
    policy = (pol.save(call.conn, call.fid, changes, sched.node) if changes
              else pol.load(call.conn, call.fid))
    return OperationResult(p.parameters(*[
        p.part(k, orjson.dumps(v).decode() if k in _JSON_FIELDS else v)
        for k, v in policy.to_json().items()]))


def register(registry: OperationRegistry) -> None:
    """Register the pool administration operations."""
    registry.register("bookable", bookable_op, levels={"instance"},
                      types={"PractitionerRole", "Device", "Location"}, writes=True,
                      get_allowed=False, description="Make a doctor or exam resource bookable",
                      access="schedule")
    for name, handler, text in (
            ("template", template_op, "Set a weekly clinic session"),
            ("publish", publish_op, "Publish template sessions up to the horizon"),
            ("session", session_op, "Publish one clinic session"),
            ("stop-clinic", stop_clinic_op, "Stop a clinic session (停诊)")):
        registry.register(name, handler, levels={"instance"}, types={"Schedule"}, writes=True,
                          get_allowed=False, description=text, access="schedule")
    registry.register("scheduling-policy", policy_op, levels={"instance"},
                      types={"Organization"}, writes=True,
                      description="Read or change an institution's booking policy",
                      access="schedule")
