"""Staff account administration: create, grant roles, unlock, disable (all audited)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection

from gansu_health.core.clock import now, to_micros
from gansu_health.core.errors import BadRequest, Conflict, NotFound, UnprocessableEntity
from gansu_health.identity.accounts import passwords, repository, totp
from gansu_health.identity.accounts.audit_events import audit_admin
from gansu_health.identity.accounts.repository import Account, RoleGrant
from gansu_health.identity.accounts.service import TOTP_CONTEXT
from gansu_health.identity.accounts.sessions import revoke_account_sessions
from gansu_health.identity.keys import FieldCipher
from gansu_health.identity.principal import ROLES
from gansu_health.identity.tokens.repository import revoke_subject

FHIR_ID_RE = re.compile(r"[A-Za-z0-9\-.]{1,64}")
REGION_RE = re.compile(r"\d{6}")


@dataclass(frozen=True, slots=True)
class NewStaff:
    """A created staff account and its TOTP secret (shown once to enrol the authenticator)."""

    account: Account
    totp_secret: str | None

    @property
    def provisioning_uri(self) -> str | None:
        """The ``otpauth://`` URI for the authenticator app."""
        if self.totp_secret is None or self.account.username is None:
            return None
        return totp.provisioning_uri(self.totp_secret, self.account.username)


def make_grant(organization: str, role: str, practitioner: str | None = None,
               region: str | None = None) -> RoleGrant:
    """A validated role grant (FHIR ids, a role of ROLES, a 6-digit GB/T 2260 code)."""
    if not FHIR_ID_RE.fullmatch(organization):
        raise BadRequest("The organization must be an Organization id", expression="org")
    if role not in ROLES:
        raise BadRequest(f"The role must be one of {', '.join(ROLES)}", expression="role")
    if practitioner is not None and not FHIR_ID_RE.fullmatch(practitioner):
        raise BadRequest("The practitioner must be a Practitioner id",
                         expression="practitioner")
    if region is not None and not REGION_RE.fullmatch(region):
        raise BadRequest("The region must be a 6-digit GB/T 2260 code", expression="region")
    return RoleGrant(organization, role, practitioner, region, to_micros(now()))


def create_staff(conn: Connection, cipher: FieldCipher, *, node: str, username: str,
                 display_name: str, password: str, grants: list[RoleGrant], operator: str,
                 with_totp: bool = True) -> NewStaff:
    """Create a staff account with its role grants; admins must have TOTP."""
    name = repository.normalise_username(username)
    if not grants:
        raise BadRequest("A staff account needs at least one role", expression="role")
    if not with_totp and any(g.role == "admin" for g in grants):
        raise UnprocessableEntity("Administrator accounts must use TOTP", expression="totp")
    if repository.find_by_username(conn, name) is not None:
        raise Conflict(f"The username {name!r} is taken", expression="username")
    secret = totp.new_secret() if with_totp else None
    acct = repository.insert_account(
        conn, node=node, kind="staff", username=name, display_name=display_name.strip()[:128],
        password_hash=passwords.hash_password(passwords.check_strength(password)),
        totp_enc=cipher.encrypt(secret, TOTP_CONTEXT) if secret else None)
    for grant in grants:
        if not repository.has_grant(conn, acct.id, grant.organization_id, grant.role):
            repository.insert_role(conn, acct.id, node, grant)
    roles = ", ".join(f"{g.role}@{g.organization_id}" for g in grants)
    audit_admin(conn, "C", "account-create", operator=operator, acct=acct,
                reason=f"staff account {name} ({acct.id}) created with {roles}")
    return NewStaff(acct, secret)


def staff_account(conn: Connection, username: str) -> Account:
    """The staff account of ``username``; NotFound otherwise."""
    acct = repository.find_by_username(conn, repository.normalise_username(username))
    if acct is None or acct.kind != "staff":
        raise NotFound(f"No staff account {username!r}", expression="username")
    return acct


def add_role(conn: Connection, username: str, grant: RoleGrant, *, node: str,
             operator: str) -> Account:
    """Grant one more role at an institution; admins must already have TOTP."""
    acct = staff_account(conn, username)
    if grant.role == "admin" and acct.totp_enc is None:
        raise UnprocessableEntity("Enrol TOTP before granting the admin role",
                                  expression="role")
    if repository.has_grant(conn, acct.id, grant.organization_id, grant.role):
        raise Conflict(f"{username} already is {grant.role} at {grant.organization_id}",
                       expression="role")
    repository.insert_role(conn, acct.id, node, grant)
    audit_admin(conn, "U", "account-role", operator=operator, acct=acct,
                reason=f"{acct.username} granted {grant.role}@{grant.organization_id}")
    return acct


def unlock(conn: Connection, username: str, *, operator: str) -> Account:
    """Clear the failure counter and lockout of a staff account."""
    acct = staff_account(conn, username)
    repository.update_account(conn, acct.id, failed_logins=0, locked_until_us=None)
    audit_admin(conn, "U", "account-unlock", operator=operator, acct=acct,
                reason=f"{acct.username} unlocked")
    return acct


def set_status(conn: Connection, username: str, status: str, *, operator: str) -> Account:
    """Enable or disable a staff account; disabling ends its sessions and tokens."""
    acct = staff_account(conn, username)
    repository.update_account(conn, acct.id, status=status)
    if status == "disabled":
        revoke_account_sessions(conn, acct.id)
        revoke_subject(conn, acct.id)
    audit_admin(conn, "U", "account-status", operator=operator, acct=acct,
                reason=f"{acct.username} set {status}")
    return acct
