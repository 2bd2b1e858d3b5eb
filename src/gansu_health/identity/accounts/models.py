"""Account tables: account, account_member, staff_role, otp_challenge and web_session.

Phones are sealed with SM4-GCM (``FieldCipher``) and found through their HMAC-SM3 blind index;
one-time codes and session ids are never stored in the clear.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from gansu_health.core.database import BIGID, metadata

ACCOUNT_KINDS = ("citizen", "staff")
STATUSES = ("active", "disabled")
RELATIONSHIPS = ("self", "child", "parent", "spouse", "other")

account = Table(
    "account",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("node", String(16), nullable=False),
    Column("kind", String(8), nullable=False),  # citizen | staff
    Column("phone_enc", Text, nullable=True),  # SM4-GCM, context "account.phone"
    Column("phone_index", String(64), nullable=True),  # HMAC-SM3 blind index (kind "phone")
    Column("username", String(64), nullable=True, unique=True),  # staff; NFKC, lower case
    Column("display_name", String(128), nullable=True),
    Column("password_hash", Text, nullable=True),  # argon2id
    Column("totp_enc", Text, nullable=True),  # SM4-GCM, context "account.totp"
    Column("totp_last_step", BigInteger, nullable=True),  # replay guard: last accepted step
    Column("patient_id", String(64), nullable=True, unique=True),  # real-name bound Patient
    Column("status", String(16), nullable=False),  # active | disabled
    Column("failed_logins", Integer, nullable=False),
    Column("locked_until_us", BigInteger, nullable=True),
    Column("created_us", BigInteger, nullable=False),
    Column("last_login_us", BigInteger, nullable=True),
    UniqueConstraint("kind", "phone_index", name="uq_account_kind_phone"),
)

account_member = Table(
    "account_member",
    metadata,
    Column("account_id", String(32), ForeignKey("account.id", ondelete="CASCADE"),
           primary_key=True),
    Column("patient_id", String(64), primary_key=True),
    Column("node", String(16), nullable=False),
    Column("relationship", String(16), nullable=False),
    Column("guardian", Boolean, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Index("ix_account_member_patient", "patient_id"),
)

staff_role = Table(
    "staff_role",
    metadata,
    Column("id", BIGID, primary_key=True, autoincrement=True),
    Column("node", String(16), nullable=False),
    Column("account_id", String(32), ForeignKey("account.id", ondelete="CASCADE"),
           nullable=False),
    Column("organization_id", String(64), nullable=False),
    Column("role", String(32), nullable=False),
    Column("practitioner_id", String(64), nullable=True),
    Column("region", String(12), nullable=True),  # GB/T 2260 code
    Column("created_us", BigInteger, nullable=False),
    UniqueConstraint("account_id", "organization_id", "role", name="uq_staff_role_grant"),
)

otp_challenge = Table(
    "otp_challenge",
    metadata,
    Column("id", BIGID, primary_key=True, autoincrement=True),
    Column("node", String(16), nullable=False),
    Column("phone_index", String(64), nullable=False),
    Column("code_hash", String(64), nullable=False),  # HMAC-SM3 of phone index and code
    Column("created_us", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
    Column("attempts", SmallInteger, nullable=False),
    Column("consumed", Boolean, nullable=False),
    Index("ix_otp_challenge_phone", "phone_index", "created_us"),
    Index("ix_otp_challenge_expires", "expires_us"),
)

web_session = Table(
    "web_session",
    metadata,
    Column("session_hash", String(64), primary_key=True),  # SM3 of the cookie value, hex
    Column("node", String(16), nullable=False),
    Column("account_id", String(32), ForeignKey("account.id", ondelete="CASCADE"),
           nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("mfa", Boolean, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
    Column("revoked", Boolean, nullable=False),
    Column("source_ip", String(45), nullable=True),
    Column("user_agent", String(256), nullable=True),
    Index("ix_web_session_account", "account_id"),
    Index("ix_web_session_expires", "expires_us"),
)
