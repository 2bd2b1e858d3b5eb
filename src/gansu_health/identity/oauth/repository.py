"""SQL for the authorisation server: clients, authorisation codes and used assertion ids."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from gansu_health.core.clock import now, to_micros
from gansu_health.core.database import is_sqlite
from gansu_health.identity.crypto import sm3
from gansu_health.identity.oauth.models import oauth_client, oauth_code, oauth_jti

# used codes are kept an hour past expiry, so that a replayed code still revokes its tokens
CODE_KEEP_US = 3600 * 1_000_000


def digest(value: str) -> str:
    """The stored key of a secret string (code, jti): SM3, hex."""
    return sm3(value.encode("utf-8")).hex()


@dataclass(frozen=True, slots=True)
class ClientRow:
    """A registered client as stored."""

    client_id: str
    name: str
    kind: str
    node: str | None
    organization_id: str | None
    scope: str
    redirect_uris: tuple[str, ...]
    jwks: dict[str, Any] | None
    token_endpoint_auth_method: str
    created_us: int
    disabled: bool

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> ClientRow:
        """Build from a result row mapping."""
        values = {k: row[k] for k in cls.__slots__}
        values["redirect_uris"] = tuple(json.loads(row["redirect_uris"] or "[]"))
        values["jwks"] = json.loads(row["jwks"]) if row["jwks"] else None
        return cls(**values)


def insert_client(conn: Connection, client: ClientRow) -> None:
    """Store a new client."""
    values = {k: getattr(client, k) for k in ClientRow.__slots__}
    values["redirect_uris"] = json.dumps(list(client.redirect_uris))
    values["jwks"] = json.dumps(client.jwks) if client.jwks else None
    conn.execute(insert(oauth_client).values(**values))


def get_client(conn: Connection, client_id: str) -> ClientRow | None:
    """The client with this id, disabled or not."""
    row = conn.execute(select(oauth_client).where(
        oauth_client.c.client_id == client_id)).mappings().first()
    return ClientRow.from_row(row) if row else None


def list_clients(conn: Connection) -> list[ClientRow]:
    """Every client, oldest first."""
    rows = conn.execute(select(oauth_client).order_by(oauth_client.c.created_us,
                                                      oauth_client.c.client_id)).mappings()
    return [ClientRow.from_row(row) for row in rows]


def set_disabled(conn: Connection, client_id: str, disabled: bool = True) -> bool:
    """Disable (or re-enable) a client; False when it does not exist."""
    result = conn.execute(update(oauth_client).where(
        oauth_client.c.client_id == client_id).values(disabled=disabled))
    return bool(result.rowcount)


@dataclass(frozen=True, slots=True)
class CodeRow:
    """An authorisation code as stored (the code itself is only known to the client)."""

    code_hash: str
    client_id: str
    principal_kind: str
    account_id: str
    redirect_uri: str
    scope: str
    patient: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    expires_us: int
    used: bool
    token_hash: str | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> CodeRow:
        """Build from a result row mapping."""
        return cls(**{k: row[k] for k in cls.__slots__})


def insert_code(conn: Connection, code: str, *, client_id: str, principal_kind: str,
                account_id: str, redirect_uri: str, scope: str, patient: str | None,
                code_challenge: str | None, code_challenge_method: str | None,
                ttl_s: int) -> None:
    """Store a freshly issued authorisation code (hashed); forget codes long expired."""
    moment = to_micros(now())
    conn.execute(delete(oauth_code).where(oauth_code.c.expires_us < moment - CODE_KEEP_US))
    conn.execute(insert(oauth_code).values(
        code_hash=digest(code), client_id=client_id, principal_kind=principal_kind,
        account_id=account_id, redirect_uri=redirect_uri, scope=scope, patient=patient,
        code_challenge=code_challenge, code_challenge_method=code_challenge_method,
        expires_us=moment + ttl_s * 1_000_000, used=False, token_hash=None))


def lock_code(conn: Connection, code: str, client_id: str) -> CodeRow | None:
    """The code issued to ``client_id``, locked until commit so that it is exchanged once."""
    row = conn.execute(select(oauth_code).where(
        oauth_code.c.code_hash == digest(code), oauth_code.c.client_id == client_id,
    ).with_for_update()).mappings().first()
    return CodeRow.from_row(row) if row else None


def mark_code_used(conn: Connection, code_hash: str, token_hash: str | None) -> None:
    """Record that a code was exchanged, and for which access token."""
    conn.execute(update(oauth_code).where(oauth_code.c.code_hash == code_hash).values(
        used=True, token_hash=token_hash))


def purge_codes(conn: Connection, before_us: int) -> int:
    """Delete codes that expired before ``before_us``."""
    result = conn.execute(delete(oauth_code).where(oauth_code.c.expires_us < before_us))
    return int(result.rowcount)


def remember_jti(conn: Connection, client_id: str, jti: str, expires_us: int) -> bool:
    """Record a client assertion's jti; False when the client already used it (a replay)."""
    moment = to_micros(now())
    conn.execute(delete(oauth_jti).where(oauth_jti.c.client_id == client_id,
                                         oauth_jti.c.expires_us < moment))
    dialect = sqlite if is_sqlite(conn) else postgresql
    stmt = dialect.insert(oauth_jti).values(client_id=client_id, jti_hash=digest(jti),
                                            expires_us=expires_us)
    inserted = conn.execute(stmt.on_conflict_do_nothing().returning(oauth_jti.c.jti_hash))
    return inserted.first() is not None
