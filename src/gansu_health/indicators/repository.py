"""SQL of the booking indicators, per institution and day, over the pool's tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, case, func, select

from gansu_health.scheduling.models import sched_appointment as A
from gansu_health.scheduling.models import sched_number as N
from gansu_health.scheduling.models import sched_resource as R
from gansu_health.scheduling.models import sched_session as S
from gansu_health.scheduling.models import sched_slot as L

EXPERT_TITLES = ("chief", "associate-chief")  # 主任医师, 副主任医师: 专家号
ONSITE = "window"


def _scope(query: Any, column: Any, start: str, end: str, institutions: Sequence[str] | None
           ) -> Any:
    query = query.where(column.c.day >= start, column.c.day <= end)
    return query if institutions is None else query.where(
        column.c.institution.in_(list(institutions)))


def expert_numbers(conn: Connection, start: str, end: str,
                   institutions: Sequence[str] | None) -> list[Any]:
    """Expert numbers of open sessions: (institution, day, total, online)."""
    online = func.sum(case((N.c.channel != ONSITE, 1), else_=0))
    query = (select(S.c.institution, S.c.day, func.count().label("total"),
                    online.label("online"))
             .select_from(N.join(S, S.c.id == N.c.session_id)
                          .join(R, R.c.id == S.c.resource_id))
             .where(R.c.title.in_(EXPERT_TITLES), S.c.status == "open")
             .group_by(S.c.institution, S.c.day))
    return list(conn.execute(_scope(query, S, start, end, institutions)))


def bookings(conn: Connection, start: str, end: str, institutions: Sequence[str] | None
             ) -> list[Any]:
    """Bookings that took a number: (institution, day, status, online, count)."""
    online = case((A.c.channel != ONSITE, 1), else_=0).label("online")
    query = (select(A.c.institution, A.c.day, A.c.status, online, func.count().label("n"))
             .where(A.c.status.in_(("booked", "arrived", "noshow")))
             .group_by(A.c.institution, A.c.day, A.c.status, online))
    return list(conn.execute(_scope(query, A, start, end, institutions)))


def check_ins(conn: Connection, start: str, end: str, institutions: Sequence[str] | None
              ) -> list[Any]:
    """Arrived bookings: (institution, day, checked-in instant, slot start)."""
    query = (select(A.c.institution, A.c.day, A.c.updated_us.label("checked_in"),
                    L.c.start_us.label("slot_start"))
             .select_from(A.join(L, L.c.id == A.c.slot_id))
             .where(A.c.status == "arrived"))
    return list(conn.execute(_scope(query, A, start, end, institutions)))


def institutions_in(conn: Connection, start: str, end: str) -> list[str]:
    """Institutions with clinic sessions in the period."""
    return [r.institution for r in conn.execute(
        select(S.c.institution).where(S.c.day >= start, S.c.day <= end).distinct()
        .order_by(S.c.institution))]
