"""Group booking: many threads book through the combiner at once, on both databases."""

from __future__ import annotations

import random
import threading

from sqlalchemy import select
from tests.scheduling.invariants import assert_pool_consistent, race_world

from gansu_health.core.database import write_transaction
from gansu_health.core.errors import PlatformError
from gansu_health.core.settings import Settings
from gansu_health.scheduling.batch import Combiner
from gansu_health.scheduling.models import sched_appointment

THREADS = 24


def test_the_combiner_books_together_and_leaves_the_rest_to_take(settings: Settings) -> None:
    world = race_world(settings, 40, "batch-", days_ahead=3, per_slot=5)
    engine, api, sched, people, targets = (world.engine, world.api, world.sched, world.people,
                                           world.targets)
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
