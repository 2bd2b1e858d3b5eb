"""Staff accounts for the demo province, one per role, so the console can be tried at once.

Passwords are generated, shown once by ``gansu-health seed --demo`` and written to
``var/demo-credentials.txt`` (mode 0600); the administrator gets a TOTP secret as the platform
requires. Accounts that already exist are left alone (seeding is idempotent).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from gansu_health.core.database import read_transaction, write_transaction
from gansu_health.fhir.service import FhirService
from gansu_health.identity.accounts import repository
from gansu_health.identity.accounts.staff import create_staff, make_grant
from gansu_health.identity.keys import FieldCipher

DEMO_REGION = "620100"  # 兰州市
ROLES = ("doctor", "nurse", "registrar", "pharmacist", "data-steward", "cdc-officer",
         "supervisor", "admin")


@dataclass(frozen=True, slots=True)
class DemoLogin:
    """A demo staff sign-in."""

    username: str
    role: str
    password: str
    totp_uri: str | None


def _workplace(engine: Engine, fhir: FhirService) -> tuple[str, str] | None:
    """An institution of the demo with a doctor: (Organization id, Practitioner id)."""
    with read_transaction(engine) as conn:
        for role in fhir.match(conn, "PractitionerRole", "_count=1", limit=1):
            body = role.json()
            org = (body.get("organization") or {}).get("reference", "")
            doctor = (body.get("practitioner") or {}).get("reference", "")
            if org.startswith("Organization/") and doctor.startswith("Practitioner/"):
                return org.split("/", 1)[1], doctor.split("/", 1)[1]
    return None


def ensure_demo_staff(engine: Engine, fhir: FhirService, cipher: FieldCipher, node: str
                      ) -> list[DemoLogin]:
    """Create the missing demo staff accounts; return the sign-ins created now."""
    place = _workplace(engine, fhir)
    if place is None:
        return []
    org, practitioner = place
    created: list[DemoLogin] = []
    with write_transaction(engine) as conn:
        for role in ROLES:
            username = f"demo-{role}"
            if repository.find_by_username(conn, username) is not None:
                continue
            password = f"Gh-{secrets.token_urlsafe(12)}"
            grant = make_grant(org, role,
                               practitioner if role in ("doctor", "nurse", "pharmacist") else None,
                               DEMO_REGION if role in ("cdc-officer", "supervisor") else None)
            staff = create_staff(conn, cipher, node=node, username=username,
                                 display_name=f"演示 {role}", password=password, grants=[grant],
                                 operator="seed --demo", with_totp=role == "admin")
            created.append(DemoLogin(username, role, password, staff.provisioning_uri))
    return created


def write_credentials(logins: list[DemoLogin], path: Path) -> None:
    """Append the new sign-ins to a file only the owner can read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        for login in logins:
            out.write(f"{login.username}\t{login.role}\t{login.password}\t"
                      f"{login.totp_uri or '-'}\n")
