"""Helpers of the OAuth tests: register clients, sign client assertions, PKCE pairs."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from gansu_health.core.clock import now
from gansu_health.core.database import build_engine, write_transaction
from gansu_health.core.settings import Settings
from gansu_health.identity.oauth import service
from gansu_health.identity.oauth.jwks import generate_key_pair

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class Registered:
    """A registered client and, for confidential ones, its private key."""

    client_id: str
    key: ECKey | RSAKey | None
    alg: str = "ES384"


def register(settings: Settings, *, kind: str = "system", scope: str = "system/*.rs",
             alg: str = "ES384", redirect_uris: list[str] | None = None,
             node: str | None = None, name: str = "测试系统 Test system") -> Registered:
    """Register a client (with a fresh key pair unless public) straight into the database."""
    key: ECKey | RSAKey | None = None
    jwks: dict[str, Any] | None = None
    if kind != "public":
        if alg == "ES384":
            pem, jwks = generate_key_pair()
            key = ECKey.import_key(pem, {"kid": jwks["keys"][0]["kid"]})
        else:
            key = RSAKey.generate_key(2048, parameters={"alg": "RS384"}, auto_kid=True)
            jwks = {"keys": [key.as_dict(private=False)]}
    engine = build_engine(settings.database_url, settings)
    try:
        with write_transaction(engine) as conn:
            client = service.create_client(conn, name=name, kind=kind, scope=scope, jwks=jwks,
                                           redirect_uris=redirect_uris, node=node,
                                           actor="pytest")
    finally:
        engine.dispose()
    return Registered(client.client_id, key, alg)


def assertion(client: Registered, audience: str, *, key: ECKey | RSAKey | None = None,
              lifetime_s: int = 240, jti: str | None = None, **overrides: Any) -> str:
    """A client assertion JWT as SMART Backend Services clients sign it."""
    signing_key = key or client.key
    assert signing_key is not None
    issued = int(now().timestamp())
    claims = {"iss": client.client_id, "sub": client.client_id, "aud": audience,
              "exp": issued + lifetime_s, "iat": issued,
              "jti": jti or secrets.token_urlsafe(16), **overrides}
    header = {"alg": client.alg, "typ": "JWT", "kid": signing_key.kid or ""}
    return jwt.encode(header, claims, signing_key, algorithms=[client.alg])


def client_credentials(client: Registered, audience: str, scope: str = "system/*.rs",
                       **assertion_args: Any) -> dict[str, str]:
    """The form of a client-credentials token request."""
    return {"grant_type": "client_credentials", "scope": scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(client, audience, **assertion_args)}


def authenticated(client: Registered, audience: str, **form: str) -> dict[str, str]:
    """A form authenticated with a client assertion (introspection, revocation)."""
    return {**form, "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(client, audience)}


def pkce() -> tuple[str, str]:
    """A PKCE (verifier, S256 challenge) pair."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
