"""The FHIR face of the pool: Schedule, Slot and Appointment, written with the pool's tables.

Consistency rule: the pool tables are the source of truth and every change to them writes the
matching FHIR resource in the **same transaction** (through ``write``), so a reader sees both or
neither. Schedule = one bookable resource; Slot = one time slot (``free`` while any number of any
channel is untaken, ``busy`` when all are, ``busy-unavailable`` when the clinic is stopped);
Appointment = one booking (``pending`` while held, ``booked``, ``arrived``, ``noshow``,
``cancelled``, ``waitlist``). Clients cannot write or delete these resources directly (422); other
Appointments, Slots and Schedules (not in the pool) stay ordinary resources.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from gansu_health.core.clock import fhir_instant, from_micros
from gansu_health.core.errors import UnprocessableEntity
from gansu_health.fhir.storage.repository import ResourceStore, Stored, WriteItem
from gansu_health.scheduling.models import sched_appointment, sched_resource, sched_slot

BASE = "https://gansu-health.cn/fhir"
CS_CHANNEL = f"{BASE}/CodeSystem/booking-channel"
CS_CANCEL_REASON = f"{BASE}/CodeSystem/booking-cancel-reason"
CS_PERIOD = f"{BASE}/CodeSystem/clinic-period"
EXT_CHANNEL = f"{BASE}/StructureDefinition/booking-channel"
EXT_NUMBER = f"{BASE}/StructureDefinition/booking-number"
EXT_FEE = f"{BASE}/StructureDefinition/registration-fee"
EXT_HOLD_EXPIRES = f"{BASE}/StructureDefinition/hold-expires"
EXT_PERIOD = f"{BASE}/StructureDefinition/clinic-period"
EXT_REMAINING = f"{BASE}/StructureDefinition/remaining-numbers"
EXT_RESCHEDULED_FROM = f"{BASE}/StructureDefinition/rescheduled-from"
EXT_MODALITY = f"{BASE}/StructureDefinition/exam-modality"
FHIR_STATUS = {"held": "pending", "booked": "booked", "arrived": "arrived", "noshow": "noshow",
               "cancelled": "cancelled", "waitlist": "waitlist"}
_FLAG = "scheduling.write"
# cancellation reasons (Appointment.cancelationReason)
REASONS = {"patient": "患者取消 cancelled by the patient",
           "clinic-stopped": "停诊 the clinic session was stopped",
           "hold-expired": "the hold expired before it was confirmed",
           "rescheduled": "moved to another number",
           "waitlist-closed": "the waitlist closed before a number came free",
           "limit-reached": "the patient reached a per-person limit before a number came free",
           "institution": "cancelled by the institution"}


@dataclass(frozen=True, slots=True)
class Visit:
    """A clinic session joined with its bookable resource."""

    session_id: int
    schedule: str
    kind: str
    actor: str
    practitioner: str | None
    location: str | None
    institution: str
    department: str
    title: str | None
    modality: str | None
    display: str
    day: str
    period: str
    start_us: int
    end_us: int
    status: str
    release_us: int
    reserve_release_us: int
    fee_cents: int


@dataclass(frozen=True, slots=True)
class Target:
    """Where to book: a session, optionally one slot of it (and the session if read)."""

    session_id: int
    slot_id: int | None = None
    visit: Visit | None = None


@dataclass(frozen=True, slots=True)
class SlotRef:
    """A time slot of a session."""

    id: int
    fid: str
    start_us: int
    end_us: int


@dataclass(frozen=True, slots=True)
class Booking:
    """What an Appointment shows."""

    fid: str
    status: str
    patient: str
    channel: str
    number: int | None
    created_us: int
    hold_expires_us: int | None = None
    reason: str | None = None
    reason_text: str | None = None
    rescheduled_from: str | None = None


def message(topic: str, visit: Visit, row: dict[str, Any], **extra: Any
            ) -> tuple[str, dict[str, Any]]:
    """Return the ``scheduling.appointment.<topic>`` event of a booking row."""
    return f"scheduling.appointment.{topic}", {
        "appointment": f"Appointment/{row['id']}", "patient": f"Patient/{row['patient']}",
        "schedule": f"Schedule/{visit.schedule}", "institution": visit.institution,
        "department": visit.department, "day": visit.day, "period": visit.period,
        "channel": row["channel"], "number": row.get("number_seq"), "fee": visit.fee_cents,
        **extra}


def instant(micros: int, zone: ZoneInfo) -> str:
    """Format epoch microseconds as a FHIR instant in local time with its offset."""
    return from_micros(micros).astimezone(zone).isoformat(timespec="seconds")


def minute(micros: int, zone: ZoneInfo) -> str:
    """Format an instant as local 'YYYY-MM-DD HH:MM' (for messages)."""
    return instant(micros, zone).replace("T", " ")[:16]


def money(fen: int) -> dict[str, Any]:
    """Return a FHIR Money in yuan for an amount in fen."""
    return {"value": fen / 100, "currency": "CNY"}


def _actors(visit: Visit) -> list[str]:
    refs = [visit.actor]
    if visit.practitioner:
        refs.append(f"Practitioner/{visit.practitioner}")
    refs.append(f"HealthcareService/{visit.department}")
    if visit.location:
        refs.append(f"Location/{visit.location}")
    return refs


def schedule_body(visit: Visit, zone: ZoneInfo | None, horizon: tuple[int, int] | None
                  ) -> dict[str, Any]:
    """Return the Schedule of a bookable resource (with the published horizon when known)."""
    body: dict[str, Any] = {
        "resourceType": "Schedule", "id": visit.schedule, "active": True,
        "actor": [{"reference": ref} for ref in _actors(visit)], "comment": visit.display}
    if horizon is not None and zone is not None:
        body["planningHorizon"] = {"start": instant(horizon[0], zone),
                                   "end": instant(horizon[1], zone)}
    if visit.modality:
        body["extension"] = [{"url": EXT_MODALITY, "valueCode": visit.modality}]
    return body


def slot_body(visit: Visit, slot: SlotRef, status: str, zone: ZoneInfo) -> dict[str, Any]:
    """Return the Slot of one time slot."""
    return {"resourceType": "Slot", "id": slot.fid,
            "extension": [{"url": EXT_PERIOD, "valueCode": visit.period}],
            "schedule": {"reference": f"Schedule/{visit.schedule}"},
            "status": status, "start": instant(slot.start_us, zone),
            "end": instant(slot.end_us, zone), "overbooked": False}


def appointment_body(visit: Visit, slot: SlotRef | None, booking: Booking, zone: ZoneInfo
                     ) -> dict[str, Any]:
    """Return the Appointment of a booking (a proposed one when ``booking.fid`` is empty)."""
    status = FHIR_STATUS.get(booking.status, booking.status)
    ext: list[dict[str, Any]] = [{"url": EXT_CHANNEL, "valueCode": booking.channel}]
    if booking.number is not None:
        ext.append({"url": EXT_NUMBER, "valueInteger": booking.number})
    ext.append({"url": EXT_FEE, "valueMoney": money(visit.fee_cents)})
    if booking.hold_expires_us is not None and booking.status == "held":
        ext.append({"url": EXT_HOLD_EXPIRES, "valueInstant": fhir_instant(booking.hold_expires_us)})
    if booking.rescheduled_from:
        ext.append({"url": EXT_RESCHEDULED_FROM,
                    "valueReference": {"reference": f"Appointment/{booking.rescheduled_from}"}})
    start, end = (slot.start_us, slot.end_us) if slot else (visit.start_us, visit.end_us)
    participants = [{"actor": {"reference": f"Patient/{booking.patient}"}, "required": "required",
                     "status": "accepted"}] if booking.patient else []
    participants += [{"actor": {"reference": ref}, "required": "required", "status": "accepted"}
                     for ref in _actors(visit)]
    body: dict[str, Any] = {"resourceType": "Appointment", "extension": ext, "status": status,
                            "description": visit.display, "start": instant(start, zone),
                            "end": instant(end, zone), "participant": participants}
    if booking.fid:
        body["id"] = booking.fid
        body["created"] = instant(booking.created_us, zone)
    if slot is not None:
        body["slot"] = [{"reference": f"Slot/{slot.fid}"}]
    if booking.reason:
        body["cancelationReason"] = {"coding": [{"system": CS_CANCEL_REASON,
                                                 "code": booking.reason}],
                                     "text": booking.reason_text or booking.reason}
    return body


def write(conn: Connection, store: ResourceStore, bodies: Sequence[dict[str, Any]],
          *, new: bool = False) -> list[Stored]:
    """Store pool resources (the only path allowed to write them)."""
    conn.info[_FLAG] = True
    try:
        return store.write_many(conn, [WriteItem(b, b["id"], new=new) for b in bodies])
    finally:
        conn.info[_FLAG] = False


def _owned(conn: Connection, rtype: str, fid: str | None, body: dict[str, Any]) -> bool:
    if rtype == "Appointment":
        if fid and conn.execute(select(sched_appointment.c.id).where(
                sched_appointment.c.id == fid)).first():
            return True
        slots = [str(s.get("reference", "")).removeprefix("Slot/") for s in body.get("slot") or []
                 if isinstance(s, dict)]
        return bool(slots) and conn.execute(select(sched_slot.c.id).where(
            sched_slot.c.fid.in_(slots))).first() is not None
    if rtype == "Slot":
        schedule = str((body.get("schedule") or {}).get("reference", "")).removeprefix(
            "Schedule/")
        return conn.execute(select(sched_slot.c.id).where(sched_slot.c.fid == fid)).first() \
            is not None or conn.execute(select(sched_resource.c.id).where(
                sched_resource.c.id == schedule)).first() is not None
    return conn.execute(select(sched_resource.c.id).where(
        sched_resource.c.id == fid)).first() is not None


def guard_write(conn: Connection, body: dict[str, Any], _is_new: bool) -> None:
    """Before-write hook: pool resources change only through the booking operations."""
    if conn.info.get(_FLAG):
        return
    rtype = str(body.get("resourceType"))
    if _owned(conn, rtype, body.get("id"), body):
        raise UnprocessableEntity(
            f"{rtype}/{body.get('id')} belongs to the number-source pool; change it with the "
            "booking operations ($hold, $book, $cancel, $reschedule, $check-in, $stop-clinic)",
            expression=rtype)


def guard_delete(conn: Connection, stored: list[Stored]) -> None:
    """After-write hook: pool resources cannot be deleted."""
    if conn.info.get(_FLAG):
        return
    for s in stored:
        if s.deleted and _owned(conn, s.rtype, s.fid, {}):
            raise UnprocessableEntity(
                f"{s.rtype}/{s.fid} belongs to the number-source pool and cannot be deleted",
                expression=s.rtype)


def local_day(micros: int, zone: ZoneInfo) -> str:
    """Return the local ISO date of an instant."""
    return datetime.fromtimestamp(micros / 1_000_000, zone).date().isoformat()
