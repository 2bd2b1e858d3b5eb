"""``gansu-health accounts``: create staff (password prompted or generated, TOTP URI), grant
roles, list, unlock, disable — against both databases, audited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from gansu_health.cli import app
from gansu_health.core.clock import now
from gansu_health.core.database import get_engine, read_transaction, write_transaction
from gansu_health.core.settings import get_settings
from gansu_health.identity.accounts import cli as accounts_cli
from gansu_health.identity.accounts import repository
from gansu_health.identity.accounts.audit_events import ClientContext
from gansu_health.identity.accounts.service import AccountService
from gansu_health.identity.accounts.sms import LogSmsGateway
from gansu_health.identity.audit.models import audit_event
from gansu_health.identity.keys import FieldCipher, key_provider


@pytest.fixture
def cli_db(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("GANSU_HEALTH_DATABASE_URL", db_url)
    monkeypatch.setenv("GANSU_HEALTH_KEY_FILE", str(tmp_path / "keys.json"))
    monkeypatch.setattr(accounts_cli.console, "width", 240)
    get_settings.cache_clear()
    get_engine.cache_clear()
    yield db_url
    get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()


def _service() -> AccountService:
    settings = get_settings()
    return AccountService(settings, FieldCipher(key_provider(settings)), LogSmsGateway())


def _login(username: str, password: str, code: str | None) -> int:
    with write_transaction(get_engine()) as conn:
        result = _service().staff_login(conn, username, password, code, ClientContext())
    return 200 if result.error is None else result.error.status


def test_staff_lifecycle(cli_db: str) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["accounts", "create-staff", "--username", "Li.Admin",
                                  "--name", "李管理", "--org", "org-prov", "--role", "admin",
                                  "--role", "data-steward", "--generate-password"])
    assert created.exit_code == 0, created.output
    password = re.search(r"password: (\S+)", created.output)
    uri = re.search(r"(otpauth://\S+)", created.output)
    assert password and uri
    secret = pyotp.parse_uri(uri.group(1)).secret
    assert _login("li.admin", password.group(1), None) == 401  # admin: TOTP required
    assert _login("li.admin", password.group(1), pyotp.TOTP(secret).at(now())) == 200
    prompted = runner.invoke(app, ["accounts", "create-staff", "--username", "zhang.nurse",
                                   "--name", "张护士", "--org", "org-lz", "--role", "nurse",
                                   "--no-totp"], input="Nurse-pass-7\nNurse-pass-7\n")
    assert prompted.exit_code == 0, prompted.output
    assert "otpauth" not in prompted.output
    assert _login("zhang.nurse", "Nurse-pass-7", None) == 200
    no_admin = runner.invoke(app, ["accounts", "create-staff", "--username", "x.admin",
                                   "--name", "X", "--org", "o", "--role", "admin", "--no-totp",
                                   "--generate-password"])
    assert no_admin.exit_code == 1 and "TOTP" in no_admin.output
    bad_role = runner.invoke(app, ["accounts", "add-role", "--username", "zhang.nurse",
                                   "--org", "org-lz", "--role", "surgeon"])
    assert bad_role.exit_code == 1
    granted = runner.invoke(app, ["accounts", "add-role", "--username", "zhang.nurse",
                                  "--org", "org-lz-2", "--role", "registrar"])
    assert granted.exit_code == 0, granted.output
    for _ in range(5):
        assert _login("zhang.nurse", "Wrong-pass-1", None) == 401
    listed = runner.invoke(app, ["accounts", "list"])
    assert listed.exit_code == 0
    assert "zhang.nurse" in listed.output and "locked" in listed.output
    assert "nurse@org-lz, registrar@org-lz-2" in listed.output
    assert _login("zhang.nurse", "Nurse-pass-7", None) == 401
    assert runner.invoke(app, ["accounts", "unlock", "--username", "zhang.nurse"]).exit_code == 0
    assert _login("zhang.nurse", "Nurse-pass-7", None) == 200
    assert runner.invoke(app, ["accounts", "disable", "--username", "zhang.nurse"]
                         ).exit_code == 0
    assert _login("zhang.nurse", "Nurse-pass-7", None) == 401
    assert runner.invoke(app, ["accounts", "unlock", "--username", "nobody"]).exit_code == 1
    with read_transaction(get_engine()) as conn:
        subtypes = conn.execute(select(audit_event.c.subtype).where(
            audit_event.c.actor_type == "operator")).scalars().all()
        acct = repository.find_by_username(conn, "zhang.nurse")
    assert subtypes.count("account-create") == 2
    assert {"account-role", "account-unlock", "account-status"} <= set(subtypes)
    assert acct is not None and acct.status == "disabled"
