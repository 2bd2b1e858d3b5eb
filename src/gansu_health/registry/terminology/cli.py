"""``terminology`` CLI commands: load the shipped terminology, look codes up, expand value sets."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from gansu_health.registry.terminology import systems as S

terminology_app = typer.Typer(help="Terminology: code systems and value sets.",
                              no_args_is_help=True)
console = Console()


def _api() -> Any:
    from gansu_health.core.database import get_engine
    from gansu_health.core.settings import get_settings
    from gansu_health.fhir.setup import build_fhir_api

    return build_fhir_api(get_settings(), get_engine())


def _call(path: str, params: list[tuple[str, str]]) -> dict[str, Any]:
    from gansu_health.fhir.rest.dispatch import FhirRequest

    response = _api().handle(FhirRequest("GET", path, params, {}))
    body: dict[str, Any] = json.loads(response.body or b"{}")
    if response.status >= 400:
        for issue in body.get("issue", []):
            console.print(f"[red]✗[/] {issue.get('diagnostics')}")
        raise typer.Exit(1)
    return body


@terminology_app.command("load")
def load() -> None:
    """PUT the shipped CodeSystems and ValueSets (idempotent)."""
    from gansu_health.registry.terminology.loader import load_terminology, shipped_resources

    changed = load_terminology(_api())
    console.print(f"{len(shipped_resources())} terminology resources, {changed} written")


@terminology_app.command("lookup")
def lookup(system: Annotated[str, typer.Argument(help="Code system URL, or a short name like "
                                                      "'department'.")],
           code: Annotated[str, typer.Argument(help="The code.")]) -> None:
    """Look a code up ($lookup)."""
    url = system if "/" in system else f"{S.CS_PREFIX}{system}"
    body = _call("CodeSystem/$lookup", [("system", url), ("code", code)])
    table = Table(title=f"{url}#{code}")
    table.add_column("name")
    table.add_column("value")
    for p in body.get("parameter", []):
        parts = {q["name"]: next(v for k, v in q.items() if k != "name")
                 for q in p.get("part", [])}
        value = next((v for k, v in p.items() if k.startswith("value")), None)
        label = f"{p['name']} {parts.get('code', parts.get('language', ''))}".strip()
        table.add_row(label, str(parts.get("value", value)))
    console.print(table)


@terminology_app.command("expand")
def expand(url: Annotated[str, typer.Argument(help="ValueSet URL, or a short name.")],
           text: Annotated[str | None, typer.Option("--filter", help="Text filter.")] = None,
           count: Annotated[int, typer.Option(help="Page size.")] = 50,
           offset: Annotated[int, typer.Option(help="Page start.")] = 0,
           active_only: Annotated[bool, typer.Option("--active-only")] = False,
           as_of: Annotated[str | None, typer.Option("--date", help="As of this date.")] = None
           ) -> None:
    """Expand a value set ($expand) and print one page."""
    full = url if "/" in url else f"{S.VS_PREFIX}{url}"
    params = [("url", full), ("count", str(count)), ("offset", str(offset))]
    params += [("filter", text)] if text else []
    params += [("activeOnly", "true")] if active_only else []
    params += [("date", as_of)] if as_of else []
    expansion = _call("ValueSet/$expand", params)["expansion"]
    table = Table(title=f"{full}: {expansion['total']} codes")
    for column in ("code", "display", "system"):
        table.add_column(column)
    for item in expansion.get("contains", []):
        flag = " [dim](inactive)[/]" if item.get("inactive") else ""
        table.add_row(item["code"], f"{item.get('display', '')}{flag}", item["system"])
    console.print(table)
