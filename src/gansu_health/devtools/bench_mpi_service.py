"""`gansu-health bench mpi-service`: registration with matching and Patient/$match, in process.

Registers a synthetic Gansu population (``mpi.engine.synthetic``, duplicates included) through
FHIR transaction Bundles on a fresh database, then times ``Patient/$match`` for a sample of
persons, some of them with typos. Invalid resident ids are flagged rather than rejected (the
synthetic duplicates carry typed-in ids with bad check digits), unless ``--identity-policy``
says otherwise.
"""

from __future__ import annotations

import gc
import os
import random
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy import Engine, text

from gansu_health.core.database import build_engine
from gansu_health.core.migrate import upgrade
from gansu_health.core.settings import Settings
from gansu_health.devtools.bench_fhir_servers import machine_info
from gansu_health.devtools.bench_mpi_parallel import (
    BundleFile,
    mpi_api,
    post_bundles,
    register_parallel,
    write_bundles,
)
from gansu_health.fhir.rest.dispatch import FhirApi, FhirRequest
from gansu_health.mpi.engine.synthetic import SyntheticRecord, generate_population

bench_mpi_service_app = typer.Typer(help="MPI service benchmark.", no_args_is_help=False)
DROPPED = ("id", "meta", "generalPractitioner", "managingOrganization")
TARGET_P95_MS = 50.0
TARGET_RATE = 300.0


def _loadavg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


def source_body(record: SyntheticRecord) -> dict[str, Any]:
    """Return the Patient of a synthetic record as a client would send it (no id, no refs)."""
    return {k: v for k, v in record.patient.items() if k not in DROPPED}


def transaction(records: Sequence[SyntheticRecord]) -> bytes:
    """Return a transaction Bundle creating the Patients of ``records``."""
    entries = [{"fullUrl": f"urn:uuid:{i:08x}-0000-4000-8000-000000000000",
                "resource": source_body(r), "request": {"method": "POST", "url": "Patient"}}
               for i, r in enumerate(records)]
    return orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries})


def with_typo(body: dict[str, Any], rng: random.Random) -> tuple[dict[str, Any], str]:
    """Return a copy of a Patient with one typo (given name, birth date or phone), and its kind."""
    out: dict[str, Any] = orjson.loads(orjson.dumps(body))
    kind = rng.choice(("name", "birth", "phone"))
    if kind == "name":
        for name in out.get("name") or []:
            given = name.get("given") or []
            if given and given[0]:
                given[0] = given[0][::-1] if len(given[0]) > 1 else given[0] + "一"
            if name.get("text"):
                name["text"] = name["text"][:1] + name["text"][1:][::-1]
    elif kind == "birth" and out.get("birthDate"):
        year, month, day = out["birthDate"].split("-")
        out["birthDate"] = f"{year}-{month}-{int(day) % 28 + 1:02d}"
    else:
        for point in out.get("telecom") or []:
            value = str(point.get("value") or "")
            if value[-1:].isdigit():
                point["value"] = value[:-1] + str((int(value[-1]) + 1) % 10)
    return out, kind


@contextmanager
def database(postgres: bool, keep: Path | None, url: str | None = None
             ) -> Iterator[tuple[str, Any]]:
    """Yield (URL, size function) of a fresh migrated database, removed afterwards (or of the
    given database, migrated and kept)."""
    if url is not None:
        upgrade(url)
        yield url, None
        return
    if postgres:
        from gansu_health.devtools.pgcluster import PostgresCluster

        cluster = PostgresCluster().start()
        try:
            url = cluster.create_database("bench_mpi")
            upgrade(url)
            yield url, None
        finally:
            cluster.stop()
        return
    folder = keep or Path(tempfile.mkdtemp(prefix="gansu-bench-mpi-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bench.db"
    try:
        upgrade(f"sqlite:///{path}")
        yield f"sqlite:///{path}", lambda: sum(
            p.stat().st_size for p in folder.glob("bench.db*") if p.is_file())
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)


def db_bytes(engine: Engine, sqlite_size: Any) -> int:
    """Return the database size in bytes."""
    if sqlite_size is not None:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(sqlite_size())
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
            return int(pages * conn.exec_driver_sql("PRAGMA page_size").scalar_one())
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console)


