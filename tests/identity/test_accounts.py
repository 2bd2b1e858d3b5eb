"""Citizen sign-in by SMS code: first sign-in creates the account; codes are single-use,
expire, allow five tries and are rate limited per phone; sessions, /auth/me, logout, audit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.identity.test_accounts_support import (
    Clock,
    accounts,
    audit_rows,
    frozen_clock,
    new_phone,
    sign_in_citizen,
    sms_code,
)

from gansu_health.core.database import read_transaction
from gansu_health.identity.accounts.models import account, otp_challenge, web_session
from gansu_health.identity.accounts.repository import Account
from gansu_health.identity.accounts.sessions import COOKIE, session_hash


@pytest.fixture(scope="module")
def client(client: TestClient) -> TestClient:
    """A browser on the app: no operator bearer token, cookies of its own."""
    return TestClient(client.app)


@pytest.fixture
def clock() -> Iterator[Clock]:
    yield from frozen_clock()


def _login(client: TestClient, phone: str, code: str) -> tuple[int, dict[str, object]]:
    resp = client.post("/auth/citizen/login", json={"phone": phone, "code": code})
    return resp.status_code, resp.json()


def _expression(body: dict[str, object]) -> list[str]:
    issues = body["issue"]
    assert isinstance(issues, list)
    return [e for issue in issues for e in issue.get("expression", [])]


def test_first_sign_in_creates_account_with_sealed_phone(client: TestClient) -> None:
    phone = new_phone()
    client.cookies.clear()
    sent = client.post("/auth/otp", json={"phone": f"+86 {phone[:3]} {phone[3:]}"})
    assert sent.status_code == 202, sent.text
    assert sent.json()["phone"] == f"{phone[:3]}****{phone[-4:]}"
    code = sms_code(client, phone)
    assert len(code) == 6 and code.isdigit()
    resp = client.post("/auth/citizen/login", json={"phone": phone, "code": code})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["account"]["kind"] == "citizen" and len(body["csrf_token"]) >= 32
    cookie = resp.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower() and "secure" not in cookie.lower()
    me = client.get("/auth/me")
    assert me.status_code == 200
    assert me.json()["id"] == body["account"]["id"]
    assert me.json()["phone"] == f"{phone[:3]}****{phone[-4:]}"
    session_id = client.cookies[COOKIE]
    with read_transaction(client.app.state.engine) as conn:  # type: ignore[attr-defined]
        row = conn.execute(select(account).where(account.c.id == body["account"]["id"])
                           ).mappings().one()
        stored = conn.execute(select(web_session.c.session_hash)).scalars().all()
        codes = conn.execute(select(otp_challenge.c.code_hash)).scalars().all()
    assert phone not in row["phone_enc"] and row["phone_index"]
    assert accounts(client).phone_of(Account.from_row(row)) == phone
    assert session_hash(session_id) in stored and session_id not in stored
    assert code not in codes
    logins = audit_rows(client, "login", body["account"]["id"])
    assert [r["outcome"] for r in logins] == [0]
    # signing in again with a new code finds the same account
    assert client.post("/auth/logout", headers={"X-CSRF-Token": body["csrf_token"]}
                       ).status_code == 200


def test_replayed_code_is_refused(client: TestClient, clock: Clock) -> None:
    phone, first = sign_in_citizen(client)
    code = sms_code(client, phone)
    client.cookies.clear()
    status, body = _login(client, phone, code)
    assert status == 401 and _expression(body) == ["code"]
    clock.advance(61)
    _, again = sign_in_citizen(client, phone)
    assert again["account"]["id"] == first["account"]["id"]  # same account, no duplicate
    failures = [r for r in audit_rows(client, "login", first["account"]["id"]) if r["outcome"]]
    assert len(failures) == 1 and failures[0]["outcome"] == 4


def test_expired_code_is_refused(client: TestClient, clock: Clock) -> None:
    phone = new_phone()
    client.cookies.clear()
    assert client.post("/auth/otp", json={"phone": phone}).status_code == 202
    clock.advance(301)
    status, body = _login(client, phone, sms_code(client, phone))
    assert status == 401 and "expired" in str(body)


def test_five_wrong_codes_burn_the_code(client: TestClient) -> None:
    phone = new_phone()
    client.cookies.clear()
    assert client.post("/auth/otp", json={"phone": phone}).status_code == 202
    code = sms_code(client, phone)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    answers = [_login(client, phone, wrong) for _ in range(5)]
    assert [s for s, _ in answers] == [401] * 5
    assert "1 tries left" in str(answers[3][1]) and "0 tries left" in str(answers[4][1])
    resp = client.post("/auth/citizen/login", json={"phone": phone, "code": code})
    assert resp.status_code == 429 and int(resp.headers["retry-after"]) >= 1
    assert client.get("/auth/me").status_code == 401
    bad_format = client.post("/auth/citizen/login", json={"phone": phone, "code": "12ab"})
    assert bad_format.status_code == 400


def test_code_quota_per_phone(client: TestClient, clock: Clock) -> None:
    phone = new_phone()
    client.cookies.clear()
    assert client.post("/auth/otp", json={"phone": phone}).status_code == 202
    first = sms_code(client, phone)
    too_soon = client.post("/auth/otp", json={"phone": phone})
    assert too_soon.status_code == 429
    assert 1 <= int(too_soon.headers["retry-after"]) <= 60
    assert _expression(too_soon.json()) == ["phone"]
    for _ in range(9):
        clock.advance(61)
        assert client.post("/auth/otp", json={"phone": phone}).status_code == 202
    latest = sms_code(client, phone)
    status, _ = _login(client, phone, first)  # superseded by the later codes
    assert status == 401
    clock.advance(61)
    daily = client.post("/auth/otp", json={"phone": phone})
    assert daily.status_code == 429 and "10 codes a day" in daily.text
    assert int(daily.headers["retry-after"]) > 23 * 3600
    clock.advance(24 * 3600)
    assert client.post("/auth/otp", json={"phone": phone}).status_code == 202
    fresh = sms_code(client, phone)
    assert _login(client, phone, latest)[0] == 401 or fresh == latest
    assert _login(client, phone, fresh)[0] == 200


def test_invalid_phone_and_body(client: TestClient) -> None:
    client.cookies.clear()
    bad = client.post("/auth/otp", json={"phone": "12345"})
    assert bad.status_code == 400 and _expression(bad.json()) == ["phone"]
    missing = client.post("/auth/otp", json={})
    assert missing.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"
    assert "phone" in _expression(missing.json())


def test_password_sign_in_and_logout(client: TestClient) -> None:
    phone, signed = sign_in_citizen(client)
    csrf = {"X-CSRF-Token": signed["csrf_token"]}
    weak = client.put("/auth/me/password", json={"password": "short"}, headers=csrf)
    assert weak.status_code == 422
    assert client.put("/auth/me/password", json={"password": "Gansu-2026x"},
                      headers=csrf).status_code == 204
    change = client.put("/auth/me/password", json={"password": "Other-2026x",
                                                   "current_password": "wrong"}, headers=csrf)
    assert change.status_code == 403
    out = client.post("/auth/logout", headers=csrf)
    assert out.status_code == 200 and out.json() == {"signed_out": True}
    assert client.get("/auth/me").status_code == 401
    assert audit_rows(client, "logout", signed["account"]["id"])[0]["outcome"] == 0
    client.cookies.clear()
    wrong = client.post("/auth/citizen/login", json={"phone": phone, "password": "Nope-2026x"})
    assert wrong.status_code == 401
    right = client.post("/auth/citizen/login", json={"phone": phone, "password": "Gansu-2026x"})
    assert right.status_code == 200
    assert right.json()["account"]["id"] == signed["account"]["id"]
    unknown = client.post("/auth/citizen/login", json={"phone": new_phone(),
                                                       "password": "Gansu-2026x"})
    assert unknown.status_code == 401 and unknown.json() == wrong.json()


def test_signing_in_again_ends_the_previous_session(client: TestClient, clock: Clock) -> None:
    phone, _ = sign_in_citizen(client)
    first = client.cookies[COOKIE]
    clock.advance(61)
    assert client.post("/auth/otp", json={"phone": phone}).status_code == 202
    again = client.post("/auth/citizen/login", json={"phone": phone,
                                                     "code": sms_code(client, phone)})
    assert again.status_code == 200
    second = client.cookies[COOKIE]
    assert second != first and client.get("/auth/me").status_code == 200
    client.cookies.set(COOKIE, first)
    assert client.get("/auth/me").status_code == 401
