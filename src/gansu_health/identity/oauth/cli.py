"""``clients`` commands (create, list, disable) and the operator ``token`` command.

Mount with ``app.add_typer(clients_app, name="clients")`` and
``app.command("token")(token_cmd)`` in the main CLI.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gansu_health.core.clock import fhir_instant
from gansu_health.core.database import get_engine, read_transaction, write_transaction
from gansu_health.core.errors import PlatformError
from gansu_health.core.settings import get_settings
from gansu_health.identity.oauth import repository, service
from gansu_health.identity.oauth.jwks import (
    KeyMaterialError,
    generate_key_pair,
    load_jwks,
    write_private_key,
)
from gansu_health.identity.oauth.metadata import Urls

clients_app = typer.Typer(help="OAuth clients: hospital systems, municipal nodes and SMART apps.",
                          no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (containers without passwd entries)
        return "operator"


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[red]{message}[/]")
    return typer.Exit(1)


@clients_app.command("create")
def create_cmd(
    name: Annotated[str, typer.Option(help="Display name (shown on the approval page).")],
    kind: Annotated[str, typer.Option(help="system | node | public | confidential.")],
    scope: Annotated[str, typer.Option(help='Allowed SMART scopes, e.g. "system/*.rs".')],
    jwks: Annotated[Path | None, typer.Option(
        help="JWK Set (or one JWK, or a PEM public key) of the client's keys.")] = None,
    generate_key: Annotated[Path | None, typer.Option(
        help="Generate an EC P-384 key pair; write the private key PEM here (0600).")] = None,
    redirect_uri: Annotated[list[str] | None, typer.Option(
        help="Redirect URI of an app (repeatable).")] = None,
    node: Annotated[str | None, typer.Option(help="Data centre a node client acts for.")] = None,
    org: Annotated[str | None, typer.Option(help="Organization id the client belongs to.")
                   ] = None,
) -> None:
    """Register a client and print its client id."""
    if jwks and generate_key:
        raise _fail("use either --jwks or --generate-key")
    if generate_key and generate_key.exists():
        raise _fail(f"{generate_key} already exists; not overwriting a key")
    pem: bytes | None
    try:
        keys, pem = (load_jwks(jwks) if jwks else None), None
        if generate_key:
            pem, keys = generate_key_pair()
    except (KeyMaterialError, OSError) as exc:
        raise _fail(str(exc)) from exc
    try:
        with write_transaction(get_engine()) as conn:
            client = service.create_client(
                conn, name=name, kind=kind, scope=scope, jwks=keys,
                redirect_uris=list(redirect_uri or []), node=node, organization_id=org,
                actor=_operator())
            if generate_key and pem:  # inside the transaction: no client without its key
                write_private_key(generate_key, pem)
    except PlatformError as exc:
        raise _fail(exc.message) from exc
    typer.echo(client.client_id)
    if generate_key and keys:
        typer.echo(f"private key: {generate_key.resolve()}")
        typer.echo(f"key id (kid): {keys['keys'][0]['kid']}")
        typer.echo(f"token endpoint: {Urls.from_settings(get_settings()).token}")


@clients_app.command("list")
def list_cmd(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
             ) -> None:
    """List the registered clients."""
    with read_transaction(get_engine()) as conn:
        clients = repository.list_clients(conn)
    if as_json:
        typer.echo(json.dumps([{
            "client_id": c.client_id, "name": c.name, "kind": c.kind, "scope": c.scope,
            "node": c.node, "organization_id": c.organization_id,
            "redirect_uris": list(c.redirect_uris), "disabled": c.disabled,
            "created": fhir_instant(c.created_us)} for c in clients], ensure_ascii=False))
        return
    table = Table(title="OAuth clients")
    for column in ("client id", "name", "kind", "scope", "node / org", "status"):
        table.add_column(column)
    for c in clients:
        table.add_row(c.client_id, c.name, c.kind, c.scope,
                      " / ".join(x for x in (c.node, c.organization_id) if x) or "-",
                      "[red]disabled[/]" if c.disabled else "[green]enabled[/]")
    console.print(table)


@clients_app.command("disable")
def disable_cmd(client_id: Annotated[str, typer.Argument(help="The client to disable.")]
                ) -> None:
    """Disable a client and revoke every token issued to it."""
    try:
        with write_transaction(get_engine()) as conn:
            revoked = service.disable_client(conn, client_id, actor=_operator())
    except PlatformError as exc:
        raise _fail(exc.message) from exc
    typer.echo(f"{client_id} disabled; {revoked} tokens revoked")


def token_cmd(
    scope: Annotated[str, typer.Option(help='SMART scopes, e.g. "system/*.rs".')],
    patient: Annotated[str | None, typer.Option(help="Patient context (launch patient).")
                       ] = None,
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds (at most 86400).")] = 900,
    subject: Annotated[str | None, typer.Option(
        help="Who the token is for (default: your login name).")] = None,
) -> None:
    """Mint a short-lived operator bearer token and print it."""
    settings = get_settings()
    try:
        with write_transaction(get_engine()) as conn:
            issued = service.mint_operator_token(conn, settings, scope=scope,
                                                 subject=subject or _operator(), ttl_s=ttl,
                                                 patient=patient)
    except PlatformError as exc:
        raise _fail(exc.message) from exc
    typer.echo(issued.access_token)
