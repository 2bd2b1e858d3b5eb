"""Tables of the electronic health card (电子健康卡). Every row carries ``node``.

``card`` holds one row per card ever issued; ``active_golden`` repeats ``golden_id`` while the
card is active and is NULL once revoked, so its unique index allows one active card per MPI
person on both databases. ``card_sequence`` numbers the cards of each issuing node.
``card_code_use`` remembers the nonce of every dynamic code accepted, until it expires (the
replay guard); ``card_usage`` is the usage log (用卡记录) with its step codes, refusals included.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table

from gansu_health.core.database import BIGID, metadata

FID = 64
NODE = 16
CARD_ID = 64

card = Table(
    "card",
    metadata,
    Column("card_id", String(CARD_ID), primary_key=True),
    Column("node", String(NODE), nullable=False),
    Column("golden_id", String(FID), nullable=False),  # the golden Person at issue time
    Column("empi_id", String(64), nullable=False),
    Column("patient", String(FID), nullable=False),  # the Patient it was requested for
    Column("status", String(8), nullable=False),  # active | revoked
    Column("active_golden", String(FID), nullable=True),
    Column("issued_us", BigInteger, nullable=False),
    Column("issued_by", String(128), nullable=False),
    Column("revoked_us", BigInteger, nullable=True),
    Column("revoke_reason", String(16), nullable=True),
    Column("replaced_by", String(CARD_ID), nullable=True),
    Column("factor", String(96), nullable=True),  # <index kid>:HMAC-SM3 of the card PIN
    Column("factor_failures", Integer, nullable=False, default=0),
    Column("factor_locked_us", BigInteger, nullable=True),
    Index("uq_card_active_golden", "active_golden", unique=True),
    Index("ix_card_golden", "golden_id"),
)

card_sequence = Table(
    "card_sequence",
    metadata,
    Column("node", String(NODE), primary_key=True),
    Column("last", BigInteger, nullable=False),
)

card_code_use = Table(
    "card_code_use",
    metadata,
    Column("card_id", String(CARD_ID), primary_key=True),
    Column("nonce", String(24), primary_key=True),
    Column("node", String(NODE), nullable=False),
    Column("used_us", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
    Column("organization", String(FID), nullable=True),
)

card_usage = Table(
    "card_usage",
    metadata,
    Column("id", BIGID, primary_key=True, autoincrement=True),
    Column("node", String(NODE), nullable=False),
    Column("card_id", String(CARD_ID), nullable=False),
    Column("golden_id", String(FID), nullable=False),
    Column("step", String(16), nullable=False),
    Column("code_kind", String(8), nullable=False),  # dynamic | static
    Column("outcome", String(16), nullable=False),  # accepted, or the refusal reason
    Column("organization", String(FID), nullable=True),
    Column("actor", String(128), nullable=False),  # who scanned: account or client id
    Column("actor_kind", String(16), nullable=False),
    Column("patient", String(FID), nullable=True),  # the hospital-local Patient
    Column("appointment", String(FID), nullable=True),
    Column("at_us", BigInteger, nullable=False),
    Index("ix_card_usage_golden", "golden_id", "at_us"),
    Index("ix_card_usage_card", "card_id", "at_us"),
)
