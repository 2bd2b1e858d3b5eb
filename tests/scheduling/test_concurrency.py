"""Never overbook: many threads book and cancel a few numbers at once, on both databases."""

from __future__ import annotations

import random
from collections import Counter

from sqlalchemy import func, select
from tests.scheduling.invariants import assert_pool_consistent, race, race_world

from gansu_health.core.database import write_transaction
from gansu_health.core.errors import PlatformError
from gansu_health.core.settings import Settings
from gansu_health.scheduling.models import sched_appointment

THREADS = 16
ATTEMPTS = 40


def test_threads_never_overbook_nor_double_book(settings: Settings) -> None:
    world = race_world(settings, 60, "race-", days_ahead=2, per_slot=7)
    engine, api, sched, people, targets = (world.engine, world.api, world.sched, world.people,
                                           world.targets)
    successes: list[str] = []
    refusals: Counter[str] = Counter()
    cancelled: list[str] = []

    def attempt(rng: random.Random) -> None:
        patient = rng.choice(people)
        with write_transaction(engine) as conn:
            if successes and rng.random() < 0.15:
                fid = rng.choice(successes)
                sched.cancel(conn, fid)
                cancelled.append(fid)
                return
            stored = sched.take(conn, patient, rng.choice(targets), "online",
                                hold=rng.random() < 0.2)
        successes.append(stored.fid)

    def refused(exc: PlatformError) -> None:
        refusals[exc.message.split(" ")[0] if exc.status == 409 else
                 exc.message.split("already")[-1][:20]] += 1

    race(THREADS, ATTEMPTS, attempt, refused)
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
