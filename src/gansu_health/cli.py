"""The gansu-health command line: serve, migrate, seed, load, reindex."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from gansu_health.core.settings import get_settings
from gansu_health.devtools.bench_booking import bench_booking_app
from gansu_health.devtools.bench_fhir import bench_app
from gansu_health.devtools.bench_mpi import bench_mpi_app
from gansu_health.devtools.bench_mpi_service import bench_mpi_service_app
from gansu_health.devtools.bench_portal import bench_portal_app
from gansu_health.devtools.bench_security import bench_security_app
from gansu_health.identity.accounts.cli import accounts_app
from gansu_health.identity.audit.cli import audit_app
from gansu_health.identity.keys_cli import keys_app
from gansu_health.identity.oauth.cli import clients_app, token_cmd
from gansu_health.mpi.cli import mpi_app
from gansu_health.payment.cli import payment_app
from gansu_health.registry.terminology.cli import terminology_app

if TYPE_CHECKING:
    from gansu_health.fhir.loader import LoadStats
    from gansu_health.fhir.rest.dispatch import FhirApi

app = typer.Typer(help="甘肃省互联网+医疗健康平台 — the Gansu provincial health platform.",
                  no_args_is_help=True)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
fhir_app = typer.Typer(help="FHIR repository maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(fhir_app, name="fhir")
bench_app.add_typer(bench_mpi_app)
bench_app.add_typer(bench_booking_app)
bench_app.add_typer(bench_mpi_service_app)
bench_app.add_typer(bench_security_app)
bench_app.add_typer(bench_portal_app)
app.add_typer(bench_app, name="bench")
app.add_typer(accounts_app, name="accounts")
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
app.add_typer(clients_app, name="clients")
app.command("token")(token_cmd)
app.add_typer(mpi_app, name="mpi")
app.add_typer(payment_app, name="payment")
app.add_typer(terminology_app, name="terminology")
console = Console()


@app.command()
def serve(host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
          workers: Annotated[int, typer.Option(help="Worker processes.")] = 1) -> None:
    """Serve the platform (FHIR API at /fhir) with uvicorn."""
    import uvicorn

    console.print(f"[bold green]gansu-health[/] serving on http://{host}:{port}/ "
                  f"(FHIR base http://{host}:{port}/fhir, database "
                  f"{get_settings().database_url.split('@')[-1]})")
    from gansu_health.scheduling import engine
    from gansu_health.serving import run_workers

    booking = engine.start(get_settings())
    if booking is not None:  # the workers (spawned) read their settings from the environment
        os.environ.update(booking.env())
        get_settings.cache_clear()
        console.print(f"booking engine listening at {booking.address}")
    try:
        if workers > 1:  # each worker on a socket of its own: connections spread evenly
            run_workers(uvicorn.Config("gansu_health.main:app", host=host, port=port,
                                       log_level="warning"), workers)
        else:
            uvicorn.run("gansu_health.main:app", host=host, port=port, log_level="warning")
    finally:
        if booking is not None:
            booking.stop()


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Migrate the database schema up (creates the SQLite file when missing)."""
    from gansu_health.core.migrate import upgrade

    upgrade(revision=revision)
    console.print(f"[green]database at {revision}[/]")


@db_app.command("analyze")
def db_analyze() -> None:
    """Refresh the query planner's statistics (do this after bulk loads)."""
    from gansu_health.core.database import analyze, get_engine

    analyze(get_engine())
    console.print("[green]planner statistics refreshed[/]")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "base"
                 ) -> None:
    """Migrate the database schema down."""
    from gansu_health.core.migrate import downgrade

    downgrade(revision=revision)
    console.print(f"[yellow]database at {revision}[/]")


def _api() -> FhirApi:
    from gansu_health.core.database import get_engine
    from gansu_health.fhir.setup import build_fhir_api

    return build_fhir_api(get_settings(), get_engine())


def _report(stats: LoadStats) -> None:
    table = Table(title="Loaded")
    table.add_column("resource type")
    table.add_column("stored", justify="right")
    for rtype, n in sorted(stats.stored.items()):
        table.add_row(rtype, f"{n:,}")
    table.add_row("[bold]total", f"[bold]{stats.total:,}")
    console.print(table)
    console.print(f"{stats.total:,} resources in {stats.seconds:.1f} s = "
                  f"[bold]{stats.rate:,.0f} resources/s[/]; errors: {len(stats.errors)}")
    for err in stats.errors[:20]:
        console.print(f"  [red]✗[/] {err}")


