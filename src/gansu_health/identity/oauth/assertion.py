"""``private_key_jwt`` client authentication (RFC 7523 §2.2) as SMART Backend Services use it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import Connection

from gansu_health.core.clock import now
from gansu_health.identity.oauth.adapters import OAuthClient, error_text
from gansu_health.identity.oauth.jwks import SIGNING_ALGORITHMS
from gansu_health.identity.oauth.repository import remember_jti

log = logging.getLogger(__name__)
MAX_LIFETIME_S = 300  # SMART: exp no more than five minutes in the future
CLOCK_SKEW_S = 30


def _now_s() -> int:
    return int(now().timestamp())


class PrivateKeyJwt(JWTBearerClientAssertion):  # type: ignore[misc]
    """Verify a client assertion signed with a key from the client's registered JWK Set."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, conn: Connection, audiences: Sequence[str]) -> None:
        super().__init__(validate_jti=True, leeway=CLOCK_SKEW_S)
        self.conn = conn
        self.audiences = list(audiences)

    def get_audiences(self) -> list[str]:
        """The token endpoint URL (and the URL of the endpoint being called)."""
        return self.audiences

    def resolve_client_public_key(self, client: OAuthClient) -> KeySet:
        """The client's registered public keys."""
        if not client.row.jwks:
            raise InvalidClientError(description="the client has no registered public keys")
        return KeySet.import_key_set(client.row.jwks)  # type: ignore[arg-type]

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        """Verify the signature (ES384 or RS384 only), then the claims."""
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=SIGNING_ALGORITHMS)
        except (JoseError, ValueError, TypeError) as exc:
            log.debug("client assertion rejected: %r", exc)
            description = (exc.description or exc.error if isinstance(exc, JoseError)
                           else str(exc)) or type(exc).__name__
            raise InvalidClientError(
                description=error_text(f"assertion signature: {description}")) from exc
        claims: dict[str, Any] = dict(token.claims)
        self.verify_claims(claims)
        return claims

    def verify_claims(self, claims: Any) -> None:
        """iss = sub = client id, aud = this server, exp within five minutes, jti unused."""
        registry = jwt.JWTClaimsRegistry(
            now=_now_s, leeway=CLOCK_SKEW_S, iss={"essential": True},
            sub={"essential": True}, exp={"essential": True}, jti={"essential": True},
            aud={"essential": True, "values": self.get_audiences()})
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise InvalidClientError(
                description=error_text(f"assertion claims: {exc.description}")) from exc
        if claims["sub"] != claims["iss"]:
            raise InvalidClientError(description="assertion iss and sub must both be the client id")
        if claims["exp"] > _now_s() + MAX_LIFETIME_S + CLOCK_SKEW_S:
            raise InvalidClientError(
                description=f"assertion exp must be at most {MAX_LIFETIME_S} s in the future")
        if not self.validate_jti(claims, claims["jti"]):
            raise InvalidClientError(description="assertion jti was already used")

    def validate_jti(self, claims: Any, jti: str) -> bool:
        """Remember the jti until the assertion has expired; False for a replay."""
        expires_us = (int(claims["exp"]) + CLOCK_SKEW_S + 1) * 1_000_000
        return remember_jti(self.conn, str(claims["sub"]), str(jti), expires_us)
