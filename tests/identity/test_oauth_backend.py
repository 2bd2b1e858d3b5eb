"""SMART Backend Services: client credentials with signed assertions, introspection, revocation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey
from sqlalchemy import select
from tests.conftest import LiveServer
from tests.identity.oauth_helpers import (
    Registered,
    authenticated,
    client_credentials,
    register,
)

from gansu_health.core.database import build_engine, read_transaction, write_transaction
from gansu_health.core.settings import Settings
from gansu_health.identity.audit.models import audit_event
from gansu_health.identity.oauth import service
from gansu_health.identity.tokens import repository as tokens

TOKEN = "http://testserver/oauth/token"
INTROSPECT = "http://testserver/oauth/introspect"
REVOKE = "http://testserver/oauth/revoke"


@pytest.fixture(scope="module")
def anon(client: TestClient) -> Iterator[TestClient]:
    """A client of the same app without the operator's bearer token."""
    yield TestClient(client.app)


@pytest.fixture(scope="module")
def system(settings: Settings) -> Registered:
    """A hospital system allowed to read Patients and Observations."""
    return register(settings, scope="system/Patient.rs system/Observation.rs")


@pytest.fixture(scope="module")
def node(settings: Settings) -> Registered:
    """A municipal node's client, which may introspect any token."""
    return register(settings, kind="node", scope="system/*.rs", node="620100",
                    name="兰州市数据中心 Lanzhou node")


def _token(anon: TestClient, form: dict[str, str]) -> httpx.Response:
    resp: httpx.Response = anon.post("/oauth/token", data=form)
    return resp


def test_client_credentials_with_es384_assertion(anon: TestClient, system: Registered,
                                                 settings: Settings) -> None:
    resp = _token(anon, client_credentials(system, TOKEN, scope="system/Patient.rs"))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "system/Patient.rs"
    assert body["expires_in"] == settings.access_token_ttl_s
    assert "refresh_token" not in body
    assert resp.headers["cache-control"] == "no-store"
    engine = build_engine(settings.database_url, settings)
    with read_transaction(engine) as conn:
        record = tokens.active(conn, body["access_token"])
        assert record is not None
        assert (record.principal_kind, record.subject, record.client_id) == (
            "system", system.client_id, system.client_id)
        audit = conn.execute(select(audit_event).where(
            audit_event.c.subtype == "token-issue",
            audit_event.c.actor_id == system.client_id)).mappings().all()
    engine.dispose()
    assert audit and audit[-1]["outcome"] == 0
    # the token opens the FHIR API within its scope
    fhir = anon.get("/fhir/Patient?_count=1",
                    headers={"Authorization": f"Bearer {body['access_token']}"})
    assert fhir.status_code == 200, fhir.text


