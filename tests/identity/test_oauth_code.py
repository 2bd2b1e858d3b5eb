"""SMART App Launch: authorisation code + PKCE with the approval page, refresh rotation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.identity.oauth_helpers import Registered, assertion, authenticated, pkce, register

from gansu_health.core.clock import now, to_micros
from gansu_health.core.database import build_engine, read_transaction, write_transaction
from gansu_health.core.settings import Settings
from gansu_health.identity.accounts import repository as accounts
from gansu_health.identity.accounts.repository import Member, RoleGrant
from gansu_health.identity.accounts.sessions import COOKIE, create_session
from gansu_health.identity.audit.models import audit_event
from gansu_health.identity.tokens import repository as tokens

CALLBACK = "https://app.example.cn/callback"
TOKEN = "http://testserver/oauth/token"
APP_SCOPE = "patient/*.rs user/*.rs launch/patient offline_access openid fhirUser"


@dataclass
class Person:
    """A signed-in account: its id, session cookie and CSRF token."""

    account_id: str
    cookie: str
    csrf: str


def _person(settings: Settings, kind: str, *, patient: str | None = None,
            members: tuple[str, ...] = (), practitioner: str | None = None) -> Person:
    engine = build_engine(settings.database_url, settings)
    with write_transaction(engine) as conn:
        acct = accounts.insert_account(conn, node=settings.node_id, kind=kind,
                                       display_name=f"{kind} 测试", patient_id=patient,
                                       username=f"{kind}-{to_micros(now())}"
                                       if kind == "staff" else None)
        for member in members:
            accounts.insert_member(conn, acct.id, settings.node_id,
                                   Member(member, "child", True, to_micros(now())))
        if practitioner:
            accounts.insert_role(conn, acct.id, settings.node_id, RoleGrant(
                "org-1", "doctor", practitioner, None, to_micros(now())))
        session_id, info = create_session(conn, acct, mfa=kind == "staff")
    engine.dispose()
    return Person(acct.id, session_id, info.csrf_token)


@pytest.fixture(scope="module")
def citizen(settings: Settings, client: TestClient) -> Person:
    """A citizen bound to Patient/oauth-self (张三) with one child."""
    resp = client.put("/fhir/Patient/oauth-self", json={
        "resourceType": "Patient", "id": "oauth-self",
        "name": [{"text": "张三", "family": "张", "given": ["三"]}], "gender": "male"})
    assert resp.status_code in (200, 201), resp.text
    return _person(settings, "citizen", patient="oauth-self", members=("oauth-child",))


@pytest.fixture(scope="module")
def app_client(settings: Settings) -> Registered:
    """A public SMART app."""
    return register(settings, kind="public", scope=APP_SCOPE, redirect_uris=[CALLBACK],
                    name="健康甘肃 App")


def _browser(client: TestClient, person: Person | None) -> TestClient:
    browser = TestClient(client.app, follow_redirects=False)
    if person:
        browser.cookies.set(COOKIE, person.cookie)
    return browser


@pytest.fixture
def browser(client: TestClient, citizen: Person) -> Iterator[TestClient]:
    """The citizen's browser (session cookie, no bearer token)."""
    yield _browser(client, citizen)


def _params(app: Registered, challenge: str, **over: str) -> dict[str, str]:
    params = {"response_type": "code", "client_id": app.client_id, "redirect_uri": CALLBACK,
              "scope": "patient/*.rs user/*.rs launch/patient offline_access",
              "state": "st-123", "aud": "http://testserver/fhir",
              "code_challenge": challenge, "code_challenge_method": "S256"}
    params.update(over)
    return params


def _approve(browser: TestClient, person: Person, params: dict[str, str],
             **form: str) -> httpx.Response:
    resp: httpx.Response = browser.post("/oauth/authorize", data={
        **params, "csrf_token": person.csrf, "decision": "approve", **form})
    return resp


def _code(resp: httpx.Response) -> str:
    assert resp.status_code == 302, resp.text
    location = urlsplit(resp.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    query = parse_qs(location.query)
    assert query["state"] == ["st-123"]
    return query["code"][0]


def _exchange(anon: TestClient, app: Registered, code: str, verifier: str,
              redirect_uri: str = CALLBACK) -> httpx.Response:
    resp: httpx.Response = anon.post("/oauth/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
        "client_id": app.client_id, "code_verifier": verifier})
    return resp


