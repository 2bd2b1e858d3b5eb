"""Group booking on PostgreSQL: concurrent $hold/$book claims of a process share transactions.

At release time hundreds of bookings arrive at once and each one alone costs some fifteen
statements. Requests hand their claim to the process's combiner thread (or the booking
engine's) and wait for its answer — a request from the HTTP front on its event loop
(``Claim.answered``), so it holds no thread meanwhile. The combiner takes everything queued and
books it in one transaction with set-based statements — one lookup of the patients, one insert
of all per-person places, one locking pick of numbers per session (``FOR UPDATE SKIP LOCKED``),
one update of those numbers, one insert of the appointment rows, one FHIR write of every
Appointment (with their index rows) and the Slots refreshed once — and commits before anyone is
answered, so every 2xx is a committed appointment. A claim that is not plainly bookable (an
unknown or suspended patient, a per-person limit, a rescheduling) is not refused here: its
request books alone through ``Scheduler.take`` in its own transaction afterwards, which gives
the exact answer; so does every claim of a batch that fails. A claim left without a number while
the clinic still has free ones — held by another process's batch, which the pick skips — waits
for the next batch (up to ``RETRY_S``) rather than booking alone. SQLite serialises writers
anyway (and a request already holds the write lock), so it books alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine

from gansu_health.core.clock import now, to_micros
from gansu_health.core.database import pipelined, write_transaction
from gansu_health.core.errors import Conflict, PlatformError
from gansu_health.core.events import emit_many
from gansu_health.fhir.storage.repository import Stored, new_id
from gansu_health.scheduling import policy as pol
from gansu_health.scheduling import repository as repo
from gansu_health.scheduling import resources as res
from gansu_health.scheduling.booking import Scheduler
from gansu_health.scheduling.resources import Target, Visit

SoldOutClinics = dict[tuple[int, str], str]  # (session id, channel) → the refusal's text
MAX_BATCH = 64
IDLE_S = 30.0  # a combiner thread idle this long ends
RETRY_S = 0.25  # a claim whose numbers another batch holds is retried this long, then books alone
RETRY_PAUSE_S = 0.003  # with only such claims queued, the combiner waits this long between tries
log = logging.getLogger(__name__)
_TELLING = threading.Lock()  # a claim's answer and the callbacks waiting for it


@dataclass(eq=False)
class Claim:
    """One request's claim, answered by the combiner (or the booking engine)."""

    patient: str
    session_id: int
    channel: str
    hold: bool
    done: threading.Event = field(default_factory=threading.Event)
    stored: Stored | None = None  # None when done: book alone (unless refused)
    refusal: Conflict | None = None  # no number left in the committed state
    fid: str = field(default_factory=new_id)
    since: float = field(default_factory=time.monotonic)
    visit: Visit = field(init=False)
    error: PlatformError | None = None  # the claim could not be answered (the engine stopped)
    _told: list[Callable[[Claim], object]] = field(default_factory=list)

    def finish(self, stored: Stored | None, refusal: Conflict | None) -> None:
        """Answer the claim: the Appointment booked, the refusal, or neither (book alone)."""
        self.stored, self.refusal = stored, refusal
        self._done()

    def fail(self, error: PlatformError) -> None:
        """Answer the claim with an error: nobody can tell whether it was booked."""
        self.error = error
        self._done()

    def _done(self) -> None:
        with _TELLING:
            self.done.set()
            told, self._told = self._told, []
        for tell in told:
            tell(self)

    def when_done(self, tell: Callable[[Claim], object]) -> None:
        """Call ``tell(claim)`` once the claim is answered (at once if it already is)."""
        with _TELLING:
            if not self.done.is_set():
                self._told.append(tell)
                return
        tell(self)

    def outcome(self) -> Stored | None:
        """The answered claim's Appointment; raise its refusal or error; None: book alone."""
        if self.error is not None:
            raise self.error
        if self.refusal is not None:
            raise self.refusal
        return self.stored

    def wait(self) -> Stored | None:
        """Block until answered; then as ``outcome``."""
        self.done.wait()
        return self.outcome()

    async def answered(self) -> Stored | None:
        """Await the answer on the running event loop (no thread waits); then as ``outcome``."""
        if not self.done.is_set():
            loop = asyncio.get_running_loop()
            woken: asyncio.Future[None] = loop.create_future()
            self.when_done(lambda _: _wake_from_thread(loop, woken))
            await woken
        return self.outcome()


