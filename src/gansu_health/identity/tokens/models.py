"""The ``oauth_token`` table: access and refresh tokens, stored only as SM3 hashes."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, String, Table, Text

from gansu_health.core.database import metadata

oauth_token = Table(
    "oauth_token",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # SM3 of the token string, hex
    Column("token_type", String(8), nullable=False),  # access | refresh
    Column("node", String(16), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("principal_kind", String(16), nullable=False),  # citizen | staff | system | operator
    Column("subject", String(64), nullable=False),  # account id, or the client id
    Column("scope", Text, nullable=False),
    Column("patient", String(64), nullable=True),  # SMART launch/patient context
    Column("issued_us", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
    Column("pair_hash", String(64), nullable=True),  # the refresh token issued with this one
    Index("ix_oauth_token_subject", "subject"),
    Index("ix_oauth_token_expires", "expires_us"),
)