def test_signed_out_browser_goes_to_sign_in(client: TestClient, app_client: Registered) -> None:
    anon = _browser(client, None)
    _, challenge = pkce()
    resp = anon.get("/oauth/authorize", params=_params(app_client, challenge))
    assert resp.status_code == 303
    target = urlsplit(resp.headers["location"])
    assert target.path == "/auth/signin"
    following = parse_qs(target.query)["next"][0]
    assert following.startswith("/oauth/authorize?")
    assert parse_qs(urlsplit(following).query)["client_id"] == [app_client.client_id]
    # a cross-site POST (no SameSite=Lax cookie) is turned into a GET of the same request
    posted = anon.post("/oauth/authorize", data=_params(app_client, challenge))
    assert posted.status_code == 303
    assert posted.headers["location"].startswith("/oauth/authorize?")


def test_approval_page(browser: TestClient, app_client: Registered, citizen: Person) -> None:
    _, challenge = pkce()
    resp = browser.get("/oauth/authorize", params=_params(app_client, challenge))
    assert resp.status_code == 200, resp.text
    page = resp.text
    assert '<html lang="zh-CN">' in page
    assert "健康甘肃 App" in page
    assert "查看所选就诊人的全部健康记录" in page  # patient/*.rs in plain words
    assert "read all health records of the selected patient" in page
    assert "您有权访问的" not in page  # user/*.rs is not for citizens
    assert re.search(r'name="patient" value="oauth-self" checked> 张三（本人）', page)
    assert 'value="oauth-child"' in page
    assert f'name="csrf_token" value="{citizen.csrf}"' in page
    assert f'name="code_challenge" value="{challenge}"' in page
    assert resp.headers["cache-control"].startswith("no-store")
    # authorize-post: the same request as a form post with the session
    posted = browser.post("/oauth/authorize", data={
        **_params(app_client, challenge), "csrf_token": citizen.csrf})
    assert posted.status_code == 200 and "健康甘肃 App" in posted.text


def test_code_flow_end_to_end(browser: TestClient, client: TestClient, app_client: Registered,
                              citizen: Person, settings: Settings) -> None:
    anon = _browser(client, None)
    verifier, challenge = pkce()
    params = _params(app_client, challenge)
    code = _code(_approve(browser, citizen, params, patient="oauth-child"))
    resp = _exchange(anon, app_client, code, verifier)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["patient"] == "oauth-child"
    assert set(body["scope"].split()) == {"patient/*.rs", "launch/patient", "offline_access"}
    assert body["refresh_token"]
    engine = build_engine(settings.database_url, settings)
    with read_transaction(engine) as conn:
        record = tokens.active(conn, body["access_token"])
        assert record is not None
        assert (record.principal_kind, record.subject, record.patient) == (
            "citizen", citizen.account_id, "oauth-child")
        assert tokens.active(conn, body["refresh_token"], "refresh") is not None
        events = conn.execute(select(audit_event.c.subtype, audit_event.c.patient_id).where(
            audit_event.c.actor_id == citizen.account_id)).all()
    engine.dispose()
    assert ("authorize", "oauth-child") in events and ("token-issue", "oauth-child") in events
    # a municipal node introspects it: patient context and fhirUser (the account holder)
    node = register(settings, kind="node", scope="system/*.rs", node="620100")
    info = anon.post("/oauth/introspect", data=authenticated(
        node, TOKEN, token=body["access_token"])).json()
    assert info["active"] is True and info["sub"] == citizen.account_id
    assert info["patient"] == "oauth-child" and info["fhirUser"] == "Patient/oauth-self"
    # the FHIR API accepts the token (what it may see is the access policy's business)
    fhir = anon.get("/fhir/Patient/oauth-self",
                    headers={"Authorization": f"Bearer {body['access_token']}"})
    assert fhir.status_code != 401, fhir.text


def test_code_reuse_is_refused_and_revokes(browser: TestClient, client: TestClient,
                                           app_client: Registered, citizen: Person) -> None:
    anon = _browser(client, None)
    verifier, challenge = pkce()
    code = _code(_approve(browser, citizen, _params(app_client, challenge)))
    first = _exchange(anon, app_client, code, verifier).json()
    again = _exchange(anon, app_client, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    info = anon.post("/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"],
        "client_id": app_client.client_id})
    assert info.json()["error"] == "invalid_grant"  # the pair bought with the code is revoked


