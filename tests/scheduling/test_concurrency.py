"""Never overbook: many threads book and cancel a few numbers at once, on both databases."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from tests.scheduling.invariants import assert_pool_consistent

from gansu_health.core.database import build_engine, write_transaction
from gansu_health.core.errors import PlatformError
from gansu_health.core.settings import Settings
from gansu_health.devtools.bench_booking_data import clinics, load_facility, patients
from gansu_health.fhir.setup import build_fhir_api
from gansu_health.scheduling import repository as repo
from gansu_health.scheduling.booking import Target
from gansu_health.scheduling.models import sched_appointment
from gansu_health.scheduling.operations import scheduler_of

THREADS = 16
ATTEMPTS = 40


def test_threads_never_overbook_nor_double_book(settings: Settings) -> None:
    engine = build_engine(settings.database_url, settings)
    api = build_fhir_api(settings, engine)
    sched = scheduler_of(api)
    doctors = load_facility(api)
    people = patients(settings, engine, 60, prefix="race-")
    day = (datetime.now(ZoneInfo(settings.timezone)) + timedelta(days=2)).date()
    schedules = clinics(api, [d.role_id for d in doctors[:3]], day, 7)
    with engine.connect() as conn:
        sessions = [repo.session_at(conn, s, day.isoformat(), "morning") for s in schedules]
    targets = [Target(v.session_id) for v in sessions if v is not None]
    successes: list[str] = []
    refusals: Counter[str] = Counter()
    failures: list[str] = []
    cancelled: list[str] = []
    lock = threading.Lock()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(ATTEMPTS):
            patient = rng.choice(people)
            try:
                with write_transaction(engine) as conn:
                    if successes and rng.random() < 0.15:
                        with lock:
                            fid = rng.choice(successes)
                        sched.cancel(conn, fid)
                        with lock:
                            cancelled.append(fid)
                        continue
                    stored = sched.take(conn, patient, rng.choice(targets), "online",
                                        hold=rng.random() < 0.2)
                with lock:
                    successes.append(stored.fid)
            except PlatformError as exc:
                assert exc.status in (409, 422) and exc.message, exc
                with lock:
                    refusals[exc.message.split(" ")[0] if exc.status == 409 else
                             exc.message.split("already")[-1][:20]] += 1
            except Exception as exc:
                with lock:
                    failures.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, "\n".join(failures[:3])
    assert successes and sum(refusals.values()) > 0
    with engine.connect() as conn:
        assert_pool_consistent(api, conn, successes)
        A = sched_appointment
        cancelled_rows = conn.execute(select(func.count()).select_from(A).where(
            A.c.status == "cancelled")).scalar_one()
        assert cancelled_rows >= len(set(cancelled))
    with write_transaction(engine) as conn:
        assert sched.take is not None  # the engine stays usable after the race
    engine.dispose()
