"""Client registration and operator tokens: the rules behind ``gansu-health clients`` and ``token``.

Functions here run inside the caller's write transaction and never commit.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection

from gansu_health.core.clock import now, to_micros
from gansu_health.core.errors import BadRequest, PlatformError
from gansu_health.core.settings import Settings
from gansu_health.identity.audit.repository import AuditRecord, record
from gansu_health.identity.oauth import policy, repository
from gansu_health.identity.oauth.jwks import KeyMaterialError, validate_jwks
from gansu_health.identity.oauth.repository import ClientRow
from gansu_health.identity.scopes import ScopeError, ScopeSet
from gansu_health.identity.tokens import repository as tokens

OPERATOR_CLIENT = "operator-cli"
MAX_OPERATOR_TTL_S = 24 * 3600
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


class NotFound(PlatformError):
    """The named client does not exist (404)."""

    status = 404
    code = "not-found"


def _check_redirect_uri(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.fragment or not parts.scheme:
        raise BadRequest(f"redirect URI {uri!r} must be absolute and without a fragment")
    if parts.scheme == "https" and parts.hostname:
        return uri
    if parts.scheme == "http" and parts.hostname in LOOPBACK:
        return uri
    if "." in parts.scheme:  # RFC 8252 private-use scheme of a native app (com.example.app:/cb)
        return uri
    raise BadRequest(f"redirect URI {uri!r} must use https (http only on loopback)")


def create_client(conn: Connection, *, name: str, kind: str, scope: str,
                  jwks: dict[str, Any] | None = None, redirect_uris: list[str] | None = None,
                  node: str | None = None, organization_id: str | None = None,
                  actor: str = "operator") -> ClientRow:
    """Register a client and audit it; raise BadRequest when the registration is unfit."""
    if kind not in policy.CLIENT_KINDS:
        raise BadRequest(f"client kind must be one of {', '.join(policy.CLIENT_KINDS)}")
    try:
        allowed = policy.check_allowance(scope, kind)
        keys = validate_jwks(jwks) if jwks is not None else None
    except (ScopeError, KeyMaterialError) as exc:
        raise BadRequest(str(exc)) from exc
    uris = [_check_redirect_uri(uri) for uri in redirect_uris or []]
    public = kind == "public"
    if public and keys:
        raise BadRequest("a public client has no keys (it authenticates with PKCE only)")
    if not public and not keys:
        raise BadRequest(f"a {kind} client needs public keys (--jwks or --generate-key)")
    if kind in policy.USER_FACING and not uris:
        raise BadRequest(f"a {kind} client needs at least one --redirect-uri")
    if kind not in policy.USER_FACING and uris:
        raise BadRequest(f"a {kind} client uses no redirect URIs")
    if kind == "node" and not node:
        raise BadRequest("a node client needs --node (the data centre it acts for)")
    client = ClientRow(
        client_id=f"{kind}-{secrets.token_hex(8)}", name=name.strip(), kind=kind, node=node,
        organization_id=organization_id, scope=str(allowed), redirect_uris=tuple(uris),
        jwks=keys, token_endpoint_auth_method="none" if public else "private_key_jwt",
        created_us=to_micros(now()), disabled=False)
    if not client.name:
        raise BadRequest("a client needs a name")
    repository.insert_client(conn, client)
    record(conn, AuditRecord(action="E", subtype="client-create", actor_type="operator",
                             actor_id=actor, resource_id=client.client_id,
                             reason=f"{kind} client {client.name!r} allowed {client.scope}"))
    return client


def disable_client(conn: Connection, client_id: str, actor: str = "operator") -> int:
    """Disable a client and revoke every token issued to it; return how many were revoked."""
    if not repository.set_disabled(conn, client_id):
        raise NotFound(f"no client {client_id!r}")
    revoked = tokens.revoke_client(conn, client_id)
    record(conn, AuditRecord(action="E", subtype="client-disable", actor_type="operator",
                             actor_id=actor, resource_id=client_id,
                             reason=f"{revoked} tokens revoked"))
    return revoked


def mint_operator_token(conn: Connection, settings: Settings, *, scope: str, subject: str,
                        ttl_s: int = 900, patient: str | None = None) -> tokens.IssuedToken:
    """Issue a short-lived operator token with ``scope`` and audit it."""
    try:
        scopes = ScopeSet.parse(scope)
    except ScopeError as exc:
        raise BadRequest(str(exc)) from exc
    if not scopes.scopes:
        raise BadRequest("an operator token needs at least one data scope (e.g. system/*.rs)")
    if not 0 < ttl_s <= MAX_OPERATOR_TTL_S:
        raise BadRequest(f"--ttl must be between 1 and {MAX_OPERATOR_TTL_S} seconds")
    granted = policy.for_principal(scopes, "operator")
    issued = tokens.issue(conn, client_id=OPERATOR_CLIENT, principal_kind="operator",
                          subject=subject, scope=str(granted), node=settings.node_id,
                          ttl_s=ttl_s, patient=patient)
    record(conn, AuditRecord(action="E", subtype="token-mint", actor_type="operator",
                             actor_id=subject, patient_id=patient,
                             reason=f"scope {granted}; ttl {ttl_s} s"))
    return issued
