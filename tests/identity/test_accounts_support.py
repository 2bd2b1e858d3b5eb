"""Helpers for the account tests: a movable clock, fresh phones, residents in the store, staff."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from gansu_health.core.clock import now, set_clock
from gansu_health.core.database import read_transaction, write_transaction
from gansu_health.identity.accounts import staff, totp
from gansu_health.identity.accounts.service import AccountService
from gansu_health.identity.accounts.sms import LogSmsGateway
from gansu_health.identity.audit.models import audit_event
from gansu_health.mpi.resident_id import make_resident_id

_counter = itertools.count(1)
PASSWORD = "Correct-Horse-9"


class Clock:
    """A settable clock for ``gansu_health.core.clock``."""

    def __init__(self) -> None:
        self.moment = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


def frozen_clock() -> Iterator[Clock]:
    """Freeze time at now while the generator is open (use it in a fixture)."""
    fake = Clock()
    set_clock(fake)
    yield fake
    set_clock(None)


def new_phone() -> str:
    """A mobile number no other test uses."""
    return f"139{next(_counter):04d}{datetime.now().microsecond % 10000:04d}"


def accounts(client: TestClient) -> AccountService:
    """The app's account service."""
    service: AccountService = client.app.state.accounts  # type: ignore[attr-defined]
    return service


def sms_code(client: TestClient, phone: str) -> str:
    """The last code the development SMS sink sent to ``phone``."""
    sms = accounts(client).sms
    assert isinstance(sms, LogSmsGateway)
    code = sms.last_code(phone)
    assert code is not None
    return code


def sign_in_citizen(client: TestClient, phone: str | None = None) -> tuple[str, dict[str, Any]]:
    """Sign a fresh resident in through the API; return the phone and the response body."""
    phone = phone or new_phone()
    client.cookies.clear()
    assert client.post("/auth/otp", json={"phone": phone}).status_code == 202
    resp = client.post("/auth/citizen/login", json={"phone": phone,
                                                     "code": sms_code(client, phone)})
    assert resp.status_code == 200, resp.text
    return phone, resp.json()


def add_resident(client: TestClient, family: str, given: str, *, born: date = date(1988, 3, 9),
                 sex: str = "male") -> tuple[str, str]:
    """Store a Patient with a fresh resident ID; return (patient id, resident ID)."""
    n = next(_counter)
    sequence = (n * 2 + 1 if sex == "male" else n * 2) % 1000
    number = make_resident_id("620102", born, sequence, sex)  # type: ignore[arg-type]
    body = {"resourceType": "Patient", "identifier": [{"system": "urn:oid:2.16.156.10011.1.3",
                                                       "value": number}],
            "name": [{"family": family, "given": [given]}], "gender": sex,
            "birthDate": born.isoformat()}
    state = client.app.state  # type: ignore[attr-defined]
    with write_transaction(state.engine) as conn:
        stored, _ = state.fhir.service.create(conn, "Patient", body)
    return stored.fid, number


@dataclass
class StaffUser:
    """A staff account made for a test."""

    username: str
    account_id: str
    secret: str | None


def make_staff(client: TestClient, roles: list[tuple[str, str]], *, with_totp: bool = True,
               practitioner: str | None = None, region: str | None = None) -> StaffUser:
    """Create a staff account holding (organization, role) grants."""
    username = f"staff{next(_counter)}.{datetime.now().microsecond}"
    service = accounts(client)
    grants = [staff.make_grant(org, role, practitioner, region) for org, role in roles]
    with write_transaction(client.app.state.engine) as conn:  # type: ignore[attr-defined]
        created = staff.create_staff(conn, service.cipher, node="620000", username=username,
                                     display_name="王医生", password=PASSWORD, grants=grants,
                                     operator="test", with_totp=with_totp)
    return StaffUser(username, created.account.id, created.totp_secret)


def totp_now(user: StaffUser) -> str:
    """The authenticator code of ``user`` at the platform clock's now."""
    assert user.secret is not None
    return totp.code_at(user.secret, now())


def audit_rows(client: TestClient, subtype: str, actor_id: str | None = None
               ) -> list[dict[str, Any]]:
    """Audit rows of ``subtype`` (optionally by one actor), oldest first."""
    query = select(audit_event).where(audit_event.c.subtype == subtype).order_by(audit_event.c.id)
    if actor_id:
        query = query.where(audit_event.c.actor_id == actor_id)
    with read_transaction(client.app.state.engine) as conn:  # type: ignore[attr-defined]
        return [dict(r) for r in conn.execute(query).mappings()]