@app.command()
def load(paths: Annotated[list[Path], typer.Argument(help="Files or folders (JSON, NDJSON).")]
         ) -> None:
    """Load transaction/batch/collection Bundles and NDJSON files into the repository."""
    from gansu_health.fhir.loader import bundles_in, discover, load_paths

    files = discover(paths)
    total = sum(n for f in files for _, n in bundles_in(f)) if len(files) < 2000 else None
    api = _api()
    columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("loading", total=total)
        stats = load_paths(api, files, progress=lambda n: bar.advance(task, n))
    _report(stats)
    db_analyze()
    if stats.errors:
        raise typer.Exit(1)


@app.command()
def seed(demo: Annotated[bool, typer.Option("--demo", help="Generate the demo province.")] = False,
         patients: Annotated[int, typer.Option(help="Residents to generate.")] = 200,
         seed_value: Annotated[int, typer.Option("--seed", help="Random seed.")] = 2019) -> None:
    """Generate and load the synthetic demo province (idempotent)."""
    if not demo:
        console.print("Nothing to seed: pass --demo")
        raise typer.Exit(2)
    from gansu_health.demo import generate_demo
    from gansu_health.demo.duplicates import DEMO_HOSPITAL, hospital_registrations
    from gansu_health.fhir.loader import LoadStats, post_bundle
    from gansu_health.registry import load_terminology

    api = _api()
    stats = LoadStats()
    start = time.perf_counter()
    console.print(f"terminology: {load_terminology(api)} code systems and value sets written")
    bundles = generate_demo(seed=seed_value, patients=patients)
    bundles.append(hospital_registrations(bundles, seed_value, DEMO_HOSPITAL))
    with Progress(console=console) as bar:
        task = bar.add_task("seeding the demo province", total=len(bundles))
        for i, bundle in enumerate(bundles):
            post_bundle(api, bundle, stats, f"demo bundle {i}")
            bar.advance(task)
    stats.seconds = time.perf_counter() - start
    _report(stats)
    if stats.errors:
        raise typer.Exit(1)
    _demo_staff(api)
    from gansu_health.demo.clinics import demo_doctors, ensure_demo_clinics

    made = ensure_demo_clinics(api, demo_doctors(seed_value))
    console.print(f"demo clinics: {made} sessions published")


def _demo_staff(api: FhirApi) -> None:
    """Create the demo staff sign-ins and show them once."""
    from gansu_health.identity.accounts.demo import ensure_demo_staff, write_credentials
    from gansu_health.identity.keys import FieldCipher, key_provider

    settings = api.settings
    logins = ensure_demo_staff(api.engine, api.service, FieldCipher(key_provider(settings)),
                               settings.node_id)
    if not logins:
        return
    table = Table(title="demo staff sign-ins for /console (shown once)")
    for col in ("username", "role", "password", "TOTP (admin)"):
        table.add_column(col)
    for login in logins:
        table.add_row(login.username, login.role, login.password, login.totp_uri or "")
    console.print(table)
    path = Path("var") / "demo-credentials.txt"
    write_credentials(logins, path)
    console.print(f"saved to {path} (mode 0600)")


@app.command()
def demo(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Migrate, seed the demo province and serve."""
    db_upgrade("head")
    seed(demo=True)
    serve(host=host, port=port)


@fhir_app.command("reindex")
def reindex(rtype: Annotated[str | None, typer.Option("--type", help="Only this type.")] = None,
            batch: int = 500) -> None:
    """Rebuild the search index from the stored resources (after definitions change)."""
    from sqlalchemy import select

    from gansu_health.core.database import get_engine, write_transaction
    from gansu_health.fhir.storage.tables import resource

    api = _api()
    engine = get_engine()
    with engine.connect() as conn:
        query = select(resource.c.rid).where(resource.c.deleted.is_(False))
        if rtype:
            query = query.where(resource.c.rtype == rtype)
        rids = [r.rid for r in conn.execute(query)]
    done = 0
    with Progress(console=console) as bar:
        task = bar.add_task("reindexing", total=len(rids))
        for i in range(0, len(rids), batch):
            with write_transaction(engine) as conn:
                done += api.service.store.reindex(conn, rids[i:i + batch])
            bar.advance(task, len(rids[i:i + batch]))
    console.print(f"[green]reindexed {done:,} resources[/]")


if __name__ == "__main__":
    app()
