"""SQL for accounts, staff role grants and 就诊人 (family members)."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from gansu_health.core.clock import now, to_micros
from gansu_health.core.database import is_sqlite
from gansu_health.core.errors import BadRequest
from gansu_health.identity.accounts.models import account, account_member, staff_role

USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")


def normalise_username(username: str, *, strict: bool = True) -> str:
    """The canonical form of a staff username; BadRequest when ``strict`` and malformed."""
    name = unicodedata.normalize("NFKC", username or "").strip().casefold()
    if strict and not USERNAME_RE.fullmatch(name):
        raise BadRequest("A username has 3-64 characters: letters, digits, '.', '_' or '-'",
                         expression="username")
    return name


@dataclass(frozen=True, slots=True)
class Account:
    """One row of ``account``."""

    id: str
    node: str
    kind: str
    phone_enc: str | None
    phone_index: str | None
    username: str | None
    display_name: str | None
    password_hash: str | None
    totp_enc: str | None
    totp_last_step: int | None
    patient_id: str | None
    status: str
    failed_logins: int
    locked_until_us: int | None
    created_us: int
    last_login_us: int | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Account:
        """Build from a result row mapping."""
        return cls(**{f.name: row[f.name] for f in fields(cls)})

    def locked_at(self, moment_us: int) -> bool:
        """Whether sign-in is locked at ``moment_us`` after repeated failures."""
        return self.locked_until_us is not None and moment_us < self.locked_until_us


@dataclass(frozen=True, slots=True)
class RoleGrant:
    """One row of ``staff_role``: a role held at an institution."""

    organization_id: str
    role: str
    practitioner_id: str | None
    region: str | None
    created_us: int


@dataclass(frozen=True, slots=True)
class Member:
    """One 就诊人 of an account."""

    patient_id: str
    relationship: str
    guardian: bool
    created_us: int


def get_account(conn: Connection, account_id: str, *, lock: bool = False) -> Account | None:
    """The account ``account_id`` (row-locked on PostgreSQL when ``lock``)."""
    return _one(conn, account.c.id == account_id, lock)


def find_by_username(conn: Connection, username: str, *, lock: bool = False) -> Account | None:
    """The account with this (normalised) username."""
    return _one(conn, account.c.username == username, lock)


def find_by_phone(conn: Connection, kind: str, indexes: Sequence[str], *, lock: bool = False
                  ) -> Account | None:
    """The account of ``kind`` whose phone has one of the blind ``indexes``."""
    return _one(conn, (account.c.kind == kind) & account.c.phone_index.in_(indexes), lock)


def find_by_patient(conn: Connection, patient_id: str) -> Account | None:
    """The citizen account bound to ``patient_id``."""
    return _one(conn, account.c.patient_id == patient_id, False)


def _one(conn: Connection, where: Any, lock: bool) -> Account | None:
    query = select(account).where(where)
    if lock and not is_sqlite(conn):
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    return Account.from_row(row) if row else None


def insert_account(conn: Connection, *, node: str, kind: str, **values: Any) -> Account:
    """Insert an active account and return it."""
    row: dict[str, Any] = {c.name: None for c in account.columns}
    row.update(id=uuid.uuid4().hex, node=node, kind=kind, status="active", failed_logins=0,
               created_us=to_micros(now()))
    row.update(values)
    conn.execute(insert(account).values(**row))
    return Account.from_row(row)


def update_account(conn: Connection, account_id: str, **values: Any) -> None:
    """Set columns of one account."""
    conn.execute(update(account).where(account.c.id == account_id).values(**values))


def list_accounts(conn: Connection, kind: str | None = None, limit: int = 1000) -> list[Account]:
    """Accounts by creation, optionally of one kind."""
    query = select(account).order_by(account.c.created_us, account.c.id).limit(limit)
    if kind:
        query = query.where(account.c.kind == kind)
    return [Account.from_row(r) for r in conn.execute(query).mappings()]


def list_roles(conn: Connection, account_id: str) -> list[RoleGrant]:
    """The role grants of an account, oldest first."""
    rows = conn.execute(select(staff_role).where(staff_role.c.account_id == account_id)
                        .order_by(staff_role.c.created_us, staff_role.c.id)).mappings()
    return [RoleGrant(r["organization_id"], r["role"], r["practitioner_id"], r["region"],
                      r["created_us"]) for r in rows]


def has_grant(conn: Connection, account_id: str, organization_id: str, role: str) -> bool:
    """Whether the account already holds ``role`` at ``organization_id``."""
    return conn.execute(select(staff_role.c.id).where(
        staff_role.c.account_id == account_id, staff_role.c.organization_id == organization_id,
        staff_role.c.role == role)).first() is not None


def insert_role(conn: Connection, account_id: str, node: str, grant: RoleGrant) -> None:
    """Grant a role at an institution."""
    conn.execute(insert(staff_role).values(
        account_id=account_id, node=node, organization_id=grant.organization_id,
        role=grant.role, practitioner_id=grant.practitioner_id, region=grant.region,
        created_us=grant.created_us))


def list_members(conn: Connection, account_id: str) -> list[Member]:
    """The 就诊人 of an account, self first, then by when they were added."""
    rows = conn.execute(select(account_member).where(account_member.c.account_id == account_id)
                        .order_by(account_member.c.created_us, account_member.c.patient_id))
    members = [Member(r.patient_id, r.relationship, bool(r.guardian), r.created_us)
               for r in rows]
    return sorted(members, key=lambda m: m.relationship != "self")


def insert_member(conn: Connection, account_id: str, node: str, member: Member) -> None:
    """Add a 就诊人 row."""
    conn.execute(insert(account_member).values(
        account_id=account_id, node=node, patient_id=member.patient_id,
        relationship=member.relationship, guardian=member.guardian,
        created_us=member.created_us))


def delete_member(conn: Connection, account_id: str, patient_id: str) -> bool:
    """Remove a 就诊人 row; False when there was none."""
    result = conn.execute(delete(account_member).where(
        account_member.c.account_id == account_id, account_member.c.patient_id == patient_id))
    return bool(result.rowcount)
