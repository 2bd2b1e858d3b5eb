"""``gansu-health payment …``: the daily reconciliation and refund retries."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import orjson
import typer
from rich.console import Console
from rich.table import Table

payment_app = typer.Typer(help="Payments: reconciliation and refunds.", no_args_is_help=True)
console = Console()


def _payments() -> tuple[object, object]:
    from gansu_health.core.database import get_engine
    from gansu_health.core.settings import get_settings
    from gansu_health.fhir.setup import build_fhir_api
    from gansu_health.payment.operations import payments_of

    engine = get_engine()
    api = build_fhir_api(get_settings(), engine)
    return payments_of(api), engine


@payment_app.command("reconcile")
def reconcile_cmd(
        day: Annotated[str | None, typer.Option("--date", help="Local day (default yesterday).")]
        = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Compare a day of our settled payments and refunds with the gateway's statement; exit 1
    when they differ."""
    from gansu_health.core.database import read_transaction
    from gansu_health.core.settings import get_settings
    from gansu_health.payment import reconcile

    pay, engine = _payments()
    zone = ZoneInfo(get_settings().timezone)
    target = date.fromisoformat(day) if day else datetime.now(zone).date() - timedelta(days=1)
    with read_transaction(engine) as conn:  # type: ignore[arg-type]
        report = reconcile.report(pay, conn, target)  # type: ignore[arg-type]
    if as_json:
        console.print_json(orjson.dumps(report.to_json()).decode())
    else:
        table = Table(title=f"对账 {report.day} ({report.gateway})")
        for column in ("result", "kind", "order", "ours (fen)", "gateway (fen)"):
            table.add_column(column)
        for name, rows in (("missing at gateway", report.missing_at_gateway),
                           ("missing ours", report.missing_ours)):
            for kind, order, amount in rows:
                table.add_row(name, kind, order, *((str(amount), "—") if name.endswith(
                    "gateway") else ("—", str(amount))))
        for kind, order, ours, theirs in report.mismatched:
            table.add_row("mismatched", kind, order, str(ours), str(theirs))
        console.print(table)
        console.print(f"matched {len(report.matched)}; balanced: {report.balanced}")
    raise typer.Exit(0 if report.balanced else 1)


@payment_app.command("retry-refunds")
def retry_refunds_cmd() -> None:
    """Retry refunds whose backoff has passed."""
    from gansu_health.payment.setup import retry_refunds

    pay, engine = _payments()
    console.print(f"refunds tried: {retry_refunds(pay, engine)}")  # type: ignore[arg-type]