def test_wrong_or_missing_verifier(browser: TestClient, client: TestClient,
                                   app_client: Registered, citizen: Person) -> None:
    anon = _browser(client, None)
    _, challenge = pkce()
    code = _code(_approve(browser, citizen, _params(app_client, challenge)))
    wrong = _exchange(anon, app_client, code, pkce()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    code = _code(_approve(browser, citizen, _params(app_client, challenge)))
    missing = _exchange(anon, app_client, code, "")
    assert missing.json()["error"] in ("invalid_request", "invalid_grant")
    assert "access_token" not in missing.json()


def test_pkce_s256_is_required(browser: TestClient, app_client: Registered) -> None:
    without = _params(app_client, "")
    del without["code_challenge"], without["code_challenge_method"]
    for params in (without, _params(app_client, pkce()[1], code_challenge_method="plain")):
        resp = browser.get("/oauth/authorize", params=params)
        assert resp.status_code == 302
        query = parse_qs(urlsplit(resp.headers["location"]).query)
        assert query["error"] == ["invalid_request"] and query["state"] == ["st-123"]


def test_redirect_uri_must_match(browser: TestClient, client: TestClient,
                                 app_client: Registered, citizen: Person) -> None:
    _, challenge = pkce()
    for uri in ("https://evil.example.com/callback", CALLBACK + "/", CALLBACK + "?x=1"):
        resp = browser.get("/oauth/authorize", params=_params(app_client, challenge,
                                                                 redirect_uri=uri))
        assert resp.status_code == 400  # shown to the person, never sent to the unknown URI
        assert "location" not in resp.headers
        assert "授权请求无效" in resp.text
    unknown = browser.get("/oauth/authorize", params=_params(
        Registered("public-nobody", None), challenge))
    assert unknown.status_code == 400
    verifier, challenge = pkce()
    code = _code(_approve(browser, citizen, _params(app_client, challenge)))
    anon = _browser(client, None)
    other = _exchange(anon, app_client, code, verifier, redirect_uri="https://app.example.cn/x")
    assert other.json()["error"] == "invalid_grant"


def test_deny_and_csrf(browser: TestClient, app_client: Registered, citizen: Person,
                       settings: Settings) -> None:
    _, challenge = pkce()
    params = _params(app_client, challenge)
    denied = browser.post("/oauth/authorize", data={
        **params, "csrf_token": citizen.csrf, "decision": "deny"})
    assert denied.status_code == 302
    query = parse_qs(urlsplit(denied.headers["location"]).query)
    assert query["error"] == ["access_denied"] and query["state"] == ["st-123"]
    forged = browser.post("/oauth/authorize", data={
        **params, "csrf_token": "forged", "decision": "approve"})
    assert forged.status_code == 403
    assert "location" not in forged.headers
    # a bearer header makes the CSRF middleware step aside: the endpoint still checks
    sneaky = browser.post("/oauth/authorize", headers={"Authorization": "Bearer junk"}, data={
        **params, "csrf_token": "forged", "decision": "approve"})
    assert sneaky.status_code == 403 and "CSRF" in sneaky.text
    assert "location" not in sneaky.headers
    stranger = browser.post("/oauth/authorize", data={
        **params, "csrf_token": citizen.csrf, "decision": "approve", "patient": "someone"})
    assert stranger.status_code == 400 and "location" not in stranger.headers


def test_aud_must_be_this_server(browser: TestClient, app_client: Registered) -> None:
    resp = browser.get("/oauth/authorize", params=_params(
        app_client, pkce()[1], aud="https://other.example.com/fhir"))
    assert resp.status_code == 302
    assert parse_qs(urlsplit(resp.headers["location"]).query)["error"] == ["invalid_request"]


def _signed_in_app(browser: TestClient, client: TestClient, app_client: Registered,
                   citizen: Person) -> tuple[TestClient, dict[str, Any], dict[str, str]]:
    """The app's token endpoint client, its first tokens and a refresh request for them."""
    anon = _browser(client, None)
    verifier, challenge = pkce()
    code = _code(_approve(browser, citizen, _params(app_client, challenge)))
    first: dict[str, Any] = _exchange(anon, app_client, code, verifier).json()
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"],
               "client_id": app_client.client_id}
    return anon, first, refresh


