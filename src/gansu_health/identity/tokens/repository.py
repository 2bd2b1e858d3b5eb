"""Issue, look up and revoke bearer tokens; only SM3 hashes of token strings are stored."""

from __future__ import annotations

import secrets
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, delete, insert, or_, select, update

from gansu_health.core.clock import now, to_micros
from gansu_health.identity.crypto import sm3
from gansu_health.identity.tokens.models import oauth_token

DEFAULT_TTL_S = 3600
# caches of resolved tokens in this process, told to forget whenever a token is revoked here
_listeners: weakref.WeakSet[RevocationListener] = weakref.WeakSet()


class RevocationListener(Protocol):
    """Something that caches tokens and must forget them when one is revoked."""

    def forget(self) -> None:
        """Drop cached tokens."""


def on_revoke(listener: RevocationListener) -> None:
    """Register a cache to be told about revocations made in this process."""
    _listeners.add(listener)


def _revoked() -> None:
    for listener in list(_listeners):
        listener.forget()


PRINCIPAL_KINDS = frozenset({"citizen", "staff", "system", "operator"})


def token_hash(token: str) -> str:
    """The stored key of a token string."""
    return sm3(token.encode("utf-8")).hex()


def new_token_string() -> str:
    """A fresh unguessable token string (256 bits)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A stored token as read back."""

    token_hash: str
    token_type: str
    node: str
    client_id: str
    principal_kind: str
    subject: str
    scope: str
    patient: str | None
    issued_us: int
    expires_us: int
    revoked: bool
    pair_hash: str | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> TokenRecord:
        """Build from a result row mapping."""
        return cls(**{k: row[k] for k in cls.__slots__})

    def active_at(self, moment_us: int) -> bool:
        """Whether the token is usable at ``moment_us``."""
        return not self.revoked and moment_us < self.expires_us


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token as handed to its holder (the only time the string exists outside the client)."""

    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None = None


def store(conn: Connection, token: str, *, client_id: str, principal_kind: str, subject: str,
          scope: str, node: str, ttl_s: int = DEFAULT_TTL_S, token_type: str = "access",
          patient: str | None = None, pair: str | None = None) -> TokenRecord:
    """Store a token string someone else generated (e.g. authlib) and return its record."""
    if principal_kind not in PRINCIPAL_KINDS:
        raise ValueError(f"principal kind must be one of {sorted(PRINCIPAL_KINDS)}")
    issued = to_micros(now())
    values = {"token_hash": token_hash(token), "token_type": token_type, "node": node,
              "client_id": client_id, "principal_kind": principal_kind, "subject": subject,
              "scope": scope, "patient": patient, "issued_us": issued,
              "expires_us": issued + ttl_s * 1_000_000, "revoked": False,
              "pair_hash": token_hash(pair) if pair else None}
    conn.execute(insert(oauth_token).values(**values))
    return TokenRecord.from_row(values)


def issue(conn: Connection, *, client_id: str, principal_kind: str, subject: str, scope: str,
          node: str, ttl_s: int = DEFAULT_TTL_S, patient: str | None = None,
          refresh_ttl_s: int | None = None) -> IssuedToken:
    """Generate and store an access token (and a refresh token when ``refresh_ttl_s`` is set)."""
    access = new_token_string()
    refresh = new_token_string() if refresh_ttl_s else None
    for token, token_type, ttl, pair in ((access, "access", ttl_s, refresh),
                                         (refresh, "refresh", refresh_ttl_s, access)):
        if token and ttl:
            store(conn, token, client_id=client_id, principal_kind=principal_kind,
                  subject=subject, scope=scope, node=node, ttl_s=ttl, token_type=token_type,
                  patient=patient, pair=pair)
    return IssuedToken(access, ttl_s, scope, refresh)


def lookup(conn: Connection, token: str, token_type: str | None = "access"
           ) -> TokenRecord | None:
    """The record of a token string, active or not; None when unknown."""
    row = conn.execute(select(oauth_token).where(
        oauth_token.c.token_hash == token_hash(token))).mappings().first()
    if row is None or (token_type and row["token_type"] != token_type):
        return None
    return TokenRecord.from_row(row)


def active(conn: Connection, token: str, token_type: str | None = "access"
           ) -> TokenRecord | None:
    """The record of a token that is neither expired nor revoked."""
    record = lookup(conn, token, token_type)
    return record if record and record.active_at(to_micros(now())) else None


def revoke(conn: Connection, token: str) -> bool:
    """Revoke a token and the token issued with it (RFC 7009); False when it was unknown."""
    _revoked()
    key = token_hash(token)
    result = conn.execute(update(oauth_token).where(
        or_(oauth_token.c.token_hash == key, oauth_token.c.pair_hash == key)).values(
        revoked=True))
    return bool(result.rowcount)


def revoke_hash(conn: Connection, key: str, *, with_pair: bool = True) -> bool:
    """Revoke a token by its stored hash (and, unless ``with_pair`` is False, its pair)."""
    _revoked()
    match = oauth_token.c.token_hash == key
    if with_pair:
        match = or_(match, oauth_token.c.pair_hash == key)
    result = conn.execute(update(oauth_token).where(match).values(revoked=True))
    return bool(result.rowcount)


def revoke_grant(conn: Connection, record: TokenRecord) -> int:
    """Revoke every token a client holds for the same person and patient context (the answer
    to a rotated refresh token presented again: one of its two holders is not legitimate)."""
    _revoked()
    same_patient = (oauth_token.c.patient == record.patient if record.patient is not None
                    else oauth_token.c.patient.is_(None))
    result = conn.execute(update(oauth_token).where(
        oauth_token.c.client_id == record.client_id, oauth_token.c.subject == record.subject,
        same_patient, oauth_token.c.revoked.is_(False)).values(revoked=True))
    return int(result.rowcount)


def revoke_subject(conn: Connection, subject: str) -> int:
    """Revoke every token of an account or client (sign-out everywhere, disabled client)."""
    _revoked()
    result = conn.execute(update(oauth_token).where(oauth_token.c.subject == subject).values(
        revoked=True))
    return int(result.rowcount)


def revoke_client(conn: Connection, client_id: str) -> int:
    """Revoke every token issued to a client, whoever it was issued for (disabled client)."""
    _revoked()
    result = conn.execute(update(oauth_token).where(oauth_token.c.client_id == client_id).values(
        revoked=True))
    return int(result.rowcount)


def purge_expired(conn: Connection, before_us: int) -> int:
    """Delete tokens that expired before ``before_us``."""
    result = conn.execute(delete(oauth_token).where(oauth_token.c.expires_us < before_us))
    return int(result.rowcount)
