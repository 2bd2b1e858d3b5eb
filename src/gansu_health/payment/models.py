"""Tables of payments. Every row carries ``node``.

``pay_invoice`` is one bill (a FHIR Invoice): the registration fee of one Appointment, or clinic
orders (ChargeItems) a hospital sent; ``pay_invoice_item`` its ChargeItems (a ChargeItem is billed
once). ``pay_payment`` one payment attempt (its id is the merchant order number sent to the
gateway, derived from the caller's Idempotency-Key, so a retry can never create a second order);
``pay_refund`` at most one (full) refund per payment; ``pay_callback`` the nonces of accepted
gateway callbacks (replay guard); ``pay_sandbox_txn`` the built-in sandbox gateway's own ledger
(the "provider side" its daily statement is read from).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from gansu_health.core.database import metadata

FID = 64
NODE = 16

pay_invoice = Table(
    "pay_invoice",
    metadata,
    Column("id", String(FID), primary_key=True),  # the FHIR Invoice id
    Column("node", String(NODE), nullable=False),
    Column("patient", String(FID), nullable=False),
    Column("institution", String(FID), nullable=False),  # Organization id (the payee)
    Column("kind", String(16), nullable=False),  # registration | clinic
    Column("appointment", String(FID), nullable=True),
    Column("amount_fen", Integer, nullable=False),
    Column("status", String(12), nullable=False),  # issued | paid | refunded | cancelled
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Index("uq_pay_invoice_appointment", "appointment", unique=True),
    Index("ix_pay_invoice_patient", "patient", "created_us"),
)

pay_invoice_item = Table(
    "pay_invoice_item",
    metadata,
    Column("charge_item", String(FID), primary_key=True),  # billed at most once
    Column("node", String(NODE), nullable=False),
    Column("invoice", String(FID), nullable=False),
    Column("amount_fen", Integer, nullable=False),
    Index("ix_pay_invoice_item_invoice", "invoice"),
)

pay_payment = Table(
    "pay_payment",
    metadata,
    Column("id", String(FID), primary_key=True),  # merchant order number
    Column("node", String(NODE), nullable=False),
    Column("invoice", String(FID), nullable=False),
    Column("patient", String(FID), nullable=False),
    Column("amount_fen", Integer, nullable=False),
    Column("gateway", String(32), nullable=False),
    Column("gateway_txn", String(64), nullable=True),
    # new (in the transaction that asks the gateway) | processing | succeeded | declined | error
    Column("status", String(12), nullable=False),
    Column("message", String(255), nullable=True),
    Column("idem_scope", String(160), nullable=False),  # who sent the Idempotency-Key
    Column("idem_key", String(128), nullable=False),
    Column("notice", String(FID), nullable=False),  # the FHIR PaymentNotice id
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Column("settled_us", BigInteger, nullable=True),
    Index("uq_pay_payment_key", "idem_scope", "idem_key", unique=True),
    Index("ix_pay_payment_invoice", "invoice", "status"),
    Index("ix_pay_payment_settled", "settled_us"),
)

pay_refund = Table(
    "pay_refund",
    metadata,
    Column("id", String(FID), primary_key=True),  # refund number sent to the gateway
    Column("node", String(NODE), nullable=False),
    Column("payment", String(FID), nullable=False),
    Column("amount_fen", Integer, nullable=False),
    Column("reason", String(64), nullable=False),
    # pending | processing | succeeded | error (retried) | failed (gave up)
    Column("status", String(12), nullable=False),
    Column("gateway_txn", String(64), nullable=True),
    Column("message", String(255), nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("next_us", BigInteger, nullable=False),
    Column("notice", String(FID), nullable=True),
    Column("created_us", BigInteger, nullable=False),
    Column("settled_us", BigInteger, nullable=True),
    Index("uq_pay_refund_payment", "payment", unique=True),
    Index("ix_pay_refund_due", "status", "next_us"),
)

pay_callback = Table(
    "pay_callback",
    metadata,
    Column("gateway", String(32), primary_key=True),
    Column("nonce", String(64), primary_key=True),
    Column("node", String(NODE), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("received_us", BigInteger, nullable=False),
)

pay_sandbox_txn = Table(
    "pay_sandbox_txn",
    metadata,
    Column("id", String(64), primary_key=True),  # the gateway's transaction id
    Column("node", String(NODE), nullable=False),
    Column("kind", String(8), nullable=False),  # charge | refund
    Column("order_id", String(FID), nullable=False),  # merchant order (or refund) number
    Column("amount_fen", Integer, nullable=False),
    # processing | succeeded | declined | error
    Column("status", String(12), nullable=False),
    Column("detail", Text, nullable=True),
    Column("created_us", BigInteger, nullable=False),
    Column("settled_us", BigInteger, nullable=True),
    Index("uq_pay_sandbox_txn_order", "kind", "order_id", unique=True),
    Index("ix_pay_sandbox_txn_settled", "settled_us"),
)
