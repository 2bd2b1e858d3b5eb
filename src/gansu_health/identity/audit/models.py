"""Tables of the audit trail: ``audit_event`` (append-only, SM3 hash chain) and ``audit_head``.

``audit_event.id`` is the position in the chain (1, 2, 3, … without gaps; assigned under the head
lock), ``prev_hash`` is the hash of the row before it and ``hash`` = SM3(prev_hash ‖ canonical
row). ``audit_head`` is one row holding the chain tip (``last_id``/``last_hash``) and the purge
base (``base_id``/``base_hash``: the last purged row, whose hash the first remaining row links to;
each purge also appends an anchor row saying so). Writers lock it (``FOR UPDATE`` on PostgreSQL,
the database write lock on SQLite), which serialises appends. The migration adds triggers that
reject UPDATE on ``audit_event`` and DELETE unless ``audit_head.purging`` is set (only ``purge``
sets it, inside its own transaction).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    SmallInteger,
    String,
    Table,
    Text,
)

from gansu_health.core.database import metadata

audit_event = Table(
    "audit_event",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("node", String(16), nullable=False),
    Column("recorded_us", BigInteger, nullable=False),
    Column("actor_type", String(32), nullable=False),
    Column("actor_id", String(64), nullable=True),
    Column("actor_name", String(128), nullable=True),
    Column("patient_id", String(64), nullable=True),
    Column("action", String(1), nullable=False),
    Column("subtype", String(32), nullable=False),
    Column("resource_type", String(64), nullable=True),
    Column("resource_id", String(64), nullable=True),
    Column("query", Text, nullable=True),
    Column("purpose_of_use", String(32), nullable=True),
    Column("outcome", SmallInteger, nullable=False),
    Column("source_ip", String(45), nullable=True),
    Column("user_agent", String(256), nullable=True),
    Column("break_glass", Boolean, nullable=False),
    Column("reason", String(512), nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_event_patient", "patient_id", "id"),  # "who looked at my record"
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("node", String(16), nullable=False),
    Column("last_id", BigInteger, nullable=False),
    Column("last_hash", String(64), nullable=False),
    Column("base_id", BigInteger, nullable=False),
    Column("base_hash", String(64), nullable=False),
    Column("purging", Boolean, nullable=False, default=False),
)
