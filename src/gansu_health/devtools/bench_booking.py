"""`gansu-health bench booking-rush`: the release-time rush (放号) over real HTTP.

Prepares a database (a throwaway PostgreSQL when available, or SQLite): one demo hospital, 20
doctors each with one clinic holding their share of the numbers, released at T0 a few seconds after
the server is up, and N patients. Then C concurrent HTTP clients replay the rush: every patient
asks ``Appointment/$book`` for a random doctor at T0 and, when told that doctor is full, tries
another one (as an app refreshing availability would); a few patients double-click (two requests
at once). Afterwards the database is checked: no slot over capacity, no per-person duplicate, every
2xx answer is exactly one booked Appointment and every booked Appointment one 2xx answer, every
refusal an OperationOutcome that says why.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import orjson
import typer
from sqlalchemy import Engine, func, select

from gansu_health.core.database import build_engine, write_transaction
from gansu_health.core.migrate import upgrade
from gansu_health.core.settings import Settings
from gansu_health.devtools import bench_booking_data as data
from gansu_health.devtools.bench_booking_client import Client, Connection
from gansu_health.devtools.bench_fhir_servers import ServerProcess, machine_info
from gansu_health.devtools.pgcluster import PostgresCluster, PostgresUnavailable, free_port
from gansu_health.fhir.setup import build_fhir_api
from gansu_health.identity.tokens import repository as tokens
from gansu_health.scheduling import policy as pol
from gansu_health.scheduling.models import sched_appointment, sched_number

bench_booking_app = typer.Typer(help="Booking rush benchmark.", no_args_is_help=False)
SETUP_MARGIN_S = 40.0  # from creating the clinics to their release: server start and warm-up
POOL_SIZE = 64
WARM_NUMBERS_EACH = 5  # per doctor, on the day before the rush's
WARM_PATIENTS = 600
CONNECT_AHEAD_S = 1.0  # the clients' connections are open this long before the release


@dataclass
class Outcome:
    """What the clients saw."""

    latencies_ms: list[float] = field(default_factory=list)
    booked: list[tuple[str, str, float]] = field(default_factory=list)  # (patient, appt, t)
    refusals: Counter[str] = field(default_factory=Counter)
    silent: int = 0  # refusals without an OperationOutcome reason
    errors: list[str] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)  # seconds after T0, per request


def _reason(status: int, body: bytes) -> str | None:
    try:
        outcome = orjson.loads(body)
        text = str(outcome["issue"][0]["diagnostics"])
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return None
    if "No online number" in text:
        return f"{status} doctor full"
    if "already has" in text:
        return f"{status} per-person limit"
    if "being booked" in text:
        return f"{status} last numbers in flight"
    return f"{status} {text[:60]}"


async def _rush(base: str, token: str, schedules: list[str], day: str, people: list[str],
                clients: int, t0: float, double_click: float) -> Outcome:
    out = Outcome()
    full: set[str] = set()
    http = Client(base, clients, {"Authorization": f"Bearer {token}",
                                  "Content-Type": "application/fhir+json"})

    async def book(conn: Connection, patient: str, schedule: str) -> tuple[int, bytes]:
        body = orjson.dumps({"resourceType": "Parameters", "parameter": [
            {"name": "patient", "valueReference": {"reference": f"Patient/{patient}"}},
            {"name": "schedule", "valueReference": {"reference": f"Schedule/{schedule}"}},
            {"name": "date", "valueDate": day}, {"name": "period", "valueCode": "morning"},
            {"name": "channel", "valueCode": "online"}]})
        request = http.request("POST", "/Appointment/$book", body)
        start = time.perf_counter()
        try:
            status, answer = await conn.send(request)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            conn.close()  # reopened for the next request
            out.errors.append(repr(exc))
            return 0, b""
        out.latencies_ms.append((time.perf_counter() - start) * 1000)
        out.answered.append(time.time() - t0)
        return status, answer

    async def patient_flow(conn: Connection, patient: str, rng: random.Random) -> None:
        for attempt in range(len(schedules)):
            # the first doctor was chosen at T0, when every one was open (the request may wait
            # for a free client); each next one from those not yet known to be full
            open_ones = [s for s in schedules if not attempt or s not in full]
            if not open_ones:
                return
            schedule = rng.choice(open_ones)
            status, body = await book(conn, patient, schedule)
            if 200 <= status < 300:
                appt = orjson.loads(body)["entry"][0]["resource"]["id"]
                out.booked.append((patient, appt, time.time() - t0))
                return
            reason = _reason(status, body) if status else None
            if reason is None:
                out.silent += status != 0
                return
            out.refusals[reason] += 1
            if "doctor full" in reason:
                full.add(schedule)
            elif "in flight" not in reason:
                return

    async def client(conn: Connection) -> None:
        """One simulated client: from T0, patient after patient until none is left (a refused
        patient tries another doctor at once, as an app refreshing availability would)."""
        await asyncio.sleep(max(0.0, t0 - time.time()))
        while waiting:
            patient, rng = waiting.popleft()
            await patient_flow(conn, patient, rng)

    rng = random.Random(5)
    waiting: deque[tuple[str, random.Random]] = deque()
    for patient in people:
        waiting.append((patient, random.Random(rng.random())))
        if rng.random() < double_click:  # the same patient again, taken by the next client
            waiting.append((patient, random.Random(rng.random())))
    await asyncio.sleep(max(0.0, t0 - CONNECT_AHEAD_S - time.time()))
    await http.open_all()  # the server keeps idle connections for 5 s
    try:
        await asyncio.gather(*(client(conn) for conn in http.connections))
    finally:
        http.close()
    return out


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        return None
    return uvloop.new_event_loop


def _in_own_thread(work: Coroutine[Any, Any, Outcome]) -> Outcome:
    """Run the load in a fresh event loop on its own thread (the caller may be inside a loop)."""
    result: list[Outcome] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                result.append(runner.run(work))
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="rush-load")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def _check(engine: Engine, out: Outcome, numbers: int, day: str) -> dict[str, int]:
    A, N = sched_appointment, sched_number
    with engine.connect() as conn:
        counted = conn.execute(select(N.c.slot_id, func.count()).group_by(N.c.slot_id))
        capacity: dict[int, int] = {int(row[0]): int(row[1]) for row in counted}
        active = list(conn.execute(select(A.c.id, A.c.patient, A.c.day, A.c.department,
                                          A.c.slot_id).where(A.c.status == "booked",
                                                             A.c.day == day)))
        held = dict(conn.execute(select(N.c.appointment, N.c.slot_id).where(
            N.c.status == "booked")).all())
    used = Counter(r.slot_id for r in active)
    overbooked = sum(1 for s, n in used.items() if n > capacity.get(s, 0))
    overbooked += max(0, len(active) - numbers)
    per_person = Counter((r.patient, r.day, r.department) for r in active)
    duplicates = sum(n - 1 for n in per_person.values() if n > 1)
    answered = Counter(appt for _, appt, _ in out.booked)
    booked_ids = {r.id: r for r in active}
    unmatched = sum(n != 1 or appt not in booked_ids for appt, n in answered.items())
    unmatched += sum(1 for appt in booked_ids if appt not in answered)
    unmatched += sum(1 for appt, r in booked_ids.items() if held.get(appt) != r.slot_id)
    unmatched += out.silent + len(out.errors)
    return {"overbooked": overbooked, "duplicates": duplicates, "unmatched": unmatched}


def _prepare(url: str, patients_n: int, numbers: int, doctors: int, t0: datetime
             ) -> tuple[Settings, list[str], date, str, list[str]]:
    upgrade(url)
    settings = Settings(database_url=url)
    engine = build_engine(url, settings)
    api = build_fhir_api(settings, engine)
    roles = [c.role_id for c in data.load_facility(api)][:doctors]
    people = data.patients(settings, engine, patients_n)
    zone = ZoneInfo(settings.timezone)
    local = t0.astimezone(zone)
    day = local.date() + timedelta(days=pol.DEFAULT.horizon_days)
    with write_transaction(engine) as conn:
        pol.save(conn, data.DEFAULT_FACILITY, {"release_time": local.strftime("%H:%M:%S")},
                 settings.node_id)
        token = tokens.issue(conn, client_id="bench", principal_kind="operator",
                             subject="bench", scope="system/*.cruds",
                             node=settings.node_id).access_token
    shares = [numbers // len(roles) + (i < numbers % len(roles)) for i in range(len(roles))]
    schedules = [s for role, share in zip(roles, shares, strict=True)
                 for s in data.clinics(api, [role], day, share)]
    # the day before's clinics, released a day earlier, take the warm-up bookings
    data.sessions(api, schedules, day - timedelta(days=1), WARM_NUMBERS_EACH)
    engine.dispose()
    return settings, people, day, token, schedules


def _warm_up(base: str, token: str, schedules: list[str], day: date, people: list[str],
             clients: int) -> None:
    """Book the day before's clinics full, as a server running all day is warm at release."""
    out = _in_own_thread(_rush(base, token, schedules, day.isoformat(), people, clients,
                               time.time(), 0.0))
    if out.errors or out.silent:
        raise RuntimeError(f"the warm-up failed: {out.errors[:3]}")


