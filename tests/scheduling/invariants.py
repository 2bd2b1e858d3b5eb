"""The pool's invariants after a race, shared by the concurrency tests."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, func, select

from gansu_health.core.database import build_engine, write_transaction
from gansu_health.core.errors import PlatformError
from gansu_health.core.settings import Settings
from gansu_health.devtools.bench_booking_data import clinics, load_facility, patients
from gansu_health.fhir.rest.dispatch import FhirApi
from gansu_health.fhir.setup import build_fhir_api
from gansu_health.fhir.storage.repository import Stored
from gansu_health.scheduling import repository as repo
from gansu_health.scheduling.booking import Scheduler
from gansu_health.scheduling.models import sched_appointment, sched_number, sched_slot
from gansu_health.scheduling.operations import scheduler_of
from gansu_health.scheduling.resources import Target


@dataclass
class RaceWorld:
    """Three doctors' morning sessions a few days ahead and the patients racing for them."""

    engine: Engine
    api: FhirApi
    sched: Scheduler
    people: list[str]
    targets: list[Target]


def race_world(settings: Settings, people: int, prefix: str, days_ahead: int,
               per_slot: int) -> RaceWorld:
    """Build the race's world on the module's database."""
    engine = build_engine(settings.database_url, settings)
    api = build_fhir_api(settings, engine)
    doctors = load_facility(api)
    residents = patients(settings, engine, people, prefix=prefix)
    day = (datetime.now(ZoneInfo(settings.timezone)) + timedelta(days=days_ahead)).date()
    schedules = clinics(api, [d.role_id for d in doctors[:3]], day, per_slot)
    with engine.connect() as conn:
        sessions = [repo.session_at(conn, s, day.isoformat(), "morning") for s in schedules]
    targets = [Target(v.session_id) for v in sessions if v is not None]
    return RaceWorld(engine, api, scheduler_of(api), residents, targets)


def assert_pool_consistent(api: Any, conn: Connection, successes: list[str]) -> None:
    """No overbooking, no duplicate, every success one appointment, Slots matching numbers."""
    A, N = sched_appointment, sched_number
    active = list(conn.execute(select(A).where(A.c.status.in_(["held", "booked"]))))
    # every success is exactly one appointment row and one FHIR Appointment
    assert len(set(successes)) == len(successes)
    rows = {r.id: r for r in conn.execute(select(A).where(A.c.id.in_(successes)))}
    assert set(rows) == set(successes)
    stored = api.service.store.rids_of(conn, [("Appointment", f) for f in successes])
    assert len(stored) == len(successes)
    # no number is held by two appointments, and every active appointment holds one number
    taken = {r.appointment: r for r in conn.execute(select(N).where(
        N.c.status.in_(["held", "booked"])))}
    assert set(taken) == {r.id for r in active}
    for r in active:
        assert taken[r.id].slot_id == r.slot_id and taken[r.id].seq == r.number_seq
    # no slot over its capacity
    counted = conn.execute(select(N.c.slot_id, func.count()).group_by(N.c.slot_id))
    capacity: dict[int, int] = {int(row[0]): int(row[1]) for row in counted}
    used = Counter(r.slot_id for r in active)
    assert all(used[s] <= capacity[s] for s in used)
    # one active booking per person per day per department
    per_person = Counter((r.patient, r.day, r.department) for r in active)
    assert max(per_person.values()) == 1
    # the FHIR Slot status matches the numbers left
    for slot_row in conn.execute(select(sched_slot)):
        free = repo.open_numbers(conn, slot_row.id)
        assert slot_row.status == ("free" if free else "busy"), slot_row
        body = api.service.store.read(conn, "Slot", slot_row.fid).json()
        assert body["status"] == slot_row.status


def race(threads: int, rounds: int, attempt: Callable[[random.Random], None],
         refused: Callable[[PlatformError], None] | None = None) -> None:
    """Run ``attempt`` ``rounds`` times in each of ``threads`` threads started together: every
    refusal must be a 409 or 422 that says why, and nothing else may fail."""
    failures: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        start.wait()
        for _ in range(rounds):
            try:
                attempt(rng)
            except PlatformError as exc:
                if exc.status not in (409, 422) or not exc.message:
                    with lock:
                        failures.append(f"{exc.status} {exc.message}")
                elif refused is not None:
                    with lock:
                        refused(exc)
            except Exception as exc:
                with lock:
                    failures.append(repr(exc))

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not failures, "\n".join(failures[:3])


def book_through(world: RaceWorld, combiner: Any, patient: str, where: Target,
                 hold: bool) -> tuple[Stored, bool]:
    """Book through a combiner; a claim it leaves alone is booked by ``take`` (then True)."""
    stored = combiner.book(patient, where, "online", hold=hold)
    if stored is not None:
        return stored, False
    with write_transaction(world.engine) as conn:  # not plainly bookable: alone, told why
        return world.sched.take(conn, patient, where, "online", hold=hold), True
