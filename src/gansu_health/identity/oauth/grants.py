"""authlib grants and endpoints bound to our stores: code + PKCE, refresh, client credentials,
introspection (RFC 7662) and revocation (RFC 7009)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar

from authlib.oauth2.rfc6749 import InvalidRequestError, grants
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from gansu_health.core.clock import now, to_micros
from gansu_health.identity.audit.repository import AuditRecord
from gansu_health.identity.oauth import policy, repository
from gansu_health.identity.oauth.adapters import (
    AuthorizedUser,
    OAuthClient,
    StoredCode,
    StoredToken,
)
from gansu_health.identity.tokens import repository as tokens

if TYPE_CHECKING:
    from gansu_health.identity.oauth.server import OAuthServer

CODE_TTL_S = 300
log = logging.getLogger(__name__)
TOKEN_TYPE_HINTS = {"access_token": "access", "refresh_token": "refresh"}


def _server(obj: Any) -> OAuthServer:
    server: OAuthServer = obj.server
    return server


class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    """Authorisation code grant; codes are stored hashed, single-use, bound to client and URI."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["private_key_jwt", "none"]

    def save_authorization_code(self, code: str, request: Any) -> None:
        """Store the code with the approved scope, patient context and PKCE challenge."""
        user: AuthorizedUser = request.user
        data = request.payload.data
        repository.insert_code(
            _server(self).conn, code, client_id=request.client.client_id,
            principal_kind=user.kind, account_id=user.account_id,
            redirect_uri=request.payload.redirect_uri,
            scope=str(policy.for_principal(policy.parse(request.scope), user.kind)),
            patient=user.patient,
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"), ttl_s=CODE_TTL_S)

    def query_authorization_code(self, code: str, client: OAuthClient) -> StoredCode | None:
        """The unexpired, unused code; a reused code also revokes what it was exchanged for."""
        conn = _server(self).conn
        row = repository.lock_code(conn, code, client.client_id)
        if row is None or row.expires_us <= to_micros(now()):
            return None
        if row.used:
            if row.token_hash:
                tokens.revoke_hash(conn, row.token_hash)
            return None
        return StoredCode(row)

    def delete_authorization_code(self, authorization_code: StoredCode) -> None:
        """Mark the code used, remembering the access token it bought."""
        repository.mark_code_used(_server(self).conn, authorization_code.row.code_hash,
                                  _server(self).issued_access_hash)

    def authenticate_user(self, authorization_code: StoredCode) -> AuthorizedUser:
        """The account (and patient context) the code was approved by."""
        return authorization_code.user()


class S256CodeChallenge(CodeChallenge):  # type: ignore[misc]
    """PKCE as SMART v2 requires it: every app sends an S256 challenge (plain is refused)."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        """Require a code_challenge with code_challenge_method=S256."""
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class RefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    """Refresh with rotation: each use returns a new refresh token and revokes the old one."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["private_key_jwt", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> StoredToken | None:
        """The active refresh token with this string. A revoked one presented before it would
        have expired (a rotated token used again, RFC 9700 §4.14.2) revokes every token the
        client holds for that person: its legitimate holder signs in again."""
        conn = _server(self).conn
        record = tokens.lookup(conn, refresh_token, "refresh")
        if record is None:
            return None
        moment = to_micros(now())
        if record.active_at(moment):
            return StoredToken(record)
        if record.revoked and moment < record.expires_us:
            revoked = tokens.revoke_grant(conn, record)
            log.warning("refresh token of client %s reused; revoked %d tokens of subject %s",
                        record.client_id, revoked, record.subject)
        return None

    def authenticate_user(self, refresh_token: StoredToken) -> AuthorizedUser:
        """The account and patient context the refresh token carries."""
        return refresh_token.user()

    def revoke_old_credential(self, refresh_token: StoredToken) -> None:
        """Revoke the used refresh token (its access token runs out on its own)."""
        tokens.revoke_hash(_server(self).conn, refresh_token.record.token_hash, with_pair=False)


class SystemGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    """SMART Backend Services: client credentials with a signed client assertion."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["private_key_jwt"]


def _query(server: OAuthServer, token: str, hint: str | None) -> StoredToken | None:
    record = tokens.lookup(server.conn, token, TOKEN_TYPE_HINTS.get(hint or ""))
    if record is None and hint:  # the hint is only a hint (RFC 7009 §2.1, RFC 7662 §2.1)
        record = tokens.lookup(server.conn, token, None)
    return StoredToken(record) if record else None


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    """RFC 7662: confidential clients introspect their own tokens; node clients any token."""

    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["private_key_jwt"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> StoredToken | None:
        """The stored token, active or not."""
        return _query(_server(self), token_string, token_type_hint)

    def check_permission(self, token: StoredToken, client: OAuthClient, request: Any) -> bool:
        """Whether ``client`` may see this token's details."""
        return token.check_client(client) or client.row.kind == "node"

    def introspect_token(self, token: StoredToken) -> dict[str, Any]:
        """The RFC 7662 answer with the SMART additions (patient, fhirUser)."""
        record = token.record
        body: dict[str, Any] = {
            "active": True, "scope": record.scope, "client_id": record.client_id,
            "sub": record.subject, "exp": record.expires_us // 1_000_000,
            "iat": record.issued_us // 1_000_000, "iss": _server(self).urls.issuer,
            "token_type": "Bearer" if record.token_type == "access" else "refresh_token"}
        if record.patient:
            body["patient"] = record.patient
        fhir_user = _server(self).fhir_user(record.principal_kind, record.subject)
        if fhir_user:
            body["fhirUser"] = fhir_user
        return body


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    """RFC 7009: a client revokes its own token (and the token issued with it)."""

    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["private_key_jwt", "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> StoredToken | None:
        """The stored token, active or not."""
        return _query(_server(self), token_string, token_type_hint)

    def revoke_token(self, token: StoredToken, request: Any) -> None:
        """Revoke the token and its pair; audit it."""
        server = _server(self)
        tokens.revoke_hash(server.conn, token.record.token_hash)
        server.audit(AuditRecord(
            action="E", subtype="token-revoke", actor_type="client",
            actor_id=request.client.client_id, patient_id=token.record.patient,
            reason=f"{token.record.token_type} token of {token.record.principal_kind} "
                   f"{token.record.subject}"))
