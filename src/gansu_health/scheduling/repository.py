"""SQL of the pool's hot path: claiming and returning numbers, per-person claims, appointments.

A number is claimed by one conditional UPDATE of its row (``status = 'free'`` is re-checked by
the UPDATE itself); on PostgreSQL the candidate is picked ``FOR UPDATE SKIP LOCKED`` so concurrent
bookers take different numbers without waiting for each other. The per-person limits are rows of
``sched_person_claim`` whose primary key (patient, day, scope, ordinal ≤ limit) makes an
``INSERT … ON CONFLICT DO NOTHING`` the atomic check. The statements of a booking are plain SQL
run at the driver level (written once with ``:name`` parameters), as the FHIR store's bulk path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, select, update
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


@cache
def _pg(sql: str) -> str:
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql.replace("%", "%%"))


def run(conn: Connection, sql: str, params: Mapping[str, Any], *, fetch: bool = True
        ) -> list[Any]:
    """Run SQL written with ``:name`` parameters on the driver's cursor — no compile step and no
    result metadata, in the connection's transaction; return its rows (tuples)."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql if is_sqlite(conn) else _pg(sql), dict(params))
        return list(cursor.fetchall()) if fetch else []
    finally:
        cursor.close()


_VISIT = (
    "SELECT s.id, r.id, r.kind, r.actor, r.practitioner, r.location, s.institution, "
    "s.department, r.title, r.modality, r.display, s.day, s.period, s.start_us, s.end_us, "
    "s.status, s.release_us, s.reserve_release_us, s.fee_cents FROM sched_session s "
    "JOIN sched_resource r ON r.id = s.resource_id WHERE {where}")
_SESSION_AT = _VISIT.format(
    where="s.resource_id = :schedule AND s.day = :day AND s.period = :period")


def visits(conn: Connection, *conds: ColumnElement[bool], limit: int | None = None
           ) -> list[Visit]:
    """Return sessions with their resources matching ``conds``, by day, start and resource."""
    query = select(*VISIT_COLUMNS).join(R, R.c.id == S.c.resource_id).where(*conds).order_by(
        S.c.day, S.c.start_us, R.c.id)
    if limit is not None:
        query = query.limit(limit)
    return [_visit(r) for r in conn.execute(query)]


def visits_by_id(conn: Connection, session_ids: Iterable[int]) -> dict[int, Visit]:
    """Return the sessions with these ids (with their resources), by session id."""
    return {v.session_id: v for v in visits(conn, S.c.id.in_(sorted(set(session_ids))))}


def visit(conn: Connection, session_id: int) -> Visit | None:
    """Return one session with its resource."""
    found = run(conn, _VISIT.format(where="s.id = :session"), {"session": session_id})
    return _visit(found[0]) if found else None


def session_at(conn: Connection, schedule: str, day: str, period: str) -> Visit | None:
    """Return the session of a Schedule on a day and period."""
    found = run(conn, _SESSION_AT, {"schedule": schedule, "day": day, "period": period})
    return _visit(found[0]) if found else None


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


def slot_refs(conn: Connection, slot_ids: Sequence[int]) -> list[SlotRef]:
    """Return the slots with these ids."""
    rows = conn.execute(select(sched_slot).where(sched_slot.c.id.in_(list(slot_ids))))
    return [SlotRef(r.id, r.fid, r.start_us, r.end_us) for r in rows]


def slots_of(conn: Connection, session_id: int) -> list[SlotRef]:
    """Return the slots of a session in time order."""
    rows = conn.execute(select(sched_slot).where(sched_slot.c.session_id == session_id)
                        .order_by(sched_slot.c.seq))
    return [SlotRef(r.id, r.fid, r.start_us, r.end_us) for r in rows]


_SLOT_STATE = (
    "SELECT sl.id, sl.fid, sl.start_us, sl.end_us, sl.session_id, sl.status, "
    "(SELECT count(*) FROM sched_number n WHERE n.slot_id = sl.id AND n.status = 'free'), "
    "(SELECT s.status FROM sched_session s WHERE s.id = sl.session_id) "
    "FROM sched_slot sl WHERE sl.id IN ({ids}) ORDER BY sl.id")


def lock_slots(conn: Connection, slot_ids: Sequence[int]
               ) -> list[tuple[SlotRef, int, str, int, str]]:
    """Lock slots in id order; return for each (slot, session id, stored FHIR status, free
    numbers, session status).

    On PostgreSQL the numbers are counted by a statement after the locks are granted: its fresh
    snapshot sees every claim committed by whoever held a lock before (a count in the locking
    statement itself would use the snapshot from before the wait)."""
    if not slot_ids:
        return []
    params = {f"s{i}": slot_id for i, slot_id in enumerate(sorted(slot_ids))}
    ids = ", ".join(f":{name}" for name in params)
    if not is_sqlite(conn):
        run(conn, f"SELECT id FROM sched_slot WHERE id IN ({ids}) ORDER BY id FOR UPDATE", params)
    return [(SlotRef(r[0], r[1], r[2], r[3]), r[4], r[5], int(r[6]), r[7])
            for r in run(conn, _SLOT_STATE.format(ids=ids), params)]


