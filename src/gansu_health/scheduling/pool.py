"""The pool: bookable resources from the registries, weekly templates and clinic sessions.

A doctor is registered from the registry's PractitionerRole (institution = its organization,
department = its first healthcareService, title = its practitioner-title code); an exam resource
(imaging, ultrasound, ECG, endoscopy) is a Device or Location of a HealthcareService. A session
(出诊单元) is cut into slots of ``slot_minutes`` (5–30) with ``per_slot`` numbers each, and its
numbers are spread over the channels in proportion to their quotas, so that every part of the
session offers every channel.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Connection, insert, select, update

from gansu_health.core.clock import now, to_micros
from gansu_health.core.errors import NotFound, UnprocessableEntity
from gansu_health.fhir.storage.repository import ResourceStore, new_id
from gansu_health.scheduling import policy as pol
from gansu_health.scheduling import resources as res
from gansu_health.scheduling.models import (
    sched_number,
    sched_resource,
    sched_session,
    sched_slot,
    sched_template,
)
from gansu_health.scheduling.repository import session_at

CS_TITLE = "https://gansu-health.cn/fhir/CodeSystem/practitioner-title"
EXAM_MODALITIES = {"CT": "CT", "MR": "磁共振", "DX": "X线", "US": "超声", "ECG": "心电图",
                   "ES": "内镜"}
DAY_US = 86_400_000_000


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """The shape of a clinic session."""

    period: str
    start: str
    end: str
    slot_minutes: int
    per_slot: int
    quotas: dict[str, int]


def _ref_id(ref: Any, rtype: str, where: str) -> str:
    value = str((ref or {}).get("reference", ""))
    if not value.startswith(f"{rtype}/"):
        raise UnprocessableEntity(f"{where} must reference a {rtype}", expression=where)
    return value.removeprefix(f"{rtype}/")


def _ensure(conn: Connection, store: ResourceStore, row: dict[str, Any]) -> str:
    found = conn.execute(select(sched_resource.c.id).where(
        sched_resource.c.actor == row["actor"])).first()
    if found:
        conn.execute(update(sched_resource).where(sched_resource.c.id == found.id).values(
            **{k: v for k, v in row.items() if k not in ("id", "created_us")}))
    else:
        conn.execute(insert(sched_resource).values(**row))
    schedule = str(found.id if found else row["id"])
    res.write(conn, store, [res.schedule_body(resource_visit(resource_row(conn, schedule)),
                                              None, None)])
    return schedule


def register_doctor(conn: Connection, store: ResourceStore, role_id: str, node: str) -> str:
    """Make a PractitionerRole bookable; return its Schedule id."""
    role = store.read(conn, "PractitionerRole", role_id).json()
    institution = _ref_id(role.get("organization"), "Organization",
                          "PractitionerRole.organization")
    services = role.get("healthcareService") or []
    if not services:
        raise UnprocessableEntity("A bookable PractitionerRole needs its department "
                                  "(healthcareService)", expression="PractitionerRole."
                                                                    "healthcareService")
    department = _ref_id(services[0], "HealthcareService", "PractitionerRole.healthcareService")
    practitioner = role.get("practitioner") or {}
    title = next((c["code"] for cc in role.get("code") or [] for c in cc.get("coding") or []
                  if c.get("system") == CS_TITLE), None)
    locations = role.get("location") or []
    row = {"id": new_id(), "node": node, "kind": "doctor", "actor": f"PractitionerRole/{role_id}",
           "institution": institution, "department": department,
           "practitioner": _ref_id(practitioner, "Practitioner", "PractitionerRole.practitioner")
           if practitioner else None,
           "location": _ref_id(locations[0], "Location", "PractitionerRole.location")
           if locations else None,
           "title": title, "modality": None,
           "display": str(practitioner.get("display") or role_id)[:128],
           "created_us": to_micros(now())}
    return _ensure(conn, store, row)


def resource_visit(row: Any) -> res.Visit:
    """Return a Visit of a bookable resource with no session details yet."""
    return res.Visit(0, row.id, row.kind, row.actor, row.practitioner, row.location,
                     row.institution, row.department, row.title, row.modality, row.display,
                     "", "", 0, 0, "open", 0, 0, 0)


def register_exam(conn: Connection, store: ResourceStore, actor: str, department: str,
                  modality: str, node: str, display: str | None = None) -> str:
    """Make a Device or Location of a department bookable for exams; return its Schedule id."""
    rtype, _, fid = actor.partition("/")
    if rtype not in ("Device", "Location") or not fid:
        raise UnprocessableEntity("An exam resource is a Device/<id> or Location/<id>",
                                  expression="actor")
    if modality not in EXAM_MODALITIES:
        raise UnprocessableEntity(f"modality must be one of {', '.join(EXAM_MODALITIES)}",
                                  expression="modality")
    store.read(conn, rtype, fid)
    service = store.read(conn, "HealthcareService", department).json()
    institution = _ref_id(service.get("providedBy"), "Organization",
                          "HealthcareService.providedBy")
    row = {"id": new_id(), "node": node, "kind": "exam", "actor": actor,
           "institution": institution, "department": department, "practitioner": None,
           "location": fid if rtype == "Location" else None, "title": None,
           "modality": modality,
           "display": (display or f"{EXAM_MODALITIES[modality]} {fid}")[:128],
           "created_us": to_micros(now())}
    return _ensure(conn, store, row)


def resource_row(conn: Connection, schedule: str) -> Any:
    """Return a bookable resource by its Schedule id, or raise NotFound."""
    row = conn.execute(select(sched_resource).where(sched_resource.c.id == schedule)).first()
    if row is None:
        raise NotFound(f"Schedule/{schedule} is not a bookable resource of the pool",
                       expression="schedule")
    return row


def slots_in(start: str, end: str, slot_minutes: int) -> int:
    """Return how many slots of ``slot_minutes`` fill ``start``–``end`` (local HH:MM)."""
    for name, value in (("start", start), ("end", end)):
        if not pol.TIME_RE.fullmatch(value):
            raise UnprocessableEntity(f"{name} must be a local time HH:MM", expression=name)
    first, last = pol.parse_time(start), pol.parse_time(end)
    minutes = (last.hour * 60 + last.minute) - (first.hour * 60 + first.minute)
    if minutes <= 0 or minutes % slot_minutes:
        raise UnprocessableEntity(f"The session {start}–{end} must be a positive multiple of "
                                  f"{slot_minutes} minutes", expression="end")
    return minutes // slot_minutes


def check_spec(spec: SessionSpec) -> int:
    """Validate a session shape; return its number of slots."""
    if spec.period not in pol.PERIODS:
        raise UnprocessableEntity(f"period must be one of {', '.join(pol.PERIODS)}",
                                  expression="period")
    if not 5 <= spec.slot_minutes <= 30:
        raise UnprocessableEntity("slotMinutes must be from 5 to 30 (time slots of at most 30 "
                                  "minutes)", expression="slotMinutes")
    if not 1 <= spec.per_slot <= 200:
        raise UnprocessableEntity("perSlot must be from 1 to 200", expression="perSlot")
    slots = slots_in(spec.start, spec.end, spec.slot_minutes)
    for channel, count in spec.quotas.items():
        if channel not in pol.CHANNELS:
            raise UnprocessableEntity(f"Unknown channel '{channel}' (one of "
                                      f"{', '.join(pol.CHANNELS)})", expression=f"quota.{channel}")
        if not isinstance(count, int) or count < 0:
            raise UnprocessableEntity("A channel quota is a number ≥ 0",
                                      expression=f"quota.{channel}")
    total = slots * spec.per_slot
    if sum(spec.quotas.values()) != total:
        raise UnprocessableEntity(f"The channel quotas add up to {sum(spec.quotas.values())} but "
                                  f"the session has {slots} slots × {spec.per_slot} = {total} "
                                  "numbers", expression="quota")
    return slots


def spread(quotas: dict[str, int]) -> list[str]:
    """Return the channel of each number in order, each channel spread evenly over the session."""
    total = sum(quotas.values())
    given = dict.fromkeys(quotas, 0)
    out = []
    for i in range(total):
        channel = max(quotas, key=lambda c: (quotas[c] * (i + 1) / total - given[c], quotas[c]))
        given[channel] += 1
        out.append(channel)
    return out


def set_template(conn: Connection, schedule: str, weekday: int, spec: SessionSpec, node: str,
                 *, active: bool = True) -> None:
    """Create or replace the weekly template of a resource for a weekday and period."""
    resource_row(conn, schedule)
    if not 1 <= weekday <= 7:
        raise UnprocessableEntity("weekday is 1 (Monday) to 7 (Sunday)", expression="weekday")
    check_spec(spec)
    values = {"start_time": spec.start, "end_time": spec.end, "slot_minutes": spec.slot_minutes,
              "per_slot": spec.per_slot, "quotas": orjson.dumps(spec.quotas).decode(),
              "active": active, "updated_us": to_micros(now())}
    key = (sched_template.c.resource_id == schedule, sched_template.c.weekday == weekday,
           sched_template.c.period == spec.period)
    if conn.execute(select(sched_template.c.id).where(*key)).first():
        conn.execute(update(sched_template).where(*key).values(**values))
    else:
        conn.execute(insert(sched_template).values(node=node, resource_id=schedule,
                                                   weekday=weekday, period=spec.period, **values))


def create_session(conn: Connection, store: ResourceStore, schedule: str, day: date,
                   spec: SessionSpec, policy: pol.Policy, zone: ZoneInfo, node: str) -> int:
    """Publish one clinic session with its slots, numbers and FHIR Slots; return its id."""
    slots = check_spec(spec)
    row = resource_row(conn, schedule)
    existing = session_at(conn, schedule, day.isoformat(), spec.period)
    if existing is not None:
        return existing.session_id
    start_us = pol.local_us(day, spec.start, zone)
    release_us = pol.days_before(day, policy.horizon_days, policy.release_time, zone)
    values = {"node": node, "resource_id": schedule, "institution": row.institution,
              "department": row.department, "day": day.isoformat(), "period": spec.period,
              "start_us": start_us, "end_us": pol.local_us(day, spec.end, zone),
              "slot_minutes": spec.slot_minutes, "status": "open", "release_us": release_us,
              "reserve_release_us": release_us - policy.reserve_lead_days * DAY_US,
              "reserve_return_us": pol.days_before(day, policy.reserve_return_days_before,
                                                   policy.reserve_return_time, zone),
              "reserve_returned": False, "fee_cents": policy.fee_for(row.kind, row.title),
              "created_us": to_micros(now())}
    session_id = int(conn.execute(insert(sched_session).values(**values)
                                  .returning(sched_session.c.id)).scalar_one())
    step = spec.slot_minutes * 60_000_000
    slot_rows: list[dict[str, Any]] = [{"node": node, "session_id": session_id, "seq": k,
                  "start_us": start_us + k * step, "end_us": start_us + (k + 1) * step,
                  "fid": new_id(), "status": "free"} for k in range(slots)]
    conn.execute(insert(sched_slot), slot_rows)
    slot_ids = {r.seq: r.id for r in conn.execute(select(sched_slot.c.seq, sched_slot.c.id).where(
        sched_slot.c.session_id == session_id))}
    stamp = to_micros(now())
    numbers = [{"node": node, "session_id": session_id, "slot_id": slot_ids[i // spec.per_slot],
                "seq": i + 1, "channel": channel, "status": "free", "appointment": None,
                "updated_us": stamp} for i, channel in enumerate(spread(spec.quotas))]
    if numbers:
        conn.execute(insert(sched_number), numbers)
    visit = dataclasses.replace(
        resource_visit(row), session_id=session_id, day=values["day"], period=spec.period,
        start_us=start_us, end_us=values["end_us"], release_us=release_us,
        reserve_release_us=values["reserve_release_us"], fee_cents=values["fee_cents"])
    res.write(conn, store, [res.slot_body(visit, res.SlotRef(slot_ids[r["seq"]], r["fid"],
                                                             r["start_us"], r["end_us"]),
                                          "free", zone) for r in slot_rows], new=True)
    return session_id


def templates_of(conn: Connection, schedule: str) -> list[tuple[int, SessionSpec]]:
    """Return the active templates of a resource as (weekday, spec)."""
    rows = conn.execute(select(sched_template).where(sched_template.c.resource_id == schedule,
                                                     sched_template.c.active.is_(True)))
    return [(r.weekday, SessionSpec(r.period, r.start_time, r.end_time, r.slot_minutes,
                                    r.per_slot, orjson.loads(r.quotas))) for r in rows]


def publish(conn: Connection, store: ResourceStore, schedule: str, policy: pol.Policy,
            zone: ZoneInfo, node: str, today: date) -> int:
    """Publish the template sessions of a resource up to its booking horizon; return how many
    sessions were created (the referral reserve opens before the public release, so sessions
    exist ``horizon_days + reserve_lead_days`` ahead)."""
    row = resource_row(conn, schedule)
    created = 0
    last = policy.horizon_days + policy.reserve_lead_days
    templates = templates_of(conn, schedule)
    for offset in range(last + 1):
        day = today + timedelta(days=offset)
        for weekday, spec in templates:
            if weekday == day.isoweekday() and session_at(
                    conn, schedule, day.isoformat(), spec.period) is None:
                create_session(conn, store, schedule, day, spec, policy, zone, node)
                created += 1
    horizon = (pol.local_us(today, "00:00", zone),
               pol.local_us(today + timedelta(days=last + 1), "00:00", zone))
    res.write(conn, store, [res.schedule_body(resource_visit(row), zone, horizon)])
    return created


def spec_for_numbers(numbers: int, period: str = "morning", slot_minutes: int = 30,
                     channel: str = "online") -> SessionSpec:
    """Return a session of the period's default hours holding at least ``numbers`` numbers of
    one channel (the rest go to the on-site window)."""
    start, end = pol.PERIODS[period]
    slots = slots_in(start, end, slot_minutes)
    per_slot = max(1, math.ceil(numbers / slots))
    rest = slots * per_slot - numbers
    quotas = {channel: numbers, **({"window": rest} if rest and channel != "window" else {})}
    return SessionSpec(period, start, end, slot_minutes, per_slot, quotas)