def _start_server(url: str, workdir: Path, workers: int) -> ServerProcess:
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    # more pooled connections than request threads (anyio: 40) and helper threads: no churn
    tuning = {k: v for k, v in os.environ.items() if k.startswith("GANSU_HEALTH_")}
    env = {**tuning, "GANSU_HEALTH_DATABASE_URL": url, "GANSU_HEALTH_BASE_URL": base,
           "GANSU_HEALTH_DB_POOL_SIZE": str(POOL_SIZE), "PATH": "/usr/bin:/bin"}
    if "PYTHONPATH" in os.environ:  # the server runs the checkout this bench was pointed at
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    log = workdir / "server.log"
    import subprocess

    with log.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "gansu_health.cli", "serve", "--host",
                                 "127.0.0.1", "--port", str(port), "--workers", str(workers)],
                                env=env, stdout=sink, stderr=subprocess.STDOUT)
    server = ServerProcess("gansu-health", base, proc, log)
    server.wait_ready()
    return server


def run(patients_n: int = 5000, numbers: int = 500, clients: int = 200, doctors: int = 20,
        database: str | None = None, workers: int = 1, double_click: float = 0.05,
        echo: Any = print, margin_s: float = SETUP_MARGIN_S, warm_up: bool = True
        ) -> dict[str, Any]:
    """Run the rush once and return its figures (see the module docstring)."""
    workdir = Path(tempfile.mkdtemp(prefix="gansu-rush-"))
    cluster = None
    url = database
    if url is None:
        try:
            cluster = PostgresCluster().start()
            url = cluster.create_database("rush")
        except PostgresUnavailable:
            url = f"sqlite:///{workdir / 'rush.db'}"
    backend = "sqlite" if url.startswith("sqlite") else "postgresql"
    server = None
    try:
        t0 = datetime.now().astimezone() + timedelta(seconds=margin_s)
        t0 = t0.replace(microsecond=0)
        settings, people, rush_day, token, schedules = _prepare(url, patients_n, numbers,
                                                                doctors, t0)
        day = rush_day.isoformat()
        server = _start_server(url, workdir, workers)
        if warm_up:
            began = time.time()
            _warm_up(server.base_url, token, schedules, rush_day - timedelta(days=1),
                     people[-WARM_PATIENTS:], clients)
            echo(f"warmed up in {time.time() - began:.1f} s ({t0.timestamp() - time.time():.1f} s "
                 "before the release)")
        echo(f"{backend}: {len(schedules)} doctors, {numbers} numbers on {day}, {len(people)} "
             f"patients, {clients} clients; release at {t0:%H:%M:%S}")
        if time.time() > t0.timestamp():
            raise RuntimeError("setup took longer than the release margin; raise margin_s")
        out = _in_own_thread(_rush(server.base_url, token, schedules, day, people, clients,
                                   t0.timestamp(), double_click))
        engine = build_engine(url, settings)
        checks = _check(engine, out, numbers, day)
        engine.dispose()
        checks["booking_engine"] = "booking engine listening" in server.log.read_text(
            errors="replace")
    finally:
        if server is not None:
            server.stop()
        if cluster is not None:
            cluster.stop()
    times = sorted(t for _, _, t in out.booked)
    last = times[-1] if times else 0.0
    lat = sorted(out.latencies_ms)
    result = {
        "backend": backend, "patients": patients_n, "numbers": numbers, "clients": clients,
        "doctors": len(schedules), "workers": workers, "warm_up": warm_up,
        "machine": machine_info(),
        "requests": len(lat), "booked": len(out.booked), "refusals": dict(out.refusals),
        "silent_refusals": out.silent, "errors": out.errors[:5],
        "all_taken_s": round(last, 3) if len(out.booked) >= numbers else None,
        "bookings_per_s": round(len(out.booked) / last, 1) if last else 0.0,
        "p50_ms": round(statistics.median(lat), 1) if lat else 0.0,
        "p95_ms": round(lat[int(0.95 * (len(lat) - 1))], 1) if lat else 0.0,
        "rush_s": round(max(out.answered, default=0.0), 3),
        "requests_until_all_taken": sum(1 for t in out.answered if t <= last),
        "requests_per_s": round(len(lat) / max(max(out.answered, default=0.0), 1e-9), 1),
        **checks}
    return result


