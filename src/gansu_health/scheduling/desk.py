"""What the registrar's desk and the waiting room need from the pool, beyond booking itself.

Reads: a resource's weekly templates, its sessions with their numbers per channel and status,
and the queue ahead of a booking (候诊: booked or arrived patients with a smaller number of the
same session). One change: extra numbers (加号) for an open session, appended after its last
number on its last time slot, each with a reason that travels in the
``scheduling.session.numbers-added`` event (and so in the outbox and the audit trail).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, insert, select

from gansu_health.core.clock import now, to_micros
from gansu_health.core.errors import BadRequest, Conflict, UnprocessableEntity
from gansu_health.core.events import emit
from gansu_health.scheduling import policy as pol
from gansu_health.scheduling import pool
from gansu_health.scheduling import repository as repo
from gansu_health.scheduling.booking import Scheduler
from gansu_health.scheduling.models import sched_appointment as A
from gansu_health.scheduling.models import sched_number as N
from gansu_health.scheduling.models import sched_session as S
from gansu_health.scheduling.resources import Visit

MAX_EXTRA = 50


def ahead(conn: Connection, session_id: int, number: int) -> int:
    """How many patients with a smaller number of the session are booked or waiting."""
    return int(conn.execute(select(func.count()).select_from(A).where(
        A.c.session_id == session_id, A.c.status.in_(("booked", "arrived")),
        A.c.number_seq < number)).scalar_one())


def templates(conn: Connection, schedule: str) -> list[tuple[int, pool.SessionSpec]]:
    """The active weekly templates of a resource, by weekday and start time."""
    pool.resource_row(conn, schedule)
    return sorted(pool.templates_of(conn, schedule), key=lambda t: (t[0], t[1].start))


def numbers(conn: Connection, session_ids: Sequence[int]
            ) -> dict[int, dict[str, dict[str, int]]]:
    """{session id: {channel: {status: count}}} of the sessions' numbers."""
    out: dict[int, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    if not session_ids:
        return {}
    rows = conn.execute(select(N.c.session_id, N.c.channel, N.c.status, func.count())
                        .where(N.c.session_id.in_(list(session_ids)))
                        .group_by(N.c.session_id, N.c.channel, N.c.status))
    for session_id, channel, status, count in rows:
        out[session_id][channel][status] = int(count)
    return {k: dict(v) for k, v in out.items()}


def sessions(conn: Connection, schedule: str, start: str, end: str
             ) -> list[tuple[Visit, dict[str, dict[str, int]], str | None]]:
    """The sessions of a resource from ``start`` to ``end`` (ISO days) with their numbers and
    the reason of a stop."""
    pool.resource_row(conn, schedule)
    found = repo.visits(conn, repo.R.c.id == schedule, repo.S.c.day >= start,
                        repo.S.c.day <= end, limit=400)
    ids = [v.session_id for v in found]
    counts = numbers(conn, ids)
    reasons = {int(r.id): r.stop_reason for r in conn.execute(
        select(S.c.id, S.c.stop_reason).where(S.c.id.in_(ids)))} if ids else {}
    return [(v, counts.get(v.session_id, {}), reasons.get(v.session_id)) for v in found]


def add_numbers(sched: Scheduler, conn: Connection, schedule: str, day: str, period: str,
                count: int, channel: str, reason: str, actor: str) -> list[int]:
    """Add ``count`` numbers of ``channel`` to an open session (加号); answer their 号序."""
    if channel not in pol.CHANNELS:
        raise BadRequest(f"Unknown channel '{channel}' (one of {', '.join(pol.CHANNELS)})",
                         expression="channel")
    if not 1 <= count <= MAX_EXTRA:
        raise BadRequest(f"count must be from 1 to {MAX_EXTRA}", expression="count")
    if not reason.strip():
        raise BadRequest("Extra numbers need a reason", expression="reason")
    visit = repo.session_at(conn, schedule, day, period)
    if visit is None:
        raise UnprocessableEntity(f"Schedule/{schedule} has no {period} clinic on {day}",
                                  expression="date")
    if visit.status != "open":
        raise Conflict(f"The {period} clinic on {day} is stopped", expression="date")
    now_us = to_micros(now())
    if visit.end_us <= now_us:
        raise Conflict(f"The {period} clinic on {day} is over", expression="date")
    last_slot = repo.slots_of(conn, visit.session_id)[-1]
    top = conn.execute(select(func.max(N.c.seq)).where(
        N.c.session_id == visit.session_id)).scalar_one() or 0
    seqs = list(range(int(top) + 1, int(top) + 1 + count))
    with sched.batch(conn):
        conn.execute(insert(N), [{"node": sched.node, "session_id": visit.session_id,
                                  "slot_id": last_slot.id, "seq": seq, "channel": channel,
                                  "status": "free", "appointment": None, "updated_us": now_us}
                                 for seq in seqs])
        sched.touch(conn, {last_slot.id})
    sched.hints.forget(visit.session_id)
    emit(conn, "scheduling.session.numbers-added", {
        "schedule": f"Schedule/{schedule}", "day": day, "period": period,
        "institution": visit.institution, "channel": channel, "numbers": seqs,
        "reason": reason.strip()[:255], "by": actor}, sched.node)
    return seqs


def queue_position(conn: Connection, row: Any) -> int | None:
    """Patients ahead of a booked or arrived booking (None for other states)."""
    if row.status not in ("booked", "arrived") or row.number_seq is None:
        return None
    return ahead(conn, row.session_id, row.number_seq)


def open_sessions(conn: Connection, institution: str, start: str, end: str, channel: str
                  ) -> list[tuple[Visit, int]]:
    """Released, unfinished open sessions of an institution with their untaken numbers of
    ``channel`` in slots not yet over (a summary of what ``$find`` would propose)."""
    now_us = to_micros(now())
    reserve = channel in pol.RESERVE_CHANNELS
    found = [v for v in repo.visits(conn, repo.S.c.institution == institution,
                                    repo.S.c.day >= start, repo.S.c.day <= end,
                                    repo.S.c.status == "open")
             if now_us >= (v.reserve_release_us if reserve else v.release_us)
             and v.end_us > now_us]
    free = repo.availability(conn, [v.session_id for v in found], channel)
    out = []
    for visit in found:
        counts = free.get(visit.session_id) or {}
        if visit.start_us < now_us:  # under way: only the slots not yet over
            counts = {s.id: counts.get(s.id, 0) for s in repo.slots_of(conn, visit.session_id)
                      if s.end_us > now_us}
        if sum(counts.values()):
            out.append((visit, sum(counts.values())))
    return out
