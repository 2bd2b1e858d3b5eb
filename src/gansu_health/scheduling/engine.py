"""The booking engine: one process beside the server's workers that books all their claims.

At release time the booking combiner (``batch.Combiner``) is the line every booking waits in,
and inside a worker it shares the interpreter lock with the event loop and the request threads:
each statement it sends costs it another turn at the lock on the way back (measured during the
rush: ~3.6 ms a turn, a batch of 15 claims 63 ms of wall time for 10 ms of its own CPU).
``gansu-health serve`` on PostgreSQL therefore starts this process before its workers; each
worker hands its claims over a Unix socket (``RemoteCombiner``) and the engine's combiner books
them as it would in a worker — in one batch for all workers, so no two batches skip each
other's locked numbers. A worker that cannot reach the engine books with its own combiner
thread; a claim in flight when the engine stops is answered 503 (it may or may not be booked).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import multiprocessing
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from gansu_health.core.errors import Conflict, ServiceUnavailable
from gansu_health.core.settings import Settings
from gansu_health.fhir.storage.repository import Stored
from gansu_health.scheduling.batch import Claim, Claimer, Combiner, SoldOutClinics
from gansu_health.scheduling.booking import Scheduler
from gansu_health.scheduling.hint import SoldOut
from gansu_health.scheduling.resources import Target

READY_S = 60.0  # how long ``start`` waits for the engine to listen
log = logging.getLogger(__name__)
Request = tuple[int, str, int, str, bool]  # tag, patient, session id, channel, hold
Answer = tuple[int, Stored | None, str | None]  # tag, Appointment booked, refusal message


@dataclass
class EngineProcess:
    """A running booking engine: where it listens and how to stop it."""

    address: str
    key: str
    process: Any

    def env(self) -> dict[str, str]:
        """The settings that point a worker at this engine."""
        return {"GANSU_HEALTH_BOOKING_ENGINE": self.address,
                "GANSU_HEALTH_BOOKING_ENGINE_KEY": self.key}

    def stop(self) -> None:
        """Stop the engine (claims in flight are answered 503 by their workers)."""
        self.process.terminate()
        self.process.join(10)
        Path(self.address).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            Path(self.address).parent.rmdir()


def start(settings: Settings) -> EngineProcess | None:
    """Start the engine for a PostgreSQL database; None on SQLite (its writers are serial)."""
    if settings.database_url.startswith("sqlite"):
        return None
    address = str(Path(tempfile.mkdtemp(prefix="gansu-booking-")) / "engine.sock")
    key = secrets.token_hex(16)
    process = multiprocessing.get_context("spawn").Process(
        target=run, args=(address, key, settings.model_dump()), name="booking-engine",
        daemon=True)
    process.start()
    deadline = time.monotonic() + READY_S
    while not os.path.exists(address):
        if not process.is_alive() or time.monotonic() > deadline:
            process.terminate()
            log.warning("the booking engine did not start; workers book with their own threads")
            return None
        time.sleep(0.05)
    return EngineProcess(address, key, process)


def run(address: str, key: str, config: dict[str, Any]) -> None:
    """The engine process: accept workers and book their claims with one combiner."""
    from gansu_health.core.database import build_engine
    from gansu_health.fhir.setup import build_fhir_api
    from gansu_health.scheduling.operations import scheduler_of

    parent = os.getppid()
    threading.Thread(target=_exit_with, args=(parent,), daemon=True,
                     name="booking-engine-parent").start()
    settings = Settings(**config)
    engine = build_engine(settings.database_url, settings)
    workers: list[_Worker] = []

    def flush_all(sold_out: SoldOutClinics) -> None:
        for worker in list(workers):
            worker.flush(sold_out)

    combiner = Combiner(scheduler_of(build_fhir_api(settings, engine)), engine,
                        after_batch=flush_all)
    with Listener(address, family="AF_UNIX", authkey=bytes.fromhex(key)) as listener:
        while True:
            try:
                conn = listener.accept()
            except (OSError, EOFError, AuthenticationError):  # a failed handshake
                continue
            worker = _Worker(conn)
            workers.append(worker)
            threading.Thread(target=worker.serve, args=(combiner, workers.remove), daemon=True,
                             name="booking-engine-link").start()


def _exit_with(parent: int) -> None:
    """End the engine when the server that started it is gone (even killed outright)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


