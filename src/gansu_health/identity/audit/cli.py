"""``audit`` commands: verify the chain, purge past retention, show a trail, rotate/re-encrypt keys.

Mount with ``app.add_typer(audit_app, name="audit")`` in the main CLI; the key commands live
under ``audit key`` (``keys_app`` may also be mounted on its own).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table as RichTable
from sqlalchemy import MetaData, Table

from gansu_health.core.clock import fhir_instant
from gansu_health.core.database import get_engine, read_transaction
from gansu_health.core.settings import get_settings
from gansu_health.identity.audit.repository import (
    MIN_RETENTION,
    RetentionError,
    purge,
    search_by_patient,
    verify,
)
from gansu_health.identity.keys import (
    EncryptedColumn,
    FieldCipher,
    FileKeyProvider,
    reencrypt_table,
)
from gansu_health.identity.reencrypt import ReencryptStats

audit_app = typer.Typer(help="Tamper-evident audit trail (SM3 hash chain).", no_args_is_help=True)
keys_app = typer.Typer(help="Field-encryption keys: SM4 data keys and HMAC-SM3 index keys.",
                       no_args_is_help=True)
audit_app.add_typer(keys_app, name="key")
console = Console()
KeyFile = Annotated[Path | None, typer.Option(help="Key file (default GANSU_HEALTH_KEY_FILE or "
                                                   "var/keys.json).")]


@audit_app.command("verify")
def verify_cmd(batch: Annotated[int, typer.Option(help="Rows fetched per query.")] = 2000
               ) -> None:
    """Walk the audit chain; exit 1 when a row was edited, deleted or reordered."""
    report = verify(get_engine(), batch=batch)
    table = RichTable(title="Audit chain")
    table.add_column("check")
    table.add_column("value", justify="right")
    table.add_row("rows checked", f"{report.checked:,}")
    table.add_row("first / last id", f"{report.first_id} / {report.last_id}")
    table.add_row("status", "[green]intact[/]" if report.ok else "[bold red]BROKEN[/]")
    if not report.ok:
        table.add_row("first broken row", str(report.broken_id))
    console.print(table)
    if not report.ok:
        console.print(f"[red]{report.problem}[/]")
        raise typer.Exit(1)


def _parse_moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(get_settings().timezone))
    return moment


@audit_app.command("purge")
def purge_cmd(before: Annotated[str, typer.Option(help="Delete rows recorded before this "
                                                       "ISO date/time (local zone if naive).")],
              retention_days: Annotated[int, typer.Option(
                  help="Retention period in days (at least 184, six months).")]
              = MIN_RETENTION.days) -> None:
    """Delete audit rows older than --before, keeping the chain verifiable via an anchor row."""
    try:
        report = purge(get_engine(), _parse_moment(before),
                       retention=timedelta(days=retention_days))
    except RetentionError as exc:
        console.print(f"[red]refused:[/] {exc}")
        raise typer.Exit(2) from exc
    console.print(f"deleted {report.deleted:,} rows through id {report.through_id}; "
                  f"anchor rows {report.anchors}")


@audit_app.command("show")
def show_cmd(patient: Annotated[str, typer.Option(help="Patient id.")],
             count: Annotated[int, typer.Option(help="Rows to show.")] = 20) -> None:
    """Show who accessed a patient's record, newest first."""
    with read_transaction(get_engine()) as conn:
        page = search_by_patient(conn, patient, limit=count)
    table = RichTable(title=f"Audit trail of Patient/{patient}")
    for name in ("id", "recorded", "actor", "action", "resource", "purpose", "outcome"):
        table.add_column(name)
    for row in page.rows:
        table.add_row(str(row.id), fhir_instant(row.recorded_us),
                      f"{row.actor_type}/{row.actor_id or '-'} {row.actor_name or ''}",
                      f"{row.action} {row.subtype}" + (" [red]BTG[/]" if row.break_glass else ""),
                      f"{row.resource_type or ''}/{row.resource_id or ''}",
                      row.purpose_of_use or "", str(row.outcome))
    console.print(table)


@keys_app.command("rotate")
def rotate_cmd(purpose: Annotated[str, typer.Option(help="data (SM4) or index (HMAC-SM3).")]
               = "data", key_file: KeyFile = None) -> None:
    """Add a new active key; old keys stay readable until values are re-encrypted."""
    if purpose not in ("data", "index"):
        raise typer.BadParameter("purpose must be data or index")
    which: Literal["data", "index"] = "data" if purpose == "data" else "index"
    kid = FileKeyProvider(key_file).rotate(which)
    console.print(f"[green]new active {purpose} key {kid}[/]; running servers pick it up "
                  "within seconds; then run `audit key reencrypt`")


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep:
            raise typer.BadParameter(f"{option} expects COLUMN=VALUE, got {value!r}")
        pairs[name] = rest
    return pairs


@keys_app.command("reencrypt")
def reencrypt_cmd(
        table: Annotated[str, typer.Option(help="Table holding encrypted columns.")],
        column: Annotated[list[str], typer.Option(help="Encrypted column (repeatable).")],
        id_column: Annotated[str, typer.Option(help="Unique, ordered key column.")] = "id",
        context: Annotated[list[str] | None, typer.Option(
            help="COLUMN=CONTEXT: the AAD context the column was sealed with.")] = None,
        index: Annotated[list[str] | None, typer.Option(
            help="COLUMN=INDEX_COLUMN:KIND: blind index to recompute (kind e.g. phone).")]
        = None,
        batch: Annotated[int, typer.Option(help="Rows per transaction.")] = 500,
        key_file: KeyFile = None) -> None:
    """Re-seal values under the active key in short batches, without downtime."""
    contexts = _pairs(context or [], "--context")
    indexes = {k: v.partition(":") for k, v in _pairs(index or [], "--index").items()}
    cols = [EncryptedColumn(name, contexts.get(name, ""),
                            indexes[name][0] if name in indexes else None,
                            indexes[name][2] or "text" if name in indexes else "text")
            for name in column]
    engine = get_engine()
    target = Table(table, MetaData(), autoload_with=engine)

    def progress(stats: ReencryptStats) -> None:
        console.print(f"scanned {stats.scanned:,}  rewritten {stats.rewritten:,}  "
                      f"conflicts {stats.conflicts:,}", highlight=False)

    stats = reencrypt_table(engine, FieldCipher(FileKeyProvider(key_file)), target, id_column,
                            cols, batch=batch, progress=progress)
    console.print(f"[green]done[/]: {stats.rewritten:,} of {stats.scanned:,} rows re-keyed"
                  + (f"; {stats.conflicts} changed concurrently, run again" if stats.conflicts
                     else ""))
