"""Audit rows for sign-in, sign-out (DICOM 110114 User Authentication) and account changes."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from gansu_health.identity.accounts.repository import Account
from gansu_health.identity.audit.repository import AuditRecord, record

SUCCESS = 0
FAILURE = 4


@dataclass(frozen=True, slots=True)
class ClientContext:
    """Where a request came from, for the audit trail and the session row."""

    source_ip: str | None = None
    user_agent: str | None = None


def audit_auth(conn: Connection, subtype: str, *, kind: str, acct: Account | None,
               name: str | None, ctx: ClientContext, outcome: int = SUCCESS,
               reason: str | None = None) -> None:
    """Append a login/logout row (action E) inside the caller's write transaction."""
    record(conn, AuditRecord(
        action="E", subtype=subtype, actor_type=kind, actor_id=acct.id if acct else None,
        actor_name=name, outcome=outcome, source_ip=ctx.source_ip,
        user_agent=ctx.user_agent, reason=reason))


def audit_admin(conn: Connection, action: str, subtype: str, *, operator: str,
                acct: Account, reason: str) -> None:
    """Append an account-administration row (create/update) done by ``operator``."""
    record(conn, AuditRecord(
        action=action, subtype=subtype, actor_type="operator", actor_id=operator,
        actor_name=operator, resource_id=acct.id, reason=reason))
