"""SQL of notifications: what a message says about a booking (read from the pool's tables), the
reminders due, and the message and delivery rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, func, insert, literal, select, update

from gansu_health.notifications.models import notify_delivery as D
from gansu_health.notifications.models import notify_message as M
from gansu_health.scheduling.models import sched_appointment as A
from gansu_health.scheduling.models import sched_resource as R
from gansu_health.scheduling.models import sched_session as S
from gansu_health.scheduling.models import sched_slot as L


def booking(conn: Connection, appointment: str) -> Any:
    """A booking with its clinic and time slot (display, day, period, number, start, end…)."""
    return conn.execute(
        select(A.c.id, A.c.patient, A.c.status, A.c.number_seq, A.c.session_id, A.c.channel,
               A.c.hold_expires_us, S.c.day, S.c.period, S.c.stop_reason, S.c.institution,
               R.c.display, func.coalesce(L.c.start_us, S.c.start_us).label("start_us"),
               func.coalesce(L.c.end_us, S.c.end_us).label("end_us"))
        .select_from(A.join(S, S.c.id == A.c.session_id).join(R, R.c.id == S.c.resource_id)
                     .outerjoin(L, L.c.id == A.c.slot_id))
        .where(A.c.id == appointment)).first()


def schedule_display(conn: Connection, schedule: str) -> str:
    """The name of a bookable resource (doctor or exam room)."""
    row = conn.execute(select(R.c.display).where(R.c.id == schedule)).first()
    return str(row.display) if row else schedule


def due_reminders(conn: Connection, start_us: int, end_us: int, limit: int = 500) -> list[str]:
    """Booked appointments whose slot starts in the window and have no reminder yet."""
    sent = select(M.c.id).where(M.c.source == literal("reminder:").concat(A.c.id),
                                M.c.kind == "waiting-reminder").exists()
    return [r.id for r in conn.execute(
        select(A.c.id).select_from(A.join(L, L.c.id == A.c.slot_id))
        .where(A.c.status == "booked", L.c.start_us >= start_us, L.c.start_us < end_us, ~sent)
        .order_by(L.c.start_us).limit(limit))]


def insert_deliveries(conn: Connection, message: str, channels: Sequence[str], node: str,
                      now_us: int) -> None:
    """Queue a message on every channel."""
    if channels:
        conn.execute(insert(D), [{"node": node, "message": message, "channel": c,
                                  "status": "pending", "attempts": 0, "next_us": now_us}
                                 for c in channels])


def claim_due(conn: Connection, now_us: int, lease_us: int, limit: int) -> list[Any]:
    """Take due deliveries for ``lease_us`` (another dispatcher skips them meanwhile)."""
    rows = list(conn.execute(select(D, M.c.kind, M.c.patient, M.c.title, M.c.body)
                             .join(M, M.c.id == D.c.message)
                             .where(D.c.status == "pending", D.c.next_us <= now_us)
                             .order_by(D.c.next_us, D.c.id).limit(limit)))
    claimed = []
    for row in rows:
        if conn.execute(update(D).where(D.c.id == row.id, D.c.status == "pending",
                                        D.c.next_us == row.next_us)
                        .values(next_us=now_us + lease_us)).rowcount:
            claimed.append(row)
    return claimed


def update_delivery(conn: Connection, delivery: int, **values: Any) -> None:
    """Change a delivery row."""
    conn.execute(update(D).where(D.c.id == delivery).values(**values))


def deliveries_of(conn: Connection, message: str) -> list[Any]:
    """The deliveries of a message."""
    return list(conn.execute(select(D).where(D.c.message == message).order_by(D.c.id)))


def message(conn: Connection, fid: str) -> Any:
    """A message row."""
    return conn.execute(select(M).where(M.c.id == fid)).first()


def set_message_status(conn: Connection, fid: str, status: str, now_us: int) -> None:
    """Change a message's overall status."""
    conn.execute(update(M).where(M.c.id == fid).values(status=status, updated_us=now_us))


def has_due(conn: Connection, now_us: int) -> bool:
    """Whether any delivery is due."""
    return conn.execute(select(D.c.id).where(and_(D.c.status == "pending",
                                                  D.c.next_us <= now_us)).limit(1)).first() \
        is not None
