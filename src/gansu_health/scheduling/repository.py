"""SQL of the pool's hot path: claiming and returning numbers, per-person claims, appointments.

A number is claimed by one conditional UPDATE of its row (``status = 'free'`` is re-checked by
the UPDATE itself); on PostgreSQL the candidate is picked ``FOR UPDATE SKIP LOCKED`` so concurrent
bookers take different numbers without waiting for each other. The per-person limits are rows of
``sched_person_claim`` whose primary key (patient, day, scope, ordinal ≤ limit) makes an
``INSERT … ON CONFLICT DO NOTHING`` the atomic check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from gansu_health.core.database import is_sqlite
from gansu_health.scheduling.models import (
    sched_appointment,
    sched_number,
    sched_person_claim,
    sched_resource,
    sched_session,
    sched_slot,
    sched_suspension,
)
from gansu_health.scheduling.resources import SlotRef, Visit

S, R, N, A = sched_session, sched_resource, sched_number, sched_appointment
VISIT_COLUMNS = (S.c.id.label("session_id"), R.c.id.label("schedule"), R.c.kind, R.c.actor,
                 R.c.practitioner, R.c.location, S.c.institution, S.c.department, R.c.title,
                 R.c.modality, R.c.display, S.c.day, S.c.period, S.c.start_us, S.c.end_us,
                 S.c.status, S.c.release_us, S.c.reserve_release_us, S.c.fee_cents)


def _visit(row: Any) -> Visit:
    return Visit(*row)


def visits(conn: Connection, *conds: ColumnElement[bool], limit: int | None = None
           ) -> list[Visit]:
    """Return sessions with their resources matching ``conds``, by day, start and resource."""
    query = select(*VISIT_COLUMNS).join(R, R.c.id == S.c.resource_id).where(*conds).order_by(
        S.c.day, S.c.start_us, R.c.id)
    if limit is not None:
        query = query.limit(limit)
    return [_visit(r) for r in conn.execute(query)]


def visit(conn: Connection, session_id: int) -> Visit | None:
    """Return one session with its resource."""
    found = visits(conn, S.c.id == session_id)
    return found[0] if found else None


def session_at(conn: Connection, schedule: str, day: str, period: str) -> Visit | None:
    """Return the session of a Schedule on a day and period."""
    found = visits(conn, R.c.id == schedule, S.c.day == day, S.c.period == period)
    return found[0] if found else None


def slot(conn: Connection, *, slot_id: int | None = None, fid: str | None = None,
         lock: bool = False) -> tuple[SlotRef, int, str] | None:
    """Return (slot, session id, stored FHIR status), locking the row when asked."""
    cond = sched_slot.c.id == slot_id if slot_id is not None else sched_slot.c.fid == fid
    query = select(sched_slot).where(cond)
    if lock and not is_sqlite(conn):
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        return None
    return SlotRef(row.id, row.fid, row.start_us, row.end_us), row.session_id, row.status


def slots_of(conn: Connection, session_id: int) -> list[SlotRef]:
    """Return the slots of a session in time order."""
    rows = conn.execute(select(sched_slot).where(sched_slot.c.session_id == session_id)
                        .order_by(sched_slot.c.seq))
    return [SlotRef(r.id, r.fid, r.start_us, r.end_us) for r in rows]


def lock_slot(conn: Connection, slot_id: int) -> tuple[SlotRef, int, str, int, str] | None:
    """Lock a slot; return (slot, session id, stored FHIR status, free numbers, session status)
    in one statement."""
    free = select(func.count()).select_from(N).where(
        N.c.slot_id == sched_slot.c.id, N.c.status == "free").scalar_subquery()
    state = select(S.c.status).where(S.c.id == sched_slot.c.session_id).scalar_subquery()
    query = select(sched_slot, free.label("free"), state.label("state")).where(
        sched_slot.c.id == slot_id)
    if not is_sqlite(conn):
        query = query.with_for_update(of=sched_slot)
    row = conn.execute(query).first()
    if row is None:
        return None
    return (SlotRef(row.id, row.fid, row.start_us, row.end_us), row.session_id, row.status,
            int(row.free), row.state)


def set_slot_status(conn: Connection, slot_id: int, status: str) -> None:
    """Remember the FHIR status last written for a slot."""
    conn.execute(update(sched_slot).where(sched_slot.c.id == slot_id).values(status=status))


def open_numbers(conn: Connection, slot_id: int) -> int:
    """Count the untaken numbers of a slot."""
    return int(conn.execute(select(func.count()).select_from(N).where(
        N.c.slot_id == slot_id, N.c.status == "free")).scalar_one())


def claim_number(conn: Connection, session_id: int, channel: str, appointment: str,
                 status: str, now_us: int, *, slot_id: int | None = None
                 ) -> tuple[int, int] | None:
    """Take the first free number of a session channel (or slot) in a slot that has not ended
    and that nobody else is taking; return (slot id, 号序)."""
    pick = select(N.c.id).where(N.c.session_id == session_id, N.c.channel == channel,
                                N.c.status == "free")
    if slot_id is not None:
        pick = pick.where(N.c.slot_id == slot_id)
    else:
        pick = pick.where(N.c.slot_id.in_(select(sched_slot.c.id).where(
            sched_slot.c.session_id == session_id, sched_slot.c.end_us > now_us)))
    pick = pick.order_by(N.c.seq).limit(1)
    if not is_sqlite(conn):
        # never wait for a number: a waiting claimer could hold a row it locked but did not get
        # (PostgreSQL keeps the lock when a row fails requalification) — a deadlock recipe
        pick = pick.with_for_update(skip_locked=True)
    number_id = conn.execute(pick).scalar()
    if number_id is None:
        return None
    row = conn.execute(update(N).where(N.c.id == number_id, N.c.status == "free")
                       .values(status=status, appointment=appointment, updated_us=now_us)
                       .returning(N.c.slot_id, N.c.seq)).first()
    return (row.slot_id, row.seq) if row else None


def channel_free(conn: Connection, session_id: int, channel: str, slot_id: int | None = None
                 ) -> int:
    """Count free numbers of a session channel (committed state; others may be claiming)."""
    query = select(func.count()).select_from(N).where(
        N.c.session_id == session_id, N.c.channel == channel, N.c.status == "free")
    if slot_id is not None:
        query = query.where(N.c.slot_id == slot_id)
    return int(conn.execute(query).scalar_one())


def free_number(conn: Connection, appointment: str, now_us: int, *, void: bool = False
                ) -> tuple[int, int, str] | None:
    """Give back (or void) the number of an appointment; return (slot id, 号序, channel)."""
    row = conn.execute(update(N).where(N.c.appointment == appointment).values(
        status="void" if void else "free", appointment=None, updated_us=now_us)
        .returning(N.c.slot_id, N.c.seq, N.c.channel)).first()
    return (row.slot_id, row.seq, row.channel) if row else None


def confirm_number(conn: Connection, appointment: str, now_us: int) -> bool:
    """Turn a held number into a booked one."""
    return bool(conn.execute(update(N).where(N.c.appointment == appointment,
                                             N.c.status == "held")
                             .values(status="booked", updated_us=now_us)).rowcount)


def claim_person(conn: Connection, patient: str, day: str, scope: str, limit: int,
                 appointment: str, node: str) -> bool:
    """Take one of the ``limit`` per-person places of a scope and day; False when all are used."""
    dialect: Any = sqlite if is_sqlite(conn) else postgresql
    for ordinal in range(1, limit + 1):
        stmt = dialect.insert(sched_person_claim).values(
            patient=patient, day=day, scope=scope, ordinal=ordinal, node=node,
            appointment=appointment).on_conflict_do_nothing().returning(
            sched_person_claim.c.ordinal)
        if conn.execute(stmt).first() is not None:
            return True
    return False


def release_person(conn: Connection, appointment: str) -> None:
    """Give back the per-person places of an appointment."""
    conn.execute(delete(sched_person_claim).where(
        sched_person_claim.c.appointment == appointment))


def insert_appointment(conn: Connection, **values: Any) -> None:
    """Record a booking row."""
    conn.execute(insert(A).values(**values))


def appointment(conn: Connection, fid: str, *, lock: bool = False) -> Any:
    """Return a booking row (locked when asked), or None."""
    query = select(A).where(A.c.id == fid)
    if lock and not is_sqlite(conn):
        query = query.with_for_update()
    return conn.execute(query).first()


def update_appointment(conn: Connection, fid: str, values: dict[str, Any]) -> None:
    """Change a booking row."""
    conn.execute(update(A).where(A.c.id == fid).values(**values))


def appointments(conn: Connection, *conds: ColumnElement[bool], limit: int = 1000,
                 lock: bool = False) -> list[Any]:
    """Return booking rows matching ``conds`` in creation order."""
    query = select(A).where(*conds).order_by(A.c.created_us, A.c.id).limit(limit)
    if lock and not is_sqlite(conn):
        query = query.with_for_update(skip_locked=True)
    return list(conn.execute(query))


def suspended_until(conn: Connection, patient: str, now_us: int) -> tuple[int, str] | None:
    """Return (until, reason) of the patient's longest running suspension, or None."""
    row = conn.execute(select(sched_suspension.c.until_us, sched_suspension.c.reason).where(
        sched_suspension.c.patient == patient, sched_suspension.c.from_us <= now_us,
        sched_suspension.c.until_us > now_us).order_by(
        sched_suspension.c.until_us.desc()).limit(1)).first()
    return (row.until_us, row.reason) if row else None


def availability(conn: Connection, session_ids: Sequence[int], channel: str
                 ) -> dict[int, dict[int, int]]:
    """Return {session id: {slot id: free numbers of ``channel``}}."""
    out: dict[int, dict[int, int]] = {}
    if not session_ids:
        return out
    rows = conn.execute(select(N.c.session_id, N.c.slot_id, func.count()).where(
        N.c.session_id.in_(list(session_ids)), N.c.channel == channel, N.c.status == "free")
        .group_by(N.c.session_id, N.c.slot_id))
    for session_id, slot_id, count in rows:
        out.setdefault(session_id, {})[slot_id] = int(count)
    return out


def waiting(conn: Connection, session_id: int, channel: str) -> list[Any]:
    """Return the waitlist of a session channel, first come first."""
    return appointments(conn, and_(A.c.session_id == session_id, A.c.channel == channel,
                                   A.c.status == "waitlist"))