def register(api: FhirApi, bundles: BundleFile, console: Console, *, workers: int = 1,
             url: str = "", identity_policy: str = "flag") -> dict[str, Any]:
    """Post the transaction Bundles (from ``workers`` processes when more than one); return
    counts, seconds and the rate."""
    records = bundles.records
    with _progress(console) as bar:
        task = bar.add_task("registering", total=records, rate="")
        if workers > 1:
            def show(count: int, seconds: float) -> None:
                bar.update(task, completed=count,
                           rate=f"{count / max(seconds, 1e-9):,.0f} rec/s")

            seconds, errors = register_parallel(url, identity_policy, bundles, workers, show)
        else:
            spent = [0.0, 0]

            def step(count: int, took: float) -> None:
                spent[0] += took
                spent[1] += count
                bar.update(task, advance=count,
                           rate=f"{spent[1] / max(spent[0], 1e-9):,.0f} rec/s")

            errors = post_bundles(api, bundles, step)
            seconds = spent[0]
    rate = records / seconds if seconds else 0.0
    return {"records": records, "bundles": len(bundles.entries), "workers": workers,
            "seconds": round(seconds, 2), "per_second": round(rate, 1), "errors": len(errors),
            "first_errors": errors[:3]}


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def run_matches(api: FhirApi, records: Sequence[SyntheticRecord], count: int, typo_rate: float,
                seed: int, console: Console) -> dict[str, Any]:
    """Run Patient/$match for ``count`` sampled records; return latencies and grades."""
    rng = random.Random(seed)
    sample = rng.sample(list(records), min(count, len(records)))
    latencies: list[float] = []
    grades: Counter[str] = Counter()
    typos: Counter[str] = Counter()
    hit = 0
    with _progress(console) as bar:
        task = bar.add_task("$match", total=len(sample), rate="")
        for record in sample:
            body = source_body(record)
            if rng.random() < typo_rate:
                body, kind = with_typo(body, rng)
                typos[kind] += 1
            payload = orjson.dumps({"resourceType": "Parameters", "parameter": [
                {"name": "resource", "resource": body}]})
            began = time.perf_counter()
            resp = api.handle(FhirRequest("POST", "Patient/$match", [],
                                          {"content-type": "application/fhir+json"}, payload))
            latencies.append((time.perf_counter() - began) * 1000)
            entries = orjson.loads(resp.body).get("entry") or [] if resp.status == 200 else []
            top = entries[0]["search"]["extension"][0]["valueCode"] if entries else "none"
            grades[top if resp.status == 200 else f"http-{resp.status}"] += 1
            hit += any(e["resource"].get("id") and _same_person(e["resource"], record)
                       for e in entries[:1])
            bar.update(task, advance=1,
                       rate=f"p50 {statistics.median(latencies):.1f} ms")
    return {"matches": len(sample), "typos": dict(typos),
            "p50_ms": round(_quantile(latencies, 0.50), 2),
            "p95_ms": round(_quantile(latencies, 0.95), 2),
            "p99_ms": round(_quantile(latencies, 0.99), 2),
            "max_ms": round(max(latencies), 2) if latencies else 0.0,
            "mean_ms": round(statistics.fmean(latencies), 2) if latencies else 0.0,
            "top_grades": dict(grades), "top_is_same_person": hit}


def _same_person(found: dict[str, Any], record: SyntheticRecord) -> bool:
    """Tell whether a $match answer is the record's person (same resident id or name+birth)."""
    def ident(body: dict[str, Any]) -> tuple[Any, ...]:
        names = [n.get("text") or "".join([n.get("family", ""), *(n.get("given") or [])])
                 for n in body.get("name") or []]
        return (names[:1], body.get("birthDate"))
    return ident(found) == ident(record.patient)