def _wake_from_thread(loop: asyncio.AbstractEventLoop, woken: asyncio.Future[None]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody awaits any more
        loop.call_soon_threadsafe(_wake, woken)


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)


class Claimer(ABC):
    """Something that takes claims: this process's combiner or the booking engine."""

    @abstractmethod
    def claim(self, patient: str, target: Target, channel: str, hold: bool) -> Claim | None:
        """Hand over a claim for ``target`` and return it unanswered; None: book alone (a Slot
        target names its number)."""

    def book(self, patient: str, target: Target, channel: str, hold: bool) -> Stored | None:
        """Claim and wait for the answer; None means "book alone" (the caller runs ``take``)."""
        claim = self.claim(patient, target, channel, hold)
        return None if claim is None else claim.wait()


class Combiner(Claimer):
    """The combiner of one process: a thread booking queued claims together."""

    def __init__(self, sched: Scheduler, engine: Engine,
                 after_batch: Callable[[SoldOutClinics], None] | None = None) -> None:
        self.sched = sched
        self.engine = engine
        self.after_batch = after_batch  # told, once a batch is answered, what it found sold out
        self._queue: list[Claim] = []
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None

    def claim(self, patient: str, target: Target, channel: str, hold: bool) -> Claim | None:
        """Queue a claim for ``target`` and return it (unanswered); None: book alone (a Slot
        target names its number)."""
        if target.slot_id is not None:
            return None
        claim = Claim(patient, target.session_id, channel, hold)
        self.submit(claim)
        return claim

    def submit(self, claim: Claim) -> None:
        """Queue a claim for the next batch (``claim.finish`` answers it)."""
        with self._ready:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="booking-combiner")
                self._thread.start()
            self._queue.append(claim)
            self._ready.notify()

    def _run(self) -> None:
        retrying = 0  # claims at the head of the queue waiting for another batch's numbers
        while True:
            with self._ready:
                if retrying and len(self._queue) == retrying:
                    self._ready.wait(RETRY_PAUSE_S)
                if not self._queue:
                    self._ready.wait(IDLE_S)
                if not self._queue:  # idle: the next claim starts a new thread
                    self._thread = None
                    return
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            retry = self._book(batch)
            retrying = len(retry)
            if retry:
                with self._ready:
                    self._queue[:0] = retry

    def _book(self, batch: list[Claim]) -> list[Claim]:
        """Book one batch and answer its claims; return those to try again in the next one."""
        outcome, sold_out = Outcome(), {}
        try:
            with write_transaction(self.engine) as conn, self.sched.batch(conn):
                done = take_together(self.sched, conn, batch)
            outcome = done  # committed: only now are they answered
            sold_out = {(c.session_id, c.channel): outcome.refused[c.fid].message
                        for c in batch if c.fid in outcome.refused}
            for (session_id, channel), message in sold_out.items():
                self.sched.hints.mark(session_id, channel, None, message)
        except Exception:  # the batch rolled back: every claim books alone
            log.warning("a booking batch failed; its claims book alone", exc_info=True)
        moment = time.monotonic()
        retry = [c for c in batch if c.fid in outcome.waiting and moment - c.since < RETRY_S]
        for claim in batch:
            if claim not in retry:
                claim.finish(outcome.booked.get(claim.fid), outcome.refused.get(claim.fid))
        if self.after_batch is not None:
            self.after_batch(sold_out)
        return retry


@dataclass
class Outcome:
    """What a batch decided: the Appointments booked and the claims refused, by claim id."""

    booked: dict[str, Stored] = field(default_factory=dict)
    refused: dict[str, Conflict] = field(default_factory=dict)
    waiting: set[str] = field(default_factory=set)  # no number yet, but some are in flight


def _bookable(sched: Scheduler, conn: Connection, claims: list[Claim], now_us: int
              ) -> list[Claim]:
    """Keep the claims with an open clinic and a known patient who is not suspended."""
    fine = repo.bookable_patients(conn, sorted({c.patient for c in claims}), now_us)
    visits = repo.visits_by_id(conn, (c.session_id for c in claims))
    kept = []
    for claim in claims:
        if claim.patient not in fine or claim.session_id not in visits:
            continue
        claim.visit = visits[claim.session_id]
        try:
            sched.check_open(claim.visit, claim.channel, now_us, None)
        except PlatformError:  # the request books alone and is told why
            continue
        kept.append(claim)
    return kept