@bench_booking_app.command("booking-rush")
def booking_rush(
    patients: Annotated[int, typer.Option(help="Simulated patients.")] = 5000,
    numbers: Annotated[int, typer.Option(help="Numbers released at T0.")] = 500,
    clients: Annotated[int, typer.Option(help="Concurrent HTTP clients.")] = 200,
    doctors: Annotated[int, typer.Option(help="Doctors sharing the numbers.")] = 20,
    database: Annotated[str | None, typer.Option(
        help="SQLAlchemy URL (default: a throwaway PostgreSQL, else SQLite).")] = None,
    workers: Annotated[int, typer.Option(help="Server worker processes.")] = 1,
    out: Annotated[Path | None, typer.Option(help="Write the figures to this JSON file.")] = None,
    warm_up: Annotated[bool, typer.Option(
        help="Warm the server up first with bookings for the day before.")] = True,
) -> None:
    """Let patients compete over HTTP for the numbers released at T0; check every invariant."""
    r = run(patients, numbers, clients, doctors, database, workers, echo=typer.echo,
            warm_up=warm_up)
    typer.echo(f"requests={r['requests']} booked={r['booked']} refusals={r['refusals']}")
    typer.echo(f"all numbers taken in {r['all_taken_s']} s; p50 {r['p50_ms']} ms, "
               f"p95 {r['p95_ms']} ms")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(orjson.dumps(r, option=orjson.OPT_INDENT_2))
        typer.echo(f"wrote {out}")
    typer.echo(f"overbooked={r['overbooked']} duplicates={r['duplicates']} "
               f"unmatched={r['unmatched']} bookings_per_s={r['bookings_per_s']} "
               f"p95_ms={r['p95_ms']}")
    if r["overbooked"] or r["duplicates"] or r["unmatched"]:
        raise typer.Exit(1)
