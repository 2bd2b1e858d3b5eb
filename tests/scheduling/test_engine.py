"""The booking engine process: workers' claims booked together in another process."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from multiprocessing import AuthenticationError, Pipe
from multiprocessing.connection import Client
from pathlib import Path
from typing import Any

import pytest
from tests.scheduling.invariants import assert_pool_consistent, book_through, race, race_world

from gansu_health.core.errors import Conflict, PlatformError, ServiceUnavailable
from gansu_health.core.settings import Settings
from gansu_health.scheduling import engine as booking_engine
from gansu_health.scheduling.batch import Claim, Combiner
from gansu_health.scheduling.engine import RemoteCombiner, _Link
from gansu_health.scheduling.hint import SoldOut
from gansu_health.scheduling.operations import combiner_of

THREADS = 12


@pytest.fixture
def pg_settings(settings: Settings) -> Settings:
    if settings.database_url.startswith("sqlite"):
        pytest.skip("the engine serves PostgreSQL (SQLite's writers are serial)")
    return settings


def test_two_workers_book_through_one_engine(pg_settings: Settings) -> None:
    world = race_world(pg_settings, 40, "engine-", days_ahead=6, per_slot=5)
    engine = booking_engine.start(pg_settings)
    assert engine is not None
    try:
        workers = [RemoteCombiner(world.sched, engine.address, engine.key,
                                  Combiner(world.sched, world.engine)) for _ in range(2)]
        successes: list[str] = []
        alone: list[str] = []
        refusals: list[str] = []

        def attempt(rng: random.Random) -> None:
            stored, by_itself = book_through(world, rng.choice(workers),
                                             rng.choice(world.people[:-1]),
                                             rng.choice(world.targets), hold=False)
            successes.append(stored.fid)
            if by_itself:
                alone.append(stored.fid)

        race(THREADS, 4, attempt, lambda exc: refusals.append(exc.message))
        assert len(successes) == 15  # every number went, none twice
        assert refusals  # more claims than numbers: the rest were told why
        assert len(alone) < len(successes)  # most were booked by the engine
        assert all(w._link is not None and not w._link.broken for w in workers)
        with world.engine.connect() as conn:
            assert_pool_consistent(world.api, conn, successes)
    finally:
        engine.stop()
    # the engine is gone: a worker books with its own combiner thread
    patient, where = world.people[-1], world.targets[0]
    fallback = RemoteCombiner(world.sched, engine.address, engine.key,
                              Combiner(world.sched, world.engine))
    with pytest.raises(PlatformError) as refused:
        fallback.book(patient, where, "online", hold=False)
    assert refused.value.status == 409  # sold out, answered by the worker's own combiner
    world.engine.dispose()


def test_a_worker_learns_what_is_sold_out_and_is_answered_503_when_the_engine_stops() -> None:
    ours, engines = Pipe()
    hints = SoldOut()
    hints.name_session(("s1", "2026-12-01", "morning"), 7)
    link = _Link(ours, hints)
    answer: dict[str, Any] = {}

    def send(patient: str) -> None:
        try:
            answer[patient] = link.send(Claim(patient, 7, "online", False)).wait()
        except PlatformError as exc:
            answer[patient] = exc

    first = threading.Thread(target=send, args=("p0",))
    first.start()
    assert engines.poll(5)
    tag = engines.recv()[0]
    # a batch refused p0 and found the clinic sold out: every worker hears of it
    engines.send(([(tag, None, "No online number left")], {(7, "online"): "No online number"}))
    first.join(5)
    assert isinstance(answer["p0"], Conflict)
    assert answer["p0"].message == "No online number left"
    refusal = hints.refusal("online", ("s1", "2026-12-01", "morning"))
    assert refusal is not None and refusal.status == 409
    thread = threading.Thread(target=send, args=("p1",))
    thread.start()
    assert engines.poll(5)
    assert engines.recv()[1:] == ("p1", 7, "online", False)  # the engine got the claim
    engines.close()  # and stopped before answering
    thread.join(5)
    assert isinstance(answer["p1"], ServiceUnavailable)
    assert answer["p1"].status == 503 and "appointment" in answer["p1"].message
    assert link.broken
    with pytest.raises(ServiceUnavailable):
        link.send(Claim("p2", 7, "online", False)).wait()


def test_serve_points_its_workers_at_the_engine(pg_settings: Settings,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    engine = booking_engine.start(pg_settings)
    assert engine is not None
    try:
        env = engine.env()
        assert env["GANSU_HEALTH_BOOKING_ENGINE"] == engine.address
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        worker_settings = Settings(database_url=pg_settings.database_url)
        assert worker_settings.booking_engine == engine.address
        from gansu_health.core.database import build_engine
        from gansu_health.fhir.setup import build_fhir_api

        db = build_engine(worker_settings.database_url, worker_settings)
        assert isinstance(combiner_of(build_fhir_api(worker_settings, db)), RemoteCombiner)
        db.dispose()
        # a caller without the key is turned away and the engine keeps serving the workers
        with pytest.raises(AuthenticationError):
            Client(engine.address, family="AF_UNIX", authkey=b"not the key")
        Client(engine.address, family="AF_UNIX", authkey=bytes.fromhex(engine.key)).close()
    finally:
        engine.stop()
    assert not Path(engine.address).parent.exists()
    sqlite = Settings(database_url="sqlite:///unused.db")
    assert booking_engine.start(sqlite) is None


def test_the_engine_ends_when_its_server_is_killed(pg_settings: Settings) -> None:
    code = ("import sys, time\n"
            "from gansu_health.core.settings import Settings\n"
            "from gansu_health.scheduling import engine\n"
            "started = engine.start(Settings.model_validate_json(sys.argv[1]))\n"
            "print(started.process.pid, flush=True)\n"
            "time.sleep(120)\n")
    server = subprocess.Popen([sys.executable, "-c", code, pg_settings.model_dump_json()],
                              stdout=subprocess.PIPE)
    assert server.stdout is not None
    pid = int(server.stdout.readline())
    assert _running(pid)
    server.send_signal(signal.SIGKILL)  # no chance to stop its engine itself
    server.wait()
    deadline = time.monotonic() + 15
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _running(pid)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # an exited child not yet reaped counts as gone