def set_slot_statuses(conn: Connection, statuses: Sequence[tuple[int, str]]) -> None:
    """Remember the FHIR status last written for each (slot id, status)."""
    conn.execute(update(sched_slot).where(sched_slot.c.id == bindparam("slot_id")).values(
        status=bindparam("new_status")), [{"slot_id": i, "new_status": s} for i, s in statuses])


def open_numbers(conn: Connection, slot_id: int) -> int:
    """Count the untaken numbers of a slot."""
    return int(conn.execute(select(func.count()).select_from(N).where(
        N.c.slot_id == slot_id, N.c.status == "free")).scalar_one())


_CLAIM = (
    "UPDATE sched_number SET status = :status, appointment = :appointment, updated_us = :now "
    "WHERE id = (SELECT id FROM sched_number WHERE session_id = :session AND channel = :channel "
    "AND status = 'free' AND {where} ORDER BY seq LIMIT 1{lock}) AND status = 'free' "
    "RETURNING slot_id, seq")
_OPEN_SLOTS = "slot_id IN (SELECT id FROM sched_slot WHERE session_id = :session AND end_us > :now)"


def claim_number(conn: Connection, session_id: int, channel: str, appointment: str,
                 status: str, now_us: int, *, slot_id: int | None = None
                 ) -> tuple[int, int] | None:
    """Take the first free number of a session channel (or slot) in a slot that has not ended
    and that nobody else is taking, in one UPDATE; return (slot id, 号序).

    On PostgreSQL the candidate is locked ``SKIP LOCKED``: a claimer never waits for a number (a
    waiting claimer could keep the lock of a row that fails requalification — a deadlock
    recipe)."""
    sql = _CLAIM.format(where="slot_id = :slot" if slot_id is not None else _OPEN_SLOTS,
                        lock="" if is_sqlite(conn) else " FOR UPDATE SKIP LOCKED")
    found = run(conn, sql, {"status": status, "appointment": appointment, "now": now_us,
                            "session": session_id, "channel": channel, "slot": slot_id})
    return (int(found[0][0]), int(found[0][1])) if found else None


_PICK = (
    "SELECT id, slot_id, seq FROM sched_number WHERE session_id = :session AND channel = "
    ":channel AND status = 'free' AND " + _OPEN_SLOTS + " ORDER BY seq LIMIT :count{lock}")
_PICK_MANY = (
    "SELECT w.session_id, n.id, n.slot_id, n.seq FROM (VALUES {wanted}) AS w(session_id, k) "
    "CROSS JOIN LATERAL (SELECT id, slot_id, seq FROM sched_number WHERE session_id = "
    "w.session_id AND channel = :channel AND status = 'free' AND slot_id IN (SELECT id FROM "
    "sched_slot WHERE session_id = w.session_id AND end_us > :now) ORDER BY seq LIMIT w.k "
    "FOR UPDATE SKIP LOCKED) AS n")


def pick_numbers(conn: Connection, wanted: Mapping[int, int], channel: str, now_us: int
                 ) -> dict[int, list[tuple[int, int, int]]]:
    """Lock up to ``wanted[session]`` free numbers of each session's channel in open slots,
    skipping those others are taking; return {session: [(number id, slot id, 号序)]} in order
    (one statement on PostgreSQL)."""
    picked: dict[int, list[tuple[int, int, int]]] = {s: [] for s in wanted}
    if is_sqlite(conn):
        for session_id, count in wanted.items():
            picked[session_id] = [(int(r[0]), int(r[1]), int(r[2])) for r in run(
                conn, _PICK.format(lock=""), {"session": session_id, "channel": channel,
                                              "now": now_us, "count": count})]
        return picked
    params: dict[str, Any] = {"channel": channel, "now": now_us}
    for i, (session_id, count) in enumerate(sorted(wanted.items())):
        params[f"s{i}"], params[f"k{i}"] = session_id, count
    rows = ", ".join(f"(CAST(:s{i} AS BIGINT), CAST(:k{i} AS INTEGER))"
                     for i in range(len(wanted)))
    for r in run(conn, _PICK_MANY.format(wanted=rows), params):
        picked[int(r[0])].append((int(r[1]), int(r[2]), int(r[3])))
    return picked


def take_numbers(conn: Connection, taken: Sequence[tuple[str, str, int, int]]) -> None:
    """Give locked free numbers to appointments: rows of (status, appointment, now, id)."""
    if taken:
        mark = "?" if is_sqlite(conn) else "%s"
        done = conn.exec_driver_sql(
            f"UPDATE sched_number SET status = {mark}, appointment = {mark}, updated_us = {mark} "
            f"WHERE id = {mark} AND status = 'free'", list(taken)).rowcount
        if done != len(taken):
            raise RuntimeError(f"{len(taken) - done} locked numbers were not free")


