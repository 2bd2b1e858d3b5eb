"""Group booking: many threads book through the combiner at once, on both databases."""

from __future__ import annotations

import asyncio
import random
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from tests.conftest import run_async
from tests.scheduling.invariants import (
    RaceWorld,
    assert_pool_consistent,
    book_through,
    race,
    race_world,
)

from gansu_health.core.clock import from_micros, set_clock
from gansu_health.core.database import write_transaction
from gansu_health.core.errors import Conflict, ServiceUnavailable
from gansu_health.core.settings import Settings
from gansu_health.fhir.storage.repository import Stored
from gansu_health.scheduling import repository as repo
from gansu_health.scheduling.batch import Claim, Combiner, Outcome, take_together
from gansu_health.scheduling.models import sched_appointment, sched_number

THREADS = 24


def test_the_combiner_books_together_and_leaves_the_rest_to_take(settings: Settings) -> None:
    world = race_world(settings, 40, "batch-", days_ahead=3, per_slot=5)
    engine, api, sched, people, targets = (world.engine, world.api, world.sched, world.people,
                                           world.targets)
    combiner = Combiner(sched, engine)
    successes: list[str] = []
    alone: list[str] = []

    def attempt(rng: random.Random) -> None:
        stored, by_itself = book_through(world, combiner, rng.choice([*people, "nobody-known"]),
                                         rng.choice(targets), hold=rng.random() < 0.2)
        successes.append(stored.fid)
        if by_itself:
            alone.append(stored.fid)

    race(THREADS, 3, attempt)
    assert len(successes) == 15  # every number went, none twice
    with engine.connect() as conn:
        assert_pool_consistent(api, conn, successes)
        patients_of = dict(conn.execute(select(sched_appointment.c.id,
                                               sched_appointment.c.patient)).all())
    assert "nobody-known" not in {patients_of[f] for f in successes}
    assert len(alone) < len(successes)  # most were booked together
    engine.dispose()


def _batch(world: RaceWorld, claims: list[Claim]) -> Outcome:
    with write_transaction(world.engine) as conn, world.sched.batch(conn):
        return take_together(world.sched, conn, claims)


def test_a_batch_refuses_claims_a_sold_out_clinic_cannot_serve(settings: Settings) -> None:
    world = race_world(settings, 12, "sold-", days_ahead=4, per_slot=5)
    session = world.targets[0].session_id
    with world.engine.connect() as conn:
        free = repo.channel_free(conn, session, "online")
    holder, *others = world.people[:free + 3]
    first = _batch(world, [Claim(holder, session, "online", hold=True)]
                   + [Claim(p, session, "online", hold=False) for p in others[:free + 1]])
    assert len(first.booked) == free
    assert len(first.refused) == 2  # the two the clinic had no number for, told why
    assert all(r.status == 409 and "No online number" in r.message
               for r in first.refused.values())
    # the hold runs out: the next claims are not refused but book alone, where the number is
    with world.engine.connect() as conn:
        until = conn.execute(select(sched_appointment.c.hold_expires_us).where(
            sched_appointment.c.status == "held",
            sched_appointment.c.session_id == session)).scalar_one()
    expired = from_micros(until) + timedelta(seconds=1)
    set_clock(lambda: expired)
    try:
        late = _batch(world, [Claim(others[-1], session, "online", hold=False)])
    finally:
        set_clock(None)
    assert late.booked == {} and late.refused == {}
    with world.engine.connect() as conn:
        assert repo.channel_free(conn, session, "online") == 1
    world.engine.dispose()


def test_a_claim_waits_for_the_numbers_another_batch_holds(settings: Settings) -> None:
    if settings.database_url.startswith("sqlite"):
        pytest.skip("row locks skipped by the pick: PostgreSQL")
    world = race_world(settings, 6, "wait-", days_ahead=5, per_slot=5)
    target = world.targets[0]
    combiner = Combiner(world.sched, world.engine)
    N = sched_number
    free_numbers = select(N.c.id).where(N.c.session_id == target.session_id,
                                        N.c.channel == "online",
                                        N.c.status == "free").with_for_update()
    results: dict[str, Any] = {}

    def book(patient: str) -> threading.Thread:
        thread = threading.Thread(target=lambda: results.__setitem__(
            patient, combiner.book(patient, target, "online", hold=False)))
        thread.start()
        return thread

    # another process's batch has every free number locked, then gives them back
    with world.engine.connect() as other:
        txn = other.begin()
        assert other.execute(free_numbers).all()
        first = book(world.people[0])
        first.join(0.05)
        txn.rollback()
    first.join(10)
    assert results[world.people[0]] is not None  # booked in a later batch, not sent off alone
    # locked for longer than the combiner waits: the claim books alone (``take`` answers it)
    with world.engine.connect() as other:
        txn = other.begin()
        other.execute(free_numbers).all()
        second = book(world.people[1])
        second.join(10)
        txn.rollback()
    assert world.people[1] in results and results[world.people[1]] is None
    world.engine.dispose()


def test_a_claim_is_awaited_on_an_event_loop_and_answered_from_another_thread() -> None:
    booked = Stored(1, "Appointment", "a1", 1, 0, b"{}", "create")

    async def main() -> None:
        claims = [Claim(p, 1, "online", False) for p in ("p1", "p2", "p3")]
        threading.Timer(0.05, claims[0].finish, args=(booked, None)).start()
        threading.Timer(0.05, claims[1].fail, args=(ServiceUnavailable("engine gone"),)).start()
        threading.Timer(0.05, claims[2].finish, args=(None, Conflict("full"))).start()
        assert await claims[0].answered() is booked
        with pytest.raises(ServiceUnavailable):
            await claims[1].answered()
        with pytest.raises(Conflict, match="full"):
            await claims[2].answered()
        assert await claims[0].answered() is booked  # already answered: at once
        told: list[Claim] = []
        claims[0].when_done(told.append)
        assert told == [claims[0]]

    run_async(main())


def test_a_claim_answered_after_its_event_loop_closed_tells_nobody_and_does_not_fail() -> None:
    claim = Claim("p1", 1, "online", False)

    def wait_then_close() -> None:  # in a thread: a test before may have left a loop running
        loop = asyncio.new_event_loop()
        waiting = loop.create_task(claim.answered())
        loop.run_until_complete(asyncio.sleep(0))  # the task now waits for the answer
        waiting.cancel()
        loop.run_until_complete(asyncio.gather(waiting, return_exceptions=True))
        loop.close()

    thread = threading.Thread(target=wait_then_close)
    thread.start()
    thread.join()
    claim.finish(None, None)  # the engine's answer thread must survive this
    assert claim.done.is_set()
