"""Group booking: many threads book through the combiner at once, on both databases."""

from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from tests.scheduling.invariants import assert_pool_consistent

from gansu_health.core.database import build_engine, write_transaction
from gansu_health.core.errors import PlatformError
from gansu_health.core.settings import Settings
from gansu_health.devtools.bench_booking_data import clinics, load_facility, patients
from gansu_health.fhir.setup import build_fhir_api
from gansu_health.scheduling import repository as repo
from gansu_health.scheduling.batch import Combiner
from gansu_health.scheduling.models import sched_appointment
from gansu_health.scheduling.operations import scheduler_of
from gansu_health.scheduling.resources import Target

THREADS = 24


def test_the_combiner_books_together_and_leaves_the_rest_to_take(settings: Settings) -> None:
    engine = build_engine(settings.database_url, settings)
    api = build_fhir_api(settings, engine)
    sched = scheduler_of(api)
    doctors = load_facility(api)
    people = patients(settings, engine, 40, prefix="batch-")
    day = (datetime.now(ZoneInfo(settings.timezone)) + timedelta(days=3)).date()
    schedules = clinics(api, [d.role_id for d in doctors[:3]], day, 5)
    with engine.connect() as conn:
        sessions = [repo.session_at(conn, s, day.isoformat(), "morning") for s in schedules]
    targets = [Target(v.session_id) for v in sessions if v is not None]
    combiner = Combiner(sched, engine)
    successes: list[str] = []
    alone: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        start.wait()
        for _ in range(3):
            patient = rng.choice([*people, "nobody-known"])
            where = rng.choice(targets)
            try:
                stored = combiner.book(patient, where, "online", hold=rng.random() < 0.2)
                if stored is None:  # not plainly bookable: it books alone and is told why
                    with write_transaction(engine) as conn:
                        stored = sched.take(conn, patient, where, "online", hold=False)
                    with lock:
                        alone.append(stored.fid)
                with lock:
                    successes.append(stored.fid)
            except PlatformError as exc:
                assert exc.status in (409, 422) and exc.message, exc
            except Exception as exc:
                with lock:
                    failures.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, "\n".join(failures[:3])
    assert len(successes) == 15  # every number went, none twice
    with engine.connect() as conn:
        assert_pool_consistent(api, conn, successes)
        patients_of = dict(conn.execute(select(sched_appointment.c.id,
                                               sched_appointment.c.patient)).all())
    assert "nobody-known" not in {patients_of[f] for f in successes}
    assert len(alone) < len(successes)  # most were booked together
    engine.dispose()