def test_rs384_assertion(anon: TestClient, settings: Settings) -> None:
    rsa = register(settings, alg="RS384", scope="system/Observation.rs")
    resp = _token(anon, client_credentials(rsa, TOKEN, scope="system/Observation.rs"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["scope"] == "system/Observation.rs"


def test_scope_outside_allowance_is_narrowed_or_refused(anon: TestClient,
                                                        system: Registered) -> None:
    resp = _token(anon, client_credentials(
        system, TOKEN, scope="system/Patient.rs system/Patient.cud system/Condition.rs"))
    assert resp.status_code == 200
    assert resp.json()["scope"] == "system/Patient.rs"
    # a system client never receives patient/ or user/ scopes, and nothing left is refused
    refused = _token(anon, client_credentials(system, TOKEN, scope="patient/*.rs user/*.rs"))
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_scope"
    missing = _token(anon, client_credentials(system, TOKEN, scope=""))
    assert missing.json()["error"] == "invalid_scope"
    malformed = _token(anon, client_credentials(system, TOKEN, scope="system/patient.rs"))
    assert malformed.json()["error"] == "invalid_scope"


@pytest.mark.parametrize(("case", "why"), [
    ("audience", "'aud'"), ("expired", "expired"), ("too-long", "300 s"),
    ("other-key", "signature"), ("iss", "iss and sub")])
def test_bad_assertions_are_refused(anon: TestClient, system: Registered, case: str,
                                    why: str) -> None:
    kid = system.key.kid if system.key else None
    cases: dict[str, dict[str, Any]] = {
        "audience": {"audience": "http://testserver/fhir"},
        "expired": {"lifetime_s": -120},
        "too-long": {"lifetime_s": 3600},
        "other-key": {"key": ECKey.generate_key("P-384", parameters={"kid": kid or ""})},
        "iss": {"iss": "someone-else"},
    }
    args = cases[case]
    audience = str(args.pop("audience", TOKEN))
    resp = _token(anon, client_credentials(system, audience, **args))
    assert resp.status_code in (400, 401), resp.text
    assert resp.json()["error"] == "invalid_client"
    assert why in resp.json()["error_description"]
    assert "access_token" not in resp.json()


def test_replayed_jti_is_refused(anon: TestClient, system: Registered) -> None:
    form = client_credentials(system, TOKEN, scope="system/Patient.rs", jti="once-only")
    assert _token(anon, form).status_code == 200
    replay = _token(anon, form)
    assert replay.json()["error"] == "invalid_client"
    assert "jti" in replay.json()["error_description"]
    # a fresh assertion with the same jti is a replay too
    again = client_credentials(system, TOKEN, scope="system/Patient.rs", jti="once-only")
    assert _token(anon, again).json()["error"] == "invalid_client"


def test_unknown_client_and_plain_client_id_are_refused(anon: TestClient,
                                                        system: Registered) -> None:
    ghost = Registered("system-ghost", system.key)
    assert _token(anon, client_credentials(ghost, TOKEN)).json()["error"] == "invalid_client"
    no_assertion = _token(anon, {"grant_type": "client_credentials", "scope": "system/*.rs",
                                 "client_id": system.client_id})
    assert no_assertion.json()["error"] == "invalid_client"
    wrong_grant = _token(anon, {"grant_type": "password", "username": "x", "password": "y"})
    assert wrong_grant.json()["error"] == "unsupported_grant_type"


def test_introspection(anon: TestClient, system: Registered, node: Registered,
                       settings: Settings) -> None:
    issued = _token(anon, client_credentials(system, TOKEN, scope="system/Patient.rs")).json()
    own = anon.post("/oauth/introspect", data=authenticated(
        system, TOKEN, token=issued["access_token"])).json()
    assert own["active"] is True
    assert own["scope"] == "system/Patient.rs"
    assert own["client_id"] == own["sub"] == system.client_id
    assert own["token_type"] == "Bearer"
    assert own["exp"] > own["iat"]
    # the endpoint's own URL is an acceptable audience too
    via_node = anon.post("/oauth/introspect", data=authenticated(
        node, INTROSPECT, token=issued["access_token"])).json()
    assert via_node["active"] is True and via_node["client_id"] == system.client_id
    # another system client may not look at it
    other = register(settings, scope="system/Patient.rs")
    assert anon.post("/oauth/introspect", data=authenticated(
        other, TOKEN, token=issued["access_token"])).json() == {"active": False}
    # unauthenticated introspection is refused
    bare = anon.post("/oauth/introspect", data={"token": issued["access_token"]})
    assert bare.status_code in (400, 401) and bare.json()["error"] == "invalid_client"
    assert anon.post("/oauth/introspect", data=authenticated(
        node, TOKEN, token="no-such-token")).json() == {"active": False}


def test_introspection_of_revoked_and_expired_tokens(anon: TestClient, node: Registered,
                                                     settings: Settings) -> None:
    engine = build_engine(settings.database_url, settings)
    with write_transaction(engine) as conn:
        expired = tokens.new_token_string()
        tokens.store(conn, expired, client_id="x", principal_kind="system", subject="x",
                     scope="system/*.rs", node=settings.node_id, ttl_s=-5)
        revoked = tokens.issue(conn, client_id="x", principal_kind="system", subject="x",
                               scope="system/*.rs", node=settings.node_id).access_token
        tokens.revoke(conn, revoked)
        live = tokens.issue(conn, client_id="x", principal_kind="system", subject="x",
                            scope="system/*.rs", node=settings.node_id,
                            patient="pat-1").access_token
    engine.dispose()
    for token in (expired, revoked):
        assert anon.post("/oauth/introspect", data=authenticated(
            node, TOKEN, token=token)).json() == {"active": False}
    body = anon.post("/oauth/introspect", data=authenticated(node, TOKEN, token=live)).json()
    assert body["active"] is True and body["patient"] == "pat-1"


def test_revocation(anon: TestClient, system: Registered, settings: Settings) -> None:
    issued = _token(anon, client_credentials(system, TOKEN, scope="system/Patient.rs")).json()
    auth = {"Authorization": f"Bearer {issued['access_token']}"}
    assert anon.get("/fhir/Patient?_count=1", headers=auth).status_code == 200
    other = register(settings, scope="system/*.rs")
    stolen = anon.post("/oauth/revoke", data=authenticated(other, REVOKE,
                                                           token=issued["access_token"]))
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    resp = anon.post("/oauth/revoke", data=authenticated(
        system, REVOKE, token=issued["access_token"], token_type_hint="access_token"))
    assert resp.status_code == 200
    assert anon.get("/fhir/Patient?_count=1", headers=auth).status_code == 401
    # unknown tokens are "revoked" too (RFC 7009 §2.2)
    assert anon.post("/oauth/revoke", data=authenticated(
        system, REVOKE, token="unknown")).status_code == 200
    engine = build_engine(settings.database_url, settings)
    with read_transaction(engine) as conn:
        assert tokens.active(conn, issued["access_token"]) is None
        assert conn.execute(select(audit_event.c.id).where(
            audit_event.c.subtype == "token-revoke",
            audit_event.c.actor_id == system.client_id)).first() is not None
    engine.dispose()


def test_disabled_client(anon: TestClient, settings: Settings) -> None:
    victim = register(settings, scope="system/*.rs")
    issued = _token(anon, client_credentials(victim, TOKEN)).json()
    engine = build_engine(settings.database_url, settings)
    with write_transaction(engine) as conn:
        assert service.disable_client(conn, victim.client_id, actor="pytest") == 1
    with read_transaction(engine) as conn:
        assert tokens.active(conn, issued["access_token"]) is None
    engine.dispose()
    refused = _token(anon, client_credentials(victim, TOKEN))
    assert refused.json()["error"] == "invalid_client"


def test_smart_configuration(anon: TestClient) -> None:
    root = anon.get("/.well-known/smart-configuration")
    assert root.status_code == 200
    config = root.json()
    assert anon.get("/fhir/.well-known/smart-configuration").json() == config
    assert config["issuer"] == "http://testserver"
    assert config["token_endpoint"] == TOKEN
    assert config["authorization_endpoint"] == "http://testserver/oauth/authorize"
    assert config["introspection_endpoint"] == INTROSPECT
    assert config["revocation_endpoint"] == REVOKE
    assert config["token_endpoint_auth_methods_supported"] == ["private_key_jwt", "none"]
    assert config["token_endpoint_auth_signing_alg_values_supported"] == ["ES384", "RS384"]
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert config["response_types_supported"] == ["code"]
    assert set(config["grant_types_supported"]) == {
        "authorization_code", "refresh_token", "client_credentials"}
    assert {"launch-standalone", "client-public", "client-confidential-asymmetric",
            "context-standalone-patient", "permission-v1", "permission-v2",
            "permission-patient", "permission-user", "authorize-post"} == set(
        config["capabilities"])
    assert "system/*.read" in config["scopes_supported"]


def test_client_credentials_over_real_http(live_server: LiveServer, settings: Settings) -> None:
    config = httpx.get(f"{live_server.base}/.well-known/smart-configuration").json()
    endpoint = config["token_endpoint"]
    assert endpoint == f"http://127.0.0.1:{live_server.port}/oauth/token"
    system = register(settings, scope="system/Patient.rs")
    resp = httpx.post(endpoint, data=client_credentials(system, endpoint,
                                                        scope="system/Patient.rs"))
    assert resp.status_code == 200, resp.text
    token = resp.json()["access_token"]
    search = httpx.get(f"{live_server.base}/Patient", params={"_count": "1"},
                       headers={"Authorization": f"Bearer {token}"})
    assert search.status_code == 200, search.text
    # an assertion made for the in-process server's URL is not valid here
    wrong = httpx.post(endpoint, data=client_credentials(system, TOKEN))
    assert wrong.json()["error"] == "invalid_client"