def run(persons: int = 20_000, matches: int = 500, postgres: bool = False,
        bundle_size: int = 200, typo_rate: float = 0.3, identity_policy: str = "flag",
        keep: Path | None = None, seed: int = 20250630,
        console: Console | None = None, workers: int = 1,
        database_url: str | None = None) -> dict[str, Any]:
    """Run the MPI service benchmark and return its figures."""
    postgres = postgres or bool(database_url and database_url.startswith("postgresql"))
    if workers > 1 and not postgres:
        raise typer.BadParameter("several workers need --postgres (SQLite has one writer)",
                                 param_hint="--workers")
    console = console or Console()
    machine = {**machine_info(), "loadavg_start": _loadavg()}
    console.rule("[bold]gansu-health MPI service benchmark")
    console.print(f"machine: {machine['cpu']}, {machine['cores']} cores, load average "
                  f"{machine['loadavg_start']}")
    began = time.perf_counter()
    records = generate_population(persons, seed=seed)
    console.print(f"data: {persons:,} synthetic persons → {len(records):,} registrations "
                  f"(generated in {time.perf_counter() - began:.1f} s)")
    folder = Path(tempfile.mkdtemp(prefix="gansu-bench-bundles-"))
    try:
        bundles = write_bundles(records, bundle_size, folder / "bundles.bin", transaction)
        sample = random.Random(seed).sample(records, min(matches, len(records)))
        del records  # the workers read the Bundles from the file; $match needs only the sample
        gc.collect()
        result: dict[str, Any] = {"persons": persons, "registrations": bundles.records,
                                  "bundle_size": bundle_size,
                                  "backend": "postgresql" if postgres else "sqlite",
                                  "identity_policy": identity_policy, "machine": machine}
        with database(postgres, keep, database_url) as (url, sqlite_size):
            engine = build_engine(url, Settings(database_url=url))
            try:
                api = mpi_api(url, engine, identity_policy)
                result["registration"] = reg = register(api, bundles, console, workers=workers,
                                                        url=url, identity_policy=identity_policy)
                console.print(f"registration: {reg['records']:,} in {reg['seconds']:.1f} s = "
                              f"[bold]{reg['per_second']:,.0f} registrations/s[/] "
                              f"(target ≥ {TARGET_RATE:.0f}; {workers} worker(s)), "
                              f"{reg['errors']} failed Bundles")
                for err in reg["first_errors"]:
                    console.print(f"  [red]✗[/] {err}")
                result["db_bytes"] = db_bytes(engine, sqlite_size)
                console.print(f"database size: {result['db_bytes'] / 2**20:,.1f} MiB")
                result["match"] = m = run_matches(api, sample, matches, typo_rate, seed, console)
                console.print(f"$match ×{m['matches']}: p50 {m['p50_ms']} ms, p95 "
                              f"[bold]{m['p95_ms']}[/] ms (target ≤ {TARGET_P95_MS:.0f}), p99 "
                              f"{m['p99_ms']} ms; top grades {m['top_grades']}; typos "
                              f"{m['typos']}")
            finally:
                engine.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result["loadavg_end"] = _loadavg()
    console.print(f"load average at the end: {result['loadavg_end']}")
    return result


@bench_mpi_service_app.command("mpi-service")
def mpi_service(
    persons: Annotated[int, typer.Option(help="Synthetic persons (with duplicates).")] = 20_000,
    matches: Annotated[int, typer.Option(help="$match requests to time.")] = 500,
    postgres: Annotated[bool, typer.Option(help="Use a throwaway PostgreSQL cluster.")] = False,
    bundle_size: Annotated[int, typer.Option(help="Patients per transaction Bundle.")] = 200,
    typo_rate: Annotated[float, typer.Option(help="Share of $match inputs with a typo.")] = 0.3,
    identity_policy: Annotated[str, typer.Option(help="flag or reject invalid ids.")] = "flag",
    keep: Annotated[Path | None, typer.Option(help="Keep the SQLite file in this folder.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the figures to this JSON file.")] = None,
    workers: Annotated[int, typer.Option(
        min=1, help="Processes registering at once (PostgreSQL only).")] = 1,
    database_url: Annotated[str | None, typer.Option(
        "--database", help="Use this (empty) database instead of a throwaway one; kept.")
    ] = None,
) -> None:
    """Register synthetic persons with matching, then time Patient/$match."""
    result = run(persons, matches, postgres, bundle_size, typo_rate, identity_policy, keep,
                 workers=workers, database_url=database_url)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
        typer.echo(f"wrote {out}")


if __name__ == "__main__":
    bench_mpi_service_app()
