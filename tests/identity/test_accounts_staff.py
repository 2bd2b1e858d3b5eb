"""Staff sign-in: password + TOTP (replay guarded), lockout, admin needs TOTP, CLI, audit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.identity.test_accounts_support import (
    PASSWORD,
    Clock,
    accounts,
    audit_rows,
    frozen_clock,
    make_staff,
    totp_now,
)

from gansu_health.core.database import read_transaction, write_transaction
from gansu_health.core.errors import Conflict, UnprocessableEntity
from gansu_health.identity.accounts import repository, staff
from gansu_health.identity.accounts.repository import RoleGrant
from gansu_health.identity.accounts.service import LOCKOUT_S


@pytest.fixture(scope="module")
def client(client: TestClient) -> TestClient:
    """A browser on the app: no operator bearer token, cookies of its own."""
    return TestClient(client.app)


@pytest.fixture
def clock() -> Iterator[Clock]:
    yield from frozen_clock()


def _login(client: TestClient, username: str, password: str, code: str | None = None
           ) -> tuple[int, dict[str, object]]:
    client.cookies.clear()
    body = {"username": username, "password": password}
    if code is not None:
        body["totp"] = code
    resp = client.post("/auth/staff/login", json=body)
    return resp.status_code, resp.json()


def _expression(body: dict[str, object]) -> list[str]:
    issues = body["issue"]
    assert isinstance(issues, list)
    return [e for issue in issues for e in issue.get("expression", [])]


def test_password_and_totp(client: TestClient, clock: Clock) -> None:
    user = make_staff(client, [("org-lz-1", "doctor")], practitioner="prac-1")
    status, body = _login(client, user.username, PASSWORD)
    assert status == 401 and _expression(body) == ["totp"]
    code = totp_now(user)
    status, body = _login(client, user.username.upper(), PASSWORD, code)
    assert status == 200, body
    assert body["mfa"] is True
    me = client.get("/auth/me").json()
    assert me["kind"] == "staff" and me["totp"] is True
    assert me["roles"] == [{"organization": "org-lz-1", "role": "doctor",
                            "practitioner": "prac-1", "region": None}]
    status, body = _login(client, user.username, PASSWORD, code)  # the same code again
    assert status == 401 and "already used" in str(body)
    clock.advance(30)
    assert _login(client, user.username, PASSWORD, totp_now(user))[0] == 200
    outcomes = [r["outcome"] for r in audit_rows(client, "login", user.account_id)]
    assert outcomes == [4, 0, 4, 0]


def test_wrong_password_and_unknown_user_look_alike(client: TestClient) -> None:
    user = make_staff(client, [("org-lz-1", "nurse")], with_totp=False)
    wrong = _login(client, user.username, "Wrong-pass-1")
    unknown = _login(client, "nobody.here", "Wrong-pass-1")
    garbage = _login(client, "<script>", "x")
    assert wrong[0] == unknown[0] == garbage[0] == 401
    assert wrong[1] == unknown[1] == garbage[1]
    ok = _login(client, user.username, PASSWORD)
    assert ok[0] == 200 and ok[1]["mfa"] is False  # TOTP is optional when not enrolled
    failed = [r for r in audit_rows(client, "login") if r["outcome"] == 4
              and r["actor_id"] is None]
    assert any(r["actor_name"] == "nobody.here" for r in failed)


def test_lockout_after_five_failures(client: TestClient, clock: Clock) -> None:
    user = make_staff(client, [("org-lz-2", "registrar")], with_totp=False)
    for _ in range(5):
        assert _login(client, user.username, "Wrong-pass-1")[0] == 401
    locked = _login(client, user.username, PASSWORD)
    assert locked[0] == 401
    assert locked[1] == _login(client, "nobody.else", PASSWORD)[1]
    with read_transaction(client.app.state.engine) as conn:  # type: ignore[attr-defined]
        acct = repository.get_account(conn, user.account_id)
    assert acct is not None and acct.locked_until_us is not None
    clock.advance(LOCKOUT_S - 5)
    assert _login(client, user.username, PASSWORD)[0] == 401
    clock.advance(10)
    assert _login(client, user.username, PASSWORD)[0] == 200
    # four failures, a success, four more: the counter was reset, so no lockout
    for _ in range(4):
        _login(client, user.username, "Wrong-pass-1")
    assert _login(client, user.username, PASSWORD)[0] == 200
    for _ in range(4):
        _login(client, user.username, "Wrong-pass-1")
    assert _login(client, user.username, PASSWORD)[0] == 200


def test_unlock_by_operator(client: TestClient) -> None:
    user = make_staff(client, [("org-lz-2", "pharmacist")], with_totp=False)
    for _ in range(5):
        _login(client, user.username, "Wrong-pass-1")
    assert _login(client, user.username, PASSWORD)[0] == 401
    with write_transaction(client.app.state.engine) as conn:  # type: ignore[attr-defined]
        staff.unlock(conn, user.username, operator="test")
    assert _login(client, user.username, PASSWORD)[0] == 200
    assert audit_rows(client, "account-unlock", "test")[-1]["resource_id"] == user.account_id


def test_admin_needs_totp(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    cipher = accounts(client).cipher
    with pytest.raises(UnprocessableEntity), write_transaction(engine) as conn:
        staff.create_staff(conn, cipher, node="620000", username="admin.nototp",
                           display_name="管理员", password=PASSWORD, operator="test",
                           grants=[staff.make_grant("org-prov", "admin")], with_totp=False)
    plain = make_staff(client, [("org-prov", "data-steward")], with_totp=False)
    with pytest.raises(UnprocessableEntity), write_transaction(engine) as conn:
        staff.add_role(conn, plain.username, staff.make_grant("org-prov", "admin"),
                       node="620000", operator="test")
    with write_transaction(engine) as conn:  # an admin grant made behind the service's back
        repository.insert_role(conn, plain.account_id, "620000",
                               RoleGrant("org-prov", "admin", None, None, 1))
    status, body = _login(client, plain.username, PASSWORD)
    assert status == 403 and _expression(body) == ["totp"]
    admin = make_staff(client, [("org-prov", "admin")])
    assert _login(client, admin.username, PASSWORD)[0] == 401
    assert _login(client, admin.username, PASSWORD, "000000")[0] == 401
    assert _login(client, admin.username, PASSWORD, totp_now(admin))[0] == 200


def test_create_staff_rules_and_audit(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    user = make_staff(client, [("org-a", "doctor"), ("org-a", "supervisor")], region="620100")
    created = audit_rows(client, "account-create", "test")
    assert any(r["resource_id"] == user.account_id and r["action"] == "C" for r in created)
    with pytest.raises(Conflict), write_transaction(engine) as conn:
        staff.create_staff(conn, accounts(client).cipher, node="620000",
                           username=user.username, display_name="x", password=PASSWORD,
                           grants=[staff.make_grant("org-a", "nurse")], operator="test")
    with pytest.raises(UnprocessableEntity), write_transaction(engine) as conn:
        staff.create_staff(conn, accounts(client).cipher, node="620000", username="weak.pw",
                           display_name="x", password="password",
                           grants=[staff.make_grant("org-a", "nurse")], operator="test")
    with pytest.raises(Conflict), write_transaction(engine) as conn:
        staff.add_role(conn, user.username, staff.make_grant("org-a", "doctor"),
                       node="620000", operator="test")


def test_disabled_staff_cannot_sign_in(client: TestClient) -> None:
    user = make_staff(client, [("org-b", "doctor")], with_totp=False)
    assert _login(client, user.username, PASSWORD)[0] == 200
    assert client.get("/auth/me").status_code == 200
    with write_transaction(client.app.state.engine) as conn:  # type: ignore[attr-defined]
        staff.set_status(conn, user.username, "disabled", operator="test")
    assert client.get("/auth/me").status_code == 401  # the live session ended too
    assert _login(client, user.username, PASSWORD)[0] == 401
