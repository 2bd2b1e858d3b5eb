"""``gansu-health mpi …``: batch commands of the master patient index (mounted by the main CLI)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from gansu_health.mpi.dedupe import DedupeReport, Deduplicator

mpi_app = typer.Typer(help="Master patient index (主索引) maintenance.", no_args_is_help=True)
console = Console()


def _deduplicator(batch: int) -> Deduplicator:
    from gansu_health.core.database import get_engine
    from gansu_health.core.settings import get_settings
    from gansu_health.fhir.setup import build_fhir_api
    from gansu_health.mpi.service import mpi_of

    engine = get_engine()
    return Deduplicator(mpi_of(build_fhir_api(get_settings(), engine)), engine, batch)


def _print(report: DedupeReport, show: int) -> None:
    summary = Table(title="Candidate pairs by grade")
    for column in ("grade", "status", "pairs"):
        summary.add_column(column, justify="right" if column == "pairs" else "left")
    for (grade, status), n in sorted(report.by_grade().items()):
        summary.add_row(grade, status, f"{n:,}")
    console.print(summary)
    top = Table(title=f"Best {show} pairs not yet in one golden record")
    for column in ("source A", "source B", "score", "grade", "status"):
        top.add_column(column)
    pending = [p for p in report.pairs if p.status != "linked"]
    for p in sorted(pending, key=lambda p: p.score, reverse=True)[:show]:
        top.add_row(f"Patient/{p.a}", f"Patient/{p.b}", f"{p.score:.4f}", p.grade, p.status)
    console.print(top)
    console.print(f"indexed {report.indexed:,} new records, scanned {report.scanned:,}, "
                  f"{len(report.pairs):,} pairs")
    for what, n in sorted(report.applied.items()):
        console.print(f"[green]{what}: {n:,}[/]")


def run_dedupe(deduplicator: Deduplicator, *, apply: bool) -> DedupeReport:
    """Index, pair and (with ``apply``) link, drawing progress bars."""
    report = DedupeReport()
    columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("indexing new records", total=None)
        report.indexed = deduplicator.index(lambda n: bar.advance(task, n))
        total = deduplicator.total()
        task = bar.add_task("scoring blocked pairs", total=total)
        report.pairs = deduplicator.pairs(lambda n: bar.advance(task, n))
        report.scanned = total
    if apply:
        report.applied = deduplicator.apply(report.pairs)
    return report


@mpi_app.command("dedupe")
def dedupe(apply: Annotated[bool, typer.Option(
               "--apply", help="Link certain pairs and queue probable/possible ones.")] = False,
           show: Annotated[int, typer.Option(help="Pairs to list.")] = 20,
           batch: Annotated[int, typer.Option(help="Records per transaction.")] = 500) -> None:
    """Find duplicate source Patients through the blocking table and report them by grade."""
    _print(run_dedupe(_deduplicator(batch), apply=apply), show)
