"""The registration Bundles of the MPI service benchmark: written once to a file, then posted
by one process or by several at once (PostgreSQL), as several hospitals would send them.

The Bundles go to a file before any worker starts, so the workers (and the parent, which keeps
only the ``$match`` sample) do not each hold the whole synthetic population in memory: with a
million persons that is about 9 GiB per process. Each worker opens its own engine and FHIR
endpoint on the same database and posts every ``workers``-th Bundle; the MPI's key locks keep
concurrent registrations of one person apart. The rate is records over wall-clock time.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from gansu_health.core.database import build_engine
from gansu_health.core.settings import Settings
from gansu_health.fhir.rest.dispatch import FhirApi, FhirRequest
from gansu_health.fhir.setup import build_fhir_api
from gansu_health.mpi.engine.synthetic import SyntheticRecord

_JOB: dict[str, Any] = {}  # set before the workers fork; they inherit it
_HEADERS = {"content-type": "application/fhir+json"}


@dataclass(frozen=True)
class BundleFile:
    """Transaction Bundles stored back to back: (offset, length, records) of each."""

    path: Path
    entries: list[tuple[int, int, int]]

    @property
    def records(self) -> int:
        """How many records the Bundles register."""
        return sum(n for _, _, n in self.entries)


def write_bundles(records: Sequence[SyntheticRecord], bundle_size: int, path: Path,
                  transaction: Callable[[Sequence[SyntheticRecord]], bytes]) -> BundleFile:
    """Write the records' transaction Bundles to ``path``."""
    entries: list[tuple[int, int, int]] = []
    with path.open("wb") as out:
        for start in range(0, len(records), bundle_size):
            chunk = records[start:start + bundle_size]
            body = transaction(chunk)
            entries.append((out.tell(), len(body), len(chunk)))
            out.write(body)
    return BundleFile(path, entries)


def post_bundles(api: FhirApi, bundles: BundleFile, done: Callable[[int, float], None],
                 share: tuple[int, int] = (0, 1)) -> list[str]:
    """Post this share of the Bundles; call ``done(records, seconds)`` after each."""
    index, workers = share
    errors: list[str] = []
    with bundles.path.open("rb") as source:
        for n, (offset, length, count) in enumerate(bundles.entries):
            if n % workers != index:
                continue
            source.seek(offset)
            body = source.read(length)
            began = time.perf_counter()
            resp = api.handle(FhirRequest("POST", "", [], _HEADERS, body))
            if resp.status >= 400:
                errors.append(resp.body.decode()[:300])
            done(count, time.perf_counter() - began)
    return errors


@contextmanager
def _env(**values: str) -> Iterator[None]:
    """Set environment variables for the block, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def mpi_api(url: str, engine: Engine, identity_policy: str) -> FhirApi:
    """Build the FHIR endpoint of ``url`` with the MPI's identity policy set."""
    with _env(GANSU_HEALTH_MPI_IDENTITY_POLICY=identity_policy):
        return build_fhir_api(Settings(database_url=url), engine)


def _worker(index: int) -> list[str]:
    url, counter = _JOB["url"], _JOB["counter"]
    engine = build_engine(url, Settings(database_url=url))
    try:
        api = mpi_api(url, engine, _JOB["policy"])

        def done(count: int, _seconds: float) -> None:
            with counter.get_lock():
                counter.value += count

        return post_bundles(api, _JOB["bundles"], done, (index, _JOB["workers"]))
    finally:
        engine.dispose()


def register_parallel(url: str, policy: str, bundles: BundleFile, workers: int,
                      progress: Callable[[int, float], None]) -> tuple[float, list[str]]:
    """Post the Bundles from ``workers`` processes; return (wall seconds, errors)."""
    ctx = multiprocessing.get_context("fork")
    counter = ctx.Value("q", 0)
    _JOB.update(url=url, policy=policy, bundles=bundles, workers=workers, counter=counter)
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
