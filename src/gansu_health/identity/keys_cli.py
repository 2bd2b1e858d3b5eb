"""``gansu-health keys``: rotate the field-encryption keys, re-key stored values, show key use.

Rotation needs no downtime: ``keys rotate`` adds a new active key (retired keys still open old
values and still find old blind indexes), running servers load it within seconds, and
``keys reencrypt`` re-seals and re-blinds every stored value in short batches. It records its
progress next to the key file, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from gansu_health.core.database import get_engine, read_transaction
from gansu_health.core.settings import Settings, get_settings
from gansu_health.identity.keys import FileKeyProvider, KeyProvider, Purpose, key_provider
from gansu_health.identity.reencrypt import ReencryptStats
from gansu_health.identity.rekey import RekeyTarget, targets

keys_app = typer.Typer(help="Field-encryption keys (SM4 data keys, HMAC-SM3 index keys).",
                       no_args_is_help=True)
console = Console()


def _targets(settings: Settings) -> list[RekeyTarget]:
    from gansu_health.fhir.setup import build_fhir_api

    return targets(build_fhir_api(settings, get_engine()))


def _active(keys: KeyProvider) -> dict[str, str]:
    return {p: keys.active(p)[0] for p in ("data", "index")}


@keys_app.command("rotate")
def rotate(purpose: Annotated[str, typer.Option(
        help="data (SM4-GCM sealing) or index (HMAC-SM3 blind indexes).")] = "data") -> None:
    """Add a new active key; the old one stays readable until ``keys reencrypt`` is done."""
    if purpose not in ("data", "index"):
        raise typer.BadParameter("purpose must be data or index")
    which: Purpose = "data" if purpose == "data" else "index"
    kid = key_provider(get_settings()).rotate(which)
    console.print(f"[green]new active {purpose} key {kid}[/]: servers use it within seconds; "
                  "now run [bold]gansu-health keys reencrypt[/]")


@keys_app.command("status")
def status() -> None:
    """Count the stored rows sealed or blinded under each key id."""
    settings = get_settings()
    keys = key_provider(settings)
    active = _active(keys)
    table = Table(title=f"Field-encryption keys (active: data {active['data']}, "
                        f"index {active['index']})")
    table.add_column("rows of")
    table.add_column("key id")
    table.add_column("rows", justify="right")
    with read_transaction(get_engine()) as conn:
        for target in _targets(settings):
            for what, kid, count in target.status(conn):
                mark = " (active)" if kid in active.values() else ""
                table.add_row(what, kid + mark, f"{count:,}")
    console.print(table)


def _checkpoint_path(settings: Settings) -> Path:
    key_file = Path(settings.key_file)
    return key_file.with_name(key_file.name + ".reencrypt.json")


def _load(path: Path, expected: dict[str, Any]) -> dict[str, Any]:
    """Return the saved progress if it belongs to the same keys and mode, else a fresh one."""
    try:
        saved: dict[str, Any] = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        saved = {}
    if {k: saved.get(k) for k in expected} != expected:
        saved = {**expected, "after": {}, "finished": []}
    return saved


def _settle(keys: KeyProvider) -> None:
    """Wait until running servers have re-read a freshly rotated key file."""
    if not isinstance(keys, FileKeyProvider):
        return
    wait = keys.refresh_seconds + 1 - (time.time() - keys.path.stat().st_mtime)
    if wait > 0:
        console.print(f"waiting {wait:.0f} s for running servers to load the new keys")
        time.sleep(wait)


@keys_app.command("reencrypt")
def reencrypt(
        full: Annotated[bool, typer.Option(
            help="Rebuild every blind index too (after turning encryption on for a database "
                 "written in clear).")] = False,
        settle: Annotated[bool, typer.Option(
            help="Wait for running servers to load a just-rotated key first.")] = True,
        restart: Annotated[bool, typer.Option(help="Ignore saved progress.")] = False,
        batch: Annotated[int, typer.Option(help="Rows per transaction.")] = 500) -> None:
    """Re-seal and re-blind stored values under the active keys, in batches, resumable."""
    settings = get_settings()
    keys = key_provider(settings)
    if settle:
        _settle(keys)
    path = _checkpoint_path(settings)
    if restart:
        path.unlink(missing_ok=True)
    state = _load(path, {**_active(keys), "full": full})
    engine = get_engine()
    summary = Table(title="Re-keyed")
    for name in ("rows of", "scanned", "rewritten", "conflicts", "failed"):
        summary.add_column(name, justify="left" if name == "rows of" else "right")
    columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())
    conflicts = 0
    failed: list[str] = []
    with Progress(*columns, console=console) as bar:
        for target in _targets(settings):
            if target.name in state["finished"]:
                continue
            start = state["after"].get(target.name)
            with read_transaction(engine) as conn:
                task = bar.add_task(target.name, total=target.total(conn, start))

            def progress(stats: ReencryptStats, task: Any = task, name: str = target.name
                         ) -> None:
                bar.update(task, completed=stats.scanned)
                state["after"][name] = stats.last_id
                path.write_text(json.dumps(state), "utf-8")

            stats = target.run(engine, start, full, batch, progress)
            state["finished"].append(target.name)
            path.write_text(json.dumps(state), "utf-8")
            conflicts += stats.conflicts
            failed += stats.failed
            summary.add_row(target.name, f"{stats.scanned:,}", f"{stats.rewritten:,}",
                            f"{stats.conflicts:,}", f"{len(stats.failed):,}")
    path.unlink(missing_ok=True)
    console.print(summary)
    if conflicts:
        console.print("[yellow]some rows changed meanwhile; run again to sweep them[/]")
    for problem in failed[:20]:
        console.print(f"[red]✗[/] {problem}", highlight=False)
    if failed:
        console.print(f"[red]{len(failed)} rows did not open and keep their old key: keep the "
                      "retired keys and investigate[/]")
        raise typer.Exit(1)