class _Worker:
    """The engine's side of one worker: claims received, a batch's answers sent together
    (each message costs the worker a turn at its interpreter lock)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._answers: list[Answer] = []
        self._lock = threading.Lock()

    def serve(self, combiner: Combiner, gone: Callable[[_Worker], None]) -> None:
        """Pass the worker's claims to the combiner until the worker goes away."""
        while True:
            try:
                tag, patient, session_id, channel, hold = self.conn.recv()
            except (EOFError, OSError):
                gone(self)
                return
            claim = Claim(patient, session_id, channel, hold)
            claim.when_done(functools.partial(self._answer, tag))
            combiner.submit(claim)

    def _answer(self, tag: int, claim: Claim) -> None:
        with self._lock:
            self._answers.append(
                (tag, claim.stored, claim.refusal.message if claim.refusal else None))

    def flush(self, sold_out: SoldOutClinics) -> None:
        """Send the answers gathered since the last flush, and the clinics a batch found sold
        out (every worker then refuses them from memory), in one message."""
        with self._lock:
            answers, self._answers = self._answers, []
            if answers or sold_out:
                with contextlib.suppress(OSError):  # a worker gone: its claims stand
                    self.conn.send((answers, sold_out))


class RemoteCombiner(Claimer):
    """A worker's side of the engine: claims answered by the engine."""

    def __init__(self, sched: Scheduler, address: str, key: str, local: Combiner) -> None:
        self.sched = sched
        self.address = address
        self.key = key
        self.local = local
        self._link: _Link | None = None
        self._unreachable = False
        self._connecting = threading.Lock()

    def claim(self, patient: str, target: Target, channel: str, hold: bool) -> Claim | None:
        """Send a claim to the engine (or this worker's combiner when the engine cannot be
        reached) and return it unanswered; None: book alone (a Slot target)."""
        if target.slot_id is not None:
            return None
        link = self._connected()
        if link is None:
            return self.local.claim(patient, target, channel, hold)
        return link.send(Claim(patient, target.session_id, channel, hold))

    def _connected(self) -> _Link | None:
        link = self._link
        if link is not None and not link.broken:
            return link
        with self._connecting:
            if self._link is None and not self._unreachable:
                try:
                    self._link = _Link(Client(self.address, family="AF_UNIX",
                                              authkey=bytes.fromhex(self.key)),
                                       self.sched.hints)
                except (OSError, EOFError, ValueError, AuthenticationError):
                    log.warning("the booking engine at %s cannot be reached; this worker "
                                "books with its own combiner", self.address, exc_info=True)
                    self._unreachable = True
            link = self._link
        return None if link is None or link.broken else link


class _Link:
    """One worker's connection to the engine: claims sent, answers matched by tag."""

    def __init__(self, conn: Connection, hints: SoldOut) -> None:
        self.conn = conn
        self.hints = hints
        self.broken = False
        self._tags = itertools.count()
        self._waiting: dict[int, Claim] = {}
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True, name="booking-engine-answers").start()

    def send(self, claim: Claim) -> Claim:
        """Send a claim (answered when the engine's answer arrives); return it."""
        with self._lock:
            if not self.broken:
                tag = next(self._tags)
                self._waiting[tag] = claim
                request: Request = (tag, claim.patient, claim.session_id, claim.channel,
                                    claim.hold)
                self.conn.send(request)
                return claim
        claim.fail(_stopped())
        return claim

    def _read(self) -> None:
        try:
            while True:
                answers: list[Answer]
                answers, sold_out = self.conn.recv()
                for (session_id, channel), message in sold_out.items():
                    self.hints.mark(session_id, channel, None, message)
                with self._lock:
                    claims = [self._waiting.pop(tag) for tag, _, _ in answers]
                for claim, (_, stored, refusal) in zip(claims, answers, strict=True):
                    claim.finish(stored, Conflict(refusal, expression="slot") if refusal else None)
        except (EOFError, OSError):
            log.error("the booking engine stopped; claims in flight are answered 503")
        with self._lock:
            self.broken = True
            pending, self._waiting = list(self._waiting.values()), {}
        for claim in pending:
            claim.fail(_stopped())


def _stopped() -> ServiceUnavailable:
    return ServiceUnavailable("The booking engine stopped before answering; look for the "
                              "appointment (Appointment?patient=…) before booking again")