def test_refresh_rotation(browser: TestClient, client: TestClient, app_client: Registered,
                          citizen: Person, settings: Settings) -> None:
    anon, first, refresh = _signed_in_app(browser, client, app_client, citizen)
    second = anon.post("/oauth/token", data=refresh)
    assert second.status_code == 200, second.text
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert rotated["patient"] == "oauth-self" and rotated["scope"] == first["scope"]
    wider = anon.post("/oauth/token", data={
        **refresh, "refresh_token": rotated["refresh_token"], "scope": "patient/*.cruds"})
    assert wider.json()["error"] in ("invalid_scope", "invalid_grant")
    narrowed = anon.post("/oauth/token", data={
        **refresh, "refresh_token": rotated["refresh_token"], "scope": "patient/*.rs"})
    assert narrowed.status_code == 200, narrowed.text  # the refused widening used nothing up
    assert narrowed.json()["scope"] == "patient/*.rs"
    assert "refresh_token" not in narrowed.json()  # offline_access was not asked for again
    engine = build_engine(settings.database_url, settings)
    with read_transaction(engine) as conn:
        assert tokens.active(conn, first["refresh_token"], "refresh") is None
        assert tokens.active(conn, rotated["refresh_token"], "refresh") is None
        assert tokens.active(conn, narrowed.json()["access_token"]) is not None
    engine.dispose()


def test_a_reused_refresh_token_revokes_the_clients_tokens_for_that_person(
        browser: TestClient, client: TestClient, app_client: Registered, citizen: Person,
        settings: Settings) -> None:
    anon, _, refresh = _signed_in_app(browser, client, app_client, citizen)
    rotated = anon.post("/oauth/token", data=refresh).json()
    assert "refresh_token" in rotated
    # the old refresh token again (a thief, or the app after the thief): refused, and the
    # rotated tokens stop too — the legitimate app has to sign the person in again
    assert anon.post("/oauth/token", data=refresh).json()["error"] == "invalid_grant"
    again = anon.post("/oauth/token", data={**refresh,
                                            "refresh_token": rotated["refresh_token"]})
    assert again.json()["error"] == "invalid_grant"
    engine = build_engine(settings.database_url, settings)
    with read_transaction(engine) as conn:
        assert tokens.active(conn, rotated["access_token"]) is None
    engine.dispose()
    assert client.get("/fhir/Patient/oauth-self", headers={
        "Authorization": f"Bearer {rotated['access_token']}"}).status_code == 401


def test_staff_get_user_scopes_only(client: TestClient, app_client: Registered,
                                    settings: Settings) -> None:
    staff = _person(settings, "staff", practitioner="doc-1")
    browser = _browser(client, staff)
    verifier, challenge = pkce()
    params = _params(app_client, challenge)
    page = browser.get("/oauth/authorize", params=params)
    assert page.status_code == 200
    assert 'name="patient"' not in page.text and "您有权访问的" in page.text
    code = _code(_approve(browser, staff, params))
    body = _exchange(_browser(client, None), app_client, code, verifier).json()
    assert set(body["scope"].split()) == {"user/*.rs", "offline_access"}
    assert "patient" not in body
    only_patient = browser.get("/oauth/authorize", params=_params(
        app_client, challenge, scope="patient/*.rs launch/patient"))
    assert parse_qs(urlsplit(only_patient.headers["location"]).query)["error"] == [
        "invalid_scope"]


def test_citizen_without_patient_record(client: TestClient, app_client: Registered,
                                        settings: Settings) -> None:
    unbound = _person(settings, "citizen")
    resp = _browser(client, unbound).get("/oauth/authorize",
                                         params=_params(app_client, pkce()[1]))
    assert resp.status_code == 403
    assert "实名认证" in resp.text
    assert "error=access_denied" in resp.text and "state=st-123" in resp.text


def test_confidential_app_authenticates_with_assertion(client: TestClient, citizen: Person,
                                                       settings: Settings) -> None:
    app = register(settings, kind="confidential", scope="patient/*.rs",
                   redirect_uris=[CALLBACK], name="Confidential app")
    browser = _browser(client, citizen)
    verifier, challenge = pkce()
    code = _code(_approve(browser, citizen, _params(app, challenge, scope="patient/*.rs")))
    anon = _browser(client, None)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
            "code_verifier": verifier}
    assert anon.post("/oauth/token", data={**form, "client_id": app.client_id}).json()[
        "error"] == "invalid_client"  # a confidential client cannot go without its key
    resp = anon.post("/oauth/token", data={
        **form, "client_assertion_type":
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion(app, TOKEN)})
    assert resp.status_code == 200, resp.text
    assert resp.json()["patient"] == "oauth-self"
    assert "refresh_token" not in resp.json()
