"""就诊人 and real-name binding over HTTP; ``load_principal`` for citizens and staff."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from tests.identity.test_accounts_support import add_resident, make_staff, sign_in_citizen

from gansu_health.core.database import read_transaction, write_transaction
from gansu_health.core.errors import Forbidden, Unauthorized
from gansu_health.identity.accounts import staff
from gansu_health.identity.accounts.service import load_principal
from gansu_health.identity.scopes import ScopeSet
from gansu_health.mpi.resident_id import is_valid_resident_id, make_resident_id

SCOPES = ScopeSet.parse("openid patient/*.rs")


@pytest.fixture(scope="module")
def client(client: TestClient) -> TestClient:
    """A browser on the app: no operator bearer token, cookies of its own."""
    return TestClient(client.app)


def test_bind_and_members(client: TestClient) -> None:
    me_id, me_number = add_resident(client, "张", "伟")
    child_id, child_number = add_resident(client, "张", "小雨", sex="female")
    _, signed = sign_in_citizen(client)
    csrf = {"X-CSRF-Token": signed["csrf_token"]}
    assert client.get("/auth/me/members").json() == {"members": []}
    wrong_name = client.post("/auth/me/bind", json={"resident_id": me_number, "name": "李伟"},
                             headers=csrf)
    unregistered = make_resident_id("620102", date(1990, 1, 1), 1, "male")
    nobody = client.post("/auth/me/bind", json={"resident_id": unregistered, "name": "张伟"},
                         headers=csrf)
    assert not is_valid_resident_id("620102199001010010")
    invalid = client.post("/auth/me/bind", json={"resident_id": "620102199001010010",
                                                 "name": "张伟"}, headers=csrf)
    assert wrong_name.status_code == nobody.status_code == 422
    assert nobody.json() == wrong_name.json()  # no hint whether the ID is registered
    assert invalid.status_code == 400
    bound = client.post("/auth/me/bind", json={"resident_id": me_number.lower(),
                                               "name": " 张 伟 "}, headers=csrf)
    assert bound.status_code == 200 and bound.json() == {"patient": me_id}
    assert client.get("/auth/me").json()["patient"] == me_id
    added = client.post("/auth/me/members", json={"resident_id": child_number,
                                                  "name": "张小雨", "relationship": "child"},
                        headers=csrf)
    assert added.status_code == 201, added.text
    assert added.json()["guardian"] is True and added.json()["display"] == "张小雨"
    again = client.post("/auth/me/members", json={"resident_id": child_number,
                                                  "name": "张小雨", "relationship": "child"},
                        headers=csrf)
    assert again.status_code == 409
    bad_rel = client.post("/auth/me/members", json={"resident_id": child_number,
                                                    "name": "张小雨", "relationship": "self"},
                          headers=csrf)
    assert bad_rel.status_code == 400
    listed = client.get("/auth/me/members").json()["members"]
    assert [(m["patient"], m["relationship"]) for m in listed] == [(me_id, "self"),
                                                                   (child_id, "child")]
    assert client.delete(f"/auth/me/members/{me_id}", headers=csrf).status_code == 422
    assert client.delete(f"/auth/me/members/{child_id}").status_code == 403  # no CSRF token
    assert client.delete(f"/auth/me/members/{child_id}", headers=csrf).status_code == 204
    assert client.delete(f"/auth/me/members/{child_id}", headers=csrf).status_code == 404
    assert [m["patient"] for m in client.get("/auth/me/members").json()["members"]] == [me_id]
    # another account cannot claim the same resident
    _, other = sign_in_citizen(client)
    taken = client.post("/auth/me/bind", json={"resident_id": me_number, "name": "张伟"},
                        headers={"X-CSRF-Token": other["csrf_token"]})
    assert taken.status_code == 409


def test_members_need_a_citizen_session(client: TestClient) -> None:
    client.cookies.clear()
    assert client.get("/auth/me/members").status_code == 401
    assert client.get("/auth/me").status_code == 401


def test_load_principal_citizen(client: TestClient) -> None:
    own, own_number = add_resident(client, "王", "芳", sex="female")
    kid, kid_number = add_resident(client, "李", "乐")
    _, signed = sign_in_citizen(client)
    csrf = {"X-CSRF-Token": signed["csrf_token"]}
    assert client.post("/auth/me/bind", json={"resident_id": own_number, "name": "王芳"},
                       headers=csrf).status_code == 200
    assert client.post("/auth/me/members", json={"resident_id": kid_number, "name": "李乐",
                                                 "relationship": "child"},
                       headers=csrf).status_code == 201
    account_id = signed["account"]["id"]
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with read_transaction(engine) as conn:
        principal = load_principal(conn, account_id, SCOPES, client_id="app", token_id="t1",
                                   patient=None)
        launched = load_principal(conn, account_id, SCOPES, client_id="app", token_id="t2",
                                  patient=kid)
        with pytest.raises(Forbidden):
            load_principal(conn, account_id, SCOPES, client_id="app", token_id=None,
                           patient="someone-else")
        with pytest.raises(Unauthorized):
            load_principal(conn, "no-such-account", SCOPES, client_id=None, token_id=None,
                           patient=None)
    assert principal.kind == "citizen" and principal.subject == account_id
    assert principal.patient == own and principal.members == frozenset({own, kid})
    assert principal.fhir_user == f"Patient/{own}"
    assert principal.client_id == "app" and principal.token_id == "t1"
    assert principal.scopes == SCOPES and principal.roles == frozenset()
    assert launched.patient == kid


def test_load_principal_staff(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    user = make_staff(client, [("org-first", "doctor"), ("org-first", "cdc-officer")],
                      practitioner="prac-9", region="620100")
    with write_transaction(engine) as conn:
        staff.add_role(conn, user.username, staff.make_grant("org-second", "nurse", "prac-10"),
                       node="620000", operator="test")
    with read_transaction(engine) as conn:
        principal = load_principal(conn, user.account_id, ScopeSet.parse("user/*.rs"),
                                   client_id="his", token_id="tok", patient="pat-1")
    assert principal.kind == "staff" and principal.display == "王医生"
    assert principal.organization == "org-first"
    assert principal.roles == frozenset({"doctor", "cdc-officer"})
    assert principal.practitioner == "prac-9" and principal.region == "620100"
    assert principal.fhir_user == "Practitioner/prac-9" and principal.patient == "pat-1"
    with write_transaction(engine) as conn:
        staff.set_status(conn, user.username, "disabled", operator="test")
    with read_transaction(engine) as conn, pytest.raises(Unauthorized):
        load_principal(conn, user.account_id, ScopeSet.parse("user/*.rs"), client_id=None,
                       token_id=None, patient=None)