def _placed(sched: Scheduler, conn: Connection, claims: list[Claim]) -> list[Claim]:
    """Take the first per-person places of every claim; keep those that got all of theirs."""
    if not claims:
        return []
    wanted = {c.fid: [scope for scope, _, _ in sched.limits(
        c.visit, pol.cached(conn, c.visit.institution))] for c in claims}
    got = repo.insert_places(conn, [(c.patient, c.visit.day, scope, 1, c.fid) for c in claims
                                    for scope in wanted[c.fid]], sched.node)
    kept = [c for c in claims if all((c.fid, s) in got for s in wanted[c.fid])]
    repo.release_person(conn, *[c.fid for c in claims if c not in kept])
    return kept


def _sold_out(sched: Scheduler, conn: Connection, unserved: dict[tuple[str, int], list[Claim]],
              now_us: int) -> dict[str, Conflict]:
    """Refuse the claims left without a number whose session channel has none left at all (in
    the committed state and after giving back expired holds); the others book alone."""
    full: list[tuple[str, int]] = []
    for channel in {c for c, _ in unserved}:
        ids = [s for c, s in unserved if c == channel]
        free = repo.availability(conn, ids, channel)
        full += [(channel, s) for s in ids if not any(free.get(s, {}).values())]
    expiring = {row.session_id for row in repo.appointments(
        conn, repo.A.c.status == "held", repo.A.c.hold_expires_us <= now_us,
        repo.A.c.session_id.in_(sorted({s for _, s in full})))} if full else set()
    for session_id in sorted(expiring):  # their numbers come back: those claims book alone
        sched.expire_holds(conn, now_us, session_id=session_id)
    refused: dict[str, Conflict] = {}
    for channel, session_id in full:
        if session_id in expiring:
            continue
        group = unserved[(channel, session_id)]
        refusal = sched.sold_out(group[0].visit, channel, None)
        refused.update((claim.fid, refusal) for claim in group)
    return refused


def take_together(sched: Scheduler, conn: Connection, claims: list[Claim]) -> Outcome:
    """Book many claims in the caller's transaction; return what was booked and refused
    (claims left out of both book alone)."""
    now_us = to_micros(now())
    claims = _placed(sched, conn, _bookable(sched, conn, claims, now_us))
    by_channel: dict[str, dict[int, list[Claim]]] = defaultdict(lambda: defaultdict(list))
    for claim in claims:
        by_channel[claim.channel][claim.visit.session_id].append(claim)
    rows: list[dict[str, Any]] = []
    visits: list[Visit] = []
    taken: list[tuple[str, str, int, int]] = []
    unserved: dict[tuple[str, int], list[Claim]] = {}
    for channel, sessions in by_channel.items():
        picked = repo.pick_numbers(conn, {s: len(g) for s, g in sessions.items()}, channel,
                                   now_us)
        sched.know_slots(conn, {slot for found in picked.values() for _, slot, _ in found})
        for session_id, group in sessions.items():
            numbers = picked[session_id]
            if len(numbers) < len(group):
                unserved[(channel, session_id)] = group[len(numbers):]
            for claim, (number_id, slot_id, seq) in zip(group, numbers, strict=False):
                policy = pol.cached(conn, claim.visit.institution)
                row = sched.new_row(claim.fid, claim.visit, channel, claim.patient,
                                    (slot_id, seq), claim.hold, policy, now_us)
                rows.append(row)
                visits.append(claim.visit)
                taken.append((row["status"], row["id"], now_us, number_id))
    repo.take_numbers(conn, taken)
    # nothing for them here: their places go back, then they are refused or book alone
    repo.release_person(conn, *[c.fid for group in unserved.values() for c in group])
    refused = _sold_out(sched, conn, unserved, now_us)
    waiting = {c.fid for group in unserved.values() for c in group} - refused.keys()
    if not rows:
        return Outcome(refused=refused, waiting=waiting)
    bodies = [sched.body(conn, v, r) for v, r in zip(visits, rows, strict=True)]
    with pipelined(conn):  # the rows, the Appointments and the events in one round trip
        repo.insert_appointments(conn, rows)
        stored = res.write(conn, sched.store, bodies, new=True)
        emit_many(conn, [res.message(row["status"], visit, row)
                         for visit, row in zip(visits, rows, strict=True)], sched.node)
    sched.touch(conn, {row["slot_id"] for row in rows})
    return Outcome({s.fid: s for s in stored}, refused, waiting)
