"""Turn the bearer token of a request into the Principal it stands for."""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine

from gansu_health.core.clock import now, to_micros
from gansu_health.core.database import read_transaction
from gansu_health.core.errors import Unauthorized
from gansu_health.identity.principal import Principal
from gansu_health.identity.scopes import ScopeError, ScopeSet
from gansu_health.identity.tokens import repository as tokens

CACHE_LIMIT = 10_000
LOAD_WAIT_S = 5.0  # how long a request waits for another's lookup of the same token
# the scope contexts each kind of principal may hold, whatever a token claims
CONTEXTS = {"citizen": {"patient"}, "staff": {"user", "patient"}, "system": {"system"},
            "operator": {"system", "patient", "user"}}


def bearer(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer …`` header, or raise Unauthorized."""
    if not authorization:
        raise Unauthorized("This request needs an access token (Authorization: Bearer …)",
                           expression="Authorization")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Only Bearer access tokens are accepted", expression="Authorization")
    return token.strip()


class Authenticator:
    """Looks tokens up in the token store and builds principals, remembered for ``cache_s``.

    A revocation made in this process empties the cache at once; one made by another process
    (another worker, the CLI) is seen within ``cache_s``. Expiry is checked on every use. When
    many requests bring the same token at once, one looks it up and the others wait for it.
    """

    def __init__(self, engine: Engine, cache_s: float = 2.0) -> None:
        self.engine = engine
        self.cache_s = cache_s
        self._cache: dict[str, tuple[float, int, Principal]] = {}
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Event] = {}
        tokens.on_revoke(self)

    def forget(self) -> None:
        """Drop every remembered token (called when a token is revoked)."""
        self._cache.clear()

    def cached(self, token: str) -> Principal | None:
        """The principal of a token remembered and still valid, or None (look it up)."""
        return self._remembered(tokens.token_hash(token))

    def _remembered(self, key: str) -> Principal | None:
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic() and to_micros(now()) < hit[1]:
            return hit[2]
        return None

    def principal(self, token: str) -> Principal:
        """The principal of an active token, or raise Unauthorized."""
        key = tokens.token_hash(token)
        known = self._remembered(key)
        if known is not None:
            return known
        with self._lock:
            loading = self._loading.get(key)
            if loading is None:
                self._loading[key] = threading.Event()
        if loading is not None:  # another request is looking this token up
            loading.wait(LOAD_WAIT_S)
            known = self._remembered(key)
            if known is not None:
                return known
            return self._load(token)[0]  # it failed (or caching is off): look ourselves
        try:
            principal, expires_us = self._load(token)
            if self.cache_s > 0:
                if len(self._cache) >= CACHE_LIMIT:
                    self._cache.clear()
                self._cache[key] = (time.monotonic() + self.cache_s, expires_us, principal)
            return principal
        finally:
            with self._lock:
                self._loading.pop(key).set()

    def _load(self, token: str) -> tuple[Principal, int]:
        with read_transaction(self.engine) as conn:
            record = tokens.active(conn, token)
            if record is None:
                raise Unauthorized("The access token is unknown, expired or revoked",
                                   expression="Authorization")
            try:
                parsed = ScopeSet.parse(record.scope)
            except ScopeError as exc:
                raise Unauthorized(f"The token's scope is invalid: {exc}") from exc
            allowed = CONTEXTS.get(record.principal_kind, set())
            scopes = ScopeSet(tuple(s for s in parsed.scopes if s.context in allowed),
                              parsed.other)
            token_id = record.token_hash[:16]
            if record.principal_kind in ("system", "operator"):
                return Principal(record.principal_kind, record.subject, scopes,  # type: ignore[arg-type]
                                 display=record.subject, client_id=record.client_id,
                                 token_id=token_id, patient=record.patient,
                                 node=record.node), record.expires_us
            try:
                from gansu_health.identity.accounts.service import load_principal
            except ImportError as exc:  # accounts not installed in this build
                raise Unauthorized("Account tokens are not accepted by this server") from exc
            return load_principal(conn, record.subject, scopes, client_id=record.client_id,
                                  token_id=token_id, patient=record.patient), record.expires_us
