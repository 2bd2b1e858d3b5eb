"""Tables of the authorisation server: clients, authorisation codes, used assertion ids."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, String, Table, Text

from gansu_health.core.database import metadata
from gansu_health.core.settings import get_settings


def _this_node() -> str:
    return get_settings().node_id

oauth_client = Table(
    "oauth_client",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("kind", String(16), nullable=False),  # system | node | public | confidential
    Column("node", String(16), nullable=True),  # the data centre a node client acts for
    Column("organization_id", String(64), nullable=True),  # FHIR Organization it belongs to
    Column("scope", Text, nullable=False),  # the SMART scopes it may be granted
    Column("redirect_uris", Text, nullable=False),  # JSON list, matched exactly
    Column("jwks", Text, nullable=True),  # JSON Web Key Set of its public keys
    Column("token_endpoint_auth_method", String(24), nullable=False),  # private_key_jwt | none
    Column("created_us", BigInteger, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
)

oauth_code = Table(
    "oauth_code",
    metadata,
    Column("code_hash", String(64), primary_key=True),  # SM3 of the code, hex
    Column("node", String(16), nullable=False, default=_this_node),
    Column("client_id", String(64), nullable=False),
    Column("principal_kind", String(16), nullable=False),  # citizen | staff
    Column("account_id", String(64), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("scope", Text, nullable=False),  # as granted on the approval page
    Column("patient", String(64), nullable=True),  # launch context picked on the approval page
    Column("code_challenge", String(128), nullable=True),
    Column("code_challenge_method", String(8), nullable=True),
    Column("expires_us", BigInteger, nullable=False),
    Column("used", Boolean, nullable=False, default=False),
    Column("token_hash", String(64), nullable=True),  # the access token it was exchanged for
    Index("ix_oauth_code_expires", "expires_us"),
)

oauth_jti = Table(
    "oauth_jti",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("jti_hash", String(64), primary_key=True),  # SM3 of the assertion's jti, hex
    Column("node", String(16), nullable=False, default=_this_node),
    Column("expires_us", BigInteger, nullable=False),
    Index("ix_oauth_jti_expires", "expires_us"),
)
