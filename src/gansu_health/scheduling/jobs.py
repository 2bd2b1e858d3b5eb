"""Periodic jobs: publish sessions from templates (release), return unused reserves to the
online pool, expire holds, close waitlists and mark no-shows. Each job runs in its own write
transactions; ``gansu-health scheduling run-jobs`` runs them all (from cron, or ``--every``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Connection, Engine, select, update

from gansu_health.core.clock import now, to_micros
from gansu_health.core.database import write_transaction
from gansu_health.core.events import emit
from gansu_health.scheduling import attendance, pool
from gansu_health.scheduling import policy as pol
from gansu_health.scheduling import repository as repo
from gansu_health.scheduling.booking import Scheduler
from gansu_health.scheduling.models import sched_number, sched_resource, sched_session


@dataclass
class JobReport:
    """What one run of the jobs did."""

    published: int = 0
    reserves_returned: int = 0
    holds_expired: int = 0
    waitlists_closed: int = 0
    noshows: int = 0
    errors: list[str] = field(default_factory=list)


def publish(sched: Scheduler, conn: Connection, today: date | None = None,
            institution: str | None = None) -> int:
    """Publish template sessions of every resource (of one institution) up to its horizon."""
    today = today or datetime.fromtimestamp(to_micros(now()) / 1e6, sched.zone).date()
    query = select(sched_resource.c.id, sched_resource.c.institution)
    if institution is not None:
        query = query.where(sched_resource.c.institution == institution)
    created = 0
    for row in list(conn.execute(query.order_by(sched_resource.c.id))):
        policy = pol.load(conn, row.institution)
        created += pool.publish(conn, sched.store, row.id, policy, sched.zone, sched.node, today)
    return created


def return_reserves(sched: Scheduler, conn: Connection, now_us: int | None = None) -> int:
    """Move the unused referral and family-doctor numbers of sessions past their return time to
    the online pool (offering them to the online waitlist first); return how many moved."""
    now_us = now_us if now_us is not None else to_micros(now())
    moved = 0
    due = list(conn.execute(select(sched_session.c.id).where(
        sched_session.c.reserve_returned.is_(False), sched_session.c.status == "open",
        sched_session.c.reserve_return_us <= now_us)))
    with sched.batch(conn):
        for (session_id,) in due:
            count = conn.execute(update(sched_number).where(
                sched_number.c.session_id == session_id,
                sched_number.c.channel.in_(sorted(pol.RESERVE_CHANNELS)),
                sched_number.c.status == "free").values(
                channel="online", updated_us=now_us)).rowcount
            conn.execute(update(sched_session).where(sched_session.c.id == session_id).values(
                reserve_returned=True))
            if count:
                visit = sched.visit(conn, session_id)
                sched.touch(conn, sched.offer(conn, visit, "online", now_us))
                emit(conn, "scheduling.reserve.returned", {
                    "schedule": f"Schedule/{visit.schedule}", "day": visit.day,
                    "period": visit.period, "numbers": count}, sched.node)
            moved += count
    return moved


def close_waitlists(sched: Scheduler, conn: Connection, now_us: int | None = None) -> int:
    """Cancel waitlist entries whose waitlist has closed; return how many."""
    now_us = now_us if now_us is not None else to_micros(now())
    closed = 0
    for row in repo.appointments(conn, repo.A.c.status == "waitlist", limit=100_000, lock=True):
        visit = sched.visit(conn, row.session_id)
        policy = pol.load(conn, visit.institution)
        closes = pol.days_before(date.fromisoformat(visit.day), policy.waitlist_close_days_before,
                                 policy.waitlist_close_time, sched.zone)
        if closes <= now_us:
            sched.release(conn, row, visit, "waitlist-closed", now_us, offer=False)
            closed += 1
    return closed


def run_all(sched: Scheduler, engine: Engine) -> JobReport:
    """Run every job once, each in its own transaction; errors are reported, not raised."""
    report = JobReport()
    jobs: list[tuple[str, Callable[[Connection], int]]] = [
        ("published", lambda c: publish(sched, c)),
        ("reserves_returned", lambda c: return_reserves(sched, c)),
        ("holds_expired", lambda c: sched.expire_holds(c, to_micros(now()))),
        ("waitlists_closed", lambda c: close_waitlists(sched, c)),
        ("noshows", lambda c: attendance.mark_noshows(sched, c)),
    ]
    for name, job in jobs:
        try:
            with write_transaction(engine) as conn:
                setattr(report, name, job(conn))
        except Exception as exc:  # one failing job must not stop the others
            report.errors.append(f"{name}: {exc}")
    return report
