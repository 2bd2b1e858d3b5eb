"""Registration from several processes at once (PostgreSQL), as several hospitals would send it.

Each worker process opens its own engine and FHIR endpoint on the same database and posts every
``workers``-th Bundle; the MPI's key locks keep concurrent registrations of one person apart.
The rate is records over wall-clock time (Bundles built inside the timing, unlike the serial
run, which times ``handle`` alone).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from typing import Any

from gansu_health.core.database import build_engine
from gansu_health.core.settings import Settings
from gansu_health.fhir.rest.dispatch import FhirApi, FhirRequest
from gansu_health.fhir.setup import build_fhir_api
from gansu_health.mpi.engine.synthetic import SyntheticRecord

_JOB: dict[str, Any] = {}  # set before the workers fork; they inherit it
_HEADERS = {"content-type": "application/fhir+json"}


def post_bundles(api: FhirApi, records: Sequence[SyntheticRecord], bundle_size: int,
                 transaction: Callable[[Sequence[SyntheticRecord]], bytes],
                 done: Callable[[int, float], None], share: tuple[int, int] = (0, 1)
                 ) -> list[str]:
    """Post this share of the records' Bundles; call ``done(records, seconds)`` after each."""
    index, workers = share
    errors: list[str] = []
    for n, start in enumerate(range(0, len(records), bundle_size)):
        if n % workers != index:
            continue
        chunk = records[start:start + bundle_size]
        body = transaction(chunk)
        began = time.perf_counter()
        resp = api.handle(FhirRequest("POST", "", [], _HEADERS, body))
        if resp.status >= 400:
            errors.append(resp.body.decode()[:300])
        done(len(chunk), time.perf_counter() - began)
    return errors


def _worker(index: int) -> list[str]:
    from gansu_health.devtools.bench_mpi_service import _env

    url, counter = _JOB["url"], _JOB["counter"]
    engine = build_engine(url, Settings(database_url=url))
    try:
        with _env(GANSU_HEALTH_MPI_IDENTITY_POLICY=_JOB["policy"]):
            api = build_fhir_api(Settings(database_url=url), engine)

        def done(count: int, _seconds: float) -> None:
            with counter.get_lock():
                counter.value += count

        return post_bundles(api, _JOB["records"], _JOB["bundle_size"], _JOB["transaction"],
                            done, (index, _JOB["workers"]))
    finally:
        engine.dispose()


def register_parallel(url: str, policy: str, records: Sequence[SyntheticRecord],
                      bundle_size: int, workers: int,
                      transaction: Callable[[Sequence[SyntheticRecord]], bytes],
                      progress: Callable[[int, float], None]) -> tuple[float, list[str]]:
    """Register the records from ``workers`` processes; return (wall seconds, errors)."""
    ctx = multiprocessing.get_context("fork")
    counter = ctx.Value("q", 0)
    _JOB.update(url=url, policy=policy, records=records, bundle_size=bundle_size,
                workers=workers, transaction=transaction, counter=counter)
    began = time.perf_counter()
    try:
        with ctx.Pool(workers) as pool:
            pending = pool.map_async(_worker, range(workers))
            while not pending.ready():
                pending.wait(1.0)
                progress(int(counter.value), time.perf_counter() - began)
            errors = [e for share in pending.get() for e in share]
    finally:
        _JOB.clear()
    return time.perf_counter() - began, errors
