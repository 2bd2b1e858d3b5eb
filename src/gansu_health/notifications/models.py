"""Tables of notifications. Every row carries ``node``.

``notify_message`` is one message to one patient (a FHIR Communication, their inbox entry), made
once per source (an outbox event, or a reminder of an appointment) and kind; ``notify_delivery``
its delivery on one channel (sink, sms, wechat) with attempts, the next try (exponential
backoff; also the lease of a dispatcher that claimed it) and the dead-letter state.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from gansu_health.core.database import BIGID, metadata

FID = 64
NODE = 16

notify_message = Table(
    "notify_message",
    metadata,
    Column("id", String(FID), primary_key=True),  # the FHIR Communication id
    Column("node", String(NODE), nullable=False),
    Column("source", String(128), nullable=False),  # outbox:<id> | reminder:<appointment>
    Column("kind", String(32), nullable=False),
    Column("patient", String(FID), nullable=False),
    Column("about", String(128), nullable=True),  # e.g. Appointment/<id>
    Column("title", String(128), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(12), nullable=False),  # pending | sent | dead
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Index("uq_notify_message_source", "source", "kind", "patient", unique=True),
    Index("ix_notify_message_patient", "patient", "created_us"),
)

notify_delivery = Table(
    "notify_delivery",
    metadata,
    Column("id", BIGID, primary_key=True, autoincrement=True),
    Column("node", String(NODE), nullable=False),
    Column("message", String(FID), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("status", String(8), nullable=False),  # pending | sent | dead
    Column("attempts", Integer, nullable=False),
    Column("next_us", BigInteger, nullable=False),
    Column("last_error", String(255), nullable=True),
    Column("sent_us", BigInteger, nullable=True),
    Index("uq_notify_delivery_channel", "message", "channel", unique=True),
    Index("ix_notify_delivery_due", "status", "next_us"),
)
