"""``accounts`` commands: create staff, grant roles, unlock, enable/disable, list (audited)."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table as RichTable

from gansu_health.core.clock import fhir_instant, now, to_micros
from gansu_health.core.database import get_engine, read_transaction, write_transaction
from gansu_health.core.errors import PlatformError
from gansu_health.core.settings import get_settings
from gansu_health.identity.accounts import passwords, repository, staff
from gansu_health.identity.keys import FieldCipher, key_provider
from gansu_health.identity.principal import ROLES

accounts_app = typer.Typer(help="Staff and resident accounts.", no_args_is_help=True)
console = Console()
Username = Annotated[str, typer.Option(help="Sign-in name (letters, digits, . _ -).")]
Org = Annotated[str, typer.Option("--org", help="Organization id the role is held at.")]
Practitioner = Annotated[str | None, typer.Option(help="Practitioner id (fhirUser).")]
Region = Annotated[str | None, typer.Option(help="GB/T 2260 code overseen (CDC, supervisor).")]


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _fail(exc: PlatformError) -> typer.Exit:
    console.print(f"[red]{exc.message}[/]")
    return typer.Exit(1)


@accounts_app.command("create-staff")
def create_staff_cmd(
    username: Username,
    name: Annotated[str, typer.Option(help="Display name, e.g. 王医生.")],
    org: Org,
    role: Annotated[list[str], typer.Option(help=f"Role, repeatable: {', '.join(ROLES)}.")],
    practitioner: Practitioner = None,
    region: Region = None,
    generate_password: Annotated[bool, typer.Option(
        help="Generate and print a password instead of prompting.")] = False,
    totp: Annotated[bool, typer.Option(help="Enrol TOTP (required for admin).")] = True,
) -> None:
    """Create a staff account; prints the TOTP provisioning URI for the authenticator app."""
    if generate_password:
        password = passwords.generate_password()
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = get_settings()
    cipher = FieldCipher(key_provider(settings))
    try:
        grants = [staff.make_grant(org, r, practitioner, region) for r in role]
        with write_transaction(get_engine()) as conn:
            created = staff.create_staff(conn, cipher, node=settings.node_id, username=username,
                                         display_name=name, password=password, grants=grants,
                                         operator=_operator(), with_totp=totp)
    except PlatformError as exc:
        raise _fail(exc) from exc
    console.print(f"[green]created[/] {created.account.username} ({created.account.id})")
    if generate_password:
        console.print(f"password: {password}")
    if created.provisioning_uri:
        console.print("TOTP (scan into an authenticator app):")
        console.print(created.provisioning_uri, soft_wrap=True, markup=False)


@accounts_app.command("add-role")
def add_role_cmd(username: Username, org: Org,
                 role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}.")],
                 practitioner: Practitioner = None, region: Region = None) -> None:
    """Grant a staff account a role at an institution."""
    try:
        grant = staff.make_grant(org, role, practitioner, region)
        with write_transaction(get_engine()) as conn:
            staff.add_role(conn, username, grant, node=get_settings().node_id,
                           operator=_operator())
    except PlatformError as exc:
        raise _fail(exc) from exc
    console.print(f"[green]{username} is now {role} at {org}[/]")


@accounts_app.command("unlock")
def unlock_cmd(username: Username) -> None:
    """Lift the lockout after repeated failed sign-ins."""
    try:
        with write_transaction(get_engine()) as conn:
            staff.unlock(conn, username, operator=_operator())
    except PlatformError as exc:
        raise _fail(exc) from exc
    console.print(f"[green]{username} unlocked[/]")


@accounts_app.command("disable")
def disable_cmd(username: Username) -> None:
    """Disable a staff account and end its sessions and tokens."""
    _set_status(username, "disabled")


@accounts_app.command("enable")
def enable_cmd(username: Username) -> None:
    """Enable a disabled staff account."""
    _set_status(username, "active")


def _set_status(username: str, status: str) -> None:
    try:
        with write_transaction(get_engine()) as conn:
            staff.set_status(conn, username, status, operator=_operator())
    except PlatformError as exc:
        raise _fail(exc) from exc
    console.print(f"[green]{username} {status}[/]")


@accounts_app.command("list")
def list_cmd(kind: Annotated[str | None, typer.Option(help="citizen or staff.")] = "staff",
             limit: Annotated[int, typer.Option(help="At most this many rows.")] = 200) -> None:
    """List accounts with their roles and lock state (phones are not shown)."""
    t = to_micros(now())
    table = RichTable(title="Accounts")
    for column in ("id", "kind", "username", "name", "roles", "status", "last sign-in"):
        table.add_column(column)
    with read_transaction(get_engine()) as conn:
        for acct in repository.list_accounts(conn, kind, limit):
            roles = ", ".join(f"{g.role}@{g.organization_id}"
                              for g in repository.list_roles(conn, acct.id))
            status = "locked" if acct.locked_at(t) else acct.status
            table.add_row(acct.id, acct.kind, acct.username or "", acct.display_name or "",
                          roles, status,
                          fhir_instant(acct.last_login_us) if acct.last_login_us else "")
    console.print(table)