def insert_appointments(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Record many booking rows (all with the same columns)."""
    if rows:
        sql = _insert_sql("sched_appointment", tuple(rows[0]))
        conn.exec_driver_sql(sql if is_sqlite(conn) else _pg(sql), [dict(r) for r in rows])


def bookable_patients(conn: Connection, patients: Sequence[str], now_us: int) -> set[str]:
    """Return those of ``patients`` that are known, not deleted and not suspended."""
    marks = ", ".join(f":p{i}" for i in range(len(patients)))
    params: dict[str, Any] = {f"p{i}": p for i, p in enumerate(patients)}
    rows = run(conn, "SELECT r.fid FROM resource r WHERE r.rtype = 'Patient' AND r.fid IN "
                     f"({marks}) AND r.deleted = :no AND NOT EXISTS (SELECT 1 FROM "
                     "sched_suspension s WHERE s.patient = r.fid AND s.from_us <= :now AND "
                     "s.until_us > :now)", {**params, "now": now_us, "no": False})
    return {str(r[0]) for r in rows}


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


@cache
def _claims_sql(count: int) -> str:
    rows = ", ".join(f"(:patient{i}, :day{i}, :scope{i}, :ordinal{i}, :node, :appointment{i})"
                     for i in range(count))
    return ("INSERT INTO sched_person_claim (patient, day, scope, ordinal, node, appointment) "
            f"VALUES {rows} ON CONFLICT DO NOTHING RETURNING appointment, scope")


def insert_places(conn: Connection, places: Sequence[tuple[str, str, str, int, str]], node: str
                  ) -> set[tuple[str, str]]:
    """Insert per-person places (patient, day, scope, ordinal, appointment) where free, in key
    order (so that concurrent inserters wait for each other in one order); return the
    (appointment, scope) pairs taken."""
    params: dict[str, Any] = {"node": node}
    ordered = sorted(places)
    for i, (patient, day, scope, ordinal, appointment) in enumerate(ordered):
        params.update({f"patient{i}": patient, f"day{i}": day, f"scope{i}": scope,
                       f"ordinal{i}": ordinal, f"appointment{i}": appointment})
    return {(row[0], row[1]) for row in run(conn, _claims_sql(len(ordered)), params)}


def claim_places(conn: Connection, patient: str, day: str, scopes: Sequence[tuple[str, int]],
                 appointment: str, node: str) -> str | None:
    """Take one of the per-person places of every (scope, limit) for a day — the first
    ordinal of each in one statement, later ones only where it was taken; return the first
    scope whose places are all used, or None."""
    got = {scope for _, scope in insert_places(
        conn, [(patient, day, scope, 1, appointment) for scope, _ in scopes], node)}
    for scope, limit in scopes:
        for ordinal in range(2, limit + 1):
            if scope in got:
                break
            if insert_places(conn, [(patient, day, scope, ordinal, appointment)], node):
                got.add(scope)
        if scope not in got:
            return scope
    return None


def release_person(conn: Connection, *appointments: str) -> None:
    """Give back the per-person places of appointments."""
    if appointments:
        conn.execute(delete(sched_person_claim).where(
            sched_person_claim.c.appointment.in_(appointments)))


@cache
def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    return (f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join(':' + c for c in columns)})")


def insert_appointment(conn: Connection, **values: Any) -> None:
    """Record a booking row."""
    run(conn, _insert_sql("sched_appointment", tuple(values)), values, fetch=False)


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


_CHECKS = (
    "SELECT (SELECT count(*) FROM sched_number WHERE session_id = :session "
    "AND channel = :channel AND status = 'free'{slot}), "
    "(SELECT deleted FROM resource WHERE rtype = 'Patient' AND fid = :patient), "
    "s.until_us, s.reason FROM (SELECT 1 AS one) AS x LEFT JOIN (SELECT until_us, reason "
    "FROM sched_suspension WHERE patient = :patient AND from_us <= :now AND until_us > :now "
    "ORDER BY until_us DESC LIMIT 1) AS s ON 1 = 1")


def booking_checks(conn: Connection, session_id: int, channel: str, slot_id: int | None,
                   patient: str, now_us: int) -> tuple[int, bool | None, tuple[int, str] | None]:
    """Return, in one statement, the free numbers of a session channel (or slot), whether the
    Patient is deleted (None when unknown) and its longest running suspension (until, reason)."""
    sql = _CHECKS.format(slot=" AND slot_id = :slot" if slot_id is not None else "")
    row = run(conn, sql, {"session": session_id, "channel": channel, "slot": slot_id,
                          "patient": patient, "now": now_us})[0]
    deleted = None if row[1] is None else bool(row[1])
    return int(row[0]), deleted, (int(row[2]), str(row[3])) if row[2] is not None else None


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
